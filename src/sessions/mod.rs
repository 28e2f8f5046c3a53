//! Server-side sessions, after Django's session framework.
//!
//! actix-session's middleware does the cookie work and calls a [`SessionStore`]. That trait
//! returns `impl Future`, so it cannot be a `dyn` object: [`SessionEngine`] is an enum, chosen
//! at start-up by `SESSION_ENGINE`. The server-side engines (db, cache, cached_db, file) are
//! one file each behind [`SessionBackend`], which stores bytes under a key; key generation
//! and the serializer live here, once. The signed-cookie engine keeps the session in the
//! cookie itself. View code never touches the raw session: it goes through
//! [`VisitorSession`], which owns the key names and keeps `_`-prefixed keys for the framework.

pub mod backend;
pub mod cache;
pub mod cached_db;
pub mod db;
pub mod file;
pub mod keys;
pub mod serializer;
pub mod signed_cookies;
pub mod typed;

use std::time::Duration as StdDuration;

use actix_session::{
    SessionExt, SessionMiddleware, SessionStatus,
    config::{BrowserSession, CookieContentSecurity, PersistentSession, TtlExtensionPolicy},
    storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError},
};
use actix_web::{
    HttpMessage,
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key, time::Duration},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};

pub use self::{
    backend::{ClearOutcome, SessionBackend, StoreError},
    serializer::{SessionSerializer, SessionState},
    typed::VisitorSession,
};
use self::{
    cache::CacheSessions, cached_db::CachedDb, db::DbSessions, file::FileSessions,
    signed_cookies::SignedCookieSessions,
};
use crate::{
    cache::Cache,
    db::Database,
    security::signing::Signer,
    settings::{SessionEngineKind, SessionSettings, Settings},
    startup::AppState,
};

/// The purpose the session cookie's signing key is derived for.
const COOKIE_KEY_PURPOSE: &str = "actix-session.cookie";

/// A server-side engine.
#[derive(Clone)]
pub enum Backend {
    Db(DbSessions),
    Cache(CacheSessions),
    CachedDb(CachedDb<CacheSessions, DbSessions>),
    File(FileSessions),
}

macro_rules! delegate {
    ($self:ident, $backend:ident => $call:expr) => {
        match $self {
            Backend::Db($backend) => $call,
            Backend::Cache($backend) => $call,
            Backend::CachedDb($backend) => $call,
            Backend::File($backend) => $call,
        }
    };
}

impl SessionBackend for Backend {
    async fn load(&self, key: &str) -> Result<Option<backend::Loaded>, StoreError> {
        delegate!(self, b => b.load(key).await)
    }

    async fn create(&self, key: &str, data: &[u8], ttl: StdDuration) -> Result<bool, StoreError> {
        delegate!(self, b => b.create(key, data, ttl).await)
    }

    async fn update(&self, key: &str, data: &[u8], ttl: StdDuration) -> Result<bool, StoreError> {
        delegate!(self, b => b.update(key, data, ttl).await)
    }

    async fn touch(&self, key: &str, ttl: StdDuration) -> Result<(), StoreError> {
        delegate!(self, b => b.touch(key, ttl).await)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        delegate!(self, b => b.delete(key).await)
    }

    async fn clear_expired(&self) -> Result<ClearOutcome, StoreError> {
        delegate!(self, b => b.clear_expired().await)
    }
}

/// The configured session store (`SESSION_ENGINE`).
#[derive(Clone)]
pub enum SessionEngine {
    ServerSide {
        backend: Backend,
        serializer: SessionSerializer,
    },
    SignedCookies(SignedCookieSessions),
}

impl SessionEngine {
    /// The engine `settings` ask for; `None` for `SESSION_ENGINE=none`.
    ///
    /// # Errors
    /// When the engine's storage cannot be used (a file folder that is not writable).
    pub fn from_settings(
        settings: &Settings,
        db: &Database,
        signer: &Signer,
    ) -> anyhow::Result<Option<Self>> {
        let session = &settings.session;
        let cache = || Cache::new(&settings.session_cache).map(CacheSessions::new);
        let backend = match session.engine {
            SessionEngineKind::None => return Ok(None),
            SessionEngineKind::SignedCookies => {
                let engine = SignedCookieSessions::new(signer.clone(), session.serializer, session);
                return Ok(Some(Self::SignedCookies(engine)));
            }
            SessionEngineKind::Db => Backend::Db(DbSessions::new(db.clone())),
            SessionEngineKind::Cache => Backend::Cache(cache()?),
            SessionEngineKind::CachedDb => {
                Backend::CachedDb(CachedDb::new(cache()?, DbSessions::new(db.clone())))
            }
            SessionEngineKind::File => Backend::File(FileSessions::new(
                session.file_path.clone(),
                &session.cookie_name,
            )?),
        };
        Ok(Some(Self::ServerSide {
            backend,
            serializer: session.serializer,
        }))
    }

