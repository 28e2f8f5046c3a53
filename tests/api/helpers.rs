//! Starts the real application on a random port with a fresh database, and drives it like a
//! browser: a cookie jar, no redirects followed, the CSRF token read from the last page.

use std::{collections::BTreeMap, time::Duration};

use actix_web::{
    cookie::Cookie,
    http::{StatusCode, header::HeaderMap},
    web,
};
use diesel::{Connection as _, RunQueryDsl, connection::SimpleConnection};
use guestbook::db::Connection;
use guestbook::{
    security::passwords::PasswordHashParams,
    sessions::{Backend, SessionEngine},
    settings::{CacheBackend, SecretKey, SerializerKind, SessionEngineKind, Settings},
    startup::{AppState, Application},
};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

/// A running app of its own: own temp folder, own SQLite file, own secret.
pub struct TestApp {
    pub address: String,
    pub state: web::Data<AppState>,
    /// Kept so the folder (and the database in it) lives as long as the app.
    _dir: TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with the settings adjusted first. The session engine and serializer
/// are the current test's [`Flavor`] (the database engine with JSON outside the conformance
/// suite).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    // Quiet unless asked: hundreds of servers start in one run.
    guestbook::logging::init_with_default("warn");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::from_lookup(|_| None).expect("default settings");
    settings.database_url = dir.path().join("db.sqlite3").to_string_lossy().into_owned();
    settings.bind_addr = "127.0.0.1:0".parse().unwrap();
    settings.secret_key = Some(SecretKey::new(random_string(50)).unwrap());
    settings.password_hash = PasswordHashParams::FAST_FOR_TESTS;
    current_flavor().configure(&mut settings, dir.path());
    adjust(&mut settings);
    let app = Application::build(settings, true).expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    SPAWNED.with(|spawned| spawned.borrow_mut().push(state.clone()));
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        state,
        _dir: dir,
    }
}

/// A session engine with a serializer: one column of the conformance suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flavor {
    pub engine: Engine,
    pub serializer: SerializerKind,
    pub database: TestDatabase,
}

/// Where the test's data lives: a fresh SQLite file, or a fresh PostgreSQL database created
/// on the server `TEST_DATABASE_URL` names and dropped afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestDatabase {
    Sqlite,
    Postgres,
}

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

impl Flavor {
    pub const DEFAULT: Self = Self {
        engine: Engine::Db,
        serializer: SerializerKind::Json,
        database: TestDatabase::Sqlite,
    };

    fn uses_redis(self) -> bool {
        matches!(self.engine, Engine::CacheRedis | Engine::CachedDbRedis)
    }

    fn configure(self, settings: &mut Settings, dir: &std::path::Path) {
        if self.database == TestDatabase::Postgres {
            settings.database_url = create_postgres_database();
        }
        settings.session.serializer = self.serializer;
        settings.session.engine = match self.engine {
            Engine::Db => SessionEngineKind::Db,
            Engine::CacheMemory | Engine::CacheRedis => SessionEngineKind::Cache,
            Engine::CachedDbMemory | Engine::CachedDbRedis => SessionEngineKind::CachedDb,
            Engine::File => SessionEngineKind::File,
            Engine::SignedCookies => SessionEngineKind::SignedCookies,
        };
        if self.uses_redis() {
            settings.session_cache.backend = CacheBackend::Redis {
                url: redis_url().expect("checked by with_flavor"),
            };
        }
        // Each test its own keys, so tests sharing a Redis never see each other's sessions.
        settings.session_cache.key_prefix = format!("guestbook-test-{}:", random_string(12));
        let sessions_dir = dir.join("sessions");
        std::fs::create_dir_all(&sessions_dir).unwrap();
        settings.session.file_path = sessions_dir;
    }
}

thread_local! {
    static FLAVOR: std::cell::Cell<Flavor> = const { std::cell::Cell::new(Flavor::DEFAULT) };
    static SPAWNED: std::cell::RefCell<Vec<web::Data<AppState>>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub fn current_flavor() -> Flavor {
    FLAVOR.with(std::cell::Cell::get)
}

/// `TEST_DATABASE_URL`, the PostgreSQL server the tests may create databases on.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether a test that needs PostgreSQL can run (as [`redis_available`]).
pub fn postgres_available(test: &str) -> bool {
    if postgres_url().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: TEST_DATABASE_URL is not set, and CI=true requires PostgreSQL"
    );
    eprintln!(
        "skipped {test}: set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it"
    );
    false
}

