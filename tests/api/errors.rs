//! Error pages: every refusal and failure is a styled page or JSON, and loses nothing.

use actix_web::http::StatusCode;
use diesel::connection::SimpleConnection;

use crate::helpers::{Flavor, PASSWORD, encode, spawn_app};

#[actix_web::test]
async fn unknown_pages_are_a_styled_404_or_json_404() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    let page = browser.get("/no/such/page").await;
    let json = browser
        .get_with("/no/such/page", &[("Accept", "application/json")])
        .await;

    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("<!doctype html>") && page.body.contains("/static/css/site.css"));
    assert!(
        page.body
            .contains("<h1 id=\"error-title\">Page not found</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Error code 404"),
        "the code, as a footnote"
    );
    assert_eq!(json.status, StatusCode::NOT_FOUND);
    assert_eq!(
        json.json(),
        serde_json::json!({"error": "There is no page at this address."})
    );
}

#[actix_web::test]
async fn a_wrong_method_is_a_styled_405() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    for path in ["/comments", "/logout"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert!(page.body.contains("<!doctype html>"), "{path}");
        assert!(
            page.body.contains("That cannot be done here"),
            "{}",
            page.body
        );
        assert_eq!(page.header("allow"), Some("POST"), "{path}");
    }
    let json = browser
        .get_with("/comments", &[("Accept", "application/json")])
        .await;
    assert_eq!(
        json.json()["error"],
        "This page cannot be used that way: use the site's own links and forms."
    );
}

#[actix_web::test]
async fn a_body_too_large_is_a_413_before_the_csrf_check() {
    let app = spawn_app().await;
    let mut browser = app.browser();
    let huge = encode(&[("comment", &"x".repeat(100_000))]);

    let page = browser.post_raw("/comments", &huge, &[]).await;
    let json = browser
        .post_raw("/comments", &huge, &[("Accept", "application/json")])
        .await;

    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.body.contains("<!doctype html>") && page.body.contains("too much to send"));
    assert_eq!(json.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json.json(),
        serde_json::json!({"error": "What you sent is more than this site accepts: a comment is up to 2,000 characters."})
    );
    assert_eq!(app.count("comments"), 0);
}

#[actix_web::test]
async fn a_body_that_is_not_a_form_is_a_400_that_says_so() {
    let app = spawn_app().await;
    let mut browser = app.browser();
    let token = browser.csrf().await;

    let page = browser
        .post_raw(
            "/comments",
            "{}",
            &[
                ("Content-Type", "application/json"),
                ("X-CSRF-Token", &token),
            ],
        )
        .await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("application/x-www-form-urlencoded"),
        "{}",
        page.body
    );
}

