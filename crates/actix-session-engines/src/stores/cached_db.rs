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
//! When the cache cannot follow a change (it is down, slow, or failed that one call), the
//! change is not lost: the database made it, and the instance moves the **cache epoch** on, a
//! counter kept in the database ([`CacheEpoch`]), before the request is answered. Every entry
//! carries the epoch it was written under, read before the database was; an entry from an
//! older epoch is checked against the database once (and refilled) before it is trusted
//! again. Each instance trusts a read of the epoch at most [`EPOCH_MAX_AGE`] old, so a logout
//! the cache missed holds on every instance, including ones started later, within that bound. While the cache
//! is down the engine works from the database alone and tries the cache once a second.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use diesel::{OptionalExtension, RunQueryDsl, sql_types::BigInt};

use super::db::DbSessions;
use crate::{
    backend::{
        ClearOutcome, ClearRun, Loaded, Reservation, SessionBackend, SessionCache, StoreError,
    },
    caches::Outage,
    database::{Database, DbError},
    observe::observer,
};

/// How old a read of the cache epoch may be when an instance relies on it: the most time a
/// change the cache could not follow stays hidden from another instance.
pub const EPOCH_MAX_AGE: Duration = Duration::from_secs(1);

/// How a cache entry starts: this byte, then the epoch it was written under (8 bytes,
/// big-endian), then the session's bytes. No serializer's output (`{` or a MessagePack map)
/// and no reservation (a NUL byte) starts with it.
const STAMP: u8 = 0x01;
const STAMP_LEN: usize = 9;

/// `data` as cached under `epoch`.
fn stamped(epoch: i64, data: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(STAMP_LEN + data.len());
    entry.push(STAMP);
    entry.extend_from_slice(&epoch.to_be_bytes());
    entry.extend_from_slice(data);
    entry
}

/// The epoch and the session's bytes of a cache entry; `None` for an entry without a stamp
/// (written before epochs existed), which counts as stale.
fn unstamp(entry: &[u8]) -> Option<(i64, &[u8])> {
    let (&STAMP, rest) = entry.split_first()? else {
        return None;
    };
    let (epoch, data) = rest.split_first_chunk::<8>()?;
    Some((i64::from_be_bytes(*epoch), data))
}

/// A future an epoch call returns (boxed: the trait is used as an object).
pub type EpochFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where `cached_db` keeps its cache epoch: a counter every instance sharing the cache can
/// read, kept in the database so it outlives a restart and any cache outage.
///
/// [`DatabaseEpoch`] is the one this crate provides; an application that already reads
/// counters of its own on every request can keep the epoch among them instead.
pub trait CacheEpoch: Send + Sync {
    /// The epoch, as of a read that started at most `max_age` ago.
    ///
    /// # Errors
    /// When the database does not answer.
    fn recent(&self, max_age: Duration) -> EpochFuture<'_, i64>;

    /// Moves the epoch on, so every cache entry written before is checked again.
    ///
    /// # Errors
    /// When the database does not answer.
    fn advance(&self) -> EpochFuture<'_, ()>;
}

/// The cache epoch in the `session_cache_epoch` table (see
/// [`Database::create_session_tables`]), read at most once per `max_age` by each instance.
#[derive(Clone)]
pub struct DatabaseEpoch {
    db: Database,
    /// The last read: when it started, and what it found.
    last_read: Arc<Mutex<Option<(Instant, i64)>>>,
}

impl DatabaseEpoch {
    /// The epoch kept in `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            last_read: Arc::default(),
        }
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, Option<(Instant, i64)>> {
        self.last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(diesel::QueryableByName)]
struct EpochRow {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
}

