//! The application under test: started per test on a random port with its own database,
//! secret, sessions folder and Redis key prefix, and cleaned up when the test ends.

use actix_web::cookie::{Cookie, CookieJar};
use diesel::{Connection as _, RunQueryDsl, connection::SimpleConnection};
use guestbook::{
    db::Connection,
    sessions::SessionEngine,
    settings::{
        CacheBackend, PasswordHashParams, SecretKey, SessionEngineKind, SessionSerializer, Settings,
    },
    startup::Application,
    state::AppState,
};
use tempfile::TempDir;

use super::{
    Browser, create_postgres_schema, delete_redis_keys, drop_postgres_schema, on_test_redis,
    postgres_available, random_string, redis_available, redis_url,
};

pub const PASSWORD: &str = "correct horse battery";

/// A session engine with a serializer, on a database: one column of the conformance suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flavor {
    pub engine: Engine,
    pub serializer: SessionSerializer,
    pub database: TestDatabase,
}

/// Where the test's data lives: a fresh SQLite file, or a fresh PostgreSQL database created
/// on the server `TEST_DATABASE_URL` names and dropped afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestDatabase {
    Sqlite,
    Postgres,
}

/// The session engines, with the cache each cache-backed one sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Db,
    CacheMemory,
    CacheRedis,
    CachedDbMemory,
    CachedDbRedis,
    File,
    SignedCookies,
}

impl Engine {
    pub fn kind(self) -> SessionEngineKind {
        match self {
            Self::Db => SessionEngineKind::Db,
            Self::CacheMemory | Self::CacheRedis => SessionEngineKind::Cache,
            Self::CachedDbMemory | Self::CachedDbRedis => SessionEngineKind::CachedDb,
            Self::File => SessionEngineKind::File,
            Self::SignedCookies => SessionEngineKind::SignedCookies,
        }
    }

    fn uses_redis(self) -> bool {
        matches!(self, Self::CacheRedis | Self::CachedDbRedis)
    }
}

impl Flavor {
    /// What every test outside the conformance suite runs on: the database engine with JSON,
    /// on SQLite.
    pub const DEFAULT: Self = Self {
        engine: Engine::Db,
        serializer: SessionSerializer::Json,
        database: TestDatabase::Sqlite,
    };

    /// The default engine on PostgreSQL.
    pub const POSTGRES: Self = Self {
        database: TestDatabase::Postgres,
        ..Self::DEFAULT
    };

    /// The default engine on each database whose server is there (SQLite always); a missing
    /// one is reported as [`Flavor::services_available`] does.
    pub fn on_each_database(test: &str) -> Vec<Self> {
        [Self::DEFAULT, Self::POSTGRES]
            .into_iter()
            .filter(|flavor| flavor.services_available(test))
            .collect()
    }

    /// Whether the services this flavor needs answer: without them the test is skipped with
    /// a printed reason, except under CI (`CI=true`), where that is a failure.
    pub fn services_available(self, test: &str) -> bool {
        (!self.engine.uses_redis() || redis_available(test))
            && (self.database != TestDatabase::Postgres || postgres_available(test))
    }

    pub async fn spawn_app(self) -> TestApp {
        self.spawn_app_with(|_| {}).await
    }

    /// Starts the app under this flavor, with the settings adjusted first.
    pub async fn spawn_app_with(self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        // Quiet unless asked: hundreds of servers start in one run.
        guestbook::logging::init_for_tests("warn");
        let mut settings = Settings::from_lookup(|_| None).expect("default settings");
        let mut resources = TestResources::new();
        settings.database.url = resources.database_url(self.database);
        settings.bind_addr = "127.0.0.1:0".parse().unwrap();
        settings.security.secret_key = Some(SecretKey::new(random_string(50)).unwrap());
        settings.security.password_hash = PasswordHashParams::FAST_FOR_TESTS;
        settings.session.engine = self.engine.kind();
        settings.session.serializer = self.serializer;
        if self.engine.uses_redis() {
            settings.session_cache.backend = CacheBackend::Redis {
                url: redis_url().expect("checked by services_available"),
            };
        }
        // CACHE_KEY_PREFIX: every cache of the app.
        let prefix = TestResources::redis_key_prefix();
        settings.session_cache.key_prefix.clone_from(&prefix);
        settings.cache.key_prefix = prefix;
        settings.session.file_path = resources.folder("sessions");
        // Tests post right after reading the form, as no person could: the spam trap's form
        // stamp is not checked unless a test asks (tests/api/spam.rs). The honeypot still is.
        settings.comments.min_seconds = std::time::Duration::ZERO;
        adjust(&mut settings);
        for cache in [&settings.cache, &settings.session_cache] {
            if let CacheBackend::Redis { url } = &cache.backend {
                resources.clean_redis_keys(url, &cache.key_prefix);
            }
        }

        let app = Application::build(settings, true).expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let state = app.state().clone();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            address,
            metrics_address,
            state,
            flavor: self,
            _resources: resources,
        }
    }
}

