//! Server-side sessions, after Django's session framework.
//!
//! actix-session's middleware does the cookie work ([`cookie`]) and calls a `SessionStore`.
//! That trait returns `impl Future`, so it cannot be a `dyn` object: [`SessionEngine`] is an
//! enum, chosen at start-up by `SESSION_ENGINE` (`engine.rs`). The server-side engines (db,
//! cache, cached_db, file) are one file each behind [`SessionBackend`], which stores bytes
//! under a key; key generation and the serializer are applied once, above it. The
//! signed-cookie engine keeps the session in the cookie itself. View code never touches the
//! raw session: it goes through [`VisitorSession`], which owns the key names and keeps
//! `_`-prefixed keys for the framework. [`finish_session`], here, applies the rules every
//! engine shares.

pub mod backend;
pub mod cache;
pub mod cached_db;
pub mod cookie;
pub mod db;
mod engine;
pub mod fields;
pub mod file;
pub mod keys;
pub mod serializer;
pub mod signed_cookies;
pub mod typed;
pub mod visit;

use actix_session::{SessionExt, SessionStatus};
use actix_web::{
    HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

pub use self::{
    backend::{ClearOutcome, ClearRun, SessionBackend, SessionCache, StoreError},
    cookie::SessionCookie,
    engine::{Backend, SessionEngine, StoredSession},
    serializer::SessionState,
    typed::VisitorSession,
};
use crate::error::AppError;

/// Middleware inside the session middleware, applying the rules every engine shares:
///
/// - a changed session that cannot be stored at all (too large for a cookie) is not saved,
///   and the visitor gets a page that says so;
/// - a request that failed on our side (any 5xx) leaves the stored session as it was;
/// - a changed session left with nothing of the visitor's (only `_` keys, or nothing) is
///   ended: its record deleted and its cookie removed;
/// - the session's choice of cookie lifetime is passed out to `cookie::session_cookie_rules`.
pub async fn finish_session(
    engine: web::Data<SessionEngine>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let session = res.request().get_session();
    let changed = matches!(
        session.status(),
        SessionStatus::Changed | SessionStatus::Renewed
    );
    let refused = (changed && !res.status().is_server_error())
        .then(|| engine.refuses(&session.entries()))
        .flatten();
    let res = match refused {
        Some(too_large) => {
            tracing::error!(error = %too_large, "session not saved");
            res.error_response(AppError::SessionTooLarge)
                .map_into_right_body()
        }
        None => res.map_into_left_body(),
    };
    let lifetime = cookie::ExpireAtBrowserClose(
        session
            .get::<bool>(fields::EXPIRE_AT_BROWSER_CLOSE)
            .ok()
            .flatten(),
    );
    if res.status().is_server_error() {
        // actix-session reads the pending changes from the request's extensions; without
        // them it sees an unchanged session and writes nothing.
        res.request().extensions_mut().clear();
    } else if changed && !typed::holds_visitor_data(&session) {
        session.purge();
    }
    res.request().extensions_mut().insert(lifetime);
    Ok(res)
}