impl CacheEpoch for DatabaseEpoch {
    fn recent(&self, max_age: Duration) -> EpochFuture<'_, i64> {
        Box::pin(async move {
            if let Some((at, epoch)) = *self.remembered()
                && at.elapsed() < max_age
            {
                return Ok(epoch);
            }
            let started = Instant::now();
            let epoch = self
                .db
                .read(|conn| {
                    let row = diesel::sql_query("SELECT epoch FROM session_cache_epoch")
                        .get_result::<EpochRow>(conn)
                        .optional()?;
                    Ok(row.map_or(0, |row| row.epoch))
                })
                .await?;
            *self.remembered() = Some((started, epoch));
            Ok(epoch)
        })
    }

    fn advance(&self) -> EpochFuture<'_, ()> {
        Box::pin(async move {
            self.db
                .write(|conn| {
                    diesel::sql_query("UPDATE session_cache_epoch SET epoch = epoch + 1")
                        .execute(conn)
                        .map_err(DbError::from)
                })
                .await?;
            // This instance sees its own move at once.
            *self.remembered() = None;
            Ok(())
        })
    }
}

/// The `cached_db` engine: `cache` in front of `db`.
#[derive(Clone)]
pub struct CachedDb<C, D> {
    cache: C,
    db: D,
    /// Where the cache epoch is read and moved on.
    epoch: Arc<dyn CacheEpoch>,
    outage: Arc<Outage>,
}

impl<C: SessionCache> CachedDb<C, DbSessions> {
    /// `cache` in front of the database engine, the cache epoch kept in that database's
    /// `session_cache_epoch` table.
    pub fn over_database(cache: C, db: DbSessions) -> Self {
        let epoch = DatabaseEpoch::new(db.database().clone());
        Self::new(cache, db, Arc::new(epoch))
    }
}

/// What the cache holds for a key, as of a load.
enum Lookup {
    /// An entry of the current epoch.
    Fresh(Loaded),
    /// Nothing usable: read the database, and refill under the reservation if one was taken.
    Miss(Option<Reservation>),
}

impl<C: SessionCache, D: SessionBackend> CachedDb<C, D> {
    /// `cache` in front of `db`, with the cache epoch kept by `epoch`.
    pub fn new(cache: C, db: D, epoch: Arc<dyn CacheEpoch>) -> Self {
        Self {
            cache,
            db,
            epoch,
            outage: Arc::new(Outage::new("cached_db")),
        }
    }

    /// The cache in front, for operators and tests.
    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// The cache epoch, as of a read at most [`EPOCH_MAX_AGE`] old.
    async fn epoch(&self) -> Result<i64, StoreError> {
        self.epoch.recent(EPOCH_MAX_AGE).await
    }

    /// What the cache holds for `key` that a load under `epoch` may use. An entry from an
    /// older epoch (or without one) is removed, unless it changed meanwhile; one from a newer
    /// epoch than this instance has read yet is left alone, and the database answers.
    async fn look_up(&self, key: &str, epoch: i64) -> Result<Lookup, StoreError> {
        if let Some(mut entry) = self.cache.load(key).await? {
            match unstamp(&entry.data) {
                Some((written, _)) if written == epoch => {
                    entry.data.drain(..STAMP_LEN);
                    return Ok(Lookup::Fresh(entry));
                }
                Some((written, _)) if written > epoch => return Ok(Lookup::Miss(None)),
                _ => {
                    observer().stale_cache_entry();
                    self.cache.discard(key, &entry.data).await?;
                }
            }
        }
        Ok(Lookup::Miss(self.cache.reserve(key).await?))
    }

    /// Makes the cache follow a change the database made to `key`, or moves the epoch on when
    /// it cannot.
    ///
    /// # Errors
    /// When the cache could not follow and the database does not answer to record it.
    async fn follow(&self, key: &str, change: Change<'_>) -> Result<(), StoreError> {
        if self.outage.should_try() {
            let followed = match change {
                Change::Created(entry, ttl) => self.cache.put(key, entry, ttl).await,
                Change::Updated(entry, ttl) => self.cache.follow_update(key, entry, ttl).await,
                Change::Gone => self.cache.delete(key).await,
            };
            match followed {
                Ok(()) => {
                    self.outage.answered();
                    return Ok(());
                }
                Err(err) => self.outage.failed(&err),
            }
        }
        // A new key has nothing cached under it that could go stale.
        if matches!(change, Change::Created(..)) {
            return Ok(());
        }
        self.epoch.advance().await?;
        observer().cache_epoch_moved();
        Ok(())
    }

