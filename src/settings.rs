//! Configuration, parsed once at start-up into a typed [`Settings`].
//!
//! Every setting comes from the environment (a `.env` file is read first by `main`), keeps
//! Django's name where Django has one, and is validated here: an invalid value is a start-up
//! error that names the setting and says what it accepts.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use crate::security::{passwords::PasswordHashParams, proxies::TrustedProxies};

/// Two weeks, Django's `SESSION_COOKIE_AGE` default.
pub const DEFAULT_SESSION_COOKIE_AGE: i64 = 1_209_600;
/// The shortest `SECRET_KEY` accepted, in bytes.
pub const MIN_SECRET_KEY_LEN: usize = 32;

/// Everything the application needs to know about its deployment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`: a SQLite file path (`sqlite://` prefix optional).
    pub database_url: String,
    /// `DATABASE_POOL_SIZE`: connections in the pool.
    pub database_pool_size: u32,
    /// `DATABASE_POOL_TIMEOUT`: how long a request waits for a pooled connection before it
    /// is a `503`.
    pub database_pool_timeout: Duration,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: TrustedProxies,
    /// `CSRF_TRUSTED_ORIGINS`: origins besides the site's own accepted by the CSRF check.
    pub csrf_trusted_origins: Vec<String>,
    /// `BLOCKING_THREADS_PER_WORKER`: threads each async worker hands database calls (and
    /// static file reads) to.
    pub blocking_threads_per_worker: usize,
    /// `BIND_ADDR`: where `serve` listens.
    pub bind_addr: SocketAddr,
    /// `SECRET_KEY`; `None` means "generate one and keep it beside the database".
    pub secret_key: Option<SecretKey>,
    /// `SECRET_KEY_FALLBACKS`: older keys still accepted when verifying signed values.
    pub secret_key_fallbacks: Vec<SecretKey>,
    /// The cache `SESSION_CACHE_ALIAS` names, as configured by `CACHE_URL` or
    /// `CACHE_<ALIAS>_URL`.
    pub session_cache: CacheSettings,
    /// `STATIC_ROOT`: the folder served under `/static/`.
    pub static_root: PathBuf,
    pub session: SessionSettings,
    /// `PASSWORD_ARGON2_*`: cost of new password hashes.
    pub password_hash: PasswordHashParams,
}

/// The `SESSION_*` settings.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub engine: SessionEngineKind,
    /// `SESSION_SERIALIZER`: the stored form of session data.
    pub serializer: SerializerKind,
    /// `SESSION_FILE_PATH`: the folder of the file engine.
    pub file_path: PathBuf,
    pub cookie_name: String,
    /// Seconds a session lives after it was last saved.
    pub cookie_age: i64,
    pub cookie_secure: bool,
    pub cookie_httponly: bool,
    pub cookie_samesite: SameSite,
    pub cookie_domain: Option<String>,
    pub cookie_path: String,
    pub expire_at_browser_close: bool,
    pub save_every_request: bool,
}

/// `SESSION_ENGINE`: where sessions are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEngineKind {
    /// The `sessions` table (Django's `django.contrib.sessions.backends.db`).
    Db,
    /// Only in the cache `SESSION_CACHE_ALIAS` names.
    Cache,
    /// Written to the database and the cache; read from the cache first.
    CachedDb,
    /// One file per session in `SESSION_FILE_PATH`.
    File,
    /// The whole session in a signed cookie.
    SignedCookies,
    /// No sessions at all: pages show, actions answer 503.
    None,
}

impl SessionEngineKind {
    const ACCEPTED: &'static str = "db, cache, cached_db, file, signed_cookies or none";
}

impl FromStr for SessionEngineKind {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        // Django's dotted paths are accepted too, for people pasting settings across.
        let name = value
            .strip_prefix("django.contrib.sessions.backends.")
            .unwrap_or(value);
        match name {
            "db" => Ok(Self::Db),
            "cache" => Ok(Self::Cache),
            "cached_db" => Ok(Self::CachedDb),
            "file" => Ok(Self::File),
            "signed_cookies" => Ok(Self::SignedCookies),
            "none" => Ok(Self::None),
            _ => Err(()),
        }
    }
}

