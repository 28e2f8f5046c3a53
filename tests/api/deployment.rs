//! Running behind a load balancer, on PostgreSQL, as several instances.

use std::{
    io::{BufRead as _, BufReader},
    net::TcpListener,
    process::{Child, ChildStderr, Command, Stdio},
    time::{Duration, Instant},
};

use actix_web::http::StatusCode;

use crate::helpers::{
    Browser, HeldPost, PASSWORD, create_postgres_schema, drop_postgres_schema, encode,
    postgres_available, random_string, redis_available, redis_url, run_cli_with_env,
    spawn_app_with,
};

#[actix_web::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    // Without trusted proxies, a client claiming https through X-Forwarded-Proto is still on
    // http, so an https Origin is foreign.
    let untrusted = spawn_app_with(|_| {}).await;
    let trusted = spawn_app_with(|s| {
        s.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;

    for (app, expected) in [
        (&untrusted, StatusCode::FORBIDDEN),
        (&trusted, StatusCode::SEE_OTHER),
    ] {
        let mut browser = app.browser();
        let token = browser.csrf().await;
        let host = app.address.trim_start_matches("http://").to_owned();
        let page = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "via the balancer"), ("csrf_token", &token)]),
                &[
                    ("X-Forwarded-Proto", "https"),
                    ("Origin", &format!("https://{host}")),
                ],
            )
            .await;
        assert_eq!(page.status, expected, "{}", page.body);
    }
}

