//! The session store actix-session's middleware calls: an enum over the engines, because
//! actix-session's `SessionStore` returns `impl Future` and cannot be a `dyn` object. Key
//! generation and the serializer are applied here, once, for every server-side engine.

use std::{sync::Arc, time::Duration};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;

use crate::{
    backend::{ClearOutcome, ClearRun, Loaded, SessionBackend, StoreError},
    caches::Cache,
    database::Database,
    keys::KeyFormat,
    observe::observer,
    serializer::{SessionCodec, SessionState},
    settings::{SessionEngineKind, SessionSettings},
    signing::Signer,
    stores::{
        cache::CacheSessions,
        cached_db::{CacheEpoch, CachedDb, DatabaseEpoch},
        db::DbSessions,
        django_db::DjangoDbSessions,
        file::{FileFormat, FileSessions},
        signed_cookies::{SessionTooLarge, SignedCookieSessions},
    },
    typed::DJANGO_SESSION_EXPIRY,
};

/// The server-side engine `SESSION_ENGINE` chose.
#[derive(Clone)]
pub enum Backend {
    /// `db`.
    Db(DbSessions),
    /// `db` on Django's `django_session` (`DJANGO_COMPAT`).
    DjangoDb(DjangoDbSessions),
    /// `cache`.
    Cache(CacheSessions),
    /// `cached_db`.
    CachedDb(CachedDb<CacheSessions, DbSessions>),
    /// `file`.
    File(FileSessions),
}

/// What the engines store in: each engine uses the parts it needs.
pub struct Storage<'a> {
    /// The `db` and `cached_db` engines' database.
    pub database: &'a Database,
    /// The cache `SESSION_CACHE_ALIAS` names, for `cache` and `cached_db`.
    pub cache: &'a Cache,
    /// Where `cached_db` keeps its cache epoch; `None` for a [`DatabaseEpoch`] in `database`.
    pub epoch: Option<Arc<dyn CacheEpoch>>,
    /// Signs signed-cookie sessions.
    pub signer: &'a Signer,
}

