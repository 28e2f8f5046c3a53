//! Each session engine's `load` of an existing session and `update` (the save of a changed
//! session) of a typical logged-in member's session, through the `SessionStore` calls
//! actix-session's middleware makes (so the JSON serializer is included), with
//! [`OTHER_SESSIONS`] other sessions stored beside it.
//!
//! Run with `cargo bench --bench session_engines`. The PostgreSQL and Redis engines run when
//! `TEST_DATABASE_URL` and `REDIS_URL` name one (each gets a schema or key prefix of its own,
//! removed afterwards); otherwise a line says they were skipped.

mod common;

use std::{
    future::Future,
    hint::black_box,
    path::PathBuf,
    time::{Duration, Instant},
};

use actix_session::storage::{SessionKey, SessionStore};
use actix_session_engines::{
    Backend, SessionEngine, SessionSerializer, SessionSettings, SessionState,
    caches::{Cache, CacheBackend, CacheSettings, MemoryCache},
    database::{Database, DatabaseSettings},
    keys::KeyFormat,
    serializer::SessionCodec,
    signing::{SecretKey, Signer},
    stores::{
        cache::CacheSessions,
        cached_db::CachedDb,
        db::DbSessions,
        file::{FileFormat, FileSessions},
        signed_cookies::SignedCookieSessions,
    },
};
use actix_web::cookie::time::Duration as CookieDuration;
use common::fields;
use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use diesel::{Connection as _, PgConnection, connection::SimpleConnection as _};
use futures_util::{StreamExt as _, stream};
use tokio::runtime::Runtime;

/// Sessions stored besides the one measured: a site with a few thousand visitors a fortnight.
const OTHER_SESSIONS: usize = 10_000;
/// Saves in flight while storing them (the SQLite writer queues at most 1,024).
const SEED_CONCURRENCY: usize = 32;
/// Django's default `SESSION_COOKIE_AGE`.
const TTL: CookieDuration = CookieDuration::weeks(2);

/// An engine under test and what it needs kept until its benches end (fields drop in order:
/// the engine, with its connections, before its storage is removed).
struct Subject {
    engine: SessionEngine,
    /// Whether it stores sessions on the server, and so gets [`OTHER_SESSIONS`] beside ours.
    server_side: bool,
    _resources: Resources,
}

/// Storage made for one engine, removed when dropped.
#[derive(Default)]
struct Resources {
    dir: Option<tempfile::TempDir>,
    schema: Option<PostgresSchema>,
    redis_keys: Option<RedisKeys>,
}

impl Resources {
    /// A new folder inside this engine's temporary folder.
    fn folder(&mut self, name: &str) -> PathBuf {
        let dir = self
            .dir
            .get_or_insert_with(|| tempfile::tempdir().expect("a temporary folder"));
        let folder = dir.path().join(name);
        std::fs::create_dir_all(&folder).expect("a folder inside it");
        folder
    }
}

/// How an engine is built, or why it cannot be here.
type Build = fn(&mut Resources) -> Result<Backend, String>;

fn engines(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server_side: [(&str, Build); 7] = [
        ("db_sqlite", |r| Ok(Backend::Db(DbSessions::new(sqlite(r))))),
        ("db_postgres", |r| {
            Ok(Backend::Db(DbSessions::new(postgres(r)?)))
        }),
        ("cache_memory", |_| Ok(Backend::Cache(memory_cache()))),
        ("cache_redis", |r| Ok(Backend::Cache(redis_cache(r)?))),
        ("cached_db_memory_sqlite", |r| {
            Ok(Backend::CachedDb(CachedDb::over_database(
                memory_cache(),
                DbSessions::new(sqlite(r)),
            )))
        }),
        ("cached_db_redis_postgres", |r| {
            let cache = redis_cache(r)?;
            Ok(Backend::CachedDb(CachedDb::over_database(
                cache,
                DbSessions::new(postgres(r)?),
            )))
        }),
        ("file", |r| {
            let dir = r.folder("sessions");
            Ok(Backend::File(
                FileSessions::new(dir, "sessionid", FileFormat::Native).expect("a writable folder"),
            ))
        }),
    ];
    for (name, build) in server_side {
        // Built inside the runtime: a Redis cache may spawn its connection tasks when made.
        let built = {
            let _in_runtime = rt.enter();
            let mut resources = Resources::default();
            build(&mut resources).map(|backend| Subject {
                engine: SessionEngine::ServerSide {
                    backend,
                    codec: SessionCodec::Native(SessionSerializer::Json),
                    keys: KeyFormat::Native,
                    user_key: fields::MEMBER_ID.into(),
                },
                server_side: true,
                _resources: resources,
            })
        };
        match built {
            Ok(subject) => bench_engine(c, &rt, name, &subject),
            Err(why) => println!("skipped engine/{name}: {why}"),
        }
    }
    bench_engine(c, &rt, "signed_cookies", &signed_cookies());
}

