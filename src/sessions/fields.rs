//! The names of the session's fields and how they read from a stored session, for the code
//! that sees sessions from outside a request (the engine's index, "your sessions").
//!
//! Keys that start with `_` belong to the framework: view code cannot write them (see
//! [`super::VisitorSession`]).

pub use actix_session_engines::typed::EXPIRE_AT_BROWSER_CLOSE;
use actix_session_engines::{SessionState, django::auth_keys};
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
pub const AUTH_USER_HASH: &str = auth_keys::HASH;
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

/// Where a session says who is logged in: the tutorial's `member_id` (a number), or, beside a
/// Django site (`DJANGO_COMPAT`), `django.contrib.auth`'s keys: `_auth_user_id` (the id as a
/// string) and `_auth_user_backend`. The session auth hash is `_auth_user_hash` either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoginFields {
    #[default]
    Native,
    Django,
}

impl LoginFields {
    /// The fields `DJANGO_COMPAT` (`django_compat`) asks for.
    pub fn of(django_compat: bool) -> Self {
        if django_compat {
            Self::Django
        } else {
            Self::Native
        }
    }

    /// The session key the framework indexes sessions by.
    pub fn user_key(self) -> &'static str {
        match self {
            Self::Native => MEMBER_ID,
            Self::Django => auth_keys::USER_ID,
        }
    }

    /// The keys a login writes, all removed by a logout.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Native => &[MEMBER_ID, AUTH_USER_HASH, SESSION_INFO],
            Self::Django => &[
                auth_keys::USER_ID,
                auth_keys::BACKEND,
                AUTH_USER_HASH,
                SESSION_INFO,
            ],
        }
    }

    /// The member a stored session claims to be logged in as. Django's id is a string of
    /// digits, and counts only when Django's own backend logged it in (as `get_user` checks
    /// `_auth_user_backend` against `AUTHENTICATION_BACKENDS`).
    pub fn member_of(self, state: &SessionState) -> Option<i64> {
        match self {
            Self::Native => read(state, MEMBER_ID),
            Self::Django => {
                let backend: String = read(state, auth_keys::BACKEND)?;
                if backend != auth_keys::MODEL_BACKEND {
                    return None;
                }
                read::<String>(state, auth_keys::USER_ID)?.parse().ok()
            }
        }
    }
}
