//! TLS to the managed services. PostgreSQL through libpq's `sslmode` in `DATABASE_URL` (the
//! local server has TLS on); Redis through `rediss://` and `CACHE_TLS_CA_FILE`, on a
//! `redis-server` of the test's own that speaks nothing but TLS. Certificates are made by the
//! `openssl` command.

use std::{
    collections::HashMap,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use actix_web::http::StatusCode;
use diesel::{Connection as _, PgConnection, RunQueryDsl, sql_types::Text};
use guestbook::settings::{SessionEngineKind, Settings};
use tempfile::TempDir;

use crate::helpers::{
    Flavor, PASSWORD, TestApp, postgres_available, postgres_url, random_string, run_cli_with_env,
    skip, spawn_app_with,
};

// ---------- PostgreSQL ----------

#[actix_web::test]
async fn the_app_runs_on_postgres_over_tls_with_sslmode_require() {
    if !postgres_available("the_app_runs_on_postgres_over_tls_with_sslmode_require") {
        return;
    }
    // Arrange: the app's connections ask for TLS.
    let (app, application_name) = app_over_tls("sslmode=require").await;

    // Act
    visit_and_comment(&app).await;

    // Assert: the pipelined read lane took reads, over TLS as well (`assert_encrypted` counts
    // its connections with the pool's).
    assert_encrypted(&app, &application_name);
    assert!(app.state.db.pipelined_reads() > 0);
}

/// The app on PostgreSQL with `params` added to its database URL, and an `application_name`
/// of its own, by which the test finds its connections.
async fn app_over_tls(params: &str) -> (TestApp, String) {
    let application_name = format!("guestbook_tls_{}", random_string(12).to_lowercase());
    let app = Flavor::POSTGRES
        .spawn_app_with(|s| {
            s.database.url = with_params(
                &s.database.url,
                &format!("{params}&application_name={application_name}"),
            );
        })
        .await;
    (app, application_name)
}

/// Every connection of the app's pool is encrypted, and so is one made the same way.
fn assert_encrypted(app: &TestApp, application_name: &str) {
    let (connections, encrypted) = pool_connections(application_name);
    assert!(connections >= 1, "the app's pool is connected");
    assert!(encrypted, "every connection of the app's pool uses TLS");
    assert!(connection_is_encrypted(app));
}

#[actix_web::test]
async fn verify_full_with_a_ca_that_did_not_sign_the_server_is_a_start_up_error() {
    let test = "verify_full_with_a_ca_that_did_not_sign_the_server_is_a_start_up_error";
    if !postgres_available(test) || !command_available(test, "openssl", "version") {
        return;
    }
    // Arrange: a CA of the test's own, which signed nothing the server has.
    let dir = tempfile::tempdir().unwrap();
    let stranger = TestCa::new(dir.path(), "stranger");
    let url = with_params(
        &postgres_url().unwrap(),
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            stranger.certificate.display()
        ),
    );

    // Act: the real binary, as a deployment would start it.
    let out = run_cli_with_env(
        &["migrate"],
        "",
        &[
            ("DATABASE_URL", &url),
            ("DATABASE_POOL_TIMEOUT", "2"),
            ("SECRET_KEY", &random_string(50)),
        ],
    );

    // Assert: it stops with an error that says why; no panic, no hang.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[actix_web::test]
async fn the_app_verifies_postgres_against_sslrootcert_with_verify_full() {
    let test = "the_app_verifies_postgres_against_sslrootcert_with_verify_full";
    if !postgres_available(test) || !command_available(test, "openssl", "version") {
        return;
    }
    // Arrange: the server presents a certificate for 127.0.0.1 signed by the test's CA (its
    // own settings come back when the guard drops).
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca");
    let installed = match ServerCertificate::install(&ca, dir.path()) {
        Ok(installed) => installed,
        Err(reason) => {
            required(test, &reason);
            return;
        }
    };
    let verify = format!(
        "sslmode=verify-full&sslrootcert={}",
        ca.certificate.display()
    );
    installed.wait_until_served(&verify);

    // Act
    let (app, application_name) = app_over_tls(&verify).await;
    visit_and_comment(&app).await;

    // Assert: every read went through libpq, which checks the certificate (the pipelined
    // lane does not do `verify-full`, so it stays off).
    assert_encrypted(&app, &application_name);
    assert_eq!(app.state.db.pipelined_reads(), 0);
}

/// `url` with `params` added to its query string.
fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

/// A visitor reads the page and comments: the app works on this database.
async fn visit_and_comment(app: &TestApp) {
    app.create_member("ada").await;
    let mut ada = app.browser();
    assert_eq!(ada.get("/").await.status, StatusCode::OK);
    assert_eq!(
        ada.log_in("ada", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        ada.comment("sent over TLS").await.status,
        StatusCode::SEE_OTHER
    );
    let page = ada.get("/").await;
    assert!(page.body.contains("sent over TLS"), "{}", page.body);
    assert!(page.body.contains("Logged in as <strong>ada</strong>"));
}

/// How many connections named `application_name` the server has, and whether every one of
/// them is encrypted.
fn pool_connections(application_name: &str) -> (i64, bool) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        connections: i64,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        encrypted: bool,
    }
    let mut admin = PgConnection::establish(&postgres_url().unwrap()).unwrap();
    let row: Row = diesel::sql_query(
        "SELECT count(*) AS connections, coalesce(bool_and(s.ssl), false) AS encrypted \
         FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid \
         WHERE a.application_name = $1",
    )
    .bind::<Text, _>(application_name)
    .get_result(&mut admin)
    .unwrap();
    (row.connections, row.encrypted)
}