/// `SESSION_SERIALIZER`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SerializerKind {
    #[default]
    Json,
    MessagePack,
}

impl SerializerKind {
    const ACCEPTED: &'static str = "json or msgpack";
}

impl FromStr for SerializerKind {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "msgpack" | "messagepack" => Ok(Self::MessagePack),
            _ => Err(()),
        }
    }
}

/// One named cache (Django's `CACHES[alias]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    pub alias: String,
    pub backend: CacheBackend,
    /// `CACHE_KEY_PREFIX`: put before every key, so several apps can share one Redis.
    pub key_prefix: String,
}

/// Where a cache lives, from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheBackend {
    /// `memory://[?max_entries=N]`: in this process, bounded.
    Memory { max_entries: u64 },
    /// `redis://host:port/db`.
    Redis { url: String },
}

impl CacheBackend {
    /// The default bound of an in-process cache.
    pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

    fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("memory://") {
            let max_entries = match rest.trim_start_matches('/').strip_prefix('?') {
                None if rest.trim_matches('/').is_empty() => Self::DEFAULT_MAX_ENTRIES,
                Some(query) => match query.strip_prefix("max_entries=").map(str::parse::<u64>) {
                    Some(Ok(n)) if n > 0 => n,
                    _ => return Err("expected memory:// or memory://?max_entries=N (N > 0)".into()),
                },
                None => return Err("expected memory:// or memory://?max_entries=N (N > 0)".into()),
            };
            Ok(Self::Memory { max_entries })
        } else if url.starts_with("redis://") {
            redis::Client::open(url).map_err(|e| format!("not a usable redis:// URL: {e}"))?;
            Ok(Self::Redis {
                url: url.to_owned(),
            })
        } else {
            Err("expected a memory:// or redis://host:port/db URL".into())
        }
    }
}

/// `SESSION_COOKIE_SAMESITE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl SameSite {
    const ACCEPTED: &'static str = "Lax, Strict or None";
}

impl FromStr for SameSite {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value.to_ascii_lowercase().as_str() {
            "lax" => Ok(Self::Lax),
            "strict" => Ok(Self::Strict),
            "none" => Ok(Self::None),
            _ => Err(()),
        }
    }
}

impl From<SameSite> for actix_web::cookie::SameSite {
    fn from(value: SameSite) -> Self {
        match value {
            SameSite::Lax => Self::Lax,
            SameSite::Strict => Self::Strict,
            SameSite::None => Self::None,
        }
    }
}

