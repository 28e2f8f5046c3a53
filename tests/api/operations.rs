//! What an operator meets: a binary that needs nothing beside it, HTTPS behind a proxy,
//! `guestbook check`, `showmigrations`, `clearsessions` in batches, migrations through a pooler.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use actix_web::http::StatusCode;
use guestbook::settings::HttpsSettings;
use time::macros::datetime;

use crate::helpers::{
    Flavor, SharedSite, TestApp, TestDatabase, TestResources, postgres_available, random_string,
    run_cli, run_cli_with_env, spawn_app, spawn_app_with,
};

// ---------- a self-contained binary ----------

/// The binary, copied alone into an empty folder (no `static/`, no source tree beside it),
/// serves a styled page: its stylesheet is built in.
#[actix_web::test]
async fn a_binary_copied_alone_into_an_empty_folder_serves_a_styled_site() {
    let folder = tempfile::tempdir().unwrap();
    let binary = folder.path().join("guestbook");
    std::fs::copy(env!("CARGO_BIN_EXE_guestbook"), &binary).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(&binary);
    command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(folder.path())
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Another test's process started while the copy was open for writing holds that file
    // descriptor for a moment ("text file busy"): try again shortly.
    let mut attempts = 0;
    let mut server = loop {
        match command.spawn() {
            Err(err) if err.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            spawned => break spawned.expect("the copied binary runs"),
        }
    };
    let address = format!("http://127.0.0.1:{port}");
    let client = awc::Client::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let home = loop {
        if let Ok(mut res) = client.get(format!("{address}/")).send().await
            && res.status() == StatusCode::OK
        {
            break String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the copied binary did not come up"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    let mut css = client
        .get(format!("{address}/static/css/site.css"))
        .send()
        .await
        .unwrap();
    let css_body = css.body().await.unwrap();
    let _ = server.kill();
    let _ = server.wait();

    assert!(home.contains(r#"href="/static/css/site.css""#));
    assert_eq!(css.status(), StatusCode::OK);
    let content_type = css.headers().get("content-type").unwrap().to_str().unwrap();
    assert!(content_type.starts_with("text/css"), "{content_type}");
    let source =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/static/css/site.css")).unwrap();
    assert_eq!(css_body.as_ref(), &source[..], "the stylesheet as built");
    assert!(
        folder.path().join("db.sqlite3").exists(),
        "its data beside it"
    );
    assert!(!folder.path().join("static").exists());
}

#[actix_web::test]
async fn built_in_static_files_revalidate_with_their_etag() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    let first = browser.get("/static/favicon.svg").await;
    let etag = first.header("etag").unwrap().to_owned();
    let again = browser
        .get_with("/static/favicon.svg", &[("If-None-Match", &etag)])
        .await;
    let changed = browser
        .get_with(
            "/static/favicon.svg",
            &[("If-None-Match", "\"something else\"")],
        )
        .await;
    let traversal = browser.get("/static/../Cargo.toml").await;

    assert_eq!(first.status, StatusCode::OK);
    assert!(
        first
            .header("content-type")
            .unwrap()
            .starts_with("image/svg+xml")
    );
    assert!(first.header("last-modified").is_some());
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(traversal.status, StatusCode::NOT_FOUND);
}

/// `STATIC_ROOT` serves a folder from disk instead: customised assets.
#[actix_web::test]
async fn static_root_serves_customised_files_from_disk() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("css")).unwrap();
    std::fs::write(
        folder.path().join("css/site.css"),
        "body { color: hotpink }",
    )
    .unwrap();
    let root = folder.path().to_path_buf();
    let app = spawn_app_with(move |s| s.static_root = Some(root)).await;
    let mut browser = app.browser();

    let css = browser.get("/static/css/site.css").await;
    let icon = browser.get("/static/favicon.svg").await;

    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.body, "body { color: hotpink }");
    assert!(css.header("etag").is_some());
    assert_eq!(
        icon.status,
        StatusCode::NOT_FOUND,
        "only the folder's files"
    );
}

// ---------- HTTPS ----------

fn behind_tls_proxy(s: &mut guestbook::settings::Settings) {
    s.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    s.https = HttpsSettings {
        hsts_seconds: 31_536_000,
        hsts_include_subdomains: true,
        hsts_preload: false,
        ssl_redirect: true,
    };
}

