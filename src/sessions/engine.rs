//! The session store actix-session's middleware calls: an enum over the engines, because
//! actix-session's `SessionStore` returns `impl Future` and cannot be a `dyn` object. Key
//! generation and the serializer are applied here, once, for every server-side engine.

use std::time::Duration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;

use super::{
    backend::{ClearOutcome, ClearRun, Loaded, SessionBackend, StoreError},
    cache::CacheSessions,
    cached_db::CachedDb,
    db::DbSessions,
    fields,
    file::FileSessions,
    keys,
    serializer::SessionState,
    signed_cookies::{SessionTooLarge, SignedCookieSessions},
};
use crate::{
    cache::Cache,
    changes::Changes,
    db::Database,
    metrics,
    security::signing::Signer,
    settings::{SessionEngineKind, SessionSerializer, Settings},
};

/// The server-side engine `SESSION_ENGINE` chose.
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
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        delegate!(self, b => b.load(key).await)
    }

    async fn create(
        &self,
        key: &str,
        data: &[u8],
        member: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        delegate!(self, b => b.create(key, data, member, ttl).await)
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        member: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        delegate!(self, b => b.update(key, data, member, ttl).await)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        delegate!(self, b => b.touch(key, ttl).await)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        delegate!(self, b => b.delete(key).await)
    }

    async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
        delegate!(self, b => b.clear_expired(run).await)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        delegate!(self, b => b.count().await)
    }

    async fn keys_of(&self, member: i64) -> Result<Vec<String>, StoreError> {
        delegate!(self, b => b.keys_of(member).await)
    }

    async fn forget(&self, member: i64, keys: &[String]) -> Result<(), StoreError> {
        delegate!(self, b => b.forget(member, keys).await)
    }
}

/// A session as stored, found through a member's index.
#[derive(Debug)]
pub struct StoredSession {
    pub key: String,
    pub state: SessionState,
}

/// The configured session store (`SESSION_ENGINE`).
#[derive(Clone)]
pub enum SessionEngine {
    ServerSide {
        backend: Backend,
        serializer: SessionSerializer,
    },
    SignedCookies(SignedCookieSessions),
    /// `SESSION_ENGINE=none`: nothing is ever stored; the actions that need a session answer
    /// `503` before they could change one.
    Disabled,
}

impl SessionEngine {
    /// The engine `settings` ask for; `cache` is the one `SESSION_CACHE_ALIAS` names, `changes`
    /// the database's change counters (where `cached_db` keeps its cache epoch).
    ///
    /// # Errors
    /// When the engine's storage cannot be used (a file folder that is not writable).
    pub fn from_settings(
        settings: &Settings,
        db: &Database,
        changes: &Changes,
        signer: &Signer,
        cache: &Cache,
    ) -> anyhow::Result<Self> {
        let session = &settings.session;
        let sessions_in_cache = || CacheSessions::new(cache.clone());
        let backend = match session.engine {
            SessionEngineKind::None => return Ok(Self::Disabled),
            SessionEngineKind::SignedCookies => {
                let engine = SignedCookieSessions::new(signer.clone(), session.serializer, session);
                return Ok(Self::SignedCookies(engine));
            }
            SessionEngineKind::Db => Backend::Db(DbSessions::new(db.clone())),
            SessionEngineKind::Cache => Backend::Cache(sessions_in_cache()),
            SessionEngineKind::CachedDb => Backend::CachedDb(CachedDb::new(
                sessions_in_cache(),
                DbSessions::new(db.clone()),
                changes.clone(),
            )),
            SessionEngineKind::File => Backend::File(FileSessions::new(
                session.file_path.clone(),
                &session.cookie_name,
            )?),
        };
        Ok(Self::ServerSide {
            backend,
            serializer: session.serializer,
        })
    }

