//! `SESSION_ENGINE=cache`: sessions only in the cache `SESSION_CACHE_ALIAS` names, each entry
//! living exactly as long as its session. Fastest; with `memory://` sessions are lost at
//! restart and private to one process, with Redis they are shared and kept as Redis keeps them.

use std::time::Duration;

use super::backend::{ClearOutcome, Loaded, Reservation, SessionBackend, SessionCache, StoreError};
use crate::cache::Cache;

/// Where sessions go inside the cache's own prefix.
pub const KEY_PREFIX: &str = "session:";
/// How a reservation's marker starts: a NUL byte no stored session starts with (the
/// serializers write `{` or a MessagePack map).
const RESERVATION_MARKER: &[u8] = b"\0reserved:";
/// How long a reservation stands if its refill never finishes (the process died): until
/// then, loads of that key go to the database.
const RESERVATION_TTL: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct CacheSessions {
    cache: Cache,
}

impl CacheSessions {
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn key(key: &str) -> String {
        format!("{KEY_PREFIX}{key}")
    }
}

impl SessionBackend for CacheSessions {
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        let data = self.cache.get(&Self::key(key)).await?;
        Ok(data
            .filter(|data| !data.starts_with(RESERVATION_MARKER))
            .map(|data| Loaded {
                data,
                expires_in: None,
            }))
    }

    async fn create(&self, key: &str, data: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.cache.add(&Self::key(key), data, ttl).await?)
    }

    async fn update(&self, key: &str, data: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.cache.replace(&Self::key(key), data, ttl).await?)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        Ok(self.cache.touch(&Self::key(key), ttl).await?)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        Ok(self.cache.delete(&Self::key(key)).await?)
    }

    async fn clear_expired(&self) -> Result<ClearOutcome, StoreError> {
        Ok(ClearOutcome::NothingToClear(
            "the cache expires each session itself (its time to live)",
        ))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.cache.count_prefixed(KEY_PREFIX).await?)
    }
}

impl SessionCache for CacheSessions {
    async fn put(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError> {
        Ok(self.cache.set(&Self::key(key), data, ttl).await?)
    }

    async fn delete_all(&self) -> Result<u64, StoreError> {
        Ok(self.cache.delete_prefixed(KEY_PREFIX).await?)
    }

    async fn reserve(&self, key: &str) -> Result<Option<Reservation>, StoreError> {
        let nonce: [u8; 16] = rand::random();
        let marker = [RESERVATION_MARKER, &nonce[..]].concat();
        let reserved = self
            .cache
            .add(&Self::key(key), &marker, RESERVATION_TTL)
            .await?;
        Ok(reserved.then_some(Reservation(marker)))
    }

    async fn fill(
        &self,
        key: &str,
        reservation: &Reservation,
        data: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(self
            .cache
            .compare_and_set(&Self::key(key), &reservation.0, data, ttl)
            .await?)
    }

    async fn release(&self, key: &str, reservation: &Reservation) -> Result<(), StoreError> {
        self.cache
            .compare_and_delete(&Self::key(key), &reservation.0)
            .await?;
        Ok(())
    }
}
