//! The store-level contract suite: every promise [`SessionBackend`] makes, checked against
//! every server-side engine directly, below the session middleware, as Django's
//! `SessionTestsMixin` runs against every backend. A contract is written once inside
//! `contracts! { ... }`, as an async fn of the store under test, and runs once per backend:
//! `<backend>::<contract>`. Each runs on a multi-threaded runtime, so calls spawned
//! together really overlap (racing cases fire them from several threads for many rounds).

use std::{
    ops::Deref,
    time::{Duration, Instant},
};

mod support;

use actix_session_engines::{
    Backend, ClearOutcome, ClearRun, SessionBackend,
    caches::{Cache, CacheBackend, CacheSettings, MemoryCache},
    database::Database,
    keys::KeyFormat,
    stores::{
        cache::{self, CacheSessions},
        cached_db::CachedDb,
        db::DbSessions,
        django_db::DjangoDbSessions,
        file::{FileFormat, FileSessions},
    },
};
use diesel::connection::SimpleConnection as _;
use futures_util::future::join_all;
use tokio::sync::Barrier;

use self::support::{TestDatabase, TestResources, postgres_available, redis_available, redis_url};

const HOUR: Duration = Duration::from_secs(3600);
/// What a store may take from a time to live it was given before the test reads it back: a
/// bound on what the store set, not on how long the test took (whole-second stores round
/// down).
const ROUNDING: Duration = Duration::from_secs(60);
/// How long a race is run, round after round, on each backend (at least [`RACE_ROUNDS`]
/// rounds): an in-memory race lost once in a thousand rounds still shows.
const RACE_TIME: Duration = Duration::from_secs(1);
const RACE_ROUNDS: usize = 50;

/// Declares contracts; see the module documentation.
macro_rules! contracts {
    ($(
        $(#[$attr:meta])*
        async fn $name:ident($store:ident) $body:block
    )*) => {
        $(
            $(#[$attr])*
            async fn $name($store: TestStore) $body
        )*
        contracts!(@backends [$($name)*]
            db_sqlite, db_postgres, cache_memory, cache_redis, cached_db_memory_sqlite,
            cached_db_redis_sqlite, cached_db_redis_postgres, file, django_db_sqlite,
            django_db_postgres, django_file,
        );
    };
    (@backends [$($name:ident)*] $backend:ident, $($rest:tt)*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(store) = super::TestStore::$backend(stringify!($name)) {
                        super::$name(store).await;
                    }
                }
            )*
        }
        contracts!(@backends [$($name)*] $($rest)*);
    };
    (@backends [$($name:ident)*]) => {};
}