/// Clients are told apart by `X-Forwarded-For`, from the tests' own proxy (loopback).
pub fn behind_a_proxy(s: &mut Settings) {
    s.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// The default flavor's app.
pub async fn spawn_app() -> TestApp {
    Flavor::DEFAULT.spawn_app().await
}

/// The default flavor's app, with the settings adjusted first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    Flavor::DEFAULT.spawn_app_with(adjust).await
}

/// A running app of its own.
pub struct TestApp {
    pub address: String,
    /// Where `/metrics` is served, when the test set `METRICS_ADDR`.
    pub metrics_address: Option<String>,
    pub state: AppState,
    pub flavor: Flavor,
    _resources: TestResources,
}

/// What a test made outside its process (a folder, a PostgreSQL database, Redis keys),
/// removed when the test ends, passed or not.
pub struct TestResources {
    postgres_schema: Option<String>,
    /// The Redis URL and the key prefix written under, when that is the test Redis itself (an
    /// app reaching it through a test's proxy cleans up in the test).
    redis_keys: Vec<(String, String)>,
    /// Holds the SQLite file, the secret key file and the sessions folder.
    dir: TempDir,
}

impl TestResources {
    pub fn new() -> Self {
        Self {
            postgres_schema: None,
            redis_keys: Vec::new(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A fresh, empty database: a SQLite file in the folder, or a PostgreSQL database created
    /// for the test.
    pub fn database_url(&mut self, database: TestDatabase) -> String {
        match database {
            TestDatabase::Sqlite => {
                let path = self.dir.path().join("db.sqlite3");
                path.to_string_lossy().into_owned()
            }
            TestDatabase::Postgres => {
                let url = create_postgres_schema();
                self.postgres_schema = Some(url.clone());
                url
            }
        }
    }

    /// An empty folder of the test's own.
    pub fn folder(&self, name: &str) -> std::path::PathBuf {
        let folder = self.dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    /// A Redis key prefix of the test's own, so tests sharing a Redis never see each other's
    /// keys.
    pub fn redis_key_prefix() -> String {
        format!("guestbook-test-{}:", random_string(12))
    }

    /// Deletes the keys under `prefix` from the Redis at `url` when the test ends.
    pub fn clean_redis_keys(&mut self, url: &str, prefix: &str) {
        if on_test_redis(url) {
            self.redis_keys.push((url.to_owned(), prefix.to_owned()));
        }
    }
}

impl Drop for TestResources {
    fn drop(&mut self) {
        if let Some(url) = &self.postgres_schema {
            drop_postgres_schema(url);
        }
        for (url, prefix) in &self.redis_keys {
            // Best effort: a failing test should report its own failure, not this one.
            let _ = delete_redis_keys(url, prefix);
        }
    }
}

impl TestApp {
    /// The app's `SECRET_KEY`, for a command run against its data.
    pub fn secret_key(&self) -> String {
        let key = self.state.settings.security.secret_key.as_ref();
        String::from_utf8(key.expect("tests set a key").as_bytes().to_vec())
            .expect("tests make text keys")
    }

    /// A new visitor with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::at(&self.address)
    }

    /// A direct connection to the app's database, for arranging and inspecting.
    pub fn db(&self) -> Connection {
        let mut conn =
            Connection::establish(&self.state.settings.database.url).expect("test db connection");
        if let Connection::Sqlite(sqlite) = &mut conn {
            sqlite.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
        }
        conn
    }

    /// Stores comments 1 to `count` (ids 1 to `count` on a fresh database) with plain SQL, each
    /// from a visitor of its own, with the body `body(n)`.
    pub fn insert_comments(&self, count: usize, body: impl Fn(usize) -> String) {
        use diesel::connection::SimpleConnection;
        let mut conn = self.db();
        for n in 1..=count {
            conn.batch_execute(&format!(
                "INSERT INTO comments (body, member_id, visitor_id, created_at) \
                 VALUES ('{}', NULL, 'visitor-{n}', '2026-01-01 00:00:00')",
                body(n)
            ))
            .unwrap();
        }
    }

    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(&mut self.db())
            .unwrap()
            .n
    }

    /// How many sessions the engine stores; `None` where it stores nothing (signed cookies).
    pub async fn stored_sessions(&self) -> Option<u64> {
        self.state
            .sessions
            .stored_count()
            .await
            .expect("session storage answers")
    }

    /// Asserts the engine stores `expected` sessions, where it stores sessions at all (Django's
    /// own suite marks these checks not applicable to signed cookies).
    pub async fn assert_stored_sessions(&self, expected: u64) {
        if let Some(stored) = self.stored_sessions().await {
            assert_eq!(stored, expected, "stored sessions ({:?})", self.flavor);
        }
    }

    /// Whether a session can be ended on the server, so that a copied cookie stops working
    /// (not with signed cookies).
    pub fn revocable(&self) -> bool {
        !matches!(
            self.state.sessions.get_ref(),
            SessionEngine::SignedCookies(_)
        )
    }

    /// Creates a member with [`PASSWORD`] (as `guestbook createmember` does: no session).
    pub async fn create_member(&self, username: &str) {
        self.state
            .accounts
            .create_member(username.to_owned(), PASSWORD.to_owned(), false)
            .await
            .unwrap_or_else(|e| panic!("member {username} not created: {e}"));
    }

    /// A `sessionid` cookie value holding `value`, signed as the app signs its own: what a
    /// client could only send by knowing the key.
    /// Runs `a` and `b` (two requests changing one member's credentials) so that they really
    /// overlap: each is held after it has read the member and before its conditional write,
    /// and both are released once both are there. Fails, rather than hangs, when one never
    /// gets there.
    pub async fn at_the_credential_write<A: std::future::Future, B: std::future::Future>(
        &self,
        a: A,
        b: B,
    ) -> (A::Output, B::Output) {
        let hold = self.state.accounts.hold_credential_writes();
        let release = async move {
            tokio::time::timeout(std::time::Duration::from_secs(60), hold.reached_by(2))
                .await
                .expect("both requests reached the credential write");
            hold.release();
        };
        let (a, b, ()) = futures_util::join!(a, b, release);
        (a, b)
    }

    pub fn signed_session_cookie(&self, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(self.state.session_cookie.current_key())
            .add(Cookie::new("sessionid", value.to_owned()));
        jar.get("sessionid").unwrap().value().to_owned()
    }
}

/// Runs the `guestbook` binary against `app`'s database, feeding `stdin`.
pub fn run_cli(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    run_cli_with_env(
        args,
        stdin,
        &[("DATABASE_URL", &app.state.settings.database.url)],
    )
}

/// Runs the `guestbook` binary with `env` on top of cheap password hashing, feeding `stdin`.
pub fn run_cli_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> std::process::Output {
    use std::io::Write;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_guestbook"));
    command
        .args(args)
        .env_remove("SECRET_KEY")
        .env_remove("SESSION_ENGINE")
        .env("RUST_LOG", "warn")
        .env("PASSWORD_ARGON2_MEMORY_KIB", "8")
        .env("PASSWORD_ARGON2_ITERATIONS", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("guestbook binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// What several instances of one site share: a SQLite file, a secret key and, when asked
/// for, a Redis key prefix on the test Redis (all removed when the test ends).
pub struct SharedSite {
    pub database: String,
    pub secret: SecretKey,
    pub redis_prefix: String,
    resources: TestResources,
}

impl SharedSite {
    pub fn new() -> Self {
        let resources = TestResources::new();
        let database = resources.folder("shared").join("db.sqlite3");
        Self {
            database: database.to_string_lossy().into_owned(),
            secret: SecretKey::new(random_string(50)).unwrap(),
            redis_prefix: TestResources::redis_key_prefix(),
            resources,
        }
    }

    /// Points `settings` at the shared database and secret key.
    pub fn share(&self, settings: &mut Settings) {
        settings.database.url.clone_from(&self.database);
        settings.security.secret_key = Some(self.secret.clone());
    }

    /// The test Redis under the shared prefix, as a cache backend; its keys are deleted when
    /// the test ends. Call only when `redis_available`.
    pub fn redis(&mut self) -> CacheBackend {
        let url = redis_url().expect("checked by redis_available");
        self.resources.clean_redis_keys(&url, &self.redis_prefix);
        CacheBackend::Redis { url }
    }
}
