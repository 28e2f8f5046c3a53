//! `SESSION_ENGINE=cached_db`: the database engine with a cache in front. Every write goes to
//! the database, then the cache; reads try the cache and refill it from the database on a
//! miss. Generic over the two, so it is "a database with a cache in front", not a copy of
//! either.
//!
//! No cache entry ever outlives a deleted session. The database decides first (its writes are
//! conditional, see `db.rs`); then the cache follows with writes that cannot undo a newer
//! delete: an update replaces only an entry that is there (a delete removed it), and a refill
//! after a miss writes only under a reservation it took before reading the database (a
//! delete removes the reservation; see [`SessionCache`]).
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

use super::backend::{
    ClearOutcome, ClearRun, Loaded, Reservation, SessionBackend, SessionCache, StoreError,
};
use crate::metrics;

/// Keys remembered during an outage before falling back to clearing every session entry.
const MAX_REMEMBERED_KEYS: usize = 10_000;
/// How often, during an outage, to check whether the cache is back.
const RETRY_EVERY: Duration = Duration::from_secs(1);

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

    /// The cache in front, for operators and tests.
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
            metrics::cached_db_cache_outage(true);
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
                metrics::cached_db_cache_outage(false);
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

    /// Makes the cache follow a change the database made to `key`, or remembers the key as
    /// stale when the cache cannot take it.
    async fn follow(&self, key: &str, change: Change<'_>) {
        if !self.cache_usable().await {
            let mut outage = self.outage();
            self.remember_stale(&mut outage, key);
            return;
        }
        let result = match change {
            Change::Created(data, ttl) => self.cache.put(key, data, ttl).await,
            // The database is the index from member to sessions; the cache keeps none.
            Change::Updated(data, ttl) => self.cache.update(key, data, None, ttl).await.map(|_| ()),
            Change::Gone => self.cache.delete(key).await,
        };
        if let Err(err) = result {
            self.cache_failed(key, &err);
        }
    }

    /// Puts a session the database just returned into the cache, under `reservation`, or
    /// gives the reservation back when there was nothing to put.
    async fn refill(&self, key: &str, reservation: Reservation, loaded: Option<&Loaded>) {
        let result = match loaded {
            // The refilled entry lives exactly as long as the row has left.
            Some(Loaded {
                data,
                expires_in: Some(ttl),
            }) => self
                .cache
                .fill(key, &reservation, data, *ttl)
                .await
                .map(|_| ()),
            _ => self.cache.release(key, &reservation).await,
        };
        if let Err(err) = result {
            self.cache_failed(key, &err);
        }
    }
}

/// What the database did to a session, for the cache to follow.
enum Change<'a> {
    /// A new session: nothing can be cached under its fresh key.
    Created(&'a [u8], Duration),
    /// Replaced: the cache replaces only an entry it still has, so a delete that came in
    /// between stays done; a refill's reservation is removed rather than overwritten, so a
    /// refill that read the database before this update writes nothing (and one that reads
    /// it after a delete cannot find this update's data waiting in the cache).
    Updated(&'a [u8], Duration),
    /// Deleted, or found gone.
    Gone,
}

impl<C: SessionCache, D: SessionBackend> SessionBackend for CachedDb<C, D> {
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        let mut reservation = None;
        if self.cache_usable().await {
            match self.cache.load(key).await {
                Ok(Some(loaded)) => return Ok(Some(loaded)),
                Ok(None) => match self.cache.reserve(key).await {
                    Ok(reserved) => reservation = reserved,
                    Err(err) => self.cache_failed(key, &err),
                },
                Err(err) => self.cache_failed(key, &err),
            }
        }
        // Read only after reserving: a change the database makes from now on replaces or
        // removes the reservation, and the refill below then writes nothing.
        let loaded = self.db.load(key).await?;
        if let Some(reservation) = reservation {
            self.refill(key, reservation, loaded.as_ref()).await;
        }
        Ok(loaded)
    }

    async fn create(
        &self,
        key: &str,
        data: &[u8],
        member: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let created = self.db.create(key, data, member, ttl).await?;
        if created {
            self.follow(key, Change::Created(data, ttl)).await;
        }
        Ok(created)
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        member: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let updated = self.db.update(key, data, member, ttl).await?;
        // A session that is gone must be gone from the cache too.
        let change = if updated {
            Change::Updated(data, ttl)
        } else {
            Change::Gone
        };
        self.follow(key, change).await;
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
        self.follow(key, Change::Gone).await;
        Ok(())
    }

    async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
        self.db.clear_expired(run).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.db.count().await
    }

    async fn keys_of(&self, member: i64) -> Result<Vec<String>, StoreError> {
        self.db.keys_of(member).await
    }

    async fn forget(&self, member: i64, keys: &[String]) -> Result<(), StoreError> {
        self.db.forget(member, keys).await
    }
}