contracts! {
    async fn an_unknown_key_loads_nothing(store) {
        assert!(store.load(&store.new_key()).await.unwrap().is_none());
    }

    async fn a_created_session_loads_with_no_more_time_than_it_was_given(store) {
        let key = store.new_key();

        let created = store.create(&key, b"data", None, HOUR).await.unwrap();
        let loaded = store.load(&key).await.unwrap().expect("the session");

        assert!(created);
        assert_eq!(loaded.data, b"data");
        // What `load` reports, and every expiry the flavour keeps, read where it keeps it.
        let reported = loaded.expires_in.map(|left| ("load", left));
        for (kept_in, left) in reported.into_iter().chain(store.expiries(&key).await) {
            assert!(left <= HOUR && left > HOUR - ROUNDING, "{kept_in}: {left:?}");
        }
        assert_eq!(store.count().await.unwrap(), 1);
    }

    async fn create_refuses_a_taken_key_and_keeps_the_first_data(store) {
        let key = store.new_key();
        store.create(&key, b"first", None, HOUR).await.unwrap();

        let second = store.create(&key, b"second", None, HOUR).await.unwrap();

        assert!(!second);
        assert_eq!(load(&store, &key).await.as_deref(), Some(&b"first"[..]));
    }

    async fn when_creates_of_one_key_race_exactly_one_wins(store) {
        let key = store.new_key();
        let data: Vec<Vec<u8>> = (0..16).map(|i| format!("writer {i}").into_bytes()).collect();

        let created = join_all(data.iter().map(|data| store.create(&key, data, None, HOUR))).await;

        let winners: Vec<&Vec<u8>> = created
            .iter()
            .zip(&data)
            .filter(|(created, _)| *created.as_ref().unwrap())
            .map(|(_, data)| data)
            .collect();
        assert_eq!(winners.len(), 1, "{created:?}");
        assert_eq!(load(&store, &key).await.as_ref(), Some(winners[0]));
        assert_eq!(store.count().await.unwrap(), 1);
    }

    async fn a_delete_racing_updates_touches_and_loads_always_wins(store) {
        let started = std::time::Instant::now();
        for round in (0..).take_while(|&r| r < RACE_ROUNDS || started.elapsed() < RACE_TIME) {
            let key = store.new_key();
            store.create(&key, b"member", None, HOUR).await.unwrap();

            // A logout, and the same session's other requests still writing it back.
            race(&store, &key, |backend, key, i| async move {
                match i % 4 {
                    0 => backend.delete(&key).await.unwrap(),
                    1 => drop(backend.update(&key, b"changed", None, HOUR).await.unwrap()),
                    2 => backend.touch(&key, HOUR).await.unwrap(),
                    _ => drop(backend.load(&key).await.unwrap()),
                }
            })
            .await;

            assert!(
                store.load(&key).await.unwrap().is_none(),
                "round {round}: the session came back after its delete"
            );
        }
        assert_eq!(store.count().await.unwrap(), 0);
    }

    async fn update_replaces_the_data_of_a_live_session(store) {
        let key = store.new_key();
        store.create(&key, b"before", None, HOUR).await.unwrap();

        let updated = store.update(&key, b"after", None, HOUR).await.unwrap();

        assert!(updated);
        assert_eq!(load(&store, &key).await.as_deref(), Some(&b"after"[..]));
        assert_eq!(store.count().await.unwrap(), 1);
    }

    async fn update_and_touch_of_a_key_never_stored_write_nothing(store) {
        let key = store.new_key();

        let updated = store.update(&key, b"data", None, HOUR).await.unwrap();
        store.touch(&key, HOUR).await.unwrap();

        assert!(!updated);
        assert!(store.load(&key).await.unwrap().is_none());
        assert_eq!(store.count().await.unwrap(), 0);
    }

    async fn update_and_touch_after_delete_never_resurrect(store) {
        let key = store.new_key();
        store.create(&key, b"member", None, HOUR).await.unwrap();
        store.delete(&key).await.unwrap();

        let updated = store.update(&key, b"member", None, HOUR).await.unwrap();
        store.touch(&key, HOUR).await.unwrap();

        assert!(!updated);
        assert!(store.load(&key).await.unwrap().is_none());
        assert_eq!(store.count().await.unwrap(), 0);
    }

    async fn delete_removes_one_session_and_is_harmless_when_repeated(store) {
        let (key, other) = (store.new_key(), store.new_key());
        store.create(&key, b"one", None, HOUR).await.unwrap();
        store.create(&other, b"other", None, HOUR).await.unwrap();

        store.delete(&key).await.unwrap();
        store.delete(&key).await.unwrap();
        store.delete(&store.new_key()).await.unwrap();

        assert!(store.load(&key).await.unwrap().is_none());
        assert!(store.load(&other).await.unwrap().is_some());
        assert_eq!(store.count().await.unwrap(), 1);
    }

    async fn an_expired_session_is_never_loaded_nor_brought_back(store) {
        let (loaded, updated, touched) = (store.new_key(), store.new_key(), store.new_key());
        for key in [&loaded, &updated, &touched] {
            // No time left: expired the moment it is stored.
            assert!(store.create(key, b"short", None, Duration::ZERO).await.unwrap());
        }
        store.until_expired(&[&loaded, &updated, &touched]).await;
        // Stored, and expired: still counted until cleared, unless the storage expires
        // entries itself.
        let stored = if store.expires_itself() { 0 } else { 3 };
        assert_eq!(store.count().await.unwrap(), stored);

        let update = store.update(&updated, b"again", None, HOUR).await.unwrap();
        store.touch(&touched, HOUR).await.unwrap();

        assert!(!update);
        for key in [&loaded, &updated, &touched] {
            assert!(store.load(key).await.unwrap().is_none());
        }
    }

    async fn update_and_touch_restart_the_time_to_live(store) {
        // Read back where each flavour keeps it rather than waited out: the untouched session
        // keeps its short time, the touched and updated ones have the hour.
        let short = 2 * ROUNDING;
        let (untouched, touched, updated) = (store.new_key(), store.new_key(), store.new_key());
        for key in [&untouched, &touched, &updated] {
            store.create(key, b"before", None, short).await.unwrap();
        }

        store.touch(&touched, HOUR).await.unwrap();
        let update = store.update(&updated, b"after", None, HOUR).await.unwrap();

        assert!(update);
        for (kept_in, left) in store.expiries(&untouched).await {
            assert!(left <= short && left > short - ROUNDING, "untouched, {kept_in}: {left:?}");
        }
        for key in [&touched, &updated] {
            for (kept_in, left) in store.expiries(key).await {
                assert!(left <= HOUR && left > HOUR - ROUNDING, "{kept_in}: {left:?}");
            }
        }
        assert_eq!(load(&store, &untouched).await.as_deref(), Some(&b"before"[..]));
        assert_eq!(load(&store, &touched).await.as_deref(), Some(&b"before"[..]));
        assert_eq!(load(&store, &updated).await.as_deref(), Some(&b"after"[..]));
    }

    async fn clear_expired_removes_what_expired_and_nothing_else(store) {
        let (expired, live) = (store.new_key(), store.new_key());
        assert!(store.create(&expired, b"old", None, Duration::ZERO).await.unwrap());
        store.create(&live, b"live", None, HOUR).await.unwrap();
        store.until_expired(&[&expired]).await;

        let outcome = store.clear_expired(ClearRun::DEFAULT).await.unwrap();

        match (store.expires_itself(), outcome) {
            (false, ClearOutcome::Removed(removed)) => assert_eq!(removed, 1),
            // The storage expires entries itself.
            (true, ClearOutcome::NothingToClear(why)) => {
                assert!(why.contains("time to live"), "{why}");
            }
            (itself, outcome) => panic!("{outcome:?}, where the storage expires itself: {itself}"),
        }
        assert_eq!(store.count().await.unwrap(), 1);
        assert_eq!(load(&store, &live).await.as_deref(), Some(&b"live"[..]));
    }

    async fn clear_expired_works_in_batches_and_reports_its_progress(store) {
        let keys: Vec<String> = (0..5).map(|_| store.new_key()).collect();
        for key in &keys {
            assert!(store.create(key, b"old", None, Duration::ZERO).await.unwrap());
        }
        store.until_expired(&keys.iter().collect::<Vec<_>>()).await;
        let reported = std::sync::Mutex::new(Vec::new());
        let progress = |total| reported.lock().unwrap().push(total);

        let outcome = store
            .clear_expired(ClearRun { batch_size: 2, progress: &progress })
            .await
            .unwrap();

        let reported = reported.into_inner().unwrap();
        match (store.expires_itself(), outcome) {
            (false, ClearOutcome::Removed(removed)) => {
                assert_eq!(removed, 5);
                assert_eq!(reported.last(), Some(&5), "{reported:?}");
                assert!(reported.is_sorted(), "{reported:?}");
            }
            (true, ClearOutcome::NothingToClear(why)) => {
                assert!(why.contains("time to live"), "{why}");
                assert!(reported.is_empty(), "{reported:?}");
            }
            (itself, outcome) => panic!("{outcome:?}, where the storage expires itself: {itself}"),
        }
        assert_eq!(store.count().await.unwrap(), 0);
    }

    async fn keys_of_finds_every_session_stored_with_the_member_and_forget_drops_them(store) {
        let [mine, became_mine, theirs, anonymous, ended] = [(); 5].map(|()| store.new_key());
        store.create(&mine, b"m", Some(1), HOUR).await.unwrap();
        store.create(&became_mine, b"a", None, HOUR).await.unwrap();
        store.update(&became_mine, b"m", Some(1), HOUR).await.unwrap();
        store.create(&theirs, b"t", Some(2), HOUR).await.unwrap();
        store.create(&anonymous, b"a", None, HOUR).await.unwrap();
        store.create(&ended, b"m", Some(1), HOUR).await.unwrap();
        store.delete(&ended).await.unwrap();
        store.forget(1, std::slice::from_ref(&ended)).await.unwrap();

        let keys = store.keys_of(1).await.unwrap();

        assert!(keys.contains(&mine) && keys.contains(&became_mine), "{keys:?}");
        for other in [&theirs, &anonymous, &ended] {
            assert!(!keys.contains(other), "{keys:?}");
        }
        assert_eq!(store.keys_of(2).await.unwrap(), vec![theirs]);
        assert!(store.keys_of(3).await.unwrap().is_empty());
    }

    async fn after_clear_expired_the_index_names_no_expired_session(store) {
        let (expired, live) = (store.new_key(), store.new_key());
        // The live one first: a cache's index then lives as long as it, naming both.
        store.create(&live, b"live", Some(1), HOUR).await.unwrap();
        assert!(store.create(&expired, b"old", Some(1), Duration::ZERO).await.unwrap());
        store.until_expired(&[&expired]).await;

        let outcome = store.clear_expired(ClearRun::DEFAULT).await.unwrap();
        let keys = store.keys_of(1).await.unwrap();

        assert!(keys.contains(&live), "{keys:?}");
        match (store.expires_itself(), outcome) {
            (false, ClearOutcome::Removed(removed)) => {
                assert_eq!(removed, 1);
                assert!(!keys.contains(&expired), "{keys:?}");
            }
            // The index may name the expired session until a listing finds it gone: it never
            // loads, and forgetting it drops it.
            (true, ClearOutcome::NothingToClear(why)) => {
                assert!(why.contains("time to live"), "{why}");
                assert!(store.load(&expired).await.unwrap().is_none());
                store.forget(1, std::slice::from_ref(&expired)).await.unwrap();
                assert_eq!(store.keys_of(1).await.unwrap(), vec![live]);
            }
            (itself, outcome) => panic!("{outcome:?}, where the storage expires itself: {itself}"),
        }
    }
}