#[actix_web::test]
async fn csrf_trusted_origins_are_accepted_and_others_are_not() {
    let app = spawn_app_with(|s| {
        s.security.csrf_trusted_origins = vec!["https://www.example.com".into()];
    })
    .await;
    let mut browser = app.browser();
    let token = browser.csrf().await;
    let post = |origin: &'static str| encode(&[("comment", origin), ("csrf_token", &token)]);

    let other = browser
        .post_raw(
            "/comments",
            &post("other"),
            &[("Origin", "https://evil.example")],
        )
        .await;
    let trusted = browser
        .post_raw(
            "/comments",
            &post("trusted"),
            &[("Origin", "https://www.example.com")],
        )
        .await;

    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert_eq!(trusted.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn an_exhausted_connection_pool_is_a_503_not_a_hang() {
    let app = spawn_app_with(|s| {
        s.database.pool_size = 1;
        s.database.pool_timeout = Duration::from_secs(1);
    })
    .await;
    let mut browser = app.browser();
    browser.csrf().await;

    // The only connection held: the page is answered while it still is, which a request
    // waiting for a connection (a hang) never is (the browser gives up after 30 s: a failure).
    let held = app.state.db.get().unwrap();
    let page = browser.get("/").await;
    drop(held);
    let after = browser.get("/").await;

    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("The database is unavailable"));
    assert_eq!(after.status, StatusCode::OK);
}

#[actix_web::test]
async fn postgresql_requires_an_explicit_secret_key() {
    if !postgres_available("postgresql_requires_an_explicit_secret_key") {
        return;
    }
    let url = create_postgres_schema();

    let out = run_cli_with_env(&["migrate"], "", &[("DATABASE_URL", &url)]);
    let with_key = run_cli_with_env(
        &["migrate"],
        "",
        &[("DATABASE_URL", &url), ("SECRET_KEY", &random_string(40))],
    );
    drop_postgres_schema(&url);

    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SECRET_KEY must be set"));
    assert!(
        with_key.status.success(),
        "{}",
        String::from_utf8_lossy(&with_key.stderr)
    );
    assert!(
        String::from_utf8_lossy(&with_key.stdout)
            .contains("Applied 2026-11-25-000001_create_tables")
    );
}

/// A `guestbook serve` process of its own.
struct Instance {
    child: Child,
    address: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_instance(env: &[(&str, String)]) -> Instance {
    start_instance_with(env, &[])
}

fn start_instance_with(env: &[(&str, String)], extra_args: &[&str]) -> Instance {
    start_instance_logging(env, extra_args, Stdio::inherit())
}

/// An instance whose standard error the test reads as it comes, with the stopping lines
/// (`guestbook` at INFO) in it.
fn start_instance_followed(env: &[(&str, String)]) -> (Instance, Log) {
    let mut env = env.to_vec();
    env.push(("RUST_LOG", "warn,guestbook=info".to_owned()));
    let mut instance = start_instance_logging(&env, &[], Stdio::piped());
    let stderr = instance.child.stderr.take().expect("piped");
    (instance, Log::follow(stderr))
}

/// What an instance writes to standard error, line by line as it comes: read on a thread of
/// its own, which keeps the pipe drained.
struct Log {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

/// The longest the tests wait for a line, a port, an exit: a bound on a hang, never a measure
/// of speed.
const PATIENCE: Duration = Duration::from_secs(30);

impl Log {
    fn follow(stderr: ChildStderr) -> Self {
        let (sender, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Self {
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line; `None` once the instance has closed its standard error (exited).
    async fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match actix_web::rt::time::timeout(left, self.lines.recv()).await {
            Ok(line) => {
                self.seen.extend(line.clone());
                line
            }
            Err(_) => panic!(
                "the log stood still for {PATIENCE:?}:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Waits until the instance logs a line with `text` in it.
    async fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.seen.iter().any(|line| line.contains(text)) {
            if self.next_line(deadline).await.is_none() {
                panic!(
                    "the instance ended without logging {text:?}:\n{}",
                    self.seen.join("\n")
                );
            }
        }
    }

    /// The whole log, once the instance has exited.
    async fn all(mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        while self.next_line(deadline).await.is_some() {}
        self.seen.join("\n")
    }
}

fn start_instance_logging(env: &[(&str, String)], extra_args: &[&str], log: Stdio) -> Instance {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_guestbook"));
    command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(extra_args)
        .env("RUST_LOG", "warn")
        .env("PASSWORD_ARGON2_MEMORY_KIB", "8")
        .env("PASSWORD_ARGON2_ITERATIONS", "1")
        // Tests post right after reading the form, as no person could: as in
        // `Flavor::spawn_app_with`, the spam trap's form stamp is not checked.
        .env("COMMENT_MIN_SECONDS", "0")
        .stdout(Stdio::null())
        .stderr(log);
    for (name, value) in env {
        command.env(name, value);
    }
    Instance {
        child: command.spawn().expect("guestbook runs"),
        address: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_until_up(instance: &mut Instance) {
    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = client
            .get(format!("{}/healthz", instance.address))
            .send()
            .await
            && res.status() == StatusCode::OK
        {
            return;
        }
        if let Ok(Some(status)) = instance.child.try_wait() {
            panic!("instance exited: {status}");
        }
        assert!(Instant::now() < deadline, "instance did not come up");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn two_instances_share_sessions_comments_and_logins_through_postgresql_and_redis() {
    if !postgres_available("two_instances_share") || !redis_available("two_instances_share") {
        return;
    }
    // Arrange: two server processes, one database, one Redis, one secret, started together
    // on an empty database (so their migrations race).
    let database_url = create_postgres_schema();
    let prefix = format!("guestbook-test-{}:", random_string(12));
    let env = vec![
        ("DATABASE_URL", database_url.clone()),
        ("SECRET_KEY", random_string(50)),
        ("SESSION_ENGINE", "cached_db".to_string()),
        ("CACHE_URL", redis_url().unwrap()),
        ("CACHE_KEY_PREFIX", prefix.clone()),
    ];
    let mut one = start_instance(&env);
    let mut two = start_instance(&env);
    wait_until_up(&mut one).await;
    wait_until_up(&mut two).await;
    let member = run_cli_with_env(
        &["createmember", "shared", "--password-stdin"],
        &format!("{PASSWORD}\n"),
        &env.iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    assert!(
        member.status.success(),
        "createmember: {} {}",
        member.status,
        String::from_utf8_lossy(&member.stderr)
    );

    // Act and assert: a session made on one is honoured by the other...
    let mut browser = Browser::at(&one.address);
    assert_eq!(
        browser.comment("from instance one").await.status,
        StatusCode::SEE_OTHER
    );
    browser.address = two.address.clone();
    let home_on_two = browser.get("/").await;
    assert!(home_on_two.body.contains("from instance one"));
    assert!(
        !home_on_two.body.contains(r#"action="/comments""#),
        "instance two knows this visitor commented"
    );
    // ...commenting again on the other is a 409...
    assert_eq!(
        browser.comment("again, on instance two").await.status,
        StatusCode::CONFLICT
    );
    // ...logging in on one and out on the other works.
    browser.address = one.address.clone();
    assert_eq!(
        browser.log_in("shared", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    browser.address = two.address.clone();
    assert!(
        browser
            .get("/")
            .await
            .body
            .contains("Logged in as <strong>shared</strong>")
    );
    assert_eq!(
        browser.post("/logout", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    browser.address = one.address.clone();
    let after = browser.get("/").await;
    assert!(
        !after.body.contains("Logged in as"),
        "logged out everywhere"
    );
    assert!(
        !after.body.contains(r#"action="/comments""#),
        "has_commented survived the logout"
    );

    drop((one, two));
    crate::helpers::delete_redis_keys(&redis_url().unwrap(), &prefix).unwrap();
    drop_postgres_schema(&database_url);
}

#[actix_web::test]
async fn serve_no_migrate_leaves_the_schema_to_a_separate_migrate_step() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("db.sqlite3").to_string_lossy().into_owned();
    let env = vec![
        ("DATABASE_URL", url.clone()),
        ("SECRET_KEY", random_string(40)),
    ];
    let mut unmigrated = start_instance_with(&env, &["--no-migrate"]);
    let health_before = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match awc::Client::default()
                .get(format!("{}/healthz", unmigrated.address))
                .send()
                .await
            {
                Ok(res) => break res.status(),
                Err(_) => {
                    assert!(Instant::now() < deadline, "instance did not come up");
                    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    let migrate = run_cli_with_env(
        &["migrate"],
        "",
        &env.iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    wait_until_up(&mut unmigrated).await;

    assert_eq!(
        health_before,
        StatusCode::SERVICE_UNAVAILABLE,
        "no tables yet: not healthy"
    );
    assert!(migrate.status.success());
}

/// Sends `signal` (`INT`, `TERM`) to the instance, as Ctrl-C or a process manager would.
fn signal(instance: &Instance, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &instance.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

/// Waits until the instance refuses connections: it has stopped accepting. Fails the test if
/// it still accepts them after [`PATIENCE`].
async fn stops_accepting(instance: &Instance) {
    let address = instance.address.trim_start_matches("http://");
    let deadline = Instant::now() + PATIENCE;
    loop {
        match actix_web::rt::net::TcpStream::connect(address).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            other => assert!(
                Instant::now() < deadline,
                "still accepting new connections while stopping: {other:?}"
            ),
        }
        // Only spaces the tries: the condition itself is polled.
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for the instance to exit by itself; its exit status.
async fn exited(instance: &mut Instance) -> std::process::ExitStatus {
    exited_by(instance, Instant::now() + PATIENCE).await
}

/// As [`exited`], failing the test if the instance is still running at `deadline`.
async fn exited_by(instance: &mut Instance, deadline: Instant) -> std::process::ExitStatus {
    loop {
        if let Some(status) = instance.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the instance did not exit");
        // Only spaces the tries: the condition itself is polled.
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An instance on a SQLite file of its own, with the test holding that file's write lock, so
/// a comment posted to it stays in flight until the test lets go.
struct LockedInstance {
    instance: Instance,
    log: Log,
    locker: diesel::SqliteConnection,
    _dir: tempfile::TempDir,
}

/// The cookies and form of a comment posted by a new visitor of `instance`.
async fn comment_form(instance: &Instance, text: &str) -> (String, String) {
    let mut browser = Browser::at(&instance.address);
    let token = browser.csrf().await;
    let cookies = format!("csrftoken={}", browser.cookie("csrftoken").unwrap());
    (
        cookies,
        encode(&[("comment", text), ("csrf_token", &token)]),
    )
}

/// An instance with a comment in flight: the server has taken it (its `100 Continue`) and
/// has its body, and the write it makes waits for the test's lock.
async fn instance_with_a_write_in_flight() -> (LockedInstance, HeldPost) {
    use diesel::{Connection as _, connection::SimpleConnection};
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("db.sqlite3").to_string_lossy().into_owned();
    let env = vec![
        ("DATABASE_URL", url.clone()),
        ("SECRET_KEY", random_string(40)),
        ("DATABASE_POOL_TIMEOUT", "20".to_string()),
    ];
    let (mut instance, log) = start_instance_followed(&env);
    wait_until_up(&mut instance).await;
    let (cookies, form) = comment_form(&instance, "in flight").await;
    let mut locker = diesel::SqliteConnection::establish(&url).unwrap();
    locker
        .batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE; DELETE FROM members WHERE 0;")
        .unwrap();
    let mut post = HeldPost::start(&instance.address, "/comments", &cookies, form).await;
    post.send_body().await;
    (
        LockedInstance {
            instance,
            log,
            locker,
            _dir: dir,
        },
        post,
    )
}

#[actix_web::test]
async fn ctrl_c_stops_accepting_and_finishes_the_requests_in_flight() {
    use diesel::connection::SimpleConnection;
    // Arrange
    let (mut locked, post) = instance_with_a_write_in_flight().await;

    // Act: Ctrl-C while the comment is in flight; once no new visitor gets in, the lock goes.
    signal(&locked.instance, "INT");
    stops_accepting(&locked.instance).await;
    locked.locker.batch_execute("COMMIT").unwrap();
    let in_flight = post.status().await;
    let status = exited(&mut locked.instance).await;

    // Assert
    assert_eq!(in_flight, Some(303), "the request in flight finished");
    assert!(status.success(), "{status}");
    let log = locked.log.all().await;
    assert!(
        log.contains("stopping: finishing the requests in flight"),
        "{log}"
    );
    assert!(log.lines().any(|line| line.ends_with(": stopped")), "{log}");
}

#[actix_web::test]
async fn a_second_ctrl_c_stops_at_once() {
    let (mut locked, post) = instance_with_a_write_in_flight().await;

    signal(&locked.instance, "INT");
    // The first one taken (not two arriving together, which would count as one).
    locked.log.wait_for("Ctrl-C again to stop at once").await;
    signal(&locked.instance, "INT");
    let status = exited(&mut locked.instance).await;
    let in_flight = post.status().await;
    let log = locked.log.all().await;

    assert_eq!(in_flight, None, "the request in flight was cut:\n{log}");
    assert!(status.success(), "{status}");
    assert!(
        log.contains("stopping at once: requests in flight are cut"),
        "{log}"
    );
}

#[actix_web::test]
async fn sigterm_drains_too() {
    let (mut locked, post) = instance_with_a_write_in_flight().await;

    signal(&locked.instance, "TERM");
    locked
        .log
        .wait_for("stopping: finishing the requests in flight")
        .await;
    stops_accepting(&locked.instance).await;
    diesel::connection::SimpleConnection::batch_execute(&mut locked.locker, "COMMIT").unwrap();

    assert_eq!(post.status().await, Some(303));
    assert!(exited(&mut locked.instance).await.success());
}

/// `SHUTDOWN_TIMEOUT`: a stopping server finishes the requests in flight, but waits for them
/// no longer than that, so one that never ends (a client that never sends its body) does not
/// keep it running.
#[actix_web::test]
async fn shutdown_timeout_bounds_how_long_a_stopping_server_waits_for_requests_in_flight() {
    // Arrange: a timeout well under the default (30 s), and two comments the server has
    // taken, whose bodies it waits for.
    const SHUTDOWN_TIMEOUT: u64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "DATABASE_URL",
            dir.path().join("db.sqlite3").to_string_lossy().into_owned(),
        ),
        ("SECRET_KEY", random_string(40)),
        ("SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT.to_string()),
    ];
    let (mut instance, mut log) = start_instance_followed(&env);
    wait_until_up(&mut instance).await;
    let (cookies, form) = comment_form(&instance, "never sent").await;
    let never_finished = HeldPost::start(&instance.address, "/comments", &cookies, form).await;
    let (cookies, form) = comment_form(&instance, "sent while stopping").await;
    let mut finished = HeldPost::start(&instance.address, "/comments", &cookies, form).await;

    // Act: SIGTERM; once the server is stopping, one comment's body comes, the other's never.
    // Past its timeout it must be gone: by the default timeout it would still be running.
    let deadline = Instant::now() + Duration::from_secs(SHUTDOWN_TIMEOUT + 20);
    signal(&instance, "TERM");
    log.wait_for("stopping: finishing the requests in flight")
        .await;
    stops_accepting(&instance).await;
    finished.send_body().await;
    let finished = finished.status().await;
    let status = exited_by(&mut instance, deadline).await;
    let never_finished = never_finished.status().await;

    // Assert
    assert_eq!(finished, Some(303), "a request in flight is finished");
    assert!(status.success(), "{status}");
    assert_eq!(never_finished, None, "cut when the timeout ran out");
    let log = log.all().await;
    assert!(log.lines().any(|line| line.ends_with(": stopped")), "{log}");
}

#[actix_web::test]
async fn forged_cookies_and_bad_requests_do_not_fill_the_logs_with_warnings() {
    // Arrange: an instance logging at WARN to a file.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let env = vec![
        (
            "DATABASE_URL",
            dir.path().join("db.sqlite3").to_string_lossy().into_owned(),
        ),
        ("SECRET_KEY", random_string(40)),
    ];
    let mut instance =
        start_instance_logging(&env, &[], Stdio::from(std::fs::File::create(&log).unwrap()));
    wait_until_up(&mut instance).await;
    let client = awc::Client::default();

    // Act: a forged session cookie, a garbage one, a bad page number, a bad host, a bad form.
    for (path, cookie, host) in [
        ("/", "sessionid=AAAAforged", "127.0.0.1"),
        ("/", "sessionid=%%%", "127.0.0.1"),
        ("/?before=x", "", "127.0.0.1"),
        ("/", "", "evil.example"),
    ] {
        let mut req = client
            .get(format!("{}{path}", instance.address))
            .insert_header(("Host", host));
        if !cookie.is_empty() {
            req = req.insert_header(("Cookie", cookie));
        }
        req.send().await.unwrap();
    }
    client
        .post(format!("{}/comments", instance.address))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body("comment=%ZZ")
        .await
        .unwrap();
    signal(&instance, "TERM");
    exited(&mut instance).await;

    // Assert
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains("WARN") && !logged.contains("ERROR"),
        "client-caused problems are not warnings:\n{logged}"
    );
}