/// Benches `load` and `update` of a member's session in `subject`, once the other sessions
/// are stored.
fn bench_engine(c: &mut Criterion, rt: &Runtime, name: &str, subject: &Subject) {
    let engine = &subject.engine;
    let state = common::member_session();
    let key = rt.block_on(async {
        if subject.server_side {
            let started = Instant::now();
            store_other_sessions(engine).await;
            println!(
                "engine/{name}: stored {OTHER_SESSIONS} other sessions in {:.1?}",
                started.elapsed()
            );
        }
        engine.save(state.clone(), &TTL).await.expect("saved")
    });
    let (key, state) = (&key, &state);
    let mut group = c.benchmark_group(format!("engine/{name}"));
    group.bench_function("load", |b| {
        timed(
            b,
            rt,
            || (),
            |()| async move {
                let loaded = engine.load(key).await.expect("loaded");
                black_box(loaded.expect("the session is there"));
            },
        );
    });
    group.bench_function("update", |b| {
        timed(
            b,
            rt,
            || (same_key(key), state.clone()),
            |(key, state)| async move {
                black_box(engine.update(key, state, &TTL).await.expect("updated"));
            },
        );
    });
    group.finish();
}

/// A copy of `key` (actix-session's keys are not `Clone`).
fn same_key(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).expect("a key it made")
}

/// Times `iters` runs of `op`, one after another on `rt`, each given a fresh `input` made
/// before the clock starts (the store calls take their key and state by value).
fn timed<I, Op, Fut>(b: &mut Bencher, rt: &Runtime, input: impl Fn() -> I, op: Op)
where
    Op: Fn(I) -> Fut,
    Fut: Future<Output = ()>,
{
    b.iter_custom(|iters| {
        let inputs: Vec<I> = (0..iters).map(|_| input()).collect();
        rt.block_on(async {
            let started = Instant::now();
            for input in inputs {
                op(input).await;
            }
            started.elapsed()
        })
    });
}

/// Half of them members' sessions (each a different member, so each member index holds
/// one), half anonymous visitors who commented.
async fn store_other_sessions(engine: &SessionEngine) {
    let member = common::member_session();
    let mut anonymous = member.clone();
    for key in [
        fields::MEMBER_ID,
        fields::AUTH_USER_HASH,
        fields::SESSION_INFO,
    ] {
        anonymous.remove(key);
    }
    let state = |i: usize| -> SessionState {
        if i % 2 == 1 {
            return anonymous.clone();
        }
        let mut state = member.clone();
        state.insert(fields::MEMBER_ID.into(), (1_000 + i).to_string());
        state
    };
    stream::iter(0..OTHER_SESSIONS)
        .map(|i| engine.save(state(i), &TTL))
        .buffer_unordered(SEED_CONCURRENCY)
        .for_each(|saved| {
            saved.expect("an other session saved");
            async {}
        })
        .await;
}