/// A backend under test, with what it made for the test (removed when the test ends).
pub struct TestStore {
    backend: Backend,
    /// Where this flavour keeps each session's expiry, for the tests to read it there.
    expiry: Expiry,
    /// The keys this backend is given: Django's, for the engines on Django's formats.
    keys: KeyFormat,
    _resources: TestResources,
}

/// Where a flavour keeps a session's expiry.
enum Expiry {
    /// In the row or file, and `load` reports the time left (the database and file engines).
    Reported,
    /// In the cache, which expires each entry itself; `load` does not say when.
    Cache(CacheProbe),
    /// In the cache's entry in front, and in the database row behind.
    CachedDb(CacheProbe, DbSessions),
}

/// A way to read a cache entry's time to live from outside the engine.
enum CacheProbe {
    /// The in-process cache's own bookkeeping.
    Memory(MemoryCache),
    /// Redis' `PTTL`, under the test's key prefix.
    Redis { url: String, prefix: String },
}

impl CacheProbe {
    /// The session entry `key`'s time to live: `None` when there is no entry.
    async fn time_to_live(&self, key: &str) -> Option<Duration> {
        let entry = format!("{}{key}", cache::KEY_PREFIX);
        match self {
            Self::Memory(memory) => memory.time_to_live(&entry).await,
            Self::Redis { url, prefix } => match redis_pttl(url, &format!("{prefix}{entry}")) {
                -2 => None,
                -1 => panic!("{entry} is stored in Redis without a time to live"),
                millis => Some(Duration::from_millis(millis.try_into().unwrap())),
            },
        }
    }

