//! The names of the session's fields and how they read from a stored session, for the code
//! that sees sessions from outside a request (the engine's index, "your sessions").
//!
//! Keys that start with `_` belong to the framework: view code cannot write them (see
//! [`super::VisitorSession`]).

use actix_session_engines::SessionState;
pub use actix_session_engines::typed::EXPIRE_AT_BROWSER_CLOSE;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub const HAS_COMMENTED: &str = "has_commented";
/// The logged-in member (Django's tutorial stores `member_id`); the framework indexes
/// sessions by it (`SessionSettings::user_key`).
pub const MEMBER_ID: &str = "member_id";
/// The visitor's id, stored with the session the moment it holds anything and kept across key
/// rotations, login and logout: the database allows one comment per visitor id.
pub const VISITOR_ID: &str = "_visitor_id";
/// Django's name: a digest of the logged-in member's credentials (see
/// `security::session_auth`); a session whose digest no longer matches is logged out.
pub const AUTH_USER_HASH: &str = "_auth_user_hash";
/// What "your sessions" shows about a logged-in session.
pub const SESSION_INFO: &str = "_session_info";

/// What "your sessions" shows about one session, stored in it at login and refreshed as it is
/// used.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionInfo {
    /// A random id that names the session on the page and in forms (never its key, which
    /// would log anyone who saw it in); kept across key rotation.
    pub id: String,
    /// When the member logged in with it (Unix seconds).
    pub logged_in_at: i64,
    /// When it was last used, to within [`super::LAST_SEEN_PRECISION`] (Unix seconds).
    pub last_seen_at: i64,
    /// A coarse description of the browser ("Firefox on Linux").
    pub device: String,
    /// The client's address, as seen through `TRUSTED_PROXIES`.
    pub address: Option<String>,
}

/// Field `key` of a stored session, if present and readable.
pub fn read<T: DeserializeOwned>(state: &SessionState, key: &str) -> Option<T> {
    serde_json::from_str(state.get(key)?).ok()
}

/// The member a stored session is logged in as, going by its `member_id` alone.
pub fn member_of(state: &SessionState) -> Option<i64> {
    read(state, MEMBER_ID)
}