#[cfg(test)]
mod tests {
    //! `CachedDb` over a real SQLite database, in front of a cache that fails on command or
    //! holds a write back until the test lets it through (to run a delete in between).

    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::sync::Notify;

    use super::*;
    use crate::{
        cache::{Cache, CacheError, MemoryCache},
        db::Database,
        sessions::{cache::CacheSessions, db::DbSessions, keys},
        settings::DatabaseSettings,
    };

    const TTL: Duration = Duration::from_secs(60);

    /// An in-process cache that answers every call with an error while it is "down", and can
    /// hold its next write of session data at a gate.
    #[derive(Clone)]
    struct TestCache {
        inner: CacheSessions,
        down: Arc<AtomicBool>,
        gate: Arc<Mutex<Option<Arc<Gate>>>>,
    }

    /// Where a held write waits: `reached` tells the test it got there, `open` lets it on.
    #[derive(Default)]
    struct Gate {
        reached: Notify,
        open: Notify,
    }

    impl TestCache {
        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }

        /// Holds the next write of session data (put, update, fill) at a gate.
        fn hold_next_write(&self) -> Arc<Gate> {
            let gate = Arc::new(Gate::default());
            *self.gate.lock().unwrap() = Some(Arc::clone(&gate));
            gate
        }

        fn answer(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                Err(CacheError("the test took the cache down".into()).into())
            } else {
                Ok(())
            }
        }

        async fn before_write(&self) -> Result<(), StoreError> {
            let gate = self.gate.lock().unwrap().take();
            if let Some(gate) = gate {
                gate.reached.notify_one();
                gate.open.notified().await;
            }
            self.answer()
        }
    }

    impl SessionBackend for TestCache {
        async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
            self.answer()?;
            self.inner.load(key).await
        }

        async fn create(
            &self,
            key: &str,
            data: &[u8],
            member: Option<i64>,
            ttl: Duration,
        ) -> Result<bool, StoreError> {
            self.answer()?;
            self.inner.create(key, data, member, ttl).await
        }

        async fn update(
            &self,
            key: &str,
            data: &[u8],
            member: Option<i64>,
            ttl: Duration,
        ) -> Result<bool, StoreError> {
            self.before_write().await?;
            self.inner.update(key, data, member, ttl).await
        }

        async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
            self.answer()?;
            self.inner.touch(key, ttl).await
        }

        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.answer()?;
            self.inner.delete(key).await
        }

        async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
            self.answer()?;
            self.inner.clear_expired(run).await
        }

        async fn count(&self) -> Result<u64, StoreError> {
            self.answer()?;
            self.inner.count().await
        }

        async fn keys_of(&self, member: i64) -> Result<Vec<String>, StoreError> {
            self.answer()?;
            self.inner.keys_of(member).await
        }

        async fn forget(&self, member: i64, keys: &[String]) -> Result<(), StoreError> {
            self.answer()?;
            self.inner.forget(member, keys).await
        }
    }

    impl SessionCache for TestCache {
        async fn put(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError> {
            self.before_write().await?;
            self.inner.put(key, data, ttl).await
        }

        async fn follow_update(
            &self,
            key: &str,
            data: &[u8],
            ttl: Duration,
        ) -> Result<(), StoreError> {
            self.before_write().await?;
            self.inner.follow_update(key, data, ttl).await
        }

        async fn delete_all(&self) -> Result<u64, StoreError> {
            self.answer()?;
            self.inner.delete_all().await
        }

        async fn reserve(&self, key: &str) -> Result<Option<Reservation>, StoreError> {
            self.answer()?;
            self.inner.reserve(key).await
        }

        async fn fill(
            &self,
            key: &str,
            reservation: &Reservation,
            data: &[u8],
            ttl: Duration,
        ) -> Result<bool, StoreError> {
            self.before_write().await?;
            self.inner.fill(key, reservation, data, ttl).await
        }

        async fn release(&self, key: &str, reservation: &Reservation) -> Result<(), StoreError> {
            self.answer()?;
            self.inner.release(key, reservation).await
        }
    }

    struct Fixture {
        store: CachedDb<TestCache, DbSessions>,
        cache: TestCache,
        _dir: tempfile::TempDir,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&DatabaseSettings {
            url: dir.path().join("db.sqlite3").to_string_lossy().into_owned(),
            pool_size: 2,
            pool_timeout: Duration::from_secs(5),
            blocking_threads_per_worker: 1,
        })
        .unwrap();
        db.migrate().unwrap();
        let cache = TestCache {
            inner: CacheSessions::new(Cache::Memory(MemoryCache::new(100_000, "t:".into()))),
            down: Arc::default(),
            gate: Arc::default(),
        };
        Fixture {
            store: CachedDb::new(cache.clone(), DbSessions::new(db)),
            cache,
            _dir: dir,
        }
    }

    fn key() -> String {
        keys::generate().as_ref().to_owned()
    }

    async fn cached(cache: &TestCache, key: &str) -> Option<Vec<u8>> {
        cache.inner.load(key).await.unwrap().map(|l| l.data)
    }

    #[actix_web::test]
    async fn while_the_cache_fails_every_call_is_served_by_the_database() {
        let Fixture { store, cache, .. } = fixture();
        let key = key();
        cache.set_down(true);

        assert!(store.create(&key, b"one", None, TTL).await.unwrap());
        let first = store.load(&key).await.unwrap().map(|l| l.data);
        assert!(store.update(&key, b"two", None, TTL).await.unwrap());
        store.touch(&key, TTL).await.unwrap();
        let second = store.load(&key).await.unwrap().map(|l| l.data);
        store.delete(&key).await.unwrap();
        let gone = store.load(&key).await.unwrap();

        assert_eq!(first.as_deref(), Some(&b"one"[..]));
        assert_eq!(second.as_deref(), Some(&b"two"[..]));
        assert!(gone.is_none());
        assert_eq!(store.count().await.unwrap(), 0);
    }

    #[actix_web::test]
    async fn a_change_made_during_an_outage_is_not_undone_by_the_entry_cached_before_it() {
        // Arrange: a session in the database and in the cache.
        let Fixture { store, cache, .. } = fixture();
        let (logged_out, updated) = (key(), key());
        store
            .create(&logged_out, b"member", None, TTL)
            .await
            .unwrap();
        store.create(&updated, b"before", None, TTL).await.unwrap();
        assert!(cached(&cache, &logged_out).await.is_some());

        // Act: during the outage one session ends and the other changes; then the cache comes
        // back still holding what it had before.
        cache.set_down(true);
        store.delete(&logged_out).await.unwrap();
        store.update(&updated, b"after", None, TTL).await.unwrap();
        cache.set_down(false);
        let right_after = store.load(&logged_out).await.unwrap();
        actix_web::rt::time::sleep(RETRY_EVERY + Duration::from_millis(100)).await;
        let once_trusted = store.load(&logged_out).await.unwrap();
        let changed = store.load(&updated).await.unwrap().map(|l| l.data);

        // Assert: the stale entries never showed, and are gone from the cache.
        assert!(right_after.is_none(), "a stale entry was trusted at once");
        assert!(once_trusted.is_none(), "the stale entry undid the logout");
        assert_eq!(changed.as_deref(), Some(&b"after"[..]));
        assert!(cached(&cache, &logged_out).await.is_none());
        assert_eq!(
            cached(&cache, &updated).await.as_deref(),
            Some(&b"after"[..]),
            "the cache is in use again, refilled from the database"
        );
    }

    #[actix_web::test]
    async fn while_the_cache_still_fails_it_is_not_trusted_and_keys_stay_remembered() {
        let Fixture { store, cache, .. } = fixture();
        let key = key();
        store.create(&key, b"member", None, TTL).await.unwrap();
        cache.set_down(true);
        store.delete(&key).await.unwrap();

        // The first retry fails: the key must stay remembered for the next one.
        actix_web::rt::time::sleep(RETRY_EVERY + Duration::from_millis(100)).await;
        assert!(store.load(&key).await.unwrap().is_none());
        cache.set_down(false);
        actix_web::rt::time::sleep(RETRY_EVERY + Duration::from_millis(100)).await;

        assert!(store.load(&key).await.unwrap().is_none());
        assert!(cached(&cache, &key).await.is_none());
    }

    #[actix_web::test]
    async fn past_the_remembered_limit_every_session_entry_is_cleared_on_recovery() {
        let Fixture { store, cache, .. } = fixture();
        let live = key();
        store.create(&live, b"live", None, TTL).await.unwrap();
        cache.set_down(true);
        for _ in 0..=MAX_REMEMBERED_KEYS {
            store.delete(&key()).await.unwrap();
        }
        cache.set_down(false);
        actix_web::rt::time::sleep(RETRY_EVERY + Duration::from_millis(100)).await;

        let reloaded = store.load(&live).await.unwrap().map(|l| l.data);

        assert_eq!(reloaded.as_deref(), Some(&b"live"[..]));
        assert_eq!(
            cache.inner.count().await.unwrap(),
            1,
            "every entry was cleared; only the one just refilled is back"
        );
    }

    #[actix_web::test]
    async fn a_miss_is_refilled_from_the_database() {
        let Fixture { store, cache, .. } = fixture();
        let key = key();
        store.create(&key, b"data", None, TTL).await.unwrap();
        cache.inner.delete(&key).await.unwrap();

        let loaded = store.load(&key).await.unwrap().map(|l| l.data);

        assert_eq!(loaded.as_deref(), Some(&b"data"[..]));
        assert_eq!(cached(&cache, &key).await.as_deref(), Some(&b"data"[..]));
    }

    #[actix_web::test]
    async fn a_refill_never_brings_back_a_session_deleted_while_it_read_the_database() {
        // Arrange: a session in the database only (its cache entry evicted).
        let Fixture { store, cache, .. } = fixture();
        let key = key();
        store.create(&key, b"member", None, TTL).await.unwrap();
        cache.inner.delete(&key).await.unwrap();
        let gate = cache.hold_next_write();

        // Act: a load misses the cache and reads the row; before it refills the cache, the
        // session is logged out.
        let load = actix_web::rt::spawn({
            let (store, key) = (store.clone(), key.clone());
            async move { store.load(&key).await.unwrap().map(|l| l.data) }
        });
        gate.reached.notified().await;
        store.delete(&key).await.unwrap();
        gate.open.notify_one();
        let loaded_before_the_logout = load.await.unwrap();

        // Assert: that load saw the session, but nothing brings it back now.
        assert_eq!(loaded_before_the_logout.as_deref(), Some(&b"member"[..]));
        assert!(
            cached(&cache, &key).await.is_none(),
            "the refill outlived the delete"
        );
        assert!(store.load(&key).await.unwrap().is_none());
    }

    #[actix_web::test]
    async fn an_update_never_brings_back_a_session_deleted_before_it_reached_the_cache() {
        let Fixture { store, cache, .. } = fixture();
        let key = key();
        store.create(&key, b"member", None, TTL).await.unwrap();
        let gate = cache.hold_next_write();

        // Act: an update writes the row; before it writes the cache, the session is logged out.
        let update = actix_web::rt::spawn({
            let (store, key) = (store.clone(), key.clone());
            async move { store.update(&key, b"changed", None, TTL).await.unwrap() }
        });
        gate.reached.notified().await;
        store.delete(&key).await.unwrap();
        gate.open.notify_one();
        update.await.unwrap();

        assert!(
            cached(&cache, &key).await.is_none(),
            "the update outlived the delete"
        );
        assert!(store.load(&key).await.unwrap().is_none());
    }

    #[actix_web::test]
    async fn a_reservation_is_a_miss_and_a_refill_is_given_up_when_the_row_is_gone() {
        let Fixture { store, cache, .. } = fixture();
        let (reserved, missing) = (key(), key());
        store.create(&reserved, b"row", None, TTL).await.unwrap();
        cache.inner.delete(&reserved).await.unwrap();
        let reservation = cache.inner.reserve(&reserved).await.unwrap().expect("free");

        // Another refill is under way: this load reads the database and leaves the cache alone.
        let loaded = store.load(&reserved).await.unwrap().map(|l| l.data);
        // Nothing in the database: the reservation is given back.
        let nothing = store.load(&missing).await.unwrap();

        assert_eq!(loaded.as_deref(), Some(&b"row"[..]));
        assert!(
            cached(&cache, &reserved).await.is_none(),
            "a reservation is not a session"
        );
        assert!(
            cache
                .inner
                .fill(&reserved, &reservation, b"row", TTL)
                .await
                .unwrap()
        );
        assert!(nothing.is_none());
        assert!(
            cache.inner.reserve(&missing).await.unwrap().is_some(),
            "released"
        );
    }
}
