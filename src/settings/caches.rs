//! Named caches, as Django's `CACHES`: `CACHE_URL` is the `default` cache, `CACHE_<ALIAS>_URL`
//! any other, `SESSION_CACHE_ALIAS` picks the one sessions use, `CACHE_KEY_PREFIX` goes before
//! every key. `CACHE_TLS_CA_FILE` names the CA certificates a `rediss://` cache is verified
//! against.

use actix_session_engines::caches::{CaCertificates, CacheBackend, CacheSettings};

use super::vars::{SettingsError, Vars, redact_url};

/// The cache `SESSION_CACHE_ALIAS` names.
pub(super) fn session_cache(vars: &Vars) -> Result<CacheSettings, SettingsError> {
    aliased(vars, "SESSION_CACHE_ALIAS")
}

/// The cache `THROTTLE_CACHE_ALIAS` names; `None` for the `default` cache (the default).
pub(super) fn throttle_cache(vars: &Vars) -> Result<Option<CacheSettings>, SettingsError> {
    match vars.get("THROTTLE_CACHE_ALIAS").as_deref() {
        None | Some("default") => Ok(None),
        Some(_) => aliased(vars, "THROTTLE_CACHE_ALIAS").map(Some),
    }
}

/// The `default` cache.
pub(super) fn default_cache(vars: &Vars) -> Result<CacheSettings, SettingsError> {
    named(vars, "default".into(), "CACHE_URL")
}

/// The cache the alias in `setting` names (`default` when unset).
fn aliased(vars: &Vars, setting: &'static str) -> Result<CacheSettings, SettingsError> {
    let alias = vars.get(setting).unwrap_or_else(|| "default".into());
    let valid_alias = alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_alias {
        return Err(SettingsError {
            name: setting,
            value: alias,
            reason: "expected letters, digits and _".into(),
        });
    }
    named(vars, alias, setting)
}

/// Cache `alias`: `CACHE_URL` for `default` (itself defaulting to `memory://`),
/// `CACHE_<ALIAS>_URL` for any other; `setting` is the one that named it.
fn named(
    vars: &Vars,
    alias: String,
    setting: &'static str,
) -> Result<CacheSettings, SettingsError> {
    let (url_setting, url) = if alias == "default" {
        (
            "CACHE_URL".to_owned(),
            Some(vars.get("CACHE_URL").unwrap_or_else(|| "memory://".into())),
        )
    } else {
        let name = format!("CACHE_{}_URL", alias.to_ascii_uppercase());
        let url = vars.get(&name);
        (name, url)
    };
    let Some(url) = url else {
        return Err(SettingsError {
            name: setting,
            reason: format!("names a cache that is not configured: set {url_setting}"),
            value: alias,
        });
    };
    let backend = CacheBackend::from_url(&url).map_err(|reason| SettingsError {
        name: if url_setting == "CACHE_URL" {
            "CACHE_URL"
        } else {
            "CACHE_<ALIAS>_URL"
        },
        value: format!("{url_setting}={}", redact_url(&url)),
        reason,
    })?;
    let key_prefix = vars
        .get("CACHE_KEY_PREFIX")
        .unwrap_or_else(|| "guestbook:".into());
    let tls_ca = ca_certificates(vars)?;
    if let (CacheBackend::Redis { url }, Some(ca)) = (&backend, &tls_ca) {
        // The client parses the certificates now, so a file OpenSSL cannot read stops
        // start-up rather than every connection.
        ca.client(url).map_err(|reason| SettingsError {
            name: "CACHE_TLS_CA_FILE",
            value: ca.path.display().to_string(),
            reason,
        })?;
    }
    Ok(CacheSettings {
        alias,
        backend,
        key_prefix,
        tls_ca,
    })
}

