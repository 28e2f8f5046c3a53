//! `GET /`, the static files and the health check.

use actix_web::http::StatusCode;
use diesel::connection::SimpleConnection;

use crate::helpers::{Flavor, PASSWORD, spawn_app};

conformance! {
    async fn the_home_page_lists_comments_newest_first_with_author_and_time(flavor) {
        // Arrange
        let app = flavor.spawn_app().await;
        app.create_member("alice").await;
        let mut alice = app.browser();
        alice.log_in("alice", PASSWORD).await;
        assert_eq!(
            alice.comment("Hello from Alice").await.status,
            StatusCode::SEE_OTHER
        );
        let mut anonymous = app.browser();
        assert_eq!(
            anonymous.comment("Hello from nobody").await.status,
            StatusCode::SEE_OTHER
        );

        // Act
        let page = app.browser().get("/").await;

        // Assert
        assert_eq!(page.status, StatusCode::OK);
        let newer = page
            .body
            .find("Hello from nobody")
            .expect("anonymous comment shown");
        let older = page
            .body
            .find("Hello from Alice")
            .expect("member comment shown");
        assert!(newer < older, "newest first");
        assert!(
            page.body
                .contains(r#"<span class="author">Anonymous</span>"#)
        );
        assert!(page.body.contains(r#"<span class="author">alice</span>"#));
        assert!(page.body.contains(" UTC</time>"), "a time is shown");
        assert!(page.body.contains(r#"href="/login""#) && page.body.contains(r#"href="/signup""#));
    }

    async fn a_visitor_who_only_reads_pages_stores_no_session(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        for path in ["/", "/login", "/signup", "/?page=2", "/nowhere"] {
            let page = browser.get(path).await;
            assert!(
                page.set_cookie("sessionid").is_none(),
                "{path} set a session cookie"
            );
        }

        app.assert_stored_sessions(0).await;
    }

    async fn comments_are_paged_twenty_at_a_time(flavor) {
        let app = flavor.spawn_app().await;
        let mut conn = app.db();
        for i in 1..=25 {
            conn.batch_execute(&format!(
                "INSERT INTO comments (body, member_id, visitor_id, created_at) \
                 VALUES ('comment number {i}.', NULL, 'visitor-{i}', '2026-01-01 00:00:00')"
            ))
            .unwrap();
        }

        let first = app.browser().get("/").await;
        let second = app.browser().get("/?page=2").await;

        assert!(first.body.contains("comment number 25.") && first.body.contains("comment number 6."));
        assert!(!first.body.contains("comment number 5."));
        assert!(
            first.body.contains(r#"href="/?page=2""#),
            "link to older comments"
        );
        assert!(second.body.contains("comment number 5.") && second.body.contains("comment number 1."));
        assert!(!second.body.contains("comment number 6."));
        assert!(!second.body.contains(r#"href="/?page=3""#));
    }
}

#[actix_web::test]
async fn a_page_number_that_is_not_a_number_is_a_400_page() {
    let app = spawn_app().await;

    let page = app.browser().get("/?page=abc").await;
    let zero = app.browser().get("/?page=0").await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("<!doctype html>"));
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn every_page_with_a_form_carries_the_csrf_token_in_the_form_and_a_meta_tag() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    for path in ["/", "/login", "/signup"] {
        let page = browser.get(path).await;
        assert!(
            page.csrf_token().is_some(),
            "{path} has no csrf_token field"
        );
        assert!(
            page.meta_csrf_token().is_some(),
            "{path} has no csrf-token meta tag"
        );
        assert_eq!(page.header("vary"), Some("Cookie"), "{path}");
    }
}

#[actix_web::test]
async fn static_files_are_served_with_caching_headers() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    let css = browser.get("/static/css/site.css").await;
    let icon = browser.get("/static/favicon.svg").await;
    let missing = browser.get("/static/nope.css").await;

    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(css.header("cache-control").unwrap().contains("max-age="));
    assert!(css.header("etag").is_some());
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<!doctype html>"));
}

#[actix_web::test]
async fn healthz_answers_ok_when_the_database_answers() {
    for flavor in Flavor::on_each_database("healthz_answers_ok_when_the_database_answers") {
        let app = flavor.spawn_app().await;

        let page = app.browser().get("/healthz").await;

        assert_eq!(page.status, StatusCode::OK, "{flavor:?}");
        assert_eq!(page.body, "ok");
    }
}
