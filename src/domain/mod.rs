//! The guestbook's rules, between the routes (and the command line) and the queries: what a
//! valid comment is and who may change it, what signing up, logging in and changing a
//! password do, what moderators may do, and the comment list as the pages show it.
//!
//! One style throughout: each area is a struct holding the pieces it uses (cheap to clone,
//! built once in `state`), whose methods are the operations routes and commands call. Rule
//! refusals are outcomes or error enums of their own; failures of what lies below (the
//! database, the session storage, the password hashing) are a [`DomainError`]. Nothing here
//! knows HTTP: `error.rs` turns these errors into responses.

pub mod accounts;
pub mod cleanup;
pub mod comments;
pub mod feed;
pub mod hold;
pub mod moderation;

use crate::{db::DbError, security::passwords::PasswordError, sessions::StoreError};

/// What failed below the domain while it applied its rules.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Passwords(#[from] PasswordError),
    #[error("the session storage failed: {0}")]
    SessionStorage(#[from] StoreError),
    /// A page of comments could not be rendered: a bug.
    #[error("the comment list could not be rendered: {0}")]
    Render(#[from] askama::Error),
}