    /// Puts a session the database just returned into the cache, under `reservation`, or
    /// gives the reservation back when there was nothing to put.
    async fn refill(
        &self,
        key: &str,
        reservation: Reservation,
        loaded: Option<&Loaded>,
        epoch: i64,
    ) {
        let result = match loaded {
            // The refilled entry lives exactly as long as the row has left.
            Some(Loaded {
                data,
                expires_in: Some(ttl),
            }) => self
                .cache
                .fill(key, &reservation, &stamped(epoch, data), *ttl)
                .await
                .map(|_| ()),
            _ => self.cache.release(key, &reservation).await,
        };
        // A reservation left behind expires by itself: nothing goes stale.
        if let Err(err) = result {
            self.outage.failed(&err);
        }
    }
}

/// What the database did to a session, for the cache to follow with the entry (stamped with
/// the epoch read before the database was) and its time to live.
#[derive(Clone, Copy)]
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
        // Read before the cache and the database: an entry refilled below is stamped with an
        // epoch from before its data was read.
        let epoch = self.epoch().await?;
        let mut reservation = None;
        if self.outage.should_try() {
            match self.look_up(key, epoch).await {
                Ok(Lookup::Fresh(loaded)) => {
                    self.outage.answered();
                    return Ok(Some(loaded));
                }
                Ok(Lookup::Miss(reserved)) => {
                    self.outage.answered();
                    reservation = reserved;
                }
                Err(err) => self.outage.failed(&err),
            }
        }
        // Read only after reserving: a change the database makes from now on replaces or
        // removes the reservation, and the refill below then writes nothing.
        let loaded = self.db.load(key).await?;
        if let Some(reservation) = reservation {
            self.refill(key, reservation, loaded.as_ref(), epoch).await;
        }
        Ok(loaded)
    }

    async fn create(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let entry = stamped(self.epoch().await?, data);
        let created = self.db.create(key, data, user, ttl).await?;
        if created {
            self.follow(key, Change::Created(&entry, ttl)).await?;
        }
        Ok(created)
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let entry = stamped(self.epoch().await?, data);
        let updated = self.db.update(key, data, user, ttl).await?;
        // A session that is gone must be gone from the cache too.
        let change = if updated {
            Change::Updated(&entry, ttl)
        } else {
            Change::Gone
        };
        self.follow(key, change).await?;
        Ok(updated)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        self.db.touch(key, ttl).await?;
        // An entry that missed a touch only expires sooner: nothing goes stale.
        if self.outage.should_try() {
            match self.cache.touch(key, ttl).await {
                Ok(()) => self.outage.answered(),
                Err(err) => self.outage.failed(&err),
            }
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.db.delete(key).await?;
        self.follow(key, Change::Gone).await
    }

    async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
        self.db.clear_expired(run).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.db.count().await
    }

    async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError> {
        self.db.keys_of(user).await
    }

    async fn forget(&self, user: i64, keys: &[String]) -> Result<(), StoreError> {
        self.db.forget(user, keys).await
    }
}

#[cfg(test)]
mod tests {
    //! `CachedDb` over a real SQLite database, in front of a cache that fails on command or
    //! holds a write back until the test lets it through (to run a delete in between).