    /// Returns once the session entry `key` is gone. The in-process cache expires an entry
    /// given no time at once. Redis keeps time in whole milliseconds on its own clock, which
    /// no test can move, and `SET` takes no less than `PX 1`: such an entry lives there for a
    /// millisecond, so Redis is asked until it is gone (a deadline far beyond that, not a
    /// sleep).
    async fn until_gone(&self, key: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = self.time_to_live(key).await {
            assert!(
                matches!(self, Self::Redis { .. }) && left <= Duration::from_millis(1),
                "{key} still has {left:?}"
            );
            assert!(Instant::now() < deadline, "Redis never expired {key}");
            tokio::task::yield_now().await;
        }
    }
}

/// Redis' `PTTL` of `key`: its milliseconds left, `-2` with no key, `-1` with no expiry.
fn redis_pttl(url: &str, key: &str) -> i64 {
    let mut conn = redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("the test Redis answers");
    redis::cmd("PTTL").arg(key).query(&mut conn).unwrap()
}

impl Deref for TestStore {
    type Target = Backend;

    fn deref(&self) -> &Backend {
        &self.backend
    }
}

impl TestStore {
    fn new_key(&self) -> String {
        new_key(self.keys)
    }

    /// Whether the storage expires sessions itself (a cache), leaving `clear_expired` nothing.
    fn expires_itself(&self) -> bool {
        matches!(self.expiry, Expiry::Cache(_))
    }

