//! One client cannot hurt the others: login throttling, bounded password work, a stalled
//! database that stops nothing else, and clean answers to hostile input.

use std::time::Duration;

use actix_web::http::StatusCode;
use diesel::connection::SimpleConnection;
use futures_util::future::join_all;
use guestbook::settings::{PasswordHashParams, PasswordWork, SecretKey, Settings};

use crate::helpers::{
    Browser, HeldPost, PASSWORD, SharedSite, TestResources, behind_a_proxy, encode, random_string,
    redis_available, spawn_app, spawn_app_with,
};

async fn log_in_from(browser: &mut Browser, address: &str, password: &str) -> crate::helpers::Page {
    browser.log_in_from("tess", password, address).await
}

fn retry_after(page: &crate::helpers::Page) -> u64 {
    page.header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("seconds")
}

// ---------- login throttling ----------

#[actix_web::test]
async fn after_five_failures_a_login_is_429_without_a_hash_and_the_member_still_gets_in() {
    // Arrange: someone guessing a member's password from one address.
    let app = spawn_app_with(behind_a_proxy).await;
    app.create_member("tess").await;
    let mut attacker = app.browser();
    for _ in 0..5 {
        let guess = log_in_from(&mut attacker, "203.0.113.5", "not her password").await;
        assert_eq!(guess.status, StatusCode::UNAUTHORIZED);
    }
    let hashes_before = app.state.passwords.verifications();

    // Act
    let refused = log_in_from(&mut attacker, "203.0.113.5", PASSWORD).await;
    let json = attacker
        .post_with(
            "/login",
            &[("username", "tess"), ("password", PASSWORD)],
            &[
                ("X-Forwarded-For", "203.0.113.5"),
                ("Accept", "application/json"),
            ],
        )
        .await;
    let hashes_after = app.state.passwords.verifications();
    let mut tess = app.browser();
    let her_login = log_in_from(&mut tess, "198.51.100.7", PASSWORD).await;

    // Assert: refused, even with the right password, without running the hash; she gets in
    // from her own address.
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused.body.contains("Too many attempts"),
        "{}",
        refused.body
    );
    assert!((800..=900).contains(&retry_after(&refused)));
    assert_eq!(json.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        json.json()["error"]
            .as_str()
            .unwrap()
            .contains("try again in 15 minutes")
    );
    assert_eq!(hashes_after, hashes_before, "no hash for a refused attempt");
    assert_eq!(her_login.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_success_resets_its_pair() {
    let app = spawn_app_with(behind_a_proxy).await;
    app.create_member("tess").await;
    let mut tess = app.browser();
    for _ in 0..4 {
        log_in_from(&mut tess, "192.0.2.10", "a typo in it").await;
    }
    assert_eq!(
        log_in_from(&mut tess, "192.0.2.10", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    let after: Vec<StatusCode> = {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(
                log_in_from(&mut tess, "192.0.2.10", "a typo in it")
                    .await
                    .status,
            );
        }
        statuses
    };

    assert_eq!(
        &after[..5],
        [StatusCode::UNAUTHORIZED; 5],
        "five fresh failures allowed"
    );
    assert_eq!(after[5], StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn one_address_is_refused_after_its_failures_whatever_the_usernames_and_sign_ups_too() {
    let app = spawn_app_with(|s| {
        behind_a_proxy(s);
        s.security.login_throttle.per_address = 3;
    })
    .await;
    let mut sprayer = app.browser();
    let spray = |name: &'static str| [("username", name), ("password", "password123")];
    for name in ["ann", "ben", "cid"] {
        let page = sprayer
            .post_with(
                "/login",
                &spray(name),
                &[("X-Forwarded-For", "203.0.113.77")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }

    let fourth = sprayer
        .post_with(
            "/login",
            &spray("dee"),
            &[("X-Forwarded-For", "203.0.113.77")],
        )
        .await;
    let elsewhere = sprayer
        .post_with(
            "/login",
            &spray("dee"),
            &[("X-Forwarded-For", "203.0.113.78")],
        )
        .await;
    let mut sign_ups = Vec::new();
    for name in ["x", "y", "z", "w"] {
        let page = sprayer
            .post_with(
                "/signup",
                &[("username", name), ("password", PASSWORD)],
                &[("X-Forwarded-For", "192.0.2.200")],
            )
            .await;
        sign_ups.push(page.status);
    }

    assert_eq!(fourth.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_ups,
        [
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[actix_web::test]
async fn instances_sharing_redis_count_failures_together() {
    if !redis_available("instances_sharing_redis_count_failures_together") {
        return;
    }
    // Arrange: two instances, one database, one Redis, one key prefix.
    let mut site = SharedSite::new();
    let redis = site.redis();
    let shared = |s: &mut Settings| {
        behind_a_proxy(s);
        site.share(s);
        s.cache.backend = redis.clone();
        s.cache.key_prefix.clone_from(&site.redis_prefix);
    };
    let one = spawn_app_with(shared).await;
    let two = spawn_app_with(shared).await;
    one.create_member("tess").await;
    let mut attacker = Browser::at(&one.address);

    // Act: three failures on one, two on the other, then a sixth attempt on the first.
    for _ in 0..3 {
        log_in_from(&mut attacker, "203.0.113.9", "guess").await;
    }
    attacker.address.clone_from(&two.address);
    for _ in 0..2 {
        log_in_from(&mut attacker, "203.0.113.9", "guess").await;
    }
    attacker.address.clone_from(&one.address);
    let sixth = log_in_from(&mut attacker, "203.0.113.9", PASSWORD).await;

    // Assert
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS);
}

// ---------- bounded password work ----------

#[actix_web::test]
async fn a_login_flood_past_the_queue_is_refused_at_once_and_a_member_still_gets_in() {
    // Arrange: real-cost hashes, one hashing thread, two places in its queue.
    let app = spawn_app_with(|s| {
        behind_a_proxy(s);
        s.security.password_hash = PasswordHashParams {
            memory_kib: 64 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        s.security.password_work = PasswordWork {
            threads: 1,
            queue: 2,
        };
    })
    .await;
    app.create_member("tess").await;
    let mut flood: Vec<Browser> = (0..30).map(|_| app.browser()).collect();
    for browser in &mut flood {
        browser.csrf().await;
    }
    let hashes_before = app.state.passwords.verifications();

    // Act: thirty wrong logins at once, each from an address of its own (no throttle).
    let results = join_all(flood.iter_mut().enumerate().map(|(i, browser)| async move {
        log_in_from(browser, &format!("203.0.113.{i}"), "wrong password").await
    }))
    .await;
    let hashes_run = app.state.passwords.verifications() - hashes_before;
    let mut tess = app.browser();
    let mut her_login = log_in_from(&mut tess, "198.51.100.20", PASSWORD).await;
    for _ in 0..50 {
        if her_login.status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        her_login = log_in_from(&mut tess, "198.51.100.20", PASSWORD).await;
    }

    // Assert: what the queue could not take was refused with a 503 and Retry-After, and ran
    // no hash; the member gets in.
    let refused: Vec<_> = results
        .iter()
        .filter(|page| page.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!refused.is_empty(), "the queue of two took all thirty");
    for page in &refused {
        assert!(retry_after(page) >= 1);
        assert!(page.body.contains("is busy right now"), "{}", page.body);
    }
    assert_eq!(
        hashes_run as usize,
        results.len() - refused.len(),
        "a refused login runs no hash"
    );
    assert_eq!(her_login.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_password_longer_than_the_form_allows_is_refused_without_a_hash() {
    let app = spawn_app().await;
    app.create_member("tess").await;
    let mut browser = app.browser();
    let before = app.state.passwords.verifications();

    let page = browser.log_in("tess", &"p".repeat(1025)).await;

    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.passwords.verifications(), before);
}

// ---------- a stalled database ----------

#[actix_web::test]
async fn while_another_process_holds_the_write_lock_pages_and_readiness_still_answer() {
    // Arrange: one blocking thread per worker (the default), and writes waiting for the lock
    // on every worker.
    let app = spawn_app_with(|s| s.database.pool_timeout = Duration::from_secs(3)).await;
    let mut forms = Vec::new();
    for _ in 0..4 {
        let mut writer = app.browser();
        let token = writer.csrf().await;
        let cookies: Vec<String> = ["csrftoken", "sessionid"]
            .into_iter()
            .filter_map(|name| Some(format!("{name}={}", writer.cookie(name)?)))
            .collect();
        let form = encode(&[("comment", "waiting for the lock"), ("csrf_token", &token)]);
        forms.push((cookies.join("; "), form));
    }
    let mut locker = app.db();
    locker
        .batch_execute("BEGIN IMMEDIATE; DELETE FROM members WHERE 0;")
        .unwrap();

    // Act: the writes are in flight (the server has taken each, and its body) and wait;
    // meanwhile a visitor reads.
    let mut writes = Vec::new();
    for (cookies, form) in forms {
        let mut write = HeldPost::start(&app.address, "/comments", &cookies, form).await;
        write.send_body().await;
        writes.push(actix_web::rt::spawn(write.response()));
    }
    let mut reader = app.browser();
    let page = reader.get("/").await;
    let ready = reader.get("/readyz").await;
    let writes_still_waiting = writes.iter().all(|write| !write.is_finished());
    let outcomes = join_all(writes).await;
    locker.batch_execute("COMMIT").unwrap();

    // Assert
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(ready.status, StatusCode::OK);
    assert!(
        writes_still_waiting,
        "the reads answered while the writes waited"
    );
    for outcome in outcomes {
        let answer = outcome.unwrap().expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
        assert!(answer.contains("waiting for the lock"), "the draft is kept");
    }
    assert_eq!(app.count("comments"), 0, "no write happened after its 503");
}

#[actix_web::test]
async fn liveness_needs_nothing_and_readiness_names_only_what_failed() {
    let app = spawn_app().await;
    app.db().batch_execute("DROP TABLE sessions").unwrap();

    let live = app.browser().get("/livez").await;
    let ready = app.browser().get("/readyz").await;

    assert_eq!((live.status, live.body.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body, "database unavailable");
}

// ---------- hostile input ----------

conformance! {
    async fn control_characters_in_any_field_are_a_422_naming_the_field(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        let comment = browser.comment("a\0b").await;
        let login = browser.log_in("al\0ice", PASSWORD).await;
        let password = browser.log_in("alice", "pass\0word").await;
        let sign_up = browser.sign_up("newbie", "bell\u{7}ringer").await;

        assert_eq!(comment.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(comment.body.contains("The comment contains a control character"));
        assert!(comment.body.contains(r#"action="/comments""#), "the form again");
        for (page, field) in [(&login, "username"), (&password, "password"), (&sign_up, "password")] {
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
            assert!(
                page.body.contains(&format!("The {field} contains a control character.")),
                "{}",
                page.body
            );
        }
        assert_eq!(app.count("comments"), 0);
        assert_eq!(app.count("members"), 0);
    }
}

#[actix_web::test]
async fn an_empty_csrf_header_does_not_hide_the_forms_token() {
    let app = spawn_app().await;
    let mut browser = app.browser();
    let token = browser.csrf().await;

    let page = browser
        .post_raw(
            "/comments",
            &encode(&[("comment", "hello"), ("csrf_token", &token)]),
            &[("X-CSRF-Token", "")],
        )
        .await;

    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn origins_are_compared_without_regard_to_case() {
    let app = spawn_app_with(|s| {
        s.security.csrf_trusted_origins = vec!["https://www.example.com".into()];
    })
    .await;
    let mut browser = app.browser();
    let own = browser.address.replace("http://", "HTTP://");
    let token = browser.csrf().await;
    let post = |text: &str| encode(&[("comment", text), ("csrf_token", &token)]);

    let trusted = browser
        .post_raw(
            "/comments",
            &post("one"),
            &[("Origin", "HTTPS://WWW.Example.COM")],
        )
        .await;
    let mut other = app.browser();
    let other_token = other.csrf().await;
    let own_site = other
        .post_raw(
            "/comments",
            &encode(&[("comment", "two"), ("csrf_token", &other_token)]),
            &[("Origin", &own)],
        )
        .await;

    assert_eq!(trusted.status, StatusCode::SEE_OTHER);
    assert_eq!(own_site.status, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_host_name_not_allowed_is_a_400_but_the_health_checks_answer_it() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    let page = browser.get_with("/", &[("Host", "evil.example")]).await;
    let static_file = browser
        .get_with("/static/css/site.css", &[("Host", "evil.example:8000")])
        .await;
    let live = browser
        .get_with("/livez", &[("Host", "10.0.0.7:8000")])
        .await;
    let allowed = browser.get_with("/", &[("Host", "LOCALHOST")]).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("does not answer to that host name"));
    assert_eq!(static_file.status, StatusCode::BAD_REQUEST);
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(allowed.status, StatusCode::OK);
}

#[actix_web::test]
async fn head_answers_every_page_without_a_body() {
    let app = spawn_app().await;
    let client = awc::Client::default();

    for path in [
        "/",
        "/login",
        "/signup",
        "/livez",
        "/readyz",
        "/static/css/site.css",
    ] {
        let mut res = client
            .head(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        let body = res.body().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(body.is_empty(), "{path}");
    }
}

#[actix_web::test]
async fn database_files_are_readable_by_their_owner_only() {
    let app = spawn_app().await;
    app.browser().comment("a write, so the WAL exists").await;
    let database = app.state.settings.database.url.clone();

    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let file = format!("{database}{suffix}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}

#[actix_web::test]
async fn secrets_in_settings_never_appear_in_start_up_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("db.sqlite3").to_string_lossy().into_owned();

    let bad_cache = crate::helpers::run_cli_with_env(
        &["migrate"],
        "",
        &[
            ("DATABASE_URL", &sqlite),
            ("CACHE_URL", "redis://:hunter2@cache.example:notaport/0"),
        ],
    );
    let unreachable_database = crate::helpers::run_cli_with_env(
        &["migrate"],
        "",
        &[
            (
                "DATABASE_URL",
                "postgres://guest:hunter2@127.0.0.1:1/site?password=hunter2",
            ),
            ("SECRET_KEY", &random_string(40)),
        ],
    );

    for output in [bad_cache, unreachable_database] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(!stderr.is_empty());
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[actix_web::test]
async fn a_fallback_signed_session_cookie_in_its_own_cookie_header_is_re_signed() {
    // Arrange: a member logged in before the key was rotated.
    let resources = TestResources::new();
    let database = resources
        .folder("shared")
        .join("db.sqlite3")
        .to_string_lossy()
        .into_owned();
    let (old_key, new_key) = (
        SecretKey::new(random_string(50)).unwrap(),
        SecretKey::new(random_string(50)).unwrap(),
    );
    let before = spawn_app_with(|s| {
        s.database.url.clone_from(&database);
        s.security.secret_key = Some(old_key.clone());
    })
    .await;
    before.create_member("tess").await;
    let mut browser = before.browser();
    browser.log_in("tess", PASSWORD).await;
    let session = browser.session_cookie().unwrap();
    let rotated = spawn_app_with(|s| {
        s.database.url.clone_from(&database);
        s.security.secret_key = Some(new_key);
        s.security.secret_key_fallbacks = vec![old_key];
    })
    .await;

    // Act: the cookies come in two Cookie headers, as HTTP/2 clients send them.
    let mut res = awc::Client::default()
        .get(format!("{}/", rotated.address))
        .append_header(("Cookie", "theme=dark"))
        .append_header(("Cookie", format!("sessionid={session}")))
        .send()
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&res.body().await.unwrap()).into_owned();

    // Assert
    assert!(
        body.contains("Logged in as <strong>tess</strong>"),
        "{body}"
    );
    let resigned = res.cookie("sessionid").expect("re-signed with the new key");
    assert_ne!(resigned.value(), session);
}

// ---------- random input ----------

/// Printable ASCII: what a header can carry.
fn header_text(max: usize) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::strategy::Strategy;
    proptest::collection::vec(32u8..127, 0..max).prop_map(|bytes| String::from_utf8(bytes).unwrap())
}

fn sample<T: std::fmt::Debug>(
    runner: &mut proptest::test_runner::TestRunner,
    strategy: &impl proptest::strategy::Strategy<Value = T>,
) -> T {
    use proptest::strategy::ValueTree;
    strategy.new_tree(runner).unwrap().current()
}

#[actix_web::test]
async fn random_cookies_and_forms_get_a_fresh_session_or_a_4xx_never_a_5xx() {
    use proptest::{arbitrary::any, test_runner::TestRunner};
    // Fallback keys, so the re-signing cookie parser reads every cookie too; no comment
    // throttle, which sixty-four commenters from one address would reach.
    let app = spawn_app_with(|s| {
        s.security.secret_key_fallbacks = vec![SecretKey::new(random_string(40)).unwrap()];
        s.comments.throttle.per_address = 0;
    })
    .await;
    let mut runner = TestRunner::deterministic();
    let client = awc::Client::builder().disable_redirects().finish();

    for _ in 0..64 {
        let cookie = sample(&mut runner, &header_text(200));
        let page = client
            .get(format!("{}/", app.address))
            .insert_header(("Cookie", format!("sessionid={cookie}; {cookie}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "cookie {cookie:?}");

        let body = sample(&mut runner, &any::<Vec<u8>>());
        let posted = client
            .post(format!("{}/comments", app.address))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .send_body(body.clone())
            .await
            .unwrap();
        assert!(
            posted.status().is_client_error(),
            "{body:?}: {}",
            posted.status()
        );

        let mut browser = app.browser();
        let comment = sample(&mut runner, &any::<String>());
        let commented = browser.comment(&comment).await;
        assert!(
            [StatusCode::SEE_OTHER, StatusCode::UNPROCESSABLE_ENTITY].contains(&commented.status),
            "{comment:?}: {}",
            commented.status
        );
    }
}