/// `CACHE_TLS_CA_FILE`, read: a missing or unreadable file, or one without a certificate, is
/// an error naming the setting.
fn ca_certificates(vars: &Vars) -> Result<Option<CaCertificates>, SettingsError> {
    let Some(path) = vars.get("CACHE_TLS_CA_FILE") else {
        return Ok(None);
    };
    CaCertificates::read(&path)
        .map(Some)
        .map_err(|reason| SettingsError {
            name: "CACHE_TLS_CA_FILE",
            value: path,
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::{super::tests::settings, *};

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
    fn the_throttles_use_the_default_cache_unless_an_alias_names_another() {
        assert_eq!(settings(&[]).unwrap().throttle_cache, None);
        let named = settings(&[("THROTTLE_CACHE_ALIAS", "default")]).unwrap();
        assert_eq!(named.throttle_cache, None);

        let s = settings(&[
            ("THROTTLE_CACHE_ALIAS", "throttle"),
            ("CACHE_THROTTLE_URL", "redis://127.0.0.1:6379/3"),
        ])
        .unwrap();
        let throttle = s.throttle_cache.expect("a cache of their own");
        assert_eq!(throttle.alias, "throttle");
        assert_eq!(
            throttle.backend,
            CacheBackend::Redis {
                url: "redis://127.0.0.1:6379/3".into()
            }
        );

        let err = settings(&[("THROTTLE_CACHE_ALIAS", "throttle")]).unwrap_err();
        assert_eq!(err.name, "THROTTLE_CACHE_ALIAS");
        assert!(err.to_string().contains("CACHE_THROTTLE_URL"), "{err}");
        let err = settings(&[("THROTTLE_CACHE_ALIAS", "no-such")]).unwrap_err();
        assert_eq!(err.name, "THROTTLE_CACHE_ALIAS");
    }

    #[test]
    fn a_bad_cache_url_is_reported_without_its_password() {
        let err =
            settings(&[("CACHE_URL", "redis://:hunter2@cache.example:notaport/0")]).unwrap_err();
        assert_eq!(err.name, "CACHE_URL");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn rediss_urls_are_redis_over_tls_and_reported_without_their_password() {
        let url = "rediss://:hunter2@cache.example:6380/0";
        let s = settings(&[("CACHE_URL", url)]).unwrap();
        assert_eq!(s.cache.backend, CacheBackend::Redis { url: url.into() });
        assert_eq!(s.cache.tls_ca, None, "the system's roots");

        let err =
            settings(&[("CACHE_URL", "rediss://:hunter2@cache.example:notaport/0")]).unwrap_err();
        assert_eq!(err.name, "CACHE_URL");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn the_tls_ca_file_must_be_a_readable_file_of_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = settings(&[("CACHE_TLS_CA_FILE", missing.to_str().unwrap())]).unwrap_err();
        assert_eq!(err.name, "CACHE_TLS_CA_FILE");
        assert!(err.to_string().contains("cannot read it"), "{err}");

        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let err = settings(&[("CACHE_TLS_CA_FILE", not_pem.to_str().unwrap())]).unwrap_err();
        assert_eq!(err.name, "CACHE_TLS_CA_FILE");
        assert!(err.to_string().contains("PEM"), "{err}");

        // Looks like PEM, but OpenSSL cannot read it: found before any connection is made.
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = settings(&[
            ("CACHE_URL", "rediss://:hunter2@cache.example/0"),
            ("CACHE_TLS_CA_FILE", broken.to_str().unwrap()),
        ])
        .unwrap_err();
        assert_eq!(err.name, "CACHE_TLS_CA_FILE");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_cache_url_of_another_kind_is_refused() {
        let err = settings(&[("CACHE_URL", "memcached://x")]).unwrap_err();
        assert_eq!(err.name, "CACHE_URL");
        assert!(err.to_string().contains("memory:// or redis://"), "{err}");

        let err = settings(&[("CACHE_URL", "memory://?max_entries=0")]).unwrap_err();
        assert_eq!(err.name, "CACHE_URL");
    }
}
