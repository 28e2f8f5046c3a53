//! `SESSION_ENGINE=cached_db`: the database engine with a cache in front. Every write goes to
//! the database, then the cache; reads try the cache and refill it from the database on a
//! miss. Generic over the two, so it is "a database with a cache in front", not a copy of
//! either.
//!
//! A cache that fails is logged and bypassed: the site keeps working from the database. The
//! keys written while it was down are remembered, and when it answers again they are deleted
//! from it *before* it is trusted again, so an entry written before the outage can never undo
//! a change made during it (a logout, a comment). If too many keys changed to remember, every
//! session entry is deleted from the cache instead.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::backend::{ClearOutcome, Loaded, SessionBackend, StoreError};

/// Keys remembered during an outage before falling back to clearing every session entry.
const MAX_REMEMBERED_KEYS: usize = 10_000;
/// How often, during an outage, to check whether the cache is back.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// A cache of sessions: a backend that can also overwrite and forget everything.
#[allow(async_fn_in_trait)]
pub trait SessionCache: SessionBackend {
    /// Stores `data` under `key` whatever was there.
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn put(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Removes every session entry.
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn delete_all(&self) -> Result<u64, StoreError>;
}

impl SessionCache for super::cache::CacheSessions {
    async fn put(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError> {
        super::cache::CacheSessions::put(self, key, data, ttl).await
    }

    async fn delete_all(&self) -> Result<u64, StoreError> {
        super::cache::CacheSessions::delete_all(self).await
    }
}

#[derive(Default)]
struct Outage {
    active: bool,
    /// Keys whose cache entry may be stale: written while the cache was down.
    stale_keys: HashSet<String>,
    /// More keys went stale than we remember: clear every session entry on recovery.
    forget_everything: bool,
    last_attempt: Option<Instant>,
}

#[derive(Clone)]
pub struct CachedDb<C, D> {
    cache: C,
    db: D,
    outage: Arc<Mutex<Outage>>,
}

impl<C: SessionCache, D: SessionBackend> CachedDb<C, D> {
    pub fn new(cache: C, db: D) -> Self {
        Self {
            cache,
            db,
            outage: Arc::default(),
        }
    }

    pub fn cache(&self) -> &C {
        &self.cache
    }

    fn outage(&self) -> std::sync::MutexGuard<'_, Outage> {
        self.outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that the cache failed while handling `key`.
    fn cache_failed(&self, key: &str, err: &StoreError) {
        let mut outage = self.outage();
        if !outage.active {
            tracing::warn!(error = %err, "session cache unavailable: using the database alone until it answers");
            outage.active = true;
            outage.last_attempt = Some(Instant::now());
        }
        self.remember_stale(&mut outage, key);
    }

    fn remember_stale(&self, outage: &mut Outage, key: &str) {
        if outage.forget_everything {
            return;
        }
        outage.stale_keys.insert(key.to_owned());
        if outage.stale_keys.len() > MAX_REMEMBERED_KEYS {
            outage.stale_keys.clear();
            outage.forget_everything = true;
        }
    }

    /// Whether the cache may be used now. During an outage, at most once per
    /// [`RETRY_EVERY`], tries to clear the stale entries; trusts the cache again only once
    /// that succeeded.
    async fn cache_usable(&self) -> bool {
        let (stale_keys, forget_everything) = {
            let mut outage = self.outage();
            if !outage.active {
                return true;
            }
            if outage
                .last_attempt
                .is_some_and(|at| at.elapsed() < RETRY_EVERY)
            {
                return false;
            }
            outage.last_attempt = Some(Instant::now());
            (
                std::mem::take(&mut outage.stale_keys),
                outage.forget_everything,
            )
        };
        let cleared = if forget_everything {
            self.cache.delete_all().await.map(|_| ())
        } else {
            let mut result = Ok(());
            for key in &stale_keys {
                if let Err(err) = self.cache.delete(key).await {
                    result = Err(err);
                    break;
                }
            }
            result
        };
        let mut outage = self.outage();
        match cleared {
            // Keys that went stale while we were clearing are still in the set.
            Ok(()) if outage.stale_keys.is_empty() => {
                tracing::info!(
                    "session cache answers again: stale entries cleared, using it again"
                );
                *outage = Outage::default();
                true
            }
            _ => {
                for key in stale_keys {
                    self.remember_stale(&mut outage, &key);
                }
                false
            }
        }
    }

    /// Writes `data` (or, with `None`, a deletion) for `key` to the cache, or remembers the
    /// key as stale when the cache cannot take it.
    async fn write_through(&self, key: &str, data: Option<(&[u8], Duration)>) {
        if !self.cache_usable().await {
            let mut outage = self.outage();
            self.remember_stale(&mut outage, key);
            return;
        }
        let result = match data {
            Some((data, ttl)) => self.cache.put(key, data, ttl).await,
            None => self.cache.delete(key).await,
        };
        if let Err(err) = result {
            self.cache_failed(key, &err);
        }
    }
}

impl<C: SessionCache, D: SessionBackend> SessionBackend for CachedDb<C, D> {
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        let cache_usable = self.cache_usable().await;
        if cache_usable {
            match self.cache.load(key).await {
                Ok(Some(loaded)) => return Ok(Some(loaded)),
                Ok(None) => {}
                Err(err) => self.cache_failed(key, &err),
            }
        }
        let loaded = self.db.load(key).await?;
        // The refilled entry lives exactly as long as the row has left.
        if cache_usable
            && let Some(Loaded {
                data,
                expires_in: Some(ttl),
            }) = &loaded
        {
            self.write_through(key, Some((data, *ttl))).await;
        }
        Ok(loaded)
    }

    async fn create(&self, key: &str, data: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let created = self.db.create(key, data, ttl).await?;
        if created {
            self.write_through(key, Some((data, ttl))).await;
        }
        Ok(created)
    }

    async fn update(&self, key: &str, data: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let updated = self.db.update(key, data, ttl).await?;
        // A session that is gone must be gone from the cache too.
        let write = updated.then_some((data, ttl));
        self.write_through(key, write).await;
        Ok(updated)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        self.db.touch(key, ttl).await?;
        if self.cache_usable().await
            && let Err(err) = self.cache.touch(key, ttl).await
        {
            self.cache_failed(key, &err);
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.db.delete(key).await?;
        self.write_through(key, None).await;
        Ok(())
    }

    async fn clear_expired(&self) -> Result<ClearOutcome, StoreError> {
        self.db.clear_expired().await
    }
}