    /// Every expiry this flavour keeps for session `key`, each read where it is kept (panics
    /// when one is missing): no flavour goes unchecked.
    async fn expiries(&self, key: &str) -> Vec<(&'static str, Duration)> {
        async fn reported(store: &impl SessionBackend, key: &str) -> Duration {
            let loaded = store.load(key).await.unwrap().expect("the session loads");
            loaded
                .expires_in
                .expect("this engine reports the time left")
        }
        async fn cached(probe: &CacheProbe, key: &str) -> Duration {
            let left = probe.time_to_live(key).await;
            left.expect("the cache holds the session")
        }
        match &self.expiry {
            Expiry::Reported => vec![("load", reported(&self.backend, key).await)],
            Expiry::Cache(probe) => vec![("cache", cached(probe, key).await)],
            Expiry::CachedDb(probe, db) => vec![
                ("cache", cached(probe, key).await),
                ("database", reported(db, key).await),
            ],
        }
    }

    /// Returns once the sessions `keys`, stored with no time left, are expired wherever this
    /// flavour keeps them: at once, except in Redis (see [`CacheProbe::until_gone`]).
    async fn until_expired(&self, keys: &[&String]) {
        if let Expiry::Cache(probe) | Expiry::CachedDb(probe, _) = &self.expiry {
            for key in keys {
                probe.until_gone(key).await;
            }
        }
    }

    fn db_sqlite(_test: &str) -> Option<Self> {
        Some(Self::build(|resources| {
            (
                Backend::Db(db(resources, TestDatabase::Sqlite)),
                Expiry::Reported,
            )
        }))
    }

    fn db_postgres(test: &str) -> Option<Self> {
        postgres_available(test).then(|| {
            Self::build(|resources| {
                (
                    Backend::Db(db(resources, TestDatabase::Postgres)),
                    Expiry::Reported,
                )
            })
        })
    }

    fn cache_memory(_test: &str) -> Option<Self> {
        Some(Self::build(|_| {
            let (cache, probe) = memory_cache();
            (Backend::Cache(cache), Expiry::Cache(probe))
        }))
    }

    fn cache_redis(test: &str) -> Option<Self> {
        redis_available(test).then(|| {
            Self::build(|resources| {
                let (cache, probe) = redis_cache(resources);
                (Backend::Cache(cache), Expiry::Cache(probe))
            })
        })
    }

    fn cached_db_memory_sqlite(_test: &str) -> Option<Self> {
        Some(Self::build(|resources| {
            Self::cached_db(memory_cache(), db(resources, TestDatabase::Sqlite))
        }))
    }

    fn cached_db_redis_sqlite(test: &str) -> Option<Self> {
        redis_available(test).then(|| {
            Self::build(|resources| {
                let cache = redis_cache(resources);
                Self::cached_db(cache, db(resources, TestDatabase::Sqlite))
            })
        })
    }

    fn cached_db_redis_postgres(test: &str) -> Option<Self> {
        (redis_available(test) && postgres_available(test)).then(|| {
            Self::build(|resources| {
                let cache = redis_cache(resources);
                Self::cached_db(cache, db(resources, TestDatabase::Postgres))
            })
        })
    }

    fn cached_db((cache, probe): (CacheSessions, CacheProbe), db: DbSessions) -> (Backend, Expiry) {
        let backend = Backend::CachedDb(CachedDb::over_database(cache, db.clone()));
        (backend, Expiry::CachedDb(probe, db))
    }

    fn file(_test: &str) -> Option<Self> {
        Some(Self::build(|resources| {
            let folder = resources.folder("sessions");
            let file = FileSessions::new(folder, "sessionid", FileFormat::Native).unwrap();
            (Backend::File(file), Expiry::Reported)
        }))
    }

    /// `db` on Django's `django_session`: expiry in whole seconds, Django's keys.
    fn django_db_sqlite(_test: &str) -> Option<Self> {
        Some(Self::django(|resources| {
            Backend::DjangoDb(django_db(resources, TestDatabase::Sqlite))
        }))
    }

