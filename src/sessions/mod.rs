//! Server-side sessions, after Django's session framework.
//!
//! actix-session's middleware does the cookie work and calls a [`SessionStore`]. Its trait
//! returns `impl Future`, so it cannot be a `dyn` object: [`SessionEngine`] is an enum over
//! the engines, one file each, chosen at start-up by `SESSION_ENGINE`. View code never touches
//! the raw session: it goes through [`VisitorSession`], which owns the key names and keeps
//! `_`-prefixed keys for the framework.

pub mod db;
pub mod keys;
pub mod serializer;
pub mod typed;

use actix_session::{
    SessionMiddleware,
    config::{BrowserSession, CookieContentSecurity, PersistentSession, TtlExtensionPolicy},
    storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError},
};
use actix_web::{
    HttpMessage,
    body::MessageBody,
    cookie::{Key, time::Duration},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

pub use self::{serializer::SessionState, typed::VisitorSession};
use crate::{db::DbError, settings::SessionSettings};

/// The configured session store (`SESSION_ENGINE`).
#[derive(Clone)]
pub enum SessionEngine {
    Db(db::DbSessionStore),
}

impl SessionEngine {
    /// Deletes expired sessions where the engine keeps them, returning how many went.
    ///
    /// # Errors
    /// When the storage fails.
    pub async fn clear_expired(&self) -> Result<u64, DbError> {
        match self {
            Self::Db(store) => store.clear_expired().await,
        }
    }
}

impl SessionStore for SessionEngine {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        match self {
            Self::Db(store) => store.load(key).await,
        }
    }

    async fn save(&self, state: SessionState, ttl: &Duration) -> Result<SessionKey, SaveError> {
        match self {
            Self::Db(store) => store.save(state, ttl).await,
        }
    }

    async fn update(
        &self,
        key: SessionKey,
        state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        match self {
            Self::Db(store) => store.update(key, state, ttl).await,
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        match self {
            Self::Db(store) => store.update_ttl(key, ttl).await,
        }
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        match self {
            Self::Db(store) => store.delete(key).await,
        }
    }
}

/// actix-session's middleware configured from the `SESSION_*` settings. The cookie holds only
/// the session key, signed with `cookie_key` so a forged key is rejected before any lookup.
pub fn middleware(
    engine: SessionEngine,
    cookie_key: Key,
    settings: &SessionSettings,
) -> SessionMiddleware<SessionEngine> {
    let age = Duration::seconds(settings.cookie_age);
    // Django saves the session (and pushes its expiry) only when it changed, unless
    // SESSION_SAVE_EVERY_REQUEST is set.
    let policy = if settings.save_every_request {
        TtlExtensionPolicy::OnEveryRequest
    } else {
        TtlExtensionPolicy::OnStateChanges
    };
    let builder = SessionMiddleware::builder(engine, cookie_key)
        .cookie_name(settings.cookie_name.clone())
        .cookie_secure(settings.cookie_secure)
        .cookie_http_only(settings.cookie_httponly)
        .cookie_same_site(settings.cookie_samesite.into())
        .cookie_domain(settings.cookie_domain.clone())
        .cookie_path(settings.cookie_path.clone())
        .cookie_content_security(CookieContentSecurity::Signed);
    if settings.expire_at_browser_close {
        // No Max-Age on the cookie, but the server still forgets the session after the age.
        builder
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(age)
                    .state_ttl_extension_policy(policy),
            )
            .build()
    } else {
        builder
            .session_lifecycle(
                PersistentSession::default()
                    .session_ttl(age)
                    .session_ttl_extension_policy(policy),
            )
            .build()
    }
}

/// Middleware inside the session middleware: a request that failed on our side (any 5xx)
/// leaves the stored session exactly as it was, as Django's middleware does.
pub async fn discard_changes_on_server_error(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    if res.status().is_server_error() {
        // actix-session reads the pending changes from the request's extensions; without
        // them it sees an unchanged session and writes nothing.
        res.request().extensions_mut().clear();
    }
    Ok(res)
}
