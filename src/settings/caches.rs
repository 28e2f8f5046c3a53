//! Named caches, as Django's `CACHES`: `CACHE_URL` is the `default` cache, `CACHE_<ALIAS>_URL`
//! any other, `SESSION_CACHE_ALIAS` picks the one sessions use, `CACHE_KEY_PREFIX` goes before
//! every key.

use super::vars::{SettingsError, Vars, redact_url};

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

impl CacheSettings {
    /// The cache `SESSION_CACHE_ALIAS` names.
    pub(super) fn parse_session_cache(vars: &Vars) -> Result<Self, SettingsError> {
        let alias = vars
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
        Self::named(vars, alias)
    }

    /// The `default` cache.
    pub(super) fn parse_default(vars: &Vars) -> Result<Self, SettingsError> {
        Self::named(vars, "default".into())
    }

    /// Cache `alias`: `CACHE_URL` for `default` (itself defaulting to `memory://`),
    /// `CACHE_<ALIAS>_URL` for any other.
    fn named(vars: &Vars, alias: String) -> Result<Self, SettingsError> {
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
            value: format!("{url_setting}={}", redact_url(&url)),
            reason,
        })?;
        let key_prefix = vars
            .get("CACHE_KEY_PREFIX")
            .unwrap_or_else(|| "guestbook:".into());
        Ok(Self {
            alias,
            backend,
            key_prefix,
        })
    }
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
            // The client's own message may quote the URL, password included: not repeated.
            redis::Client::open(url).map_err(|_| "not a usable redis:// URL".to_owned())?;
            Ok(Self::Redis {
                url: url.to_owned(),
            })
        } else {
            Err("expected a memory:// or redis://host:port/db URL".into())
        }
    }
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
    fn a_bad_cache_url_is_reported_without_its_password() {
        let err =
            settings(&[("CACHE_URL", "redis://:hunter2@cache.example:notaport/0")]).unwrap_err();
        assert_eq!(err.name, "CACHE_URL");
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
