//! Request ids, JSON logs and the Prometheus metrics on `METRICS_ADDR`.

use actix_web::http::StatusCode;
use guestbook::settings::SessionEngineKind;

use crate::helpers::{Server, TestApp, random_string, run_cli_with_env, spawn_app, spawn_app_with};

/// A fresh id: 32 hex digits.
fn is_generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[actix_web::test]
async fn every_response_carries_a_request_id_error_pages_included() {
    // Arrange: the file engine, so that removing its folder makes the session save fail.
    let app = spawn_app_with(|s| s.session.engine = SessionEngineKind::File).await;
    let mut browser = app.browser();

    // Act
    let home = browser.get("/").await;
    let again = browser.get("/").await;
    let missing = browser.get("/no/such/page").await;
    let too_large = browser
        .post_raw("/comments", &"a".repeat(100 * 1024), &[])
        .await;
    std::fs::remove_dir(&app.state.settings.session.file_path).unwrap();
    let store_failed = browser.comment("while the folder is gone").await;

    // Assert
    let id = |page: &crate::helpers::Page| page.header("x-request-id").map(str::to_owned);
    for (page, status) in [
        (&home, StatusCode::OK),
        (&missing, StatusCode::NOT_FOUND),
        (&too_large, StatusCode::PAYLOAD_TOO_LARGE),
        // A failure inside the middleware stack, rendered by `render_errors`.
        (&store_failed, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        assert_eq!(page.status, status, "{}", page.body);
        let id = id(page).unwrap_or_else(|| panic!("no X-Request-Id on the {status} page"));
        assert!(is_generated(&id), "{id}");
    }
    assert_ne!(id(&home), id(&again), "one id per request");
}

#[actix_web::test]
async fn a_request_id_is_taken_from_a_trusted_proxy_and_replaced_from_anyone_else() {
    // Arrange
    let behind_proxy = spawn_app_with(|s| {
        s.security.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let direct = spawn_app().await;
    let given = format!("lb-{}", random_string(20));

    // Act
    let from_proxy = behind_proxy
        .browser()
        .get_with("/", &[("X-Request-Id", &given)])
        .await;
    let insane = behind_proxy
        .browser()
        .get_with("/", &[("X-Request-Id", &"x".repeat(500))])
        .await;
    let from_client = direct
        .browser()
        .get_with("/", &[("X-Request-Id", &given)])
        .await;

    // Assert
    assert_eq!(from_proxy.header("x-request-id"), Some(given.as_str()));
    assert!(is_generated(insane.header("x-request-id").unwrap()));
    let replaced = from_client.header("x-request-id").unwrap();
    assert!(is_generated(replaced), "{replaced}");
}

/// The value of the series `name` whose labels include `labels`, summed; 0 when absent.
fn metric(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, series_labels) = series
                .split_once('{')
                .map_or((*series, ""), |(n, l)| (n, l.trim_end_matches('}')));
            let series_labels: Vec<&str> = series_labels.split(',').collect();
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"").as_str()))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let address = app.metrics_address.as_ref().expect("METRICS_ADDR is set");
    let mut res = awc::Client::default()
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers().get("content-type").unwrap().to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
}

async fn spawn_app_with_metrics(engine: SessionEngineKind) -> TestApp {
    spawn_app_with(|s| {
        s.observability.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        s.session.engine = engine;
    })
    .await
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_and_status_on_their_own_address() {
    // Arrange: the metrics are shared by every app in this process, so the test compares
    // counts before and after its own requests.
    let app = spawn_app_with_metrics(SessionEngineKind::Db).await;
    let before = scrape(&app).await;
    let mut browser = app.browser();
    let unknown = format!("/unknown-{}", random_string(16));

    // Act
    for _ in 0..3 {
        let page = browser.get("/account/sessions").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "members only");
    }
    assert_eq!(browser.get(&unknown).await.status, StatusCode::NOT_FOUND);
    let on_main_address = browser.get("/metrics").await;
    let after = scrape(&app).await;

    // Assert
    let delta = |name: &str, labels: &[(&str, &str)]| {
        metric(&after, name, labels) - metric(&before, name, labels)
    };
    let sessions_page = [
        ("route", "/account/sessions"),
        ("method", "GET"),
        ("status", "303"),
    ];
    assert!(delta("guestbook_http_requests_total", &sessions_page) >= 3.0);
    assert!(
        delta(
            "guestbook_http_request_duration_seconds_count",
            &sessions_page
        ) >= 3.0
    );
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(delta("guestbook_http_requests_total", &unmatched) >= 2.0);
    assert!(
        !after.contains(&unknown),
        "raw paths never become label values"
    );
    assert_eq!(on_main_address.status, StatusCode::NOT_FOUND);
    assert!(
        !on_main_address
            .body
            .contains("guestbook_http_requests_total")
    );
    assert!(metric(&after, "guestbook_db_pool_size", &[]) >= 1.0);
    assert!(after.contains("guestbook_db_pool_connections{state=\"idle\"}"));
    assert!(after.contains("guestbook_db_pool_connections{state=\"in_use\"}"));
}