/// Percent-encoded bytes that are not UTF-8 (`%C0%AF` is an overlong `/`, `%FF` is never part
/// of UTF-8) used to be read as U+FFFD and stored so. Every form refuses them with a `400`
/// that says why, before anything is done.
#[actix_web::test]
async fn a_form_that_is_not_valid_utf8_is_a_400_that_says_so_and_stores_nothing() {
    let app = spawn_app().await;
    app.create_member("uri").await;
    let mut browser = app.browser();
    let token = browser.csrf().await;
    let with_token = |fields: &str| format!("{fields}&csrf_token={token}");

    let comment = browser
        .post_raw("/comments", &with_token("comment=%C0%AF%FF"), &[])
        .await;
    let json = browser
        .post_raw(
            "/comments",
            &with_token("comment=caf%E9"),
            &[("Accept", "application/json")],
        )
        .await;
    let login = browser
        .post_raw(
            "/login",
            &with_token(&format!(
                "username=ur%FFi&password={}",
                PASSWORD.replace(' ', "+")
            )),
            &[],
        )
        .await;
    let home = browser.get("/").await;

    assert_eq!(comment.status, StatusCode::BAD_REQUEST, "{}", comment.body);
    assert!(comment.body.contains("<!doctype html>"), "a styled page");
    assert!(comment.body.contains("not valid UTF-8"), "{}", comment.body);
    assert_eq!(json.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json.json(),
        serde_json::json!({"error": "The form could not be read: it is not valid UTF-8."})
    );
    assert_eq!(login.status, StatusCode::BAD_REQUEST, "{}", login.body);
    assert!(login.body.contains("not valid UTF-8"), "{}", login.body);
    assert_eq!(app.count("comments"), 0, "nothing stored");
    app.assert_stored_sessions(0).await;
    assert!(
        home.body.contains(r#"action="/comments""#),
        "still free to comment"
    );
    // Valid UTF-8, percent-encoded or not, still goes through.
    let posted = browser
        .post_raw(
            "/comments",
            &with_token("comment=caf%C3%A9+%E2%9C%93+déjà"),
            &[],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
}

conformance! {
    async fn a_server_error_is_a_styled_500_and_leaves_the_session_unstored(flavor) {
        // Arrange: break the comments table so storing a comment fails.
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        browser.csrf().await;
        app.db().batch_execute("DROP TABLE comments").unwrap();

        // Act: the request puts a visitor id in a new session, then fails.
        let page = browser.comment("doomed").await;
        let json = browser
            .post_json("/comments", &[("comment", "doomed")])
            .await;

        // Assert
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(page.body.contains("Something went wrong on our side"));
        assert!(!page.body.contains("no such table"), "no internals leak");
        assert_eq!(
            json.json(),
            serde_json::json!({"error": "Something went wrong on our side. It has been logged."})
        );
        assert!(page.set_cookie("sessionid").is_none());
        app.assert_stored_sessions(0).await;
    }
}

#[actix_web::test]
async fn a_locked_database_is_a_503_that_loses_nothing_and_the_site_recovers() {
    // Arrange: a logged-in member, then another process takes the write lock and keeps it.
    let app = spawn_app().await;
    app.create_member("sam").await;
    let mut sam = app.browser();
    sam.log_in("sam", PASSWORD).await;
    let mut visitor = app.browser();
    visitor.csrf().await;
    let mut locker = app.db();
    locker
        .batch_execute("BEGIN IMMEDIATE; DELETE FROM members WHERE 0;")
        .unwrap();

    // Act: a write in a handler, a write in the session store, and a read.
    let comment = sam.comment("during the outage").await;
    let login = visitor
        .post_json("/login", &[("username", "sam"), ("password", PASSWORD)])
        .await;
    let read = sam.get("/").await;
    locker.batch_execute("COMMIT").unwrap();
    drop(locker);
    let after = sam.comment("after the outage").await;

    // Assert
    assert_eq!(comment.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        comment
            .body
            .contains("The database is unavailable right now"),
        "{}",
        comment.body
    );
    assert!(comment.body.contains("<!doctype html>"));
    assert!(
        comment.body.contains("during the outage"),
        "the 503 page gives the comment back"
    );
    assert_eq!(login.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        login.json()["error"]
            .as_str()
            .unwrap()
            .contains("The session store is unavailable"),
        "{}",
        login.body
    );
    assert_eq!(
        read.status,
        StatusCode::OK,
        "readers are not blocked by a writer (WAL)"
    );
    assert!(read.body.contains("Logged in as <strong>sam</strong>"));
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the site recovered");
    assert_eq!(app.count("comments"), 1);
    app.assert_stored_sessions(1).await;
}

#[actix_web::test]
async fn healthz_is_a_503_naming_the_database_when_it_fails() {
    for flavor in Flavor::on_each_database("healthz_is_a_503_naming_the_database_when_it_fails") {
        let app = flavor.spawn_app().await;
        app.db().batch_execute("DROP TABLE sessions").unwrap();

        let health = app.browser().get("/healthz").await;

        assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{flavor:?}");
        assert_eq!(
            health.body, "database unavailable",
            "the reason is logged, not shown"
        );
    }
}

#[actix_web::test]
async fn error_pages_keep_the_members_header_links() {
    let app = spawn_app().await;
    app.create_member("kim").await;
    let mut member = app.browser();
    member.log_in("kim", crate::helpers::PASSWORD).await;
    let mut stranger = app.browser();
    stranger.get("/").await;

    let not_found = member.get("/no/such/page").await;
    let not_allowed = member.get("/comments").await;
    let strangers = stranger.get("/no/such/page").await;

    for page in [&not_found, &not_allowed] {
        assert!(
            page.body.contains("Logged in as <strong>kim</strong>"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains(r#"action="/logout""#),
            "with a working Log out"
        );
    }
    assert!(
        strangers.body.contains(r#"href="/login""#),
        "{}",
        strangers.body
    );
    assert!(!strangers.body.contains("Logged in as"));
}
