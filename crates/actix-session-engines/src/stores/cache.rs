//! `SESSION_ENGINE=cache`: sessions only in the cache `SESSION_CACHE_ALIAS` names, each entry
//! living exactly as long as its session. Fastest; with `memory://` sessions are lost at
//! restart and private to one process, with Redis they are shared and kept as Redis keeps them.

use std::time::Duration;

use crate::backend::{
    ClearOutcome, ClearRun, Loaded, Reservation, SessionBackend, SessionCache, StoreError,
};
use crate::caches::Cache;

/// Where sessions go inside the cache's own prefix.
pub const KEY_PREFIX: &str = "session:";
/// Where each user's set of session keys goes: the index "your sessions" reads. A key stays
/// in it until a listing finds its session ended or changed hands; the set itself lives as
/// long as the newest session added to it.
const USER_INDEX_PREFIX: &str = "member-sessions:";
/// How a reservation's marker starts: a NUL byte no stored session starts with (the
/// serializers write `{` or a MessagePack map).
const RESERVATION_MARKER: &[u8] = b"\0reserved:";
/// How long a reservation stands if its refill never finishes (the process died): until
/// then, loads of that key go to the database.
const RESERVATION_TTL: Duration = Duration::from_secs(10);

/// The `cache` engine: sessions in `cache`, under their own key prefix.
#[derive(Clone)]
pub struct CacheSessions {
    cache: Cache,
}

impl CacheSessions {
    /// Sessions in `cache`.
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    /// The cache they are in.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn key(key: &str) -> String {
        format!("{KEY_PREFIX}{key}")
    }

    fn user_index(user: i64) -> String {
        format!("{USER_INDEX_PREFIX}{user}")
    }

    /// Adds `key` to `user`'s index after a write that stored it.
    async fn index(
        &self,
        key: &str,
        user: Option<i64>,
        ttl: Duration,
        stored: bool,
    ) -> Result<bool, StoreError> {
        if let (Some(user), true) = (user, stored) {
            self.cache
                .set_add(&Self::user_index(user), key, ttl)
                .await?;
        }
        Ok(stored)
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

    async fn create(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let created = self.cache.add(&Self::key(key), data, ttl).await?;
        self.index(key, user, ttl, created).await
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let updated = self.cache.replace(&Self::key(key), data, ttl).await?;
        self.index(key, user, ttl, updated).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        Ok(self.cache.touch(&Self::key(key), ttl).await?)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        Ok(self.cache.delete(&Self::key(key)).await?)
    }

    async fn clear_expired(&self, _: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
        Ok(ClearOutcome::NothingToClear(
            "the cache expires each session itself (its time to live)",
        ))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.cache.count_prefixed(KEY_PREFIX).await?)
    }

    async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError> {
        Ok(self.cache.set_members(&Self::user_index(user)).await?)
    }

    async fn forget(&self, user: i64, keys: &[String]) -> Result<(), StoreError> {
        if !keys.is_empty() {
            self.cache.set_remove(&Self::user_index(user), keys).await?;
        }
        Ok(())
    }
}

impl SessionCache for CacheSessions {
    async fn put(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError> {
        Ok(self.cache.set(&Self::key(key), data, ttl).await?)
    }

    async fn follow_update(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.cache
            .replace_or_clear(&Self::key(key), data, ttl, RESERVATION_MARKER)
            .await?;
        Ok(())
    }

    async fn discard(&self, key: &str, expected: &[u8]) -> Result<(), StoreError> {
        self.cache
            .compare_and_delete(&Self::key(key), expected)
            .await?;
        Ok(())
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