    fn django_db_postgres(test: &str) -> Option<Self> {
        postgres_available(test).then(|| {
            Self::django(|resources| {
                Backend::DjangoDb(django_db(resources, TestDatabase::Postgres))
            })
        })
    }

    /// `file` in Django's format: the expiry is the file's modification time.
    fn django_file(_test: &str) -> Option<Self> {
        Some(Self::django(|resources| {
            let format = FileFormat::Django {
                age: Duration::from_secs(1_209_600),
            };
            Backend::File(
                FileSessions::new(resources.folder("sessions"), "sessionid", format).unwrap(),
            )
        }))
    }

    fn django(backend: impl FnOnce(&mut TestResources) -> Backend) -> Self {
        Self {
            keys: KeyFormat::Django,
            ..Self::build(|resources| (backend(resources), Expiry::Reported))
        }
    }

    fn build(backend: impl FnOnce(&mut TestResources) -> (Backend, Expiry)) -> Self {
        let mut resources = TestResources::new();
        let (backend, expiry) = backend(&mut resources);
        Self {
            backend,
            expiry,
            keys: KeyFormat::Native,
            _resources: resources,
        }
    }
}

/// A fresh database with the session tables.
fn database(resources: &mut TestResources, database: TestDatabase) -> Database {
    let db =
        Database::connect(&resources.database_settings(database)).expect("the test database opens");
    db.create_session_tables()
        .expect("the session tables are made");
    db
}

/// The database engine on a fresh database with the session tables.
fn db(resources: &mut TestResources, kind: TestDatabase) -> DbSessions {
    DbSessions::new(database(resources, kind))
}

/// The database engine on Django's table, made as Django 5.2's `migrate` makes it.
fn django_db(resources: &mut TestResources, kind: TestDatabase) -> DjangoDbSessions {
    let db = database(resources, kind);
    let ddl = match kind {
        TestDatabase::Sqlite => support::DJANGO_SESSION_SQLITE,
        TestDatabase::Postgres => support::DJANGO_SESSION_POSTGRES,
    };
    db.get()
        .unwrap()
        .batch_execute(ddl)
        .expect("django_session is made");
    DjangoDbSessions::new(db)
}

fn memory_cache() -> (CacheSessions, CacheProbe) {
    let memory = MemoryCache::new(
        CacheBackend::DEFAULT_MAX_ENTRIES,
        format!("sessions-test-{}:", support::random_string(12)),
    );
    let probe = CacheProbe::Memory(memory.clone());
    (CacheSessions::new(Cache::Memory(memory)), probe)
}

/// The cache engine on the test Redis, under a key prefix of the test's own.
fn redis_cache(resources: &mut TestResources) -> (CacheSessions, CacheProbe) {
    let url = redis_url().expect("checked by redis_available");
    let key_prefix = resources.redis_key_prefix();
    let probe = CacheProbe::Redis {
        url: url.clone(),
        prefix: key_prefix.clone(),
    };
    let settings = CacheSettings {
        alias: "default".into(),
        backend: CacheBackend::Redis { url },
        key_prefix,
        tls_ca: None,
    };
    let sessions = CacheSessions::new(Cache::new(&settings).expect("a usable Redis URL"));
    (sessions, probe)
}

/// Runs `call(backend, key, i)` for `i` in 0..13 on the runtime's threads, all released at
/// once.
async fn race<F, Fut>(store: &TestStore, key: &str, call: F)
where
    F: Fn(Backend, String, usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    const CALLS: usize = 13;
    let start = std::sync::Arc::new(Barrier::new(CALLS));
    let calls = (0..CALLS).map(|i| {
        let (start, call) = (
            start.clone(),
            call(store.backend.clone(), key.to_owned(), i),
        );
        tokio::spawn(async move {
            start.wait().await;
            call.await;
        })
    });
    for finished in join_all(calls).await {
        finished.expect("a racing call panicked");
    }
}

fn new_key(format: KeyFormat) -> String {
    format.generate().as_ref().to_owned()
}

/// The data stored under `key`, if it loads.
async fn load(store: &Backend, key: &str) -> Option<Vec<u8>> {
    store.load(key).await.unwrap().map(|loaded| loaded.data)
}