    use std::sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    };

    use tokio::sync::Notify;

    use super::*;
    use crate::{
        caches::{Cache, CacheError, MemoryCache},
        keys,
        stores::cache::CacheSessions,
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
            user: Option<i64>,
            ttl: Duration,
        ) -> Result<bool, StoreError> {
            self.answer()?;
            self.inner.create(key, data, user, ttl).await
        }

        async fn update(
            &self,
            key: &str,
            data: &[u8],
            user: Option<i64>,
            ttl: Duration,
        ) -> Result<bool, StoreError> {
            self.before_write().await?;
            self.inner.update(key, data, user, ttl).await
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

        async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError> {
            self.answer()?;
            self.inner.keys_of(user).await
        }

        async fn forget(&self, user: i64, keys: &[String]) -> Result<(), StoreError> {
            self.answer()?;
            self.inner.forget(user, keys).await
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

        async fn discard(&self, key: &str, expected: &[u8]) -> Result<(), StoreError> {
            self.answer()?;
            self.inner.discard(key, expected).await
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
        db: Database,
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        /// Another instance on the same cache and database, started now: it never saw a
        /// failure, and reads the cache epoch afresh.
        fn another_instance(&self) -> CachedDb<CacheSessions, DbSessions> {
            CachedDb::over_database(self.cache.inner.clone(), DbSessions::new(self.db.clone()))
        }

        async fn epoch(&self) -> i64 {
            DatabaseEpoch::new(self.db.clone())
                .recent(Duration::ZERO)
                .await
                .unwrap()
        }
    }

    /// Each instance trusts its last read for `max_age` (a move made elsewhere shows after
    /// that), sees its own move at once, and reads afresh when asked for no age at all.
    #[actix_web::test]
    async fn an_instance_trusts_its_read_of_the_epoch_for_max_age_and_sees_its_own_move_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::sqlite_in(dir.path());
        db.create_session_tables().unwrap();
        let (this, other) = (DatabaseEpoch::new(db.clone()), DatabaseEpoch::new(db));
        let hour = Duration::from_secs(3600);

        let before = this.recent(hour).await.unwrap();
        other.advance().await.unwrap();
        let others_own = other.recent(hour).await.unwrap();
        let within_max_age = this.recent(hour).await.unwrap();
        let afresh = this.recent(Duration::ZERO).await.unwrap();

        assert_eq!((before, others_own), (0, 1));
        assert_eq!(within_max_age, 0, "a read younger than max_age is trusted");
        assert_eq!(afresh, 1);
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::sqlite_in(dir.path());
        db.create_session_tables().unwrap();
        let cache = TestCache {
            inner: CacheSessions::new(Cache::Memory(MemoryCache::new(100_000, "t:".into()))),
            down: Arc::default(),
            gate: Arc::default(),
        };
        Fixture {
            store: CachedDb::over_database(cache.clone(), DbSessions::new(db.clone())),
            cache,
            db,
            _dir: dir,
        }
    }

    fn key() -> String {
        keys::generate().as_ref().to_owned()
    }

    /// The session's bytes cached under `key`, without their epoch.
    async fn cached(cache: &TestCache, key: &str) -> Option<Vec<u8>> {
        let entry = cache.inner.load(key).await.unwrap()?.data;
        Some(unstamp(&entry).expect("entries are stamped").1.to_vec())
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
    async fn a_change_the_cache_missed_is_not_undone_by_its_old_entry_on_any_instance() {
        // Arrange: two sessions in the database and in the cache.
        let fixture = fixture();
        let Fixture { store, cache, .. } = &fixture;
        let (logged_out, updated) = (key(), key());
        store.create(&logged_out, b"user", None, TTL).await.unwrap();
        store.create(&updated, b"before", None, TTL).await.unwrap();
        assert!(cached(cache, &logged_out).await.is_some());

        // Act: while this instance cannot reach the cache, one session ends and the other
        // changes; the cache comes back still holding what it had before.
        cache.set_down(true);
        store.delete(&logged_out).await.unwrap();
        store.update(&updated, b"after", None, TTL).await.unwrap();
        cache.set_down(false);
        let here = store.load(&logged_out).await.unwrap();
        let elsewhere = fixture.another_instance();
        let there = elsewhere.load(&logged_out).await.unwrap();
        let changed_there = elsewhere.load(&updated).await.unwrap().map(|l| l.data);

        // Assert: neither instance trusted the old entries; the other one replaced them.
        assert!(here.is_none(), "the old entry undid the logout here");
        assert!(there.is_none(), "the old entry undid the logout elsewhere");
        assert_eq!(changed_there.as_deref(), Some(&b"after"[..]));
        assert!(cached(cache, &logged_out).await.is_none(), "removed");
        assert_eq!(
            cached(cache, &updated).await.as_deref(),
            Some(&b"after"[..]),
            "refilled from the database"
        );
    }

    #[actix_web::test]
    async fn only_changes_the_cache_could_not_follow_move_the_epoch() {
        let fixture = fixture();
        let Fixture { store, cache, .. } = &fixture;
        let (kept, ended) = (key(), key());
        store.create(&kept, b"one", None, TTL).await.unwrap();
        store.create(&ended, b"one", None, TTL).await.unwrap();
        store.update(&kept, b"two", None, TTL).await.unwrap();
        store.delete(&ended).await.unwrap();
        let while_it_answers = fixture.epoch().await;

        cache.set_down(true);
        store.create(&key(), b"new", None, TTL).await.unwrap();
        store.touch(&kept, TTL).await.unwrap();
        store.load(&kept).await.unwrap();
        let after_reads_and_new_keys = fixture.epoch().await;
        store.update(&kept, b"three", None, TTL).await.unwrap();
        store.delete(&kept).await.unwrap();
        let after_an_update_and_a_delete = fixture.epoch().await;

        assert_eq!(while_it_answers, 0);
        assert_eq!(after_reads_and_new_keys, 0, "nothing could go stale");
        assert_eq!(
            after_an_update_and_a_delete, 2,
            "one move per missed change"
        );
    }

    #[actix_web::test]
    async fn an_entry_from_an_older_epoch_or_without_one_is_checked_against_the_database_once() {
        let fixture = fixture();
        let Fixture { store, cache, .. } = &fixture;
        let (unstamped, older) = (key(), key());
        store.create(&unstamped, b"row", None, TTL).await.unwrap();
        store.create(&older, b"row", None, TTL).await.unwrap();
        DatabaseEpoch::new(fixture.db.clone())
            .advance()
            .await
            .unwrap();
        // What an older release wrote, and what was written before the epoch moved.
        cache.inner.put(&unstamped, b"stale", TTL).await.unwrap();
        cache
            .inner
            .put(&older, &stamped(0, b"stale"), TTL)
            .await
            .unwrap();

        let elsewhere = fixture.another_instance();
        let loaded = (
            elsewhere.load(&unstamped).await.unwrap().map(|l| l.data),
            elsewhere.load(&older).await.unwrap().map(|l| l.data),
        );

        assert_eq!(loaded.0.as_deref(), Some(&b"row"[..]));
        assert_eq!(loaded.1.as_deref(), Some(&b"row"[..]));
        for key in [&unstamped, &older] {
            let entry = cache.inner.load(key).await.unwrap().unwrap().data;
            assert_eq!(
                unstamp(&entry),
                Some((1, &b"row"[..])),
                "refilled, stamped 1"
            );
        }
    }

    #[actix_web::test]
    async fn an_entry_from_an_epoch_not_read_yet_is_left_alone_and_the_database_answers() {
        let fixture = fixture();
        let Fixture { store, cache, .. } = &fixture;
        let key = key();
        store.create(&key, b"row", None, TTL).await.unwrap();
        let newer = stamped(7, b"newer");
        cache.inner.put(&key, &newer, TTL).await.unwrap();

        let loaded = store.load(&key).await.unwrap().map(|l| l.data);

        assert_eq!(loaded.as_deref(), Some(&b"row"[..]));
        assert_eq!(
            cache.inner.load(&key).await.unwrap().map(|l| l.data),
            Some(newer)
        );
    }

    #[test]
    fn stamps_round_trip_and_nothing_else_passes_for_one() {
        assert_eq!(unstamp(&stamped(42, b"{}")), Some((42, &b"{}"[..])));
        assert_eq!(unstamp(&stamped(-1, b"")), Some((-1, &b""[..])));
        assert_eq!(unstamp(b"{\"a\":1}"), None);
        assert_eq!(unstamp(b"\0reserved:x"), None);
        assert_eq!(unstamp(&[STAMP, 0, 0]), None, "too short");
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
        store.create(&key, b"user", None, TTL).await.unwrap();
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
        assert_eq!(loaded_before_the_logout.as_deref(), Some(&b"user"[..]));
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
        store.create(&key, b"user", None, TTL).await.unwrap();
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