    /// A stand-in for `SESSION_ENGINE=none`, where the middleware is switched off and never
    /// calls its store.
    pub fn never_used() -> Self {
        let cache = Cache::Memory(crate::cache::MemoryCache::new(1, String::new()));
        Self::ServerSide {
            backend: Backend::Cache(CacheSessions::new(cache)),
            serializer: SessionSerializer::Json,
        }
    }

    /// Removes expired sessions where the engine keeps them.
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn clear_expired(&self) -> Result<ClearOutcome, StoreError> {
        match self {
            Self::ServerSide { backend, .. } => backend.clear_expired().await,
            Self::SignedCookies(_) => Ok(ClearOutcome::NothingToClear(
                "signed cookies store nothing on the server",
            )),
        }
    }

    /// How many sessions the engine stores, where it can tell (`None` for signed cookies).
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn stored_count(&self, db: &Database) -> Result<Option<u64>, StoreError> {
        use diesel::prelude::*;
        let count_rows = || async {
            let n = db
                .run(|conn| {
                    Ok(crate::db::schema::sessions::table
                        .count()
                        .get_result::<i64>(conn)?)
                })
                .await?;
            Ok::<_, StoreError>(Some(n as u64))
        };
        match self {
            Self::ServerSide {
                backend: Backend::Db(_) | Backend::CachedDb(_),
                ..
            } => count_rows().await,
            Self::ServerSide {
                backend: Backend::Cache(cache),
                ..
            } => Ok(Some(cache.count().await?)),
            Self::ServerSide {
                backend: Backend::File(files),
                ..
            } => {
                let files = files.clone();
                Ok(Some(files.count().await?))
            }
            Self::SignedCookies(_) => Ok(None),
        }
    }
}

impl SessionStore for SessionEngine {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        match self {
            Self::ServerSide { backend, .. } => {
                if !keys::is_well_formed(key.as_ref()) {
                    return Ok(None);
                }
                let loaded = backend
                    .load(key.as_ref())
                    .await
                    .map_err(|e| LoadError::Other(e.into()))?;
                loaded
                    .map(|loaded| SessionSerializer::decode(&loaded.data))
                    .transpose()
                    .map_err(LoadError::Deserialization)
            }
            Self::SignedCookies(engine) => engine.load(key).await,
        }
    }

    async fn save(&self, state: SessionState, ttl: &Duration) -> Result<SessionKey, SaveError> {
        match self {
            Self::ServerSide {
                backend,
                serializer,
            } => {
                let data = serializer
                    .encode(&state)
                    .map_err(SaveError::Serialization)?;
                let ttl = std_duration(ttl);
                // A collision of 381-bit random keys will not happen; if it ever did, the
                // store refuses to overwrite and we draw again.
                loop {
                    let key = keys::generate();
                    let created = backend
                        .create(key.as_ref(), &data, ttl)
                        .await
                        .map_err(|e| SaveError::Other(e.into()))?;
                    if created {
                        return Ok(key);
                    }
                }
            }
            Self::SignedCookies(engine) => engine.save(state).await,
        }
    }

    async fn update(
        &self,
        key: SessionKey,
        state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        match self {
            Self::ServerSide {
                backend,
                serializer,
            } => {
                let data = serializer
                    .encode(&state)
                    .map_err(UpdateError::Serialization)?;
                let updated = backend
                    .update(key.as_ref(), &data, std_duration(ttl))
                    .await
                    .map_err(|e| UpdateError::Other(e.into()))?;
                if !updated {
                    // Deleted while this request ran (logged out elsewhere, cleared): its
                    // changes are dropped rather than bringing the session back.
                    tracing::info!("session ended while the request ran; its changes are dropped");
                }
                Ok(key)
            }
            Self::SignedCookies(engine) => engine.update(state).await,
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        match self {
            Self::ServerSide { backend, .. } => {
                Ok(backend.touch(key.as_ref(), std_duration(ttl)).await?)
            }
            // The expiry is signed into the value, which only changes with the session.
            Self::SignedCookies(_) => Ok(()),
        }
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        match self {
            Self::ServerSide { backend, .. } => Ok(backend.delete(key.as_ref()).await?),
            // Nothing on the server to delete: the middleware removes the cookie.
            Self::SignedCookies(_) => Ok(()),
        }
    }
}

