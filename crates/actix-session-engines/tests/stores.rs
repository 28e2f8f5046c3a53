//! The store-level contract suite: every promise [`SessionBackend`] makes, checked against
//! every server-side engine directly, below the session middleware, as Django's
//! `SessionTestsMixin` runs against every backend. A contract is written once inside
//! `contracts! { ... }`, as an async fn of the store under test, and runs once per backend:
//! `<backend>::<contract>`. Each runs on a multi-threaded runtime, so calls spawned
//! together really overlap (racing cases fire them from several threads for many rounds).

use std::{ops::Deref, time::Duration};

mod support;

use actix_session_engines::{
    Backend, ClearOutcome, ClearRun, SessionBackend,
    caches::{Cache, CacheBackend, CacheSettings, MemoryCache},
    database::Database,
    keys::KeyFormat,
    stores::{
        cache::CacheSessions,
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
        if let Some(left) = loaded.expires_in {
            assert!(left <= HOUR && left > HOUR - Duration::from_secs(60), "{left:?}");
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
            store.create(key, b"short", None, Duration::from_millis(1)).await.unwrap();
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;

        let update = store.update(&updated, b"again", None, HOUR).await.unwrap();
        store.touch(&touched, HOUR).await.unwrap();

        assert!(!update);
        for key in [&loaded, &updated, &touched] {
            assert!(store.load(key).await.unwrap().is_none());
        }
    }

    async fn update_and_touch_restart_the_time_to_live(store) {
        let ttl = store.shortest_reliable_ttl;
        let (untouched, touched, updated) = (store.new_key(), store.new_key(), store.new_key());
        for key in [&untouched, &touched, &updated] {
            store.create(key, b"before", None, ttl).await.unwrap();
        }

        store.touch(&touched, HOUR).await.unwrap();
        store.update(&updated, b"after", None, HOUR).await.unwrap();
        actix_web::rt::time::sleep(ttl + Duration::from_millis(300)).await;

        assert!(store.load(&untouched).await.unwrap().is_none(), "expired");
        assert_eq!(load(&store, &touched).await.as_deref(), Some(&b"before"[..]));
        assert_eq!(load(&store, &updated).await.as_deref(), Some(&b"after"[..]));
    }

    async fn clear_expired_removes_what_expired_and_nothing_else(store) {
        let (expired, live) = (store.new_key(), store.new_key());
        store.create(&expired, b"old", None, Duration::from_millis(1)).await.unwrap();
        store.create(&live, b"live", None, HOUR).await.unwrap();
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;

        let outcome = store.clear_expired(ClearRun::DEFAULT).await.unwrap();

        match outcome {
            ClearOutcome::Removed(removed) => assert_eq!(removed, 1),
            // The storage expires entries itself.
            ClearOutcome::NothingToClear(why) => assert!(why.contains("time to live"), "{why}"),
        }
        assert_eq!(store.count().await.unwrap(), 1);
        assert_eq!(load(&store, &live).await.as_deref(), Some(&b"live"[..]));
    }

    async fn clear_expired_works_in_batches_and_reports_its_progress(store) {
        for _ in 0..5 {
            store.create(&store.new_key(), b"old", None, Duration::from_millis(1)).await.unwrap();
        }
        actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
        let reported = std::sync::Mutex::new(Vec::new());
        let progress = |total| reported.lock().unwrap().push(total);

        let outcome = store
            .clear_expired(ClearRun { batch_size: 2, progress: &progress })
            .await
            .unwrap();

        let reported = reported.into_inner().unwrap();
        if let ClearOutcome::Removed(removed) = outcome {
            assert_eq!(removed, 5);
            assert_eq!(reported.last(), Some(&5), "{reported:?}");
            assert!(reported.is_sorted(), "{reported:?}");
        } else {
            assert!(reported.is_empty());
        }
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
        store.create(&expired, b"old", Some(1), Duration::from_millis(1)).await.unwrap();
        store.create(&live, b"live", Some(1), HOUR).await.unwrap();
        actix_web::rt::time::sleep(Duration::from_millis(1100)).await;

        let outcome = store.clear_expired(ClearRun::DEFAULT).await.unwrap();
        let keys = store.keys_of(1).await.unwrap();

        assert!(keys.contains(&live));
        if matches!(outcome, ClearOutcome::Removed(_)) {
            assert!(!keys.contains(&expired), "{keys:?}");
        }
    }
}

/// A backend under test, with what it made for the test (removed when the test ends).
pub struct TestStore {
    backend: Backend,
    /// The shortest time to live this backend keeps at least that long: the file engine
    /// stores expiry in whole seconds.
    shortest_reliable_ttl: Duration,
    /// The keys this backend is given: Django's, for the engines on Django's formats.
    keys: KeyFormat,
    _resources: TestResources,
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

    fn db_sqlite(_test: &str) -> Option<Self> {
        Some(Self::build(|resources| {
            Backend::Db(db(resources, TestDatabase::Sqlite))
        }))
    }

    fn db_postgres(test: &str) -> Option<Self> {
        postgres_available(test)
            .then(|| Self::build(|resources| Backend::Db(db(resources, TestDatabase::Postgres))))
    }

    fn cache_memory(_test: &str) -> Option<Self> {
        Some(Self::build(|_| Backend::Cache(memory_cache())))
    }

    fn cache_redis(test: &str) -> Option<Self> {
        redis_available(test)
            .then(|| Self::build(|resources| Backend::Cache(redis_cache(resources))))
    }

    fn cached_db_memory_sqlite(_test: &str) -> Option<Self> {
        Some(Self::build(|resources| {
            let db = db(resources, TestDatabase::Sqlite);
            Backend::CachedDb(CachedDb::over_database(memory_cache(), db))
        }))
    }

    fn cached_db_redis_sqlite(test: &str) -> Option<Self> {
        redis_available(test).then(|| {
            Self::build(|resources| {
                let db = db(resources, TestDatabase::Sqlite);
                Backend::CachedDb(CachedDb::over_database(redis_cache(resources), db))
            })
        })
    }

    fn cached_db_redis_postgres(test: &str) -> Option<Self> {
        (redis_available(test) && postgres_available(test)).then(|| {
            Self::build(|resources| {
                let db = db(resources, TestDatabase::Postgres);
                Backend::CachedDb(CachedDb::over_database(redis_cache(resources), db))
            })
        })
    }

    fn file(_test: &str) -> Option<Self> {
        let mut store = Self::build(|resources| {
            Backend::File(
                FileSessions::new(
                    resources.folder("sessions"),
                    "sessionid",
                    FileFormat::Native,
                )
                .unwrap(),
            )
        });
        store.shortest_reliable_ttl = Duration::from_secs(2);
        Some(store)
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
            shortest_reliable_ttl: Duration::from_secs(2),
            keys: KeyFormat::Django,
            ..Self::build(backend)
        }
    }

    fn build(backend: impl FnOnce(&mut TestResources) -> Backend) -> Self {
        let mut resources = TestResources::new();
        Self {
            backend: backend(&mut resources),
            shortest_reliable_ttl: Duration::from_millis(500),
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

fn memory_cache() -> CacheSessions {
    CacheSessions::new(Cache::Memory(MemoryCache::new(
        CacheBackend::DEFAULT_MAX_ENTRIES,
        format!("sessions-test-{}:", support::random_string(12)),
    )))
}

/// The cache engine on the test Redis, under a key prefix of the test's own.
fn redis_cache(resources: &mut TestResources) -> CacheSessions {
    let url = redis_url().expect("checked by redis_available");
    let key_prefix = resources.redis_key_prefix();
    let settings = CacheSettings {
        alias: "default".into(),
        backend: CacheBackend::Redis { url },
        key_prefix,
        tls_ca: None,
    };
    CacheSessions::new(Cache::new(&settings).expect("a usable Redis URL"))
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