/// A secret of at least [`MIN_SECRET_KEY_LEN`] bytes; never printed.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// # Errors
    /// When the key is shorter than [`MIN_SECRET_KEY_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_KEY_LEN {
            return Err(format!(
                "must be at least {MIN_SECRET_KEY_LEN} bytes long (got {})",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A setting that could not be used; the message names it and what it accepts.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}={value:?}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
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
        let defaults = PasswordHashParams::default();
        let session = SessionSettings {
            engine: vars.parse(
                "SESSION_ENGINE",
                SessionEngineKind::Db,
                SessionEngineKind::ACCEPTED,
            )?,
            serializer: vars.parse(
                "SESSION_SERIALIZER",
                SerializerKind::Json,
                SerializerKind::ACCEPTED,
            )?,
            file_path: vars
                .get("SESSION_FILE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
            cookie_name: vars.cookie_name("SESSION_COOKIE_NAME", "sessionid")?,
            cookie_age: vars.ranged(
                "SESSION_COOKIE_AGE",
                DEFAULT_SESSION_COOKIE_AGE,
                1,
                10 * 365 * 86_400,
            )?,
            cookie_secure: vars.flag("SESSION_COOKIE_SECURE", false)?,
            cookie_httponly: vars.flag("SESSION_COOKIE_HTTPONLY", true)?,
            cookie_samesite: vars.parse(
                "SESSION_COOKIE_SAMESITE",
                SameSite::Lax,
                SameSite::ACCEPTED,
            )?,
            cookie_domain: vars.get("SESSION_COOKIE_DOMAIN"),
            cookie_path: vars.cookie_path("SESSION_COOKIE_PATH")?,
            expire_at_browser_close: vars.flag("SESSION_EXPIRE_AT_BROWSER_CLOSE", false)?,
            save_every_request: vars.flag("SESSION_SAVE_EVERY_REQUEST", false)?,
        };
        let password_hash = PasswordHashParams {
            memory_kib: vars.ranged(
                "PASSWORD_ARGON2_MEMORY_KIB",
                defaults.memory_kib.into(),
                8,
                4 * 1024 * 1024,
            )? as u32,
            iterations: vars.ranged(
                "PASSWORD_ARGON2_ITERATIONS",
                defaults.iterations.into(),
                1,
                100,
            )? as u32,
            parallelism: vars.ranged(
                "PASSWORD_ARGON2_PARALLELISM",
                defaults.parallelism.into(),
                1,
                16,
            )? as u32,
        };
        password_hash.validate().map_err(|reason| SettingsError {
            name: "PASSWORD_ARGON2_MEMORY_KIB",
            value: password_hash.memory_kib.to_string(),
            reason,
        })?;
        let database_url = vars
            .get("DATABASE_URL")
            .unwrap_or_else(|| "db.sqlite3".into());
        let pool_size = vars.ranged("DATABASE_POOL_SIZE", 8, 1, 1000)? as u32;
        for origin in vars
            .get("CSRF_TRUSTED_ORIGINS")
            .iter()
            .flat_map(|l| l.split(','))
        {
            let origin = origin.trim();
            let is_origin = origin.starts_with("https://") || origin.starts_with("http://");
            if !origin.is_empty() && !is_origin {
                return Err(SettingsError {
                    name: "CSRF_TRUSTED_ORIGINS",
                    value: origin.into(),
                    reason: "expected origins like https://example.com".into(),
                });
            }
        }
        Ok(Self {
            database_url: database_url.clone(),
            database_pool_size: pool_size,
            database_pool_timeout: Duration::from_secs(vars.ranged(
                "DATABASE_POOL_TIMEOUT",
                5,
                1,
                3600,
            )? as u64),
            blocking_threads_per_worker: match vars.get("BLOCKING_THREADS_PER_WORKER") {
                Some(_) => vars.ranged("BLOCKING_THREADS_PER_WORKER", 1, 1, 512)? as usize,
                // SQLite answers from memory, one writer at a time: one thread per worker is
                // fastest. PostgreSQL calls wait on the network: let every pooled connection
                // be busy at once.
                None if crate::db::is_postgres(&database_url) => pool_size as usize,
                None => 1,
            },
            trusted_proxies: vars.parse(
                "TRUSTED_PROXIES",
                TrustedProxies::default(),
                "addresses or CIDR ranges, comma-separated",
            )?,
            csrf_trusted_origins: vars
                .get("CSRF_TRUSTED_ORIGINS")
                .map(|list| {
                    list.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            bind_addr: vars.parse(
                "BIND_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 8000)),
                "an address like 127.0.0.1:8000",
            )?,
            secret_key: match vars.get("SECRET_KEY") {
                None => None,
                Some(key) => {
                    Some(
                        SecretKey::new(key.into_bytes()).map_err(|reason| SettingsError {
                            name: "SECRET_KEY",
                            value: "(hidden)".into(),
                            reason,
                        })?,
                    )
                }
            },
            secret_key_fallbacks: vars
                .get("SECRET_KEY_FALLBACKS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|key| !key.is_empty())
                        .map(|key| {
                            SecretKey::new(key.as_bytes().to_vec()).map_err(|reason| {
                                SettingsError {
                                    name: "SECRET_KEY_FALLBACKS",
                                    value: "(hidden)".into(),
                                    reason: format!("every key {reason}"),
                                }
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
            session_cache: vars.session_cache()?,
            static_root: vars
                .get("STATIC_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(default_static_root),
            session,
            password_hash,
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

/// Typed access to the variables; empty values count as unset.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        accepted: &str,
    ) -> Result<T, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|_| SettingsError {
                name,
                reason: format!("expected {accepted}"),
                value,
            }),
        }
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => match value.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(SettingsError {
                    name,
                    value,
                    reason: "expected true or false".into(),
                }),
            },
        }
    }

    fn ranged(
        &self,
        name: &'static str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, SettingsError> {
        let accepted = format!("a whole number from {min} to {max}");
        let number = self.parse(name, default, &accepted)?;
        if (min..=max).contains(&number) {
            Ok(number)
        } else {
            Err(SettingsError {
                name,
                value: number.to_string(),
                reason: format!("expected {accepted}"),
            })
        }
    }

    fn cookie_name(&self, name: &'static str, default: &str) -> Result<String, SettingsError> {
        let value = self.get(name).unwrap_or_else(|| default.into());
        // RFC 6265 token characters only, so the name survives every browser.
        let is_token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if value.chars().all(is_token) {
            Ok(value)
        } else {
            Err(SettingsError {
                name,
                value,
                reason: "expected letters, digits and !#$%&'*+-.^_`|~ only".into(),
            })
        }
    }

    /// The cache `SESSION_CACHE_ALIAS` names: `CACHE_URL` for `default` (itself defaulting to
    /// `memory://`), `CACHE_<ALIAS>_URL` for any other.
    fn session_cache(&self) -> Result<CacheSettings, SettingsError> {
        let alias = self
            .get("SESSION_CACHE_ALIAS")
            .unwrap_or_else(|| "default".into());
        let valid_alias = alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_alias {
            return Err(SettingsError {
                name: "SESSION_CACHE_ALIAS",
                value: alias,
                reason: "expected letters, digits and _".into(),
            });
        }
        let (url_setting, url) = if alias == "default" {
            (
                "CACHE_URL".to_owned(),
                Some(self.get("CACHE_URL").unwrap_or_else(|| "memory://".into())),
            )
        } else {
            let name = format!("CACHE_{}_URL", alias.to_ascii_uppercase());
            let url = self.get(&name);
            (name, url)
        };
        let Some(url) = url else {
            return Err(SettingsError {
                name: "SESSION_CACHE_ALIAS",
                reason: format!("names a cache that is not configured: set {url_setting}"),
                value: alias,
            });
        };
        let backend = CacheBackend::parse(&url).map_err(|reason| SettingsError {
            name: if url_setting == "CACHE_URL" {
                "CACHE_URL"
            } else {
                "CACHE_<ALIAS>_URL"
            },
            value: format!("{url_setting}={url}"),
            reason,
        })?;
        let key_prefix = self
            .get("CACHE_KEY_PREFIX")
            .unwrap_or_else(|| "guestbook:".into());
        Ok(CacheSettings {
            alias,
            backend,
            key_prefix,
        })
    }

    fn cookie_path(&self, name: &'static str) -> Result<String, SettingsError> {
        let value = self.get(name).unwrap_or_else(|| "/".into());
        if value.starts_with('/') && !value.contains(';') {
            Ok(value)
        } else {
            Err(SettingsError {
                name,
                value,
                reason: "expected a path starting with /".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_django() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url, "db.sqlite3");
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(s.session.engine, SessionEngineKind::Db);
        assert_eq!(s.session.cookie_name, "sessionid");
        assert_eq!(s.session.cookie_age, 1_209_600);
        assert!(!s.session.cookie_secure);
        assert!(s.session.cookie_httponly);
        assert_eq!(s.session.cookie_samesite, SameSite::Lax);
        assert_eq!(s.session.cookie_path, "/");
        assert!(s.secret_key.is_none());
    }

    #[test]
    fn invalid_values_name_the_setting_and_what_it_accepts() {
        let err = settings(&[("SESSION_ENGINE", "redis")]).unwrap_err();
        assert_eq!(err.name, "SESSION_ENGINE");
        assert!(
            err.to_string().contains("SESSION_ENGINE=\"redis\""),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("expected db, cache, cached_db, file, signed_cookies or none"),
            "{err}"
        );

        let err = settings(&[("SESSION_SERIALIZER", "xml")]).unwrap_err();
        assert_eq!(err.name, "SESSION_SERIALIZER");
        assert!(err.to_string().contains("json or msgpack"), "{err}");

        let err = settings(&[("CACHE_URL", "memcached://x")]).unwrap_err();
        assert_eq!(err.name, "CACHE_URL");
        assert!(err.to_string().contains("memory:// or redis://"), "{err}");

        let err = settings(&[("TRUSTED_PROXIES", "proxy.example")]).unwrap_err();
        assert_eq!(err.name, "TRUSTED_PROXIES");

        let err = settings(&[("CSRF_TRUSTED_ORIGINS", "www.example.com")]).unwrap_err();
        assert_eq!(err.name, "CSRF_TRUSTED_ORIGINS");

        let err = settings(&[("SESSION_COOKIE_AGE", "-5")]).unwrap_err();
        assert_eq!(err.name, "SESSION_COOKIE_AGE");

        let err = settings(&[("SESSION_COOKIE_SECURE", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("expected true or false"), "{err}");

        let err = settings(&[("SESSION_COOKIE_SAMESITE", "sometimes")]).unwrap_err();
        assert!(err.to_string().contains("Lax, Strict or None"), "{err}");

        let err = settings(&[("BIND_ADDR", "nowhere")]).unwrap_err();
        assert_eq!(err.name, "BIND_ADDR");
    }

    #[test]
    fn engines_accept_their_names_and_djangos_dotted_paths() {
        for (value, engine) in [
            ("db", SessionEngineKind::Db),
            ("cache", SessionEngineKind::Cache),
            ("cached_db", SessionEngineKind::CachedDb),
            ("file", SessionEngineKind::File),
            ("signed_cookies", SessionEngineKind::SignedCookies),
            ("none", SessionEngineKind::None),
            (
                "django.contrib.sessions.backends.cached_db",
                SessionEngineKind::CachedDb,
            ),
        ] {
            assert_eq!(
                settings(&[("SESSION_ENGINE", value)])
                    .unwrap()
                    .session
                    .engine,
                engine
            );
        }
    }

    #[test]
    fn caches_are_named_like_djangos_caches() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.session_cache.alias, "default");
        assert_eq!(
            s.session_cache.backend,
            CacheBackend::Memory {
                max_entries: 100_000
            }
        );
        assert_eq!(s.session_cache.key_prefix, "guestbook:");

        let s = settings(&[
            ("SESSION_CACHE_ALIAS", "sessions"),
            ("CACHE_SESSIONS_URL", "redis://127.0.0.1:6379/2"),
        ])
        .unwrap();
        assert_eq!(
            s.session_cache.backend,
            CacheBackend::Redis {
                url: "redis://127.0.0.1:6379/2".into()
            }
        );

        let s = settings(&[("CACHE_URL", "memory://?max_entries=5")]).unwrap();
        assert_eq!(
            s.session_cache.backend,
            CacheBackend::Memory { max_entries: 5 }
        );

        let err = settings(&[("SESSION_CACHE_ALIAS", "sessions")]).unwrap_err();
        assert_eq!(err.name, "SESSION_CACHE_ALIAS");
        assert!(err.to_string().contains("CACHE_SESSIONS_URL"), "{err}");
    }

    #[test]
    fn fallback_keys_are_a_comma_separated_list() {
        let key = "k".repeat(32);
        let s = settings(&[("SECRET_KEY_FALLBACKS", &format!("{key}, {key}"))]).unwrap();
        assert_eq!(s.secret_key_fallbacks.len(), 2);
        let err = settings(&[("SECRET_KEY_FALLBACKS", "short")]).unwrap_err();
        assert_eq!(err.name, "SECRET_KEY_FALLBACKS");
    }

    #[test]
    fn a_short_secret_key_is_refused_without_echoing_it() {
        let err = settings(&[("SECRET_KEY", "too-short-secret")]).unwrap_err();
        assert_eq!(err.name, "SECRET_KEY");
        assert!(!err.to_string().contains("too-short-secret"));
        assert!(err.to_string().contains("at least 32 bytes"));
    }
}
