//! Which cache, where (Django's `CACHES`, in URL form).

use std::path::PathBuf;

/// One named cache (Django's `CACHES[alias]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// Its name (`default`, or what `CACHE_<ALIAS>_URL` names).
    pub alias: String,
    /// Where it lives.
    pub backend: CacheBackend,
    /// `CACHE_KEY_PREFIX`: put before every key, so several apps can share one Redis.
    pub key_prefix: String,
    /// `CACHE_TLS_CA_FILE`: the CA certificates a `rediss://` cache must be signed by
    /// (instead of the system's); `None` trusts the system's roots.
    pub tls_ca: Option<CaCertificates>,
}

/// A PEM file of CA certificates, read at start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificates {
    /// The file they were read from.
    pub path: PathBuf,
    /// Its contents.
    pub pem: Vec<u8>,
}

impl std::fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CaCertificates").field(&self.path).finish()
    }
}

/// Where a cache lives, from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheBackend {
    /// `memory://[?max_entries=N]`: in this process, bounded.
    Memory {
        /// The most entries it keeps; the least used go first.
        max_entries: u64,
    },
    /// `redis://host:port/db`, or `rediss://` for Redis over TLS.
    Redis {
        /// The server's URL (it may hold a password: never logged as is).
        url: String,
    },
}

impl CacheSettings {
    /// An in-process cache of up to [`CacheBackend::DEFAULT_MAX_ENTRIES`] entries: Django's
    /// default cache.
    pub fn in_memory() -> Self {
        Self {
            alias: "default".into(),
            backend: CacheBackend::Memory {
                max_entries: CacheBackend::DEFAULT_MAX_ENTRIES,
            },
            key_prefix: String::new(),
            tls_ca: None,
        }
    }
}

impl CaCertificates {
    /// The CA certificates in the PEM file at `path`.
    ///
    /// # Errors
    /// When the file cannot be read or holds no certificate; the message says which.
    pub fn read(path: &str) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
        if !pem
            .windows(CERTIFICATE_PEM.len())
            .any(|w| w == CERTIFICATE_PEM.as_bytes())
        {
            return Err(format!(
                "expected a PEM file of CA certificates ({CERTIFICATE_PEM} ...)"
            ));
        }
        Ok(Self {
            path: path.into(),
            pem,
        })
    }

    /// A Redis client for `url` that trusts these certificates alone when the URL is
    /// `rediss://`; a plain client otherwise (there is nothing to verify).
    ///
    /// # Errors
    /// When the URL is unusable or the certificates cannot be parsed; the message never
    /// quotes the URL (it may hold a password).
    pub fn client(&self, url: &str) -> Result<redis::Client, String> {
        if !url.starts_with("rediss://") {
            return redis::Client::open(url).map_err(|_| "not a usable Redis URL".to_owned());
        }
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(self.pem.clone()),
        };
        redis::Client::build_with_tls(url, certificates)
            .map_err(|e| format!("not usable CA certificates: {e}"))
    }
}

const CERTIFICATE_PEM: &str = "-----BEGIN CERTIFICATE-----";

impl CacheBackend {
    /// The default bound of an in-process cache.
    pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

    /// The cache a URL names: `memory://[?max_entries=N]`, `redis://...` or `rediss://...`.
    ///
    /// # Errors
    /// When the URL is none of those; the message never quotes it (it may hold a password).
    pub fn from_url(url: &str) -> Result<Self, String> {
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
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            // The client's own message may quote the URL, password included: not repeated.
            redis::Client::open(url)
                .map_err(|_| "not a usable redis:// or rediss:// URL".to_owned())?;
            Ok(Self::Redis {
                url: url.to_owned(),
            })
        } else {
            Err(
                "expected a memory:// or redis:// URL (redis://host:port/db, rediss:// for TLS)"
                    .into(),
            )
        }
    }
}
