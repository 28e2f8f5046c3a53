//! Named caches, like Django's `CACHES`: in this process (moka) or in Redis, behind one type.
//!
//! Values are bytes with a time to live. Every key is stored under the cache's
//! `CACHE_KEY_PREFIX`, so several applications can share one Redis.

mod memory;
mod outage;
mod redis;
mod settings;

use std::time::Duration;

use self::redis::Condition;
pub use self::{
    memory::MemoryCache,
    outage::{Outage, RETRY_EVERY},
    redis::RedisCache,
    settings::{CaCertificates, CacheBackend, CacheSettings},
};

/// The cache did not answer (Redis down, a timeout): callers log it and carry on without it
/// where they can.
#[derive(Debug, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

impl From<::redis::RedisError> for CacheError {
    fn from(err: ::redis::RedisError) -> Self {
        Self(err.to_string())
    }
}

/// One configured cache; cheap to clone.
#[derive(Clone)]
pub enum Cache {
    /// In this process.
    Memory(MemoryCache),
    /// In Redis, shared.
    Redis(RedisCache),
}

impl Cache {
    /// Builds the cache without connecting: a Redis that is down at start-up is not an error,
    /// and the cache connects once it answers.
    ///
    /// # Errors
    /// When the URL cannot be used at all.
    pub fn new(settings: &CacheSettings) -> anyhow::Result<Self> {
        Ok(match &settings.backend {
            CacheBackend::Memory { max_entries } => {
                Self::Memory(MemoryCache::new(*max_entries, settings.key_prefix.clone()))
            }
            CacheBackend::Redis { url } => {
                let tls_ca = settings.tls_ca.as_ref();
                Self::Redis(RedisCache::new(url, tls_ca, settings.key_prefix.clone())?)
            }
        })
    }

    /// Whether the cache answers.
    ///
    /// # Errors
    /// [`CacheError`] when it does not.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(cache) => Ok(cache.ping().await?),
        }
    }

    /// The value under `key`, if present and not expired.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.get(key).await),
            Self::Redis(cache) => Ok(cache.get(key).await?),
        }
    }

    /// Stores `value` under `key` for `ttl`, whatever was there.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match self {
            Self::Memory(cache) => {
                cache.set(key, value, ttl).await;
                Ok(())
            }
            Self::Redis(cache) => {
                cache.set(key, value, ttl, Condition::Always).await?;
                Ok(())
            }
        }
    }

    /// Stores `value` only if `key` is absent; whether it did.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn add(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.put_if(key, value, ttl, false).await),
            Self::Redis(cache) => Ok(cache.set(key, value, ttl, Condition::IfAbsent).await?),
        }
    }

    /// Replaces `key`'s value only if `key` is present; whether it did.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn replace(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.put_if(key, value, ttl, true).await),
            Self::Redis(cache) => Ok(cache.set(key, value, ttl, Condition::IfPresent).await?),
        }
    }

    /// Replaces `key`'s value only if `key` is present, atomically, unless the value there
    /// starts with `marker`: that one is removed instead. Whether it replaced.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn replace_or_clear(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        marker: &[u8],
    ) -> Result<bool, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.replace_or_clear(key, value, ttl, marker).await),
            Self::Redis(cache) => Ok(cache.replace_or_clear(key, value, ttl, marker).await?),
        }
    }

    /// Replaces `key`'s value with `value` only if it is `expected`, atomically; whether it
    /// did.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.compare_and_set(key, expected, value, ttl).await),
            Self::Redis(cache) => Ok(cache.compare_and_set(key, expected, value, ttl).await?),
        }
    }

    /// Removes `key` only if its value is `expected`, atomically; whether it did.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.compare_and_delete(key, expected).await),
            Self::Redis(cache) => Ok(cache.compare_and_delete(key, expected).await?),
        }
    }

    /// Counts a hit on `key` in a window of `window` starting at its first hit; the count so
    /// far (this hit included) and the time left in the window. Atomic: concurrent hits each
    /// get their own count.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn hit(&self, key: &str, window: Duration) -> Result<(u64, Duration), CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.hit(key, window).await),
            Self::Redis(cache) => Ok(cache.hit(key, window).await?),
        }
    }

    /// The count of `key` so far and the time left in its window, without counting a hit
    /// (`0` when there is no counter).
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn count(&self, key: &str) -> Result<(u64, Duration), CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.count(key).await),
            Self::Redis(cache) => Ok(cache.count(key).await?),
        }
    }

    /// Takes one hit back from `key` (never below zero); a counter back at zero is removed, so
    /// a hit given back leaves nothing behind.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn unhit(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Self::Memory(cache) => {
                cache.unhit(key).await;
                Ok(())
            }
            Self::Redis(cache) => Ok(cache.unhit(key).await?),
        }
    }

    /// Gives `key` a new time to live, if it is present.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn touch(&self, key: &str, ttl: Duration) -> Result<(), CacheError> {
        match self {
            Self::Memory(cache) => {
                cache.touch(key, ttl).await;
                Ok(())
            }
            Self::Redis(cache) => Ok(cache.touch(key, ttl).await?),
        }
    }

    /// Removes `key`, if present.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Self::Memory(cache) => {
                cache.delete(key).await;
                Ok(())
            }
            Self::Redis(cache) => Ok(cache.delete(key).await?),
        }
    }

    /// Removes every key that starts with `key_prefix` (after the cache's own prefix).
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn delete_prefixed(&self, key_prefix: &str) -> Result<u64, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.delete_prefixed(key_prefix).await),
            Self::Redis(cache) => Ok(cache.delete_prefixed(key_prefix).await?),
        }
    }

    /// How many keys start with `key_prefix` (after the cache's own prefix).
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn count_prefixed(&self, key_prefix: &str) -> Result<u64, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.count_prefixed(key_prefix).await),
            Self::Redis(cache) => Ok(cache.count_prefixed(key_prefix).await?),
        }
    }

    /// Adds `member` to the set under `key`, and gives the set a time to live of at least
    /// `ttl` (a longer one it has is kept). Members never contain `\n`.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), CacheError> {
        match self {
            Self::Memory(cache) => {
                cache.set_add(key, member, ttl).await;
                Ok(())
            }
            Self::Redis(cache) => Ok(cache.set_add(key, member, ttl).await?),
        }
    }

    /// The members of the set under `key` (empty when there is none), in any order.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, CacheError> {
        match self {
            Self::Memory(cache) => Ok(cache.set_members(key).await),
            Self::Redis(cache) => Ok(cache.set_members(key).await?),
        }
    }

    /// Removes `members` from the set under `key`; a set left empty is removed.
    ///
    /// # Errors
    /// [`CacheError`] when the cache does not answer.
    pub async fn set_remove(&self, key: &str, members: &[String]) -> Result<(), CacheError> {
        match self {
            Self::Memory(cache) => {
                cache.set_remove(key, members).await;
                Ok(())
            }
            Self::Redis(cache) => Ok(cache.set_remove(key, members).await?),
        }
    }
}