#[actix_web::test]
async fn hsts_goes_out_only_over_https_and_plain_http_is_sent_to_https() {
    let app = spawn_app_with(behind_tls_proxy).await;
    let mut browser = app.browser();
    let host = app.address.trim_start_matches("http://").to_owned();

    let over_https = browser
        .get_with("/?before=1", &[("X-Forwarded-Proto", "https")])
        .await;
    let over_http = browser.get("/?before=2").await;
    let health = browser.get("/readyz").await;
    let foreign_host = browser.get_with("/", &[("Host", "evil.example")]).await;

    assert_eq!(over_https.status, StatusCode::OK);
    assert_eq!(
        over_https.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    assert_eq!(over_http.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        over_http.header("location"),
        Some(format!("https://{host}/?before=2").as_str())
    );
    assert!(over_http.header("strict-transport-security").is_none());
    assert_eq!(
        health.status,
        StatusCode::OK,
        "health checks are not redirected"
    );
    assert_eq!(
        foreign_host.status,
        StatusCode::BAD_REQUEST,
        "never a redirect to a host the client names"
    );
}

#[actix_web::test]
async fn only_a_trusted_proxy_can_say_a_request_came_over_https() {
    let app = spawn_app_with(|s| {
        behind_tls_proxy(s);
        s.security.trusted_proxies = vec!["192.0.2.1/32".parse().unwrap()];
    })
    .await;
    let mut browser = app.browser();

    let claimed = browser
        .get_with("/", &[("X-Forwarded-Proto", "https")])
        .await;

    assert_eq!(claimed.status, StatusCode::MOVED_PERMANENTLY);
    assert!(claimed.header("strict-transport-security").is_none());
}

#[actix_web::test]
async fn with_the_defaults_there_is_no_hsts_and_no_redirect() {
    let app = spawn_app_with(|s| {
        s.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let mut browser = app.browser();

    let page = browser
        .get_with("/", &[("X-Forwarded-Proto", "https")])
        .await;
    let plain = browser.get("/").await;

    assert!(page.header("strict-transport-security").is_none());
    assert_eq!(plain.status, StatusCode::OK);
}

#[actix_web::test]
async fn the_csrf_cookie_follows_session_cookie_secure_unless_told_otherwise() {
    // Secure cookies are not kept over http by the test browser, so read the Set-Cookie.
    let both = spawn_app_with(|s| {
        s.session.cookie_secure = true;
        s.security.csrf_cookie_secure = true;
    })
    .await;
    let only_session = spawn_app_with(|s| {
        s.session.cookie_secure = true;
        s.security.csrf_cookie_secure = false;
    })
    .await;

    let secure = both.browser().get("/").await;
    let not_secure = only_session.browser().get("/").await;

    assert_eq!(secure.set_cookie("csrftoken").unwrap().secure(), Some(true));
    assert_ne!(
        not_secure.set_cookie("csrftoken").unwrap().secure(),
        Some(true)
    );
    let settings = |vars: &[(&str, &str)]| {
        let vars: std::collections::HashMap<_, _> = vars.iter().copied().collect();
        guestbook::settings::Settings::from_lookup(|name| vars.get(name).map(|v| v.to_string()))
            .unwrap()
    };
    assert!(
        settings(&[("SESSION_COOKIE_SECURE", "true")])
            .security
            .csrf_cookie_secure
    );
    assert!(
        !settings(&[
            ("SESSION_COOKIE_SECURE", "true"),
            ("CSRF_COOKIE_SECURE", "false")
        ])
        .security
        .csrf_cookie_secure
    );
}

// ---------- the command line ----------

#[actix_web::test]
async fn check_says_ok_when_everything_answers_and_names_what_does_not() {
    let app = spawn_app().await;
    let database = app.state.settings.database.url.clone();

    let fine = run_cli(&app, &["check"], "");
    let dead_redis = run_cli_with_env(
        &["check"],
        "",
        &[
            ("DATABASE_URL", &database),
            ("CACHE_URL", "redis://:hunter2@127.0.0.1:1/0"),
        ],
    );
    let dead_throttle_cache = run_cli_with_env(
        &["check"],
        "",
        &[
            ("DATABASE_URL", &database),
            ("THROTTLE_CACHE_ALIAS", "throttle"),
            ("CACHE_THROTTLE_URL", "redis://127.0.0.1:1/0"),
        ],
    );
    let bad_setting = run_cli_with_env(&["check"], "", &[("SESSION_ENGINE", "nonsense")]);

    let fine_out = String::from_utf8_lossy(&fine.stdout);
    assert!(fine.status.success(), "{fine:?}");
    assert!(fine_out.contains("ok    database"), "{fine_out}");
    assert!(fine_out.contains("every migration applied"), "{fine_out}");
    let dead_out = String::from_utf8_lossy(&dead_redis.stdout);
    assert!(!dead_redis.status.success());
    assert!(dead_out.contains("FAIL  cache default"), "{dead_out}");
    assert!(!dead_out.contains("hunter2"), "no password in the output");
    assert!(
        String::from_utf8_lossy(&dead_redis.stderr).contains("1 problem"),
        "{dead_redis:?}"
    );
    let throttle_out = String::from_utf8_lossy(&dead_throttle_cache.stdout);
    assert!(!dead_throttle_cache.status.success());
    assert!(
        throttle_out.contains("ok    cache default"),
        "{throttle_out}"
    );
    assert!(
        throttle_out.contains("FAIL  cache throttle"),
        "{throttle_out}"
    );
    assert!(!bad_setting.status.success());
    assert!(String::from_utf8_lossy(&bad_setting.stderr).contains("SESSION_ENGINE"));
}

#[actix_web::test]
async fn showmigrations_marks_what_is_applied() {
    let resources = TestResources::new();
    let database = resources.folder("db").join("fresh.sqlite3");
    let database = database.to_string_lossy().into_owned();

    let before = run_cli_with_env(&["showmigrations"], "", &[("DATABASE_URL", &database)]);
    run_cli_with_env(&["migrate"], "", &[("DATABASE_URL", &database)]);
    let after = run_cli_with_env(&["showmigrations"], "", &[("DATABASE_URL", &database)]);

    let before = String::from_utf8_lossy(&before.stdout).into_owned();
    let after = String::from_utf8_lossy(&after.stdout).into_owned();
    assert!(
        before.contains("[ ] 2026-11-25-000001_create_tables"),
        "{before}"
    );
    assert!(
        before.contains("[ ] 2026-11-26-000001_member_sessions"),
        "{before}"
    );
    assert!(
        after.contains("[X] 2026-11-25-000001_create_tables"),
        "{after}"
    );
    assert!(
        after.contains("[X] 2026-11-26-000001_member_sessions"),
        "{after}"
    );
}

#[actix_web::test]
async fn clearsessions_deletes_in_batches_of_the_size_asked_for() {
    use diesel::{RunQueryDsl, sql_types::Text};
    let app = spawn_app().await;
    for n in 0..5 {
        diesel::sql_query(
            "INSERT INTO sessions (session_key, session_data, expire_date) \
             VALUES ($1, x'7b7d', '2000-01-01 00:00:00')",
        )
        .bind::<Text, _>(format!("{n}{}", random_string(63)))
        .execute(&mut app.db())
        .unwrap();
    }

    let cleared = run_cli(&app, &["clearsessions", "--batch-size", "2"], "");
    let refused = run_cli(&app, &["clearsessions", "--batch-size", "0"], "");

    assert!(cleared.status.success(), "{cleared:?}");
    assert!(String::from_utf8_lossy(&cleared.stdout).contains("Deleted 5 expired session(s)."));
    assert_eq!(app.count("sessions"), 0);
    assert!(!refused.status.success());
}

/// Stores a session with an empty body that expires at `expire_date` (UTC), on either
/// database.
fn insert_session(app: &TestApp, expire_date: time::PrimitiveDateTime) {
    use diesel::{
        RunQueryDsl,
        sql_types::{Binary, Text, Timestamp},
    };
    diesel::sql_query(
        "INSERT INTO sessions (session_key, session_data, expire_date) VALUES ($1, $2, $3)",
    )
    .bind::<Text, _>(random_string(64))
    .bind::<Binary, _>(b"{}".to_vec())
    .bind::<Timestamp, _>(expire_date)
    .execute(&mut app.db())
    .unwrap();
}

/// Two instances sharing a database, each with the settings adjusted by `adjust`.
async fn two_instances(
    flavor: Flavor,
    resources: &mut TestResources,
    site: &SharedSite,
    adjust: impl Fn(&mut guestbook::settings::Settings),
) -> (TestApp, TestApp) {
    let database = match flavor.database {
        TestDatabase::Sqlite => site.database.clone(),
        TestDatabase::Postgres => resources.database_url(TestDatabase::Postgres),
    };
    let shared = |s: &mut guestbook::settings::Settings| {
        site.share(s);
        s.database.url.clone_from(&database);
        adjust(s);
    };
    let first = flavor.spawn_app_with(shared).await;
    let second = flavor.spawn_app_with(shared).await;
    (first, second)
}

/// With `CLEARSESSIONS_INTERVAL`, `serve` deletes expired sessions itself, and only those.
#[actix_web::test]
async fn the_server_deletes_expired_sessions_every_clearsessions_interval() {
    for flavor in Flavor::on_each_database("the_server_deletes_expired_sessions") {
        // Arrange: two instances cleaning every second, three expired sessions and a live one.
        let (site, mut resources) = (SharedSite::new(), TestResources::new());
        let (first, _second) = two_instances(flavor, &mut resources, &site, |s| {
            s.clearsessions_interval = Some(Duration::from_secs(1));
        })
        .await;
        for _ in 0..3 {
            insert_session(&first, datetime!(2000-01-01 00:00:00));
        }
        insert_session(&first, datetime!(2999-01-01 00:00:00));

        // Act: wait for the cleanup, which runs a second after start (at most 30 s: a run
        // that never comes fails the test, it does not hang it).
        let deadline = Instant::now() + Duration::from_secs(30);
        while first.count("sessions") > 1 && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }

        // Assert
        assert_eq!(
            first.count("sessions"),
            1,
            "{flavor:?}: only the live one left"
        );
    }
}

/// The cleanup is off unless asked for (as in Django); when it runs, it deletes what expired
/// and nothing else, and it is not due again within the interval.
#[actix_web::test]
async fn the_cleanup_is_off_by_default_and_deletes_only_what_expired() {
    use guestbook::domain::cleanup::CleanupRun;
    let app = spawn_app().await;
    insert_session(&app, datetime!(2000-01-01 00:00:00));
    insert_session(&app, datetime!(2999-01-01 00:00:00));
    let hour = Duration::from_secs(3600);

    let first = app.state.cleanup.run_if_due(hour).await.unwrap();
    let again = app.state.cleanup.run_if_due(hour).await.unwrap();

    assert_eq!(app.state.settings.clearsessions_interval, None);
    assert!(matches!(first, CleanupRun::Ran(_)), "{first:?}");
    assert!(matches!(again, CleanupRun::NotDue), "{again:?}");
    assert_eq!(app.count("sessions"), 1, "the live session stays");
}

/// Of instances that try at the same moment, exactly one runs the cleanup; the others are told
/// it is not due, until an interval has passed. The claim is one conditional UPDATE, so this
/// holds however the requests interleave.
#[actix_web::test]
async fn of_instances_racing_for_the_cleanup_exactly_one_runs_it() {
    use guestbook::domain::cleanup::CleanupRun;
    for flavor in Flavor::on_each_database("of_instances_racing_for_the_cleanup") {
        // Arrange: eight callers on two instances, released together.
        let (site, mut resources) = (SharedSite::new(), TestResources::new());
        let (first, second) = two_instances(flavor, &mut resources, &site, |_| {}).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let callers = (0..8).map(|n| {
            let cleanup = if n % 2 == 0 { &first } else { &second }
                .state
                .cleanup
                .clone();
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                cleanup.run_if_due(Duration::from_secs(3600)).await.unwrap()
            }
        });

        // Act
        let runs = futures_util::future::join_all(callers).await;
        let later = first
            .state
            .cleanup
            .run_if_due(Duration::from_secs(3600))
            .await
            .unwrap();

        // Assert
        let ran = runs
            .iter()
            .filter(|run| matches!(run, CleanupRun::Ran(_)))
            .count();
        assert_eq!(ran, 1, "{flavor:?}: {runs:?}");
        assert!(matches!(later, CleanupRun::NotDue), "{later:?}");
    }
}

// ---------- migrations through a pooler ----------

/// Migrating takes a transaction-scoped lock: instances migrating at once take turns, and no
/// lock outlives the migration's transaction (a session-level lock would stay with a pooled
/// server connection behind PgBouncer in transaction mode).
#[actix_web::test]
async fn concurrent_migrations_take_turns_and_leave_no_lock_behind() {
    if !postgres_available("concurrent_migrations_take_turns_and_leave_no_lock_behind") {
        return;
    }
    let mut resources = TestResources::new();
    let url = resources.database_url(TestDatabase::Postgres);
    let settings = guestbook::settings::DatabaseSettings {
        url: url.clone(),
        // One connection each: the one that migrated, and would hold a leaked lock.
        pool_size: 1,
        pool_timeout: Duration::from_secs(10),
        blocking_threads_per_worker: 1,
    };
    let databases: Vec<_> = (0..3)
        .map(|_| guestbook::db::Database::connect(&settings).unwrap())
        .collect();

    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = databases
            .iter()
            .map(|db| {
                use guestbook::db::Migrations;
                scope.spawn(move || db.migrate().map_err(|e| e.to_string()))
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });

    let applied: usize = outcomes
        .iter()
        .map(|outcome| outcome.as_ref().expect("every migrate succeeds").len())
        .sum();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(
        applied, migrations,
        "each migration applied once: {outcomes:?}"
    );
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel::RunQueryDsl;
    for db in &databases {
        let mut conn = db.get().unwrap();
        let held = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_locks \
             WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
        )
        .get_result::<Count>(&mut *conn)
        .unwrap();
        assert_eq!(held.n, 0, "no advisory lock outlives the migration");
    }
    drop(databases);
}
