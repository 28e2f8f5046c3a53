//! The `SESSION_*` settings: which engine stores sessions, in what form, and the cookie.

use std::path::PathBuf;

use actix_session_engines::settings::{
    DEFAULT_SESSION_COOKIE_AGE, SameSite, SessionEngineKind, SessionSerializer, SessionSettings,
};

use crate::sessions::fields::LoginFields;

use super::vars::{SettingsError, Vars};

/// The `SESSION_*` settings.
pub(super) fn parse(vars: &Vars) -> Result<SessionSettings, SettingsError> {
    let django_compat = vars.flag("DJANGO_COMPAT", false)?;
    let login = LoginFields::of(django_compat);
    Ok(SessionSettings {
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
        user_key: login.user_key().into(),
        django_compat,
    })
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