/// `TEST_DATABASE_URL` with its database name replaced by `name`.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let server = match base.rfind('/') {
        Some(slash) if slash > base.find("://").map_or(0, |s| s + 2) => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Creates an empty database for one test and returns its URL.
pub fn create_postgres_database() -> String {
    let admin_url = postgres_url().expect("checked by with_flavor");
    let name = format!("guestbook_test_{}", random_string(16).to_ascii_lowercase());
    let mut admin = diesel::PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL answers");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    with_database_name(&admin_url, &name)
}

/// Drops a database [`create_postgres_database`] made, whoever is still connected.
pub fn drop_postgres_database(url: &str) {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let Some(name) = url
        .rsplit('/')
        .next()
        .map(|n| n.split('?').next().unwrap_or(n))
    else {
        return;
    };
    if !name.starts_with("guestbook_test_") {
        return;
    }
    if let Ok(mut admin) = diesel::PgConnection::establish(&admin_url) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// `REDIS_URL`, the Redis the tests may use.
pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether a test that needs Redis can run: without `REDIS_URL` it is skipped with a printed
/// reason, except under CI (`CI=true`), where a missing service is a failure.
pub fn redis_available(test: &str) -> bool {
    if redis_url().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: REDIS_URL is not set, and CI=true requires Redis"
    );
    eprintln!("skipped {test}: set REDIS_URL (e.g. redis://127.0.0.1:6379/) to run it");
    false
}

/// Deletes the keys starting with `prefix` from the Redis at `url`; how many there were.
pub fn delete_redis_keys(url: &str, prefix: &str) -> usize {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("Redis answers");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
    }
    keys.len()
}

/// Runs one conformance test under `flavor`, then removes what it left in Redis.
pub async fn with_flavor(flavor: Flavor, test: &str, body: impl std::future::Future<Output = ()>) {
    if flavor.uses_redis() && !redis_available(test) {
        return;
    }
    if flavor.database == TestDatabase::Postgres && !postgres_available(test) {
        return;
    }
    FLAVOR.with(|f| f.set(flavor));
    body.await;
    let spawned = SPAWNED.with(|spawned| std::mem::take(&mut *spawned.borrow_mut()));
    for state in spawned {
        if flavor.database == TestDatabase::Postgres {
            drop_postgres_database(&state.settings.database_url);
        }
        if flavor.uses_redis()
            && let Some(SessionEngine::ServerSide { backend, .. }) = &state.sessions
        {
            let _ = match backend {
                Backend::Cache(cache) => cache.delete_all().await,
                Backend::CachedDb(cached) => cached.cache().delete_all().await,
                _ => Ok(0),
            };
        }
    }
}

pub fn random_string(len: usize) -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

