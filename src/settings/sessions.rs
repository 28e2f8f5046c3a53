//! The `SESSION_*` settings: which engine stores sessions, in what form, and the cookie.

use std::{path::PathBuf, str::FromStr};

use super::vars::{SettingsError, Vars};

/// Two weeks, Django's `SESSION_COOKIE_AGE` default.
pub const DEFAULT_SESSION_COOKIE_AGE: i64 = 1_209_600;

#[derive(Clone, Debug)]
pub struct SessionSettings {
    /// `SESSION_ENGINE`: where sessions are stored.
    pub engine: SessionEngineKind,
    /// `SESSION_SERIALIZER`: the stored form of session data.
    pub serializer: SessionSerializer,
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

impl SessionSettings {
    pub(super) fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(Self {
            engine: vars.parse(
                "SESSION_ENGINE",
                SessionEngineKind::Db,
                SessionEngineKind::ACCEPTED,
            )?,
            serializer: vars.parse(
                "SESSION_SERIALIZER",
                SessionSerializer::Json,
                SessionSerializer::ACCEPTED,
            )?,
            file_path: vars
                .get("SESSION_FILE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
            cookie_name: cookie_name(vars, "SESSION_COOKIE_NAME", "sessionid")?,
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
            cookie_path: cookie_path(vars, "SESSION_COOKIE_PATH")?,
            expire_at_browser_close: vars.flag("SESSION_EXPIRE_AT_BROWSER_CLOSE", false)?,
            save_every_request: vars.flag("SESSION_SAVE_EVERY_REQUEST", false)?,
        })
    }
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

    /// Whether the engine keeps sessions in the cache `SESSION_CACHE_ALIAS` names.
    pub fn uses_cache(self) -> bool {
        matches!(self, Self::Cache | Self::CachedDb)
    }
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

/// `SESSION_SERIALIZER`: the stored form of session data (see `sessions::serializer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionSerializer {
    #[default]
    Json,
    MessagePack,
}

impl SessionSerializer {
    const ACCEPTED: &'static str = "json or msgpack";
}

impl FromStr for SessionSerializer {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "msgpack" | "messagepack" => Ok(Self::MessagePack),
            _ => Err(()),
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

fn cookie_name(vars: &Vars, name: &'static str, default: &str) -> Result<String, SettingsError> {
    let value = vars.get(name).unwrap_or_else(|| default.into());
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

fn cookie_path(vars: &Vars, name: &'static str) -> Result<String, SettingsError> {
    let value = vars.get(name).unwrap_or_else(|| "/".into());
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

#[cfg(test)]
mod tests {
    use super::{super::tests::settings, *};

    #[test]
    fn invalid_session_settings_name_the_setting_and_what_it_accepts() {
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

        let err = settings(&[("SESSION_COOKIE_AGE", "-5")]).unwrap_err();
        assert_eq!(err.name, "SESSION_COOKIE_AGE");

        let err = settings(&[("SESSION_COOKIE_SAMESITE", "sometimes")]).unwrap_err();
        assert!(err.to_string().contains("Lax, Strict or None"), "{err}");

        let err = settings(&[("SESSION_COOKIE_NAME", "semi;colon")]).unwrap_err();
        assert_eq!(err.name, "SESSION_COOKIE_NAME");

        let err = settings(&[("SESSION_COOKIE_PATH", "relative")]).unwrap_err();
        assert_eq!(err.name, "SESSION_COOKIE_PATH");
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
        assert_eq!(
            settings(&[("SESSION_SERIALIZER", "msgpack")])
                .unwrap()
                .session
                .serializer,
            SessionSerializer::MessagePack
        );
    }
}
