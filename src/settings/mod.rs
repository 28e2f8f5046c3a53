//! Configuration, parsed once at start-up into a typed [`Settings`].
//!
//! Every setting comes from the environment (a `.env` file is read first by `main`), keeps
//! Django's name where Django has one, and is validated here: an invalid value is a start-up
//! error that names the setting and says what it accepts. One file per section; each section
//! parses its own variables, once.

mod caches;
mod comments;
mod database;
mod django;
mod https;
mod observability;
mod security;
mod sessions;
mod vars;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use self::vars::Vars;

pub use actix_session_engines::{
    caches::{CaCertificates, CacheBackend, CacheSettings},
    database::DatabaseSettings,
    settings::{
        DEFAULT_SESSION_COOKIE_AGE, SameSite, SessionEngineKind, SessionSerializer, SessionSettings,
    },
    signing::SecretKey,
};

pub use self::{
    comments::{CommentSettings, CommentThrottle},
    django::DjangoSettings,
    https::HttpsSettings,
    observability::{LogFormat, ObservabilitySettings},
    security::{
        AllowedHosts, LoginThrottle, MIN_SECRET_KEY_LEN, PasswordHashParams, PasswordWork,
        SecuritySettings,
    },
    vars::{SettingsError, redact_url},
};

/// Everything the application needs to know about its deployment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `BIND_ADDR`: where `serve` listens; unset, `0.0.0.0:$PORT` when the hosting platform
    /// sets `PORT`, else `127.0.0.1:8000`.
    pub bind_addr: SocketAddr,
    /// `STATIC_ROOT`: a folder served under `/static/` instead of the files built into the
    /// binary.
    pub static_root: Option<PathBuf>,
    /// `SHUTDOWN_TIMEOUT`: how long a stopping server lets the requests in flight finish.
    pub shutdown_timeout: Duration,
    /// `CLEARSESSIONS_INTERVAL`: how often `serve` deletes expired sessions (one instance at a
    /// time across those sharing the database); `None`, never (the default, as in Django: the
    /// operator runs `guestbook clearsessions` when it suits the site).
    pub clearsessions_interval: Option<Duration>,
    pub https: HttpsSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    /// The `default` cache (`CACHE_URL`): where the login, sign-up and comment throttles count
    /// (unless `THROTTLE_CACHE_ALIAS` names another), so that every instance sharing a Redis
    /// counts together.
    pub cache: CacheSettings,
    /// The cache `THROTTLE_CACHE_ALIAS` names, when that is not `default`: a Redis database
    /// (or server) of the throttles' own, whose memory sessions never share.
    pub throttle_cache: Option<CacheSettings>,
    /// The cache `SESSION_CACHE_ALIAS` names, as configured by `CACHE_URL` or
    /// `CACHE_<ALIAS>_URL`.
    pub session_cache: CacheSettings,
    pub security: SecuritySettings,
    /// `COMMENT_*`: the author's edit window, the comment throttle, the spam trap.
    pub comments: CommentSettings,
    /// `LOG_FORMAT`, `METRICS_ADDR`.
    pub observability: ObservabilitySettings,
    /// `DJANGO_COMPAT`: `Some` when sessions, users and CSRF tokens are shared with a Django
    /// site.
    pub django: Option<DjangoSettings>,
}

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// The first setting whose value is invalid.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable name to its value), so tests need not
    /// touch the process environment.
    ///
    /// # Errors
    /// The first setting whose value is invalid.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let vars = Vars(&lookup);
        // Hosting platforms say where to listen with PORT; BIND_ADDR, when set, wins.
        let default_bind = match vars.get("PORT") {
            Some(_) => {
                SocketAddr::from(([0, 0, 0, 0], vars.ranged("PORT", 8000, 0, 65535)? as u16))
            }
            None => SocketAddr::from(([127, 0, 0, 1], 8000)),
        };
        let bind_addr = vars.parse("BIND_ADDR", default_bind, "an address like 127.0.0.1:8000")?;
        let session = sessions::parse(&vars)?;
        let security = SecuritySettings::parse(&vars, bind_addr, session.cookie_secure)?;
        Ok(Self {
            django: django::parse(&vars, &session, security.secret_key.is_some())?,
            security,
            session,
            database: database::parse(&vars)?,
            bind_addr,
            cache: caches::default_cache(&vars)?,
            session_cache: caches::session_cache(&vars)?,
            throttle_cache: caches::throttle_cache(&vars)?,
            static_root: static_root(&vars)?,
            shutdown_timeout: Duration::from_secs(
                vars.ranged("SHUTDOWN_TIMEOUT", 30, 0, 3600)? as u64
            ),
            clearsessions_interval: match vars.ranged(
                "CLEARSESSIONS_INTERVAL",
                0,
                0,
                30 * 86_400,
            )? {
                0 => None,
                seconds => Some(Duration::from_secs(seconds as u64)),
            },
            https: HttpsSettings::parse(&vars)?,
            comments: CommentSettings::parse(&vars)?,
            observability: ObservabilitySettings::parse(&vars)?,
        })
    }
}