/// Whether a connection made from the app's `DATABASE_URL` is encrypted, asked of the server.
fn connection_is_encrypted(app: &TestApp) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result::<Row>(&mut app.db())
        .unwrap()
        .ssl
}

/// The local PostgreSQL serving a certificate the test made, while this lives. Its own
/// `ssl_cert_file` and `ssl_key_file` are put back when it drops, passed or not. It holds an
/// advisory lock meanwhile, so two test runs never swap certificates under each other; other
/// tests connect without verifying the server, which works whatever certificate it shows.
struct ServerCertificate {
    admin: PgConnection,
    /// The statements that put the server's settings back.
    restore: Vec<String>,
    /// The settings' values before, to see the server serve them again.
    original: HashMap<String, String>,
    /// Where the certificate and key are, beside the data directory (the server reads them
    /// again at every reload, so they stay until the settings are back).
    dir: PathBuf,
}

/// `pg_advisory_lock` key of [`ServerCertificate`] ("guestls" in ASCII).
const CERTIFICATE_LOCK: i64 = 0x67_75_65_73_74_6c_73;

impl ServerCertificate {
    /// Installs a certificate for 127.0.0.1 and localhost signed by `ca` and reloads the
    /// server; an error says why it cannot be done here (a remote server, not root).
    fn install(ca: &TestCa, scratch: &Path) -> Result<Self, String> {
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = Text)]
            setting: String,
            #[diesel(sql_type = Text)]
            sourcefile: String,
        }
        let mut admin = PgConnection::establish(&postgres_url().unwrap()).unwrap();
        diesel::sql_query(format!("SELECT pg_advisory_lock({CERTIFICATE_LOCK})"))
            .execute(&mut admin)
            .unwrap();
        let settings: Vec<Setting> = diesel::sql_query(
            "SELECT name, setting, coalesce(sourcefile, '') AS sourcefile FROM pg_settings \
             WHERE name IN ('ssl_cert_file', 'ssl_key_file', 'data_directory')",
        )
        .load(&mut admin)
        .unwrap();
        let data_directory = settings
            .iter()
            .find(|s| s.name == "data_directory")
            .map(|s| PathBuf::from(&s.setting))
            .unwrap();
        let owner = std::fs::metadata(&data_directory).map_err(|e| {
            format!(
                "the server's data directory {} is not on this machine ({e}): a certificate \
                 can only be installed on a local PostgreSQL",
                data_directory.display()
            )
        })?;
        let mut restore = Vec::new();
        let mut original = HashMap::new();
        for s in settings.iter().filter(|s| s.name != "data_directory") {
            // A value set by ALTER SYSTEM is set again; one from postgresql.conf is reset to it.
            restore.push(if s.sourcefile.ends_with("postgresql.auto.conf") {
                format!("ALTER SYSTEM SET {} = {}", s.name, quote(&s.setting))
            } else {
                format!("ALTER SYSTEM RESET {}", s.name)
            });
            original.insert(s.name.clone(), s.setting.clone());
        }

        let dir = data_directory
            .parent()
            .unwrap_or(&data_directory)
            .join("guestbook-test-tls");
        let (certificate, key) = ca.server_certificate(scratch, "postgres");
        let place = || -> std::io::Result<(PathBuf, PathBuf)> {
            std::fs::create_dir_all(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid()))?;
            let installed = (dir.join("server.crt"), dir.join("server.key"));
            for (from, to) in [(&certificate, &installed.0), (&key, &installed.1)] {
                std::fs::copy(from, to)?;
                std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
                std::os::unix::fs::chown(to, Some(owner.uid()), Some(owner.gid()))?;
            }
            Ok(installed)
        };
        let (certificate, key) = place().map_err(|e| {
            format!(
                "cannot put a certificate the server may read in {} ({e}): run as root on the \
                 PostgreSQL machine",
                dir.display()
            )
        })?;

        // From here on, a failure puts the server's settings back as the guard drops.
        let mut installed = Self {
            admin,
            restore,
            original,
            dir,
        };
        for statement in [
            format!(
                "ALTER SYSTEM SET ssl_cert_file = {}",
                quote(&certificate.to_string_lossy())
            ),
            format!(
                "ALTER SYSTEM SET ssl_key_file = {}",
                quote(&key.to_string_lossy())
            ),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            // One statement at a time: ALTER SYSTEM refuses to run inside a transaction block.
            diesel::sql_query(statement)
                .execute(&mut installed.admin)
                .unwrap();
        }
        Ok(installed)
    }

    /// Waits until a connection with `params` succeeds: the server has reloaded (it does so a
    /// moment after `pg_reload_conf()`). Panics with libpq's error after ten seconds.
    fn wait_until_served(&self, params: &str) {
        let url = with_params(&postgres_url().unwrap(), params);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match PgConnection::establish(&url) {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!("{params}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Whether new connections see the server's own settings again.
    fn restored(&self) -> bool {
        #[derive(diesel::QueryableByName)]
        struct Shown {
            #[diesel(sql_type = Text)]
            value: String,
        }
        let Ok(mut conn) = PgConnection::establish(&postgres_url().unwrap()) else {
            return false;
        };
        self.original.iter().all(|(name, value)| {
            diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
                .get_result::<Shown>(&mut conn)
                .is_ok_and(|shown| shown.value == *value)
        })
    }
}

impl Drop for ServerCertificate {
    fn drop(&mut self) {
        let mut put_back = true;
        for statement in self
            .restore
            .iter()
            .map(String::as_str)
            .chain(["SELECT pg_reload_conf()"])
        {
            if let Err(e) = diesel::sql_query(statement).execute(&mut self.admin) {
                eprintln!("could not restore the server's TLS settings ({statement}): {e}");
                put_back = false;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while put_back && !self.restored() {
            if Instant::now() > deadline {
                put_back = false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Only once the server no longer names them: a restart must find the files it names.
        if put_back {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({CERTIFICATE_LOCK})"))
            .execute(&mut self.admin);
    }
}

/// `value` as an SQL string literal.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

// ---------- Redis ----------

#[actix_web::test]
async fn sessions_live_in_redis_over_tls_with_the_ca_from_cache_tls_ca_file() {
    // Arrange: a Redis that speaks only TLS, and the app given the test's CA.
    let test = "sessions_live_in_redis_over_tls_with_the_ca_from_cache_tls_ca_file";
    // Bound whole: the Redis lives as long as the test.
    let Some(site) = RedisOverTls::start(test, true).await else {
        return;
    };
    let app = &site.app;

    // Act
    let ready = app.browser().get("/readyz").await;
    visit_and_comment(app).await;

    // Assert: the sessions are in that Redis.
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert!(app.stored_sessions().await.unwrap() >= 1);
}

#[actix_web::test]
async fn without_the_ca_a_redis_over_tls_is_unavailable_not_a_crash() {
    // Arrange: the same Redis, but the app trusts only the system's roots.
    let test = "without_the_ca_a_redis_over_tls_is_unavailable_not_a_crash";
    // Bound whole: the Redis lives as long as the test.
    let Some(site) = RedisOverTls::start(test, false).await else {
        return;
    };
    let app = &site.app;

    // Act
    let mut visitor = app.browser();
    let ready = visitor.get("/readyz").await;
    let page = visitor.get("/").await;
    let comment = visitor.comment("is anyone there?").await;

    // Assert: the pages that need no session show; what needs the cache is a 503.
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.body.contains("cache unavailable"), "{}", ready.body);
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(comment.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        comment.body.contains("is anyone there?"),
        "the text is given back"
    );
}

/// The app with its sessions in a `redis-server` of the test's own that speaks only TLS, its
/// certificate from a CA of the test's; the app trusts that CA (`CACHE_TLS_CA_FILE`) only
/// when `trust_ca`. `None` (skipped, or failed under CI) without `openssl` or `redis-server`.
struct RedisOverTls {
    app: TestApp,
    _redis: TlsRedis,
    _dir: TempDir,
}

impl RedisOverTls {
    async fn start(test: &str, trust_ca: bool) -> Option<Self> {
        if !command_available(test, "openssl", "version")
            || !command_available(test, "redis-server", "--version")
        {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "ca");
        let redis = TlsRedis::start(&ca, &dir);
        let (url, ca_file) = (redis.url(), ca.certificate.to_string_lossy().into_owned());
        let mut vars = vec![("CACHE_URL", url.as_str()), ("SESSION_ENGINE", "cache")];
        if trust_ca {
            vars.push(("CACHE_TLS_CA_FILE", &ca_file));
        }
        // The settings as a deployment gives them.
        let settings = redis_settings(&vars);
        let app = spawn_app_with(|s| {
            s.session.engine = settings.session.engine;
            s.cache = settings.cache.clone();
            s.session_cache = settings.session_cache.clone();
        })
        .await;
        Some(Self {
            app,
            _redis: redis,
            _dir: dir,
        })
    }
}

/// The settings `vars` give, as `Settings::from_env` would read them.
fn redis_settings(vars: &[(&str, &str)]) -> Settings {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::from_lookup(|name| vars.get(name).cloned()).unwrap();
    assert_eq!(settings.session.engine, SessionEngineKind::Cache);
    settings
}

/// A `redis-server` of the test's own that listens only for TLS, with a certificate `ca`
/// signed; killed when it drops.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    fn start(ca: &TestCa, dir: &TempDir) -> Self {
        let (certificate, key) = ca.server_certificate(dir.path(), "redis");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("redis.log")).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--tls-port",
                &port.to_string(),
            ])
            .arg("--tls-cert-file")
            .arg(&certificate)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca.certificate)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}: {}",
                std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------- certificates ----------

/// A certificate authority of the test's own, made with the `openssl` command.
struct TestCa {
    certificate: PathBuf,
    key: PathBuf,
}

impl TestCa {
    fn new(dir: &Path, name: &str) -> Self {
        let (certificate, key) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        openssl(&[
            "req".as_ref(),
            "-x509".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-subj".as_ref(),
            format!("/CN=guestbook test {name}").as_ref(),
            "-keyout".as_ref(),
            key.as_ref(),
            "-out".as_ref(),
            certificate.as_ref(),
        ]);
        Self { certificate, key }
    }

    /// A certificate for 127.0.0.1 and localhost signed by this CA, and its key.
    fn server_certificate(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (request, certificate, key, extensions) = (
            dir.join(format!("{name}.csr")),
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.ext")),
        );
        std::fs::write(
            &extensions,
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             basicConstraints = CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid, issuer\n",
        )
        .unwrap();
        openssl(&[
            "req".as_ref(),
            "-new".as_ref(),
            "-subj".as_ref(),
            "/CN=localhost".as_ref(),
            "-keyout".as_ref(),
            key.as_ref(),
            "-out".as_ref(),
            request.as_ref(),
        ]);
        openssl(&[
            "x509".as_ref(),
            "-req".as_ref(),
            "-in".as_ref(),
            request.as_ref(),
            "-CA".as_ref(),
            self.certificate.as_ref(),
            "-CAkey".as_ref(),
            self.key.as_ref(),
            "-CAcreateserial".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-extfile".as_ref(),
            extensions.as_ref(),
            "-out".as_ref(),
            certificate.as_ref(),
        ]);
        (certificate, key)
    }
}

/// Runs `openssl` with `args`; a new key, when one is made, is a P-256 one without a
/// passphrase.
fn openssl(args: &[&std::ffi::OsStr]) {
    let mut command = Command::new("openssl");
    command.args(args);
    if args[0] == "req" {
        command.args([
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ]);
    }
    let out = command.output().expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `program` runs (asked with `arg`): without it the test is skipped with a printed
/// reason, except under CI (`CI=true`), where that is a failure.
fn command_available(test: &str, program: &str, arg: &str) -> bool {
    let runs = Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    runs || required(test, &format!("install the {program} command"))
}

/// Skips `test`, which needs what `remedy` says, or fails it under CI; always `false`.
fn required(test: &str, remedy: &str) -> bool {
    skip(test, remedy);
    false
}
