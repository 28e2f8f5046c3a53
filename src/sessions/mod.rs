//! The guestbook's use of the session framework (`actix_session_engines`): what a visitor's
//! session holds and how view code reads it ([`VisitorSession`]), the names of its fields, and
//! where a session is used from. The engines, the cookie and the rules every engine shares
//! are the framework's; they are re-exported here so the application names them in one place.

pub mod fields;
pub mod typed;
pub mod visit;

pub use actix_session_engines::{
    Backend, ClearOutcome, ClearRun, SessionBackend, SessionCache, SessionCookie, SessionEngine,
    SessionState, StoreError, StoredSession, finish_session, keys, session_cookie_rules,
};

pub use self::typed::VisitorSession;