fn std_duration(ttl: &Duration) -> StdDuration {
    StdDuration::try_from(*ttl).unwrap_or_default()
}

/// The key that signs the session cookie for each of `signer`'s keys, current first. Derived
/// once at start-up: the derivation (HKDF) is too slow for every request.
pub fn cookie_keys(signer: &Signer) -> Vec<Key> {
    signer
        .derive_keys(COOKIE_KEY_PURPOSE)
        .iter()
        .map(|key| Key::derive_from(key))
        .collect()
}

/// actix-session's middleware configured from the `SESSION_*` settings. The cookie is signed
/// so a forged key is rejected before any lookup.
pub fn middleware(
    engine: SessionEngine,
    cookie_keys: &[Key],
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
    let builder = SessionMiddleware::builder(engine, cookie_keys[0].clone())
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

/// Middleware inside the session middleware, applying the rules every engine shares:
///
/// - a request that failed on our side (any 5xx) leaves the stored session as it was;
/// - a changed session left with nothing of the visitor's (only `_` keys, or nothing) is
///   ended: its record deleted and its cookie removed.
pub async fn finish_session(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    if res.status().is_server_error() {
        // actix-session reads the pending changes from the request's extensions; without
        // them it sees an unchanged session and writes nothing.
        res.request().extensions_mut().clear();
        return Ok(res);
    }
    let session = res.request().get_session();
    let changed = matches!(
        session.status(),
        SessionStatus::Changed | SessionStatus::Renewed
    );
    if changed && !typed::holds_visitor_data(&session) {
        session.purge();
    }
    Ok(res)
}

/// Middleware outside the session middleware: a session cookie signed with a key from
/// `SECRET_KEY_FALLBACKS` is accepted and re-signed with `SECRET_KEY`, so rotating the key
/// logs nobody out.
pub async fn accept_fallback_cookie_keys(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let resigned = resign_with_current_key(&mut req);
    let mut res = next.call(req).await?;
    if let Some(cookie) = resigned {
        let already_set = res.response().cookies().any(|c| c.name() == cookie.name());
        if !already_set {
            res.response_mut().add_cookie(&cookie)?;
        }
    }
    Ok(res)
}

/// Rewrites the request's session cookie when only a fallback key verifies it; returns the
/// re-signed cookie to send back.
fn resign_with_current_key(req: &mut ServiceRequest) -> Option<Cookie<'static>> {
    let state = req.app_data::<web::Data<AppState>>()?;
    if state.session_cookie_keys.len() < 2 {
        return None;
    }
    let state = state.clone();
    let settings = &state.settings.session;
    let keys = &state.session_cookie_keys;
    // Parsed by hand: `req.cookies()` would cache the old value for actix-session to read.
    let header = req.headers().get(header::COOKIE)?.to_str().ok()?.to_owned();
    let raw = header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == settings.cookie_name)
        .map(|(_, value)| value.to_owned())?;
    let original = Cookie::parse_encoded(format!("{}={raw}", settings.cookie_name))
        .ok()?
        .into_owned();
    let verify = |key: &Key| {
        let mut jar = CookieJar::new();
        jar.add_original(original.clone());
        jar.signed(key)
            .get(&settings.cookie_name)
            .map(|c| c.value().to_owned())
    };
    if verify(&keys[0]).is_some() {
        return None;
    }
    let value = keys[1..].iter().find_map(verify)?;
    let mut jar = CookieJar::new();
    jar.signed_mut(&keys[0])
        .add(Cookie::new(settings.cookie_name.clone(), value));
    let resigned = jar.get(&settings.cookie_name)?.value().to_owned();
    let rewritten = header.replace(
        &format!("{}={raw}", settings.cookie_name),
        &format!("{}={resigned}", settings.cookie_name),
    );
    req.headers_mut()
        .insert(header::COOKIE, HeaderValue::from_str(&rewritten).ok()?);
    let mut cookie = Cookie::build(settings.cookie_name.clone(), resigned)
        .path(settings.cookie_path.clone())
        .secure(settings.cookie_secure)
        .http_only(settings.cookie_httponly)
        .same_site(settings.cookie_samesite.into())
        .finish();
    if let Some(domain) = &settings.cookie_domain {
        cookie.set_domain(domain.clone());
    }
    if !settings.expire_at_browser_close {
        cookie.set_max_age(Duration::seconds(settings.cookie_age));
    }
    Some(cookie)
}