impl TestApp {
    /// A new visitor with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::at(&self.address)
    }

    /// A direct connection to the app's database, for arranging and inspecting.
    pub fn db(&self) -> Connection {
        let url = self.state.settings.database_url.clone();
        let mut conn = Connection::establish(&url).expect("test db connection");
        if let Connection::Sqlite(sqlite) = &mut conn {
            sqlite.batch_execute("PRAGMA busy_timeout = 5000").unwrap();
        }
        conn
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
        let engine = self.state.sessions.as_ref()?;
        engine
            .stored_count(&self.state.db)
            .await
            .expect("session storage answers")
    }

    /// Asserts the engine stores `expected` sessions, where it stores sessions at all (Django's
    /// own suite marks these checks not applicable to signed cookies).
    pub async fn assert_stored_sessions(&self, expected: u64) {
        if let Some(stored) = self.stored_sessions().await {
            assert_eq!(stored, expected, "stored sessions ({:?})", current_flavor());
        }
    }

    /// Whether a session can be ended on the server, so that a copied cookie stops working
    /// (not with signed cookies).
    pub fn revocable(&self) -> bool {
        !matches!(self.state.sessions, Some(SessionEngine::SignedCookies(_)))
    }

    /// Creates a member with [`PASSWORD`] (as `guestbook createmember` does: no session).
    pub async fn create_member(&self, username: &str) {
        guestbook::members::create_member(&self.state, username.to_owned(), PASSWORD.to_owned())
            .await
            .unwrap_or_else(|e| panic!("member {username} not created: {e}"));
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    pub set_cookies: Vec<Cookie<'static>>,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookie(&self, name: &str) -> Option<&Cookie<'static>> {
        self.set_cookies.iter().find(|c| c.name() == name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The CSRF token of the page's form, if it has one.
    pub fn csrf_token(&self) -> Option<String> {
        let marker = r#"name="csrf_token" value=""#;
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }

    pub fn meta_csrf_token(&self) -> Option<String> {
        let marker = r#"<meta name="csrf-token" content=""#;
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }
}

/// A visitor: a cookie jar and the last CSRF token seen.
pub struct Browser {
    pub address: String,
    client: awc::Client,
    pub cookies: BTreeMap<String, String>,
    /// The last form token seen, with the `csrftoken` cookie it was issued for.
    last_csrf: Option<(String, Option<String>)>,
}

impl Browser {
    /// A new visitor of the site at `address`, with an empty cookie jar.
    pub fn at(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            client: awc::Client::builder()
                .disable_redirects()
                .timeout(Duration::from_secs(30))
                .finish(),
            cookies: BTreeMap::new(),
            last_csrf: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.client.get(format!("{}{path}", self.address));
        for &(name, value) in headers {
            req = req.insert_header((name, value));
        }
        let page = self.send(req, None).await;
        if let Some(token) = page.csrf_token().or_else(|| page.meta_csrf_token()) {
            self.last_csrf = Some((token, self.cookies.get("csrftoken").cloned()));
        }
        page
    }

    /// Posts `fields` form-encoded, adding the CSRF token of the last page (fetching `/` first
    /// if no page was seen yet).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf().await;
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &token));
        self.post_raw(path, &encode(&fields), &[]).await
    }

    /// Like [`Browser::post`], asking for JSON.
    pub async fn post_json(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf().await;
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &token));
        self.post_raw(path, &encode(&fields), &[("Accept", "application/json")])
            .await
    }

    /// Posts `body` as a form exactly as given (no token added).
    pub async fn post_raw(&mut self, path: &str, body: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"));
        for &(name, value) in headers {
            req = req.insert_header((name, value));
        }
        self.send(req, Some(body.to_owned())).await
    }

    pub async fn csrf(&mut self) -> String {
        // A token is only good with the cookie it came with (the cookie rotates at login).
        let fresh = matches!(&self.last_csrf, Some((_, cookie)) if cookie.is_some() && cookie.as_ref() == self.cookies.get("csrftoken"));
        if !fresh {
            self.get("/").await;
        }
        self.last_csrf.clone().expect("a page with a CSRF token").0
    }

    pub async fn sign_up(&mut self, username: &str, password: &str) -> Page {
        self.post("/signup", &[("username", username), ("password", password)])
            .await
    }

    pub async fn log_in(&mut self, username: &str, password: &str) -> Page {
        self.post("/login", &[("username", username), ("password", password)])
            .await
    }

    pub async fn comment(&mut self, text: &str) -> Page {
        self.post("/comments", &[("comment", text)]).await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get("sessionid").cloned()
    }

    async fn send(&mut self, mut req: awc::ClientRequest, body: Option<String>) -> Page {
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.insert_header(("Cookie", header.join("; ")));
        }
        let mut res = match body {
            Some(body) => req.send_body(body).await,
            None => req.send().await,
        }
        .expect("request sent");
        let set_cookies: Vec<Cookie<'static>> =
            res.cookies().map(|c| c.clone()).unwrap_or_default();
        for cookie in &set_cookies {
            let removed = cookie
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || cookie.value().is_empty();
            if removed {
                self.cookies.remove(cookie.name());
            } else {
                self.cookies
                    .insert(cookie.name().to_owned(), cookie.value().to_owned());
            }
        }
        let body = res.body().limit(10 << 20).await.expect("body read");
        Page {
            status: res.status(),
            headers: res.headers().clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            set_cookies,
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of `fields`.
pub fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs the `guestbook` binary against `app`'s database, feeding `stdin`.
pub fn run_cli(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    run_cli_with_env(
        args,
        stdin,
        &[("DATABASE_URL", &app.state.settings.database_url)],
    )
}

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
