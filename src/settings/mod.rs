//! Configuration, parsed once at start-up into a typed [`Settings`].
//!
//! Every setting comes from the environment (a `.env` file is read first by `main`), keeps
//! Django's name where Django has one, and is validated here: an invalid value is a start-up
//! error that names the setting and says what it accepts. One file per section; each section
//! parses its own variables, once.

mod caches;
mod database;
mod security;
mod sessions;
mod vars;

use std::{net::SocketAddr, path::PathBuf};

use self::vars::Vars;

pub use self::{
    caches::{CacheBackend, CacheSettings},
    database::DatabaseSettings,
    security::{
        AllowedHosts, LoginThrottle, MIN_SECRET_KEY_LEN, PasswordHashParams, PasswordWork,
        SecretKey, SecuritySettings,
    },
    sessions::{
        DEFAULT_SESSION_COOKIE_AGE, SameSite, SessionEngineKind, SessionSerializer, SessionSettings,
    },
    vars::SettingsError,
};

/// Everything the application needs to know about its deployment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `BIND_ADDR`: where `serve` listens.
    pub bind_addr: SocketAddr,
    /// `STATIC_ROOT`: the folder served under `/static/`.
    pub static_root: PathBuf,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    /// The `default` cache (`CACHE_URL`): where login throttling counts, so that every
    /// instance sharing a Redis counts together.
    pub cache: CacheSettings,
    /// The cache `SESSION_CACHE_ALIAS` names, as configured by `CACHE_URL` or
    /// `CACHE_<ALIAS>_URL`.
    pub session_cache: CacheSettings,
    pub security: SecuritySettings,
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
        let bind_addr = vars.parse(
            "BIND_ADDR",
            SocketAddr::from(([127, 0, 0, 1], 8000)),
            "an address like 127.0.0.1:8000",
        )?;
        Ok(Self {
            session: SessionSettings::parse(&vars)?,
            security: SecuritySettings::parse(&vars, bind_addr)?,
            database: DatabaseSettings::parse(&vars)?,
            bind_addr,
            cache: CacheSettings::parse_default(&vars)?,
            session_cache: CacheSettings::parse_session_cache(&vars)?,
            static_root: vars
                .get("STATIC_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(default_static_root),
        })
    }
}

/// `static/` in the working directory when there is one, else the one in the source tree, so
/// `cargo run` works from anywhere inside a checkout.
fn default_static_root() -> PathBuf {
    let local = PathBuf::from("static");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")
    }
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