#[actix_web::test]
async fn metrics_say_which_build_answers_and_what_the_process_uses() {
    // Arrange
    let app = spawn_app_with_metrics(SessionEngineKind::Db).await;
    let mut browser = app.browser();

    // Act
    browser.get("/").await;
    let body = scrape(&app).await;

    // Assert: one build-info series, this crate's version; the process's own metrics under
    // their standard names; request durations bucketed from 100 µs.
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(
        metric(&body, "guestbook_build_info", &version),
        1.0,
        "{body}"
    );
    assert!(body.contains("guestbook_build_info{bundled=\""), "{body}");
    assert!(metric(&body, "process_resident_memory_bytes", &[]) > 1e6);
    assert!(metric(&body, "process_start_time_seconds", &[]) > 1.7e9);
    assert!(body.contains("\nprocess_cpu_seconds_total "), "{body}");
    assert!(metric(&body, "process_open_fds", &[]) >= 3.0);
    let home = [("route", "/"), ("method", "GET"), ("status", "200")];
    let first_bucket = [home[0], home[1], home[2], ("le", "0.0001")];
    assert!(
        body.lines().any(
            |line| line.starts_with("guestbook_http_request_duration_seconds_bucket")
                && line.contains("le=\"0.0001\"")
        ),
        "{body}"
    );
    // Every request is in the last bucket, and none takes less than nothing.
    let all = metric(
        &body,
        "guestbook_http_request_duration_seconds_count",
        &home,
    );
    assert!(all >= 1.0);
    assert!(
        metric(
            &body,
            "guestbook_http_request_duration_seconds_bucket",
            &first_bucket
        ) <= all
    );
}

#[actix_web::test]
async fn metrics_count_session_operations_by_engine_and_outcome() {
    // Arrange
    let app = spawn_app_with_metrics(SessionEngineKind::File).await;
    let before = scrape(&app).await;
    let mut browser = app.browser();

    // Act: a comment stores a session, the next page loads it; then the folder goes and the
    // next visitor's save fails.
    assert_eq!(
        browser.comment("counted").await.status,
        StatusCode::SEE_OTHER
    );
    browser.get("/").await;
    std::fs::remove_dir_all(&app.state.settings.session.file_path).unwrap();
    let failed = app.browser().comment("not saved").await;
    let after = scrape(&app).await;

    // Assert
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    let delta = |operation: &str, outcome: &str| {
        let labels = [
            ("engine", "file"),
            ("operation", operation),
            ("outcome", outcome),
        ];
        metric(&after, "guestbook_session_operations_total", &labels)
            - metric(&before, "guestbook_session_operations_total", &labels)
    };
    assert!(delta("save", "ok") >= 1.0, "{after}");
    assert!(delta("load", "ok") >= 1.0, "{after}");
    assert!(delta("save", "error") >= 1.0, "{after}");
}

#[actix_web::test]
async fn without_metrics_addr_there_is_no_metrics_listener() {
    let app = spawn_app().await;

    let on_main_address = app.browser().get("/metrics").await;

    assert!(app.metrics_address.is_none());
    assert_eq!(on_main_address.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn with_log_format_json_every_line_of_a_request_carries_its_id() {
    // Arrange: a real server logging JSON, with a DEBUG line logged inside a request (a host
    // name it does not answer to), behind a trusted proxy that names its requests.
    let server = Server::start(&[
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info,guestbook::security::hosts=debug"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let given = format!("trace-{}", random_string(16));
    let client = awc::Client::default();

    // Act
    let res = client
        .get(format!("{}/?page=1&secret=hunter2", server.address))
        .insert_header(("X-Request-Id", given.as_str()))
        .insert_header(("Host", "evil.example"))
        .send()
        .await
        .unwrap();
    let logged = server.stop();

    // Assert
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.headers().get("x-request-id").unwrap().to_str().unwrap(),
        given
    );
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let of_request: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["span"]["request_id"] == given.as_str())
        .collect();
    let request_line = of_request
        .iter()
        .find(|line| line["target"] == "guestbook::request")
        .unwrap_or_else(|| panic!("no request line with the id:\n{logged}"));
    assert_eq!(request_line["method"], "GET");
    assert_eq!(request_line["path"], "/", "never the query string");
    assert_eq!(request_line["status"], 400);
    assert_eq!(request_line["client"], "127.0.0.1");
    assert!(
        of_request
            .iter()
            .any(|line| line["level"] == "DEBUG" && line["target"] == "guestbook::security::hosts"),
        "the line logged while handling the request has its id:\n{logged}"
    );
    assert!(!logged.contains("hunter2"));
}

#[test]
fn an_invalid_log_format_stops_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("db.sqlite3");

    let out = run_cli_with_env(
        &["migrate"],
        "",
        &[
            ("DATABASE_URL", database.to_str().unwrap()),
            ("LOG_FORMAT", "xml"),
        ],
    );

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LOG_FORMAT"), "{stderr}");
}
