//! The `SESSION_*` settings, typed: which engine stores sessions, in what form, and the
//! cookie. Reading them from the environment is the application's business.

use std::{path::PathBuf, str::FromStr};

/// Two weeks, Django's `SESSION_COOKIE_AGE` default.
pub const DEFAULT_SESSION_COOKIE_AGE: i64 = 1_209_600;

/// The session framework's settings, named after Django's.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    /// `SESSION_ENGINE`: where sessions are stored.
    pub engine: SessionEngineKind,
    /// `SESSION_SERIALIZER`: the stored form of session data.
    pub serializer: SessionSerializer,
    /// `SESSION_FILE_PATH`: the folder of the file engine.
    pub file_path: PathBuf,
    /// `SESSION_COOKIE_NAME`.
    pub cookie_name: String,
    /// `SESSION_COOKIE_AGE`: seconds a session lives after it was last saved.
    pub cookie_age: i64,
    /// `SESSION_COOKIE_SECURE`: the cookie only goes over HTTPS.
    pub cookie_secure: bool,
    /// `SESSION_COOKIE_HTTPONLY`: scripts cannot read the cookie.
    pub cookie_httponly: bool,
    /// `SESSION_COOKIE_SAMESITE`.
    pub cookie_samesite: SameSite,
    /// `SESSION_COOKIE_DOMAIN`: `None` for the host that set it.
    pub cookie_domain: Option<String>,
    /// `SESSION_COOKIE_PATH`.
    pub cookie_path: String,
    /// `SESSION_EXPIRE_AT_BROWSER_CLOSE`: sessions end with the browser unless they choose
    /// otherwise.
    pub expire_at_browser_close: bool,
    /// `SESSION_SAVE_EVERY_REQUEST`: every response renews the session and its cookie.
    pub save_every_request: bool,
    /// The session key holding the logged-in user's id (a number, or digits in a string), which
    /// the server-side engines index sessions by so a user's sessions can be listed and ended.
    pub user_key: String,
    /// `DJANGO_COMPAT`: sessions in Django's own formats, shared with a Django site that has the
    /// same `SECRET_KEY`, database (or folder) and cookie: Django's table `django_session`, its
    /// file names, its signed cookie and its session keys, the cookie holding what Django's
    /// holds. Only the `db`, `file` and `signed_cookies` engines can be shared (Django's cache
    /// engines pickle their values).
    pub django_compat: bool,
}

impl Default for SessionSettings {
    /// Django's defaults: the `db` engine, JSON, a `sessionid` cookie for two weeks, HttpOnly
    /// and `SameSite=Lax`; the user's id under Django's `_auth_user_id`.
    fn default() -> Self {
        Self {
            engine: SessionEngineKind::Db,
            serializer: SessionSerializer::Json,
            file_path: std::env::temp_dir(),
            cookie_name: "sessionid".into(),
            cookie_age: DEFAULT_SESSION_COOKIE_AGE,
            cookie_secure: false,
            cookie_httponly: true,
            cookie_samesite: SameSite::Lax,
            cookie_domain: None,
            cookie_path: "/".into(),
            expire_at_browser_close: false,
            save_every_request: false,
            user_key: "_auth_user_id".into(),
            django_compat: false,
        }
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
    /// What the setting accepts, for error messages.
    pub const ACCEPTED: &'static str = "db, cache, cached_db, file, signed_cookies or none";

    /// The setting's value for this engine.
    pub fn name(self) -> &'static str {
        match self {
            Self::Db => "db",
            Self::Cache => "cache",
            Self::CachedDb => "cached_db",
            Self::File => "file",
            Self::SignedCookies => "signed_cookies",
            Self::None => "none",
        }
    }

    /// Why the `cache` and `cached_db` engines cannot share sessions with Django.
    pub const NOT_SHARED_WITH_DJANGO: &'static str = "a Django site shares sessions only through \
        db, file or signed_cookies: Django's cache engines store pickled data, which this \
        framework never unpickles";

    /// Whether a Django site can share this engine's sessions (`DJANGO_COMPAT`): Django's cache
    /// engines pickle their values, which this framework never unpickles.
    pub fn shares_with_django(self) -> bool {
        matches!(
            self,
            Self::Db | Self::File | Self::SignedCookies | Self::None
        )
    }

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
    /// One JSON object.
    #[default]
    Json,
    /// One MessagePack map: smaller, not readable by eye.
    MessagePack,
}

impl SessionSerializer {
    /// What the setting accepts, for error messages.
    pub const ACCEPTED: &'static str = "json or msgpack";
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
    /// Sent on top-level navigations from other sites, not on their requests.
    Lax,
    /// Never sent with a request another site started.
    Strict,
    /// Always sent (then the cookie must be `Secure`).
    None,
}

impl SameSite {
    /// What the setting accepts, for error messages.
    pub const ACCEPTED: &'static str = "Lax, Strict or None";
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