/// `STATIC_ROOT`, which must be a folder.
fn static_root(vars: &Vars) -> Result<Option<PathBuf>, SettingsError> {
    let Some(root) = vars.get("STATIC_ROOT") else {
        return Ok(None);
    };
    let path = PathBuf::from(&root);
    if !path.is_dir() {
        return Err(SettingsError {
            name: "STATIC_ROOT",
            value: root,
            reason: "expected a folder of static files (unset, the files built into the binary are served)".into(),
        });
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The settings `vars` give, the rest unset.
    pub(super) fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_django() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database.url, "db.sqlite3");
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(s.session.engine, SessionEngineKind::Db);
        assert_eq!(s.session.serializer, SessionSerializer::Json);
        assert_eq!(s.session.cookie_name, "sessionid");
        assert_eq!(s.session.cookie_age, 1_209_600);
        assert!(!s.session.cookie_secure);
        assert!(s.session.cookie_httponly);
        assert_eq!(s.session.cookie_samesite, SameSite::Lax);
        assert_eq!(s.session.cookie_path, "/");
        assert!(s.security.secret_key.is_none());
    }

    #[test]
    fn port_is_honoured_when_bind_addr_is_unset() {
        let on_platform = settings(&[("PORT", "5000")]).unwrap();
        assert_eq!(on_platform.bind_addr.to_string(), "0.0.0.0:5000");
        let both = settings(&[("PORT", "5000"), ("BIND_ADDR", "127.0.0.1:9000")]).unwrap();
        assert_eq!(both.bind_addr.to_string(), "127.0.0.1:9000");
        assert_eq!(settings(&[("PORT", "http")]).unwrap_err().name, "PORT");
        assert_eq!(
            settings(&[]).unwrap().shutdown_timeout,
            Duration::from_secs(30)
        );
        assert!(settings(&[]).unwrap().static_root.is_none());
        assert_eq!(
            settings(&[("STATIC_ROOT", "/no/such/folder")])
                .unwrap_err()
                .name,
            "STATIC_ROOT"
        );
    }

    #[test]
    fn invalid_values_name_the_setting_and_what_it_accepts() {
        let err = settings(&[("BIND_ADDR", "nowhere")]).unwrap_err();
        assert_eq!(err.name, "BIND_ADDR");
        assert!(err.to_string().contains("127.0.0.1:8000"), "{err}");

        let err = settings(&[("SESSION_COOKIE_SECURE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("expected true or false"), "{err}");

        let err = settings(&[("DATABASE_POOL_SIZE", "0")]).unwrap_err();
        assert_eq!(err.name, "DATABASE_POOL_SIZE");
        assert!(
            err.to_string()
                .contains("expected a whole number from 1 to 1000"),
            "{err}"
        );
    }
}