macro_rules! delegate {
    ($self:ident, $backend:ident => $call:expr) => {
        match $self {
            Backend::Db($backend) => $call,
            Backend::DjangoDb($backend) => $call,
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
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        delegate!(self, b => b.create(key, data, user, ttl).await)
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        delegate!(self, b => b.update(key, data, user, ttl).await)
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

    async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError> {
        delegate!(self, b => b.keys_of(user).await)
    }

    async fn forget(&self, user: i64, keys: &[String]) -> Result<(), StoreError> {
        delegate!(self, b => b.forget(user, keys).await)
    }
}

/// A session as stored, found through a user's index.
#[derive(Debug)]
pub struct StoredSession {
    /// Its key.
    pub key: String,
    /// What it holds.
    pub state: SessionState,
}

/// The configured session store (`SESSION_ENGINE`).
#[derive(Clone)]
pub enum SessionEngine {
    /// Sessions stored on the server, the cookie holding only the key.
    ServerSide {
        /// Where they are stored.
        backend: Backend,
        /// In what form.
        codec: SessionCodec,
        /// Which keys it makes and looks up.
        keys: KeyFormat,
        /// The session key holding the logged-in user's id, which the index goes by.
        user_key: Arc<str>,
    },
    /// The whole session in the cookie.
    SignedCookies(SignedCookieSessions),
    /// `SESSION_ENGINE=none`: nothing is ever stored; the actions that need a session answer
    /// `503` before they could change one.
    Disabled,
}

impl SessionEngine {
    /// The engine `settings` ask for, storing in `storage`.
    ///
    /// # Errors
    /// When the engine's storage cannot be used (a file folder that is not writable).
    pub fn from_settings(settings: &SessionSettings, storage: Storage<'_>) -> anyhow::Result<Self> {
        let sessions_in_cache = || CacheSessions::new(storage.cache.clone());
        let django = settings.django_compat;
        if django && !settings.engine.shares_with_django() {
            anyhow::bail!(
                "SESSION_ENGINE={} with DJANGO_COMPAT: {}",
                settings.engine.name(),
                SessionEngineKind::NOT_SHARED_WITH_DJANGO
            );
        }
        let backend = match settings.engine {
            SessionEngineKind::None => return Ok(Self::Disabled),
            SessionEngineKind::SignedCookies => {
                let engine = SignedCookieSessions::new(
                    storage.signer.clone(),
                    settings.serializer,
                    settings,
                );
                return Ok(Self::SignedCookies(engine));
            }
            SessionEngineKind::Db if django => {
                Backend::DjangoDb(DjangoDbSessions::new(storage.database.clone()))
            }
            SessionEngineKind::Db => Backend::Db(DbSessions::new(storage.database.clone())),
            SessionEngineKind::Cache => Backend::Cache(sessions_in_cache()),
            SessionEngineKind::CachedDb => {
                let epoch = storage
                    .epoch
                    .unwrap_or_else(|| Arc::new(DatabaseEpoch::new(storage.database.clone())));
                Backend::CachedDb(CachedDb::new(
                    sessions_in_cache(),
                    DbSessions::new(storage.database.clone()),
                    epoch,
                ))
            }
            SessionEngineKind::File => Backend::File(FileSessions::new(
                settings.file_path.clone(),
                &settings.cookie_name,
                if django {
                    FileFormat::Django {
                        age: Duration::from_secs(settings.cookie_age.unsigned_abs()),
                    }
                } else {
                    FileFormat::Native
                },
            )?),
        };
        let (codec, keys) = if django {
            (SessionCodec::django(storage.signer), KeyFormat::Django)
        } else {
            (SessionCodec::Native(settings.serializer), KeyFormat::Native)
        };
        Ok(Self::ServerSide {
            backend,
            codec,
            keys,
            user_key: settings.user_key.as_str().into(),
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

    /// The sessions stored with `user` logged in (by the session's user key; the caller checks
    /// that each is still valid), or `None` where the engine keeps no sessions on the server
    /// and cannot tell (signed cookies). Index entries whose session ended or changed hands
    /// are dropped on the way.
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn sessions_of(&self, user: i64) -> Result<Option<Vec<StoredSession>>, StoreError> {
        let Self::ServerSide {
            backend,
            codec,
            user_key,
            ..
        } = self
        else {
            return Ok(None);
        };
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        for key in backend.keys_of(user).await? {
            let state = backend
                .load(&key)
                .await?
                .and_then(|loaded| codec.decode(&loaded.data).ok());
            match state {
                Some(state) if user_of(&state, user_key) == Some(user) => {
                    sessions.push(StoredSession { key, state });
                }
                _ => stale.push(key),
            }
        }
        backend.forget(user, &stale).await?;
        Ok(Some(sessions))
    }

    /// Ends `user`'s sessions under `keys` on the server (nothing to do for signed cookies:
    /// see `security::session_auth` for how those are ended).
    ///
    /// # Errors
    /// When the storage does not answer.
    pub async fn end_sessions(&self, user: i64, keys: &[String]) -> Result<(), StoreError> {
        if let Self::ServerSide { backend, .. } = self {
            for key in keys {
                backend.delete(key).await?;
            }
            backend.forget(user, keys).await?;
        }
        Ok(())
    }

    /// The engine's name in the metrics; `None` when sessions are turned off.
    fn metrics_label(&self) -> Option<&'static str> {
        match self {
            Self::ServerSide { backend, .. } => Some(match backend {
                Backend::Db(_) | Backend::DjangoDb(_) => "db",
                Backend::Cache(_) => "cache",
                Backend::CachedDb(_) => "cached_db",
                Backend::File(_) => "file",
            }),
            Self::SignedCookies(_) => Some("signed_cookies"),
            Self::Disabled => None,
        }
    }

    /// Counts one store call by its outcome, and hands the outcome back.
    fn counted<T, E>(&self, operation: &'static str, outcome: Result<T, E>) -> Result<T, E> {
        if let Some(engine) = self.metrics_label() {
            observer().store_call(engine, operation, outcome.is_ok());
        }
        outcome
    }

    /// Why `state` could not be saved at all, known before trying: a signed-cookie session
    /// too large for a cookie.
    pub(crate) fn refuses(&self, state: &SessionState) -> Option<SessionTooLarge> {
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
            Self::ServerSide {
                backend,
                codec,
                keys,
                ..
            } => {
                if !keys.accepts(key.as_ref()) {
                    return Ok(None);
                }
                let loaded = backend
                    .load(key.as_ref())
                    .await
                    .map_err(|e| LoadError::Other(e.into()))?;
                loaded
                    .map(|loaded| codec.decode(&loaded.data))
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
                codec,
                keys,
                user_key,
            } => {
                let data = codec.encode(&state).map_err(SaveError::Serialization)?;
                let ttl = lifetime(codec, &state, ttl);
                let user = user_of(&state, user_key);
                // A collision of random keys (381 bits, or Django's 165) will not happen; if it
                // ever did, the store refuses to overwrite and we draw again.
                loop {
                    let key = keys.generate();
                    let created = backend
                        .create(key.as_ref(), &data, user, ttl)
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
                codec,
                user_key,
                ..
            } => {
                let data = codec.encode(&state).map_err(UpdateError::Serialization)?;
                let user = user_of(&state, user_key);
                let updated = backend
                    .update(key.as_ref(), &data, user, lifetime(codec, &state, ttl))
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

/// The user a stored session is logged in as, going by `user_key` alone: a number, or a
/// string of digits as Django's `_auth_user_id` is.
fn user_of(state: &SessionState, user_key: &str) -> Option<i64> {
    match serde_json::from_str(state.get(user_key)?).ok()? {
        serde_json::Value::Number(id) => id.as_i64(),
        serde_json::Value::String(id) => id.parse().ok(),
        _ => None,
    }
}

/// How long a session saved now lives: `ttl` (`SESSION_COOKIE_AGE`), or beside a Django site
/// the lifetime Django's `set_expiry()` gave it (`_session_expiry`: seconds, or a date), as
/// Django's `get_expiry_age()` reads it.
fn lifetime(codec: &SessionCodec, state: &SessionState, ttl: &CookieDuration) -> Duration {
    let default = std_duration(ttl);
    if !matches!(codec, SessionCodec::Django(_)) {
        return default;
    }
    let Some(expiry) = state
        .get(DJANGO_SESSION_EXPIRY)
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
    else {
        return default;
    };
    match expiry {
        serde_json::Value::Number(seconds) => match seconds.as_u64() {
            Some(0) | None => default,
            Some(seconds) => Duration::from_secs(seconds),
        },
        serde_json::Value::String(date) => {
            use time::{OffsetDateTime, format_description::well_known::Iso8601};
            OffsetDateTime::parse(&date, &Iso8601::DEFAULT)
                .ok()
                .map_or(default, |date| {
                    (date - OffsetDateTime::now_utc())
                        .try_into()
                        .unwrap_or_default()
                })
        }
        _ => default,
    }
}

fn std_duration(ttl: &CookieDuration) -> Duration {
    Duration::try_from(*ttl).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beside_django_a_session_lives_as_long_as_djangos_set_expiry_said() {
        let signer = Signer::new(crate::signing::SecretKey::new(vec![1; 32]).unwrap(), vec![]);
        let (django, native) = (
            SessionCodec::django(&signer),
            SessionCodec::Native(crate::settings::SessionSerializer::Json),
        );
        let age = CookieDuration::seconds(1_209_600);
        let expiring = |json: String| SessionState::from([(DJANGO_SESSION_EXPIRY.into(), json)]);
        let written = time::OffsetDateTime::now_utc();
        let in_an_hour = (written + time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();

        assert_eq!(
            lifetime(&django, &expiring("300".into()), &age),
            Duration::from_secs(300)
        );
        let until = lifetime(&django, &expiring(format!("\"{in_an_hour}\"")), &age);
        // What is left of the hour at the moment `lifetime` read the clock: between the hour
        // less the time since it was written down and the whole hour, however long that took.
        let since_written: Duration = (time::OffsetDateTime::now_utc() - written)
            .try_into()
            .unwrap();
        let hour = Duration::from_secs(3600);
        assert!(
            until <= hour && until >= hour - since_written,
            "{until:?}, {since_written:?} after"
        );
        let browser_session = lifetime(&django, &expiring("0".into()), &age);
        assert_eq!(
            browser_session,
            Duration::from_secs(1_209_600),
            "the cookie age"
        );
        assert_eq!(
            lifetime(&django, &SessionState::new(), &age).as_secs(),
            1_209_600
        );
        assert_eq!(
            lifetime(&native, &expiring("300".into()), &age).as_secs(),
            1_209_600,
            "only beside Django"
        );
    }

    #[test]
    fn the_user_is_a_number_or_digits_in_a_string_under_the_key_it_was_told() {
        let state = |key: &str, json: &str| SessionState::from([(key.into(), json.into())]);

        assert_eq!(user_of(&state("member_id", "7"), "member_id"), Some(7));
        assert_eq!(
            user_of(&state("_auth_user_id", "\"7\""), "_auth_user_id"),
            Some(7)
        );
        assert_eq!(user_of(&state("member_id", "7"), "_auth_user_id"), None);
        assert_eq!(user_of(&state("member_id", "\"seven\""), "member_id"), None);
        assert_eq!(user_of(&state("member_id", "true"), "member_id"), None);
    }
}