    /// Whether this deployment has sessions at all.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, Self::Disabled)
    }

    /// Removes expired sessions where the engine keeps them.
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
        match self {
            Self::ServerSide { backend, .. } => backend.clear_expired(run).await,
            Self::SignedCookies(_) => Ok(ClearOutcome::NothingToClear(
                "signed cookies store nothing on the server",
            )),
            Self::Disabled => Ok(ClearOutcome::NothingToClear(DISABLED)),
        }
    }

    /// How many sessions the engine stores, where it stores any on the server.
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn stored_count(&self) -> Result<Option<u64>, StoreError> {
        match self {
            Self::ServerSide { backend, .. } => Ok(Some(backend.count().await?)),
            Self::SignedCookies(_) | Self::Disabled => Ok(None),
        }
    }

    /// The sessions stored with `member` logged in (by their `member_id`; the caller checks
    /// that each is still valid), or `None` where the engine keeps no sessions on the server
    /// and cannot tell (signed cookies). Index entries whose session ended or changed hands
    /// are dropped on the way.
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn sessions_of(&self, member: i64) -> Result<Option<Vec<StoredSession>>, StoreError> {
        let Self::ServerSide { backend, .. } = self else {
            return Ok(None);
        };
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        for key in backend.keys_of(member).await? {
            let state = backend
                .load(&key)
                .await?
                .and_then(|loaded| SessionSerializer::decode(&loaded.data).ok());
            match state {
                Some(state) if fields::member_of(&state) == Some(member) => {
                    sessions.push(StoredSession { key, state });
                }
                _ => stale.push(key),
            }
        }
        backend.forget(member, &stale).await?;
        Ok(Some(sessions))
    }

    /// Ends `member`'s sessions under `keys` on the server (nothing to do for signed cookies:
    /// see `security::session_auth` for how those are ended).
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn end_sessions(&self, member: i64, keys: &[String]) -> Result<(), StoreError> {
        if let Self::ServerSide { backend, .. } = self {
            for key in keys {
                backend.delete(key).await?;
            }
            backend.forget(member, keys).await?;
        }
        Ok(())
    }

    /// The engine's name in the metrics; `None` when sessions are turned off.
    fn metrics_label(&self) -> Option<&'static str> {
        match self {
            Self::ServerSide { backend, .. } => Some(match backend {
                Backend::Db(_) => "db",
                Backend::Cache(_) => "cache",
                Backend::CachedDb(_) => "cached_db",
                Backend::File(_) => "file",
            }),
            Self::SignedCookies(_) => Some("signed_cookies"),
            Self::Disabled => None,
        }
    }

    /// Counts one store call by its outcome, and hands the outcome back.
    fn counted<T, E>(&self, operation: &str, outcome: Result<T, E>) -> Result<T, E> {
        if let Some(engine) = self.metrics_label() {
            metrics::session_operation(engine, operation, outcome.is_ok());
        }
        outcome
    }

    /// Why `state` could not be saved at all, known before trying: a signed-cookie session
    /// too large for a cookie.
    pub(super) fn refuses(&self, state: &SessionState) -> Option<SessionTooLarge> {
        match self {
            Self::SignedCookies(engine) => engine.encode(state).err()?.downcast().ok(),
            Self::ServerSide { .. } | Self::Disabled => None,
        }
    }
}

/// What the disabled engine answers when asked to store or clear anything (storing is a bug:
/// the actions check first).
const DISABLED: &str = "sessions are turned off (SESSION_ENGINE=none)";

impl SessionStore for SessionEngine {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let outcome = self.load_uncounted(key).await;
        self.counted("load", outcome)
    }

    async fn save(
        &self,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        let outcome = self.save_uncounted(state, ttl).await;
        self.counted("save", outcome)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let outcome = self.update_uncounted(key, state, ttl).await;
        self.counted("update", outcome)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &CookieDuration) -> anyhow::Result<()> {
        let outcome = self.touch_uncounted(key, ttl).await;
        self.counted("touch", outcome)
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let outcome = self.delete_uncounted(key).await;
        self.counted("delete", outcome)
    }
}

/// The store calls themselves; the [`SessionStore`] impl above counts each for the metrics.
impl SessionEngine {
    async fn load_uncounted(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
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
            Self::Disabled => Ok(None),
        }
    }

    async fn save_uncounted(
        &self,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        match self {
            Self::ServerSide {
                backend,
                serializer,
            } => {
                let data = serializer
                    .encode(&state)
                    .map_err(SaveError::Serialization)?;
                let ttl = std_duration(ttl);
                let member = fields::member_of(&state);
                // A collision of 381-bit random keys will not happen; if it ever did, the
                // store refuses to overwrite and we draw again.
                loop {
                    let key = keys::generate();
                    let created = backend
                        .create(key.as_ref(), &data, member, ttl)
                        .await
                        .map_err(|e| SaveError::Other(e.into()))?;
                    if created {
                        return Ok(key);
                    }
                }
            }
            Self::SignedCookies(engine) => engine.save(state).await,
            Self::Disabled => Err(SaveError::Other(anyhow::anyhow!(DISABLED))),
        }
    }

    async fn update_uncounted(
        &self,
        key: SessionKey,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        match self {
            Self::ServerSide {
                backend,
                serializer,
            } => {
                let data = serializer
                    .encode(&state)
                    .map_err(UpdateError::Serialization)?;
                let member = fields::member_of(&state);
                let updated = backend
                    .update(key.as_ref(), &data, member, std_duration(ttl))
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
            Self::Disabled => Err(UpdateError::Other(anyhow::anyhow!(DISABLED))),
        }
    }

    async fn touch_uncounted(&self, key: &SessionKey, ttl: &CookieDuration) -> anyhow::Result<()> {
        match self {
            Self::ServerSide { backend, .. } => {
                Ok(backend.touch(key.as_ref(), std_duration(ttl)).await?)
            }
            // The expiry is signed into the value, which only changes with the session.
            Self::SignedCookies(_) | Self::Disabled => Ok(()),
        }
    }

    async fn delete_uncounted(&self, key: &SessionKey) -> anyhow::Result<()> {
        match self {
            Self::ServerSide { backend, .. } => Ok(backend.delete(key.as_ref()).await?),
            // Nothing on the server to delete: the middleware removes the cookie.
            Self::SignedCookies(_) | Self::Disabled => Ok(()),
        }
    }
}

fn std_duration(ttl: &CookieDuration) -> Duration {
    Duration::try_from(*ttl).unwrap_or_default()
}