fn signed_cookies() -> Subject {
    let settings = SessionSettings::default();
    let key = SecretKey::new(vec![0x5a; 50]).expect("a long enough key");
    let engine = SignedCookieSessions::new(
        Signer::new(key, Vec::new()),
        SessionSerializer::Json,
        &settings,
    );
    Subject {
        engine: SessionEngine::SignedCookies(engine),
        server_side: false,
        _resources: Resources::default(),
    }
}

/// A SQLite database with the session tables, in this engine's temporary folder.
fn sqlite(resources: &mut Resources) -> Database {
    let path = resources.folder("sqlite").join("db.sqlite3");
    connect(path.to_string_lossy().into_owned())
}

/// A PostgreSQL schema with the session tables, of this engine's own on `TEST_DATABASE_URL`.
fn postgres(resources: &mut Resources) -> Result<Database, String> {
    let admin_url = service_url(
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )?;
    let schema = PostgresSchema::create(admin_url)?;
    let url = schema.url();
    resources.schema = Some(schema);
    Ok(connect(url))
}

/// As the application connects by default (pool of 4 for two cores, 5 s deadline).
fn connect(url: String) -> Database {
    let db = Database::connect(&DatabaseSettings {
        url,
        pool_size: 4,
        pool_timeout: Duration::from_secs(5),
        blocking_threads_per_worker: 1,
    })
    .expect("the database opens");
    db.create_session_tables().expect("the tables are made");
    db
}

fn memory_cache() -> CacheSessions {
    CacheSessions::new(Cache::Memory(MemoryCache::new(
        CacheBackend::DEFAULT_MAX_ENTRIES,
        "bench:".into(),
    )))
}

/// The cache on `REDIS_URL`, under a key prefix of this engine's own.
fn redis_cache(resources: &mut Resources) -> Result<CacheSessions, String> {
    let url = service_url("REDIS_URL", "redis://127.0.0.1:6379/")?;
    let key_prefix = format!("guestbook-bench-{:016x}:", rand::random::<u64>());
    let settings = CacheSettings {
        alias: "default".into(),
        backend: CacheBackend::Redis { url: url.clone() },
        key_prefix: key_prefix.clone(),
        tls_ca: None,
    };
    let cache = Cache::new(&settings).map_err(|e| format!("REDIS_URL cannot be used: {e}"))?;
    resources.redis_keys = Some(RedisKeys { url, key_prefix });
    Ok(CacheSessions::new(cache))
}

/// The value of `variable`, or why the engine that needs it is skipped.
fn service_url(variable: &str, example: &str) -> Result<String, String> {
    std::env::var(variable)
        .ok()
        .filter(|url| !url.is_empty())
        .ok_or_else(|| format!("{variable} is not set (e.g. {variable}={example})"))
}

/// A PostgreSQL schema made for one engine, dropped with everything in it afterwards.
struct PostgresSchema {
    admin_url: String,
    name: String,
}

impl PostgresSchema {
    fn create(admin_url: String) -> Result<Self, String> {
        let name = format!("guestbook_bench_{:016x}", rand::random::<u64>());
        PgConnection::establish(&admin_url)
            .map_err(|e| format!("TEST_DATABASE_URL does not answer: {e}"))?
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .map_err(|e| format!("cannot create a schema on TEST_DATABASE_URL: {e}"))?;
        Ok(Self { admin_url, name })
    }

    /// A URL whose connections work in this schema (libpq's `options` sets `search_path`).
    fn url(&self) -> String {
        let separator = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let (admin_url, name) = (&self.admin_url, &self.name);
        format!("{admin_url}{separator}options=-csearch_path%3D{name}")
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// Redis keys under a prefix made for one engine, deleted afterwards.
struct RedisKeys {
    url: String,
    key_prefix: String,
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
        else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.key_prefix))
            .query(&mut conn)
            .unwrap_or_default();
        for chunk in keys.chunks(1_000) {
            let _ = redis::cmd("DEL").arg(chunk).exec(&mut conn);
        }
    }
}

criterion_group! {
    name = benches;
    config = common::short_runs();
    targets = engines
}
criterion_main!(benches);
