//! The protective headers `startup` adds to every response, checked value for value:
//! `Referrer-Policy` and the `Content-Security-Policy` that docs/security.md describes (this
//! site's own scripts, styles and images only, no inline ones, no framing, forms only to
//! itself). The browser tests show the policy breaks nothing; these show it is sent.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, spawn_app};

/// The policy, as docs/security.md describes it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

#[actix_web::test]
async fn every_kind_of_response_sends_the_referrer_and_content_security_policies() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    let responses = [
        (
            "the home page",
            browser.get("/").await,
            StatusCode::OK,
            "text/html",
        ),
        (
            "the 404 page",
            browser.get("/nowhere").await,
            StatusCode::NOT_FOUND,
            "text/html",
        ),
        (
            "a JSON answer",
            browser
                .post_json("/signup", &[("username", "nina"), ("password", PASSWORD)])
                .await,
            StatusCode::CREATED,
            "application/json",
        ),
        (
            "a JSON 404",
            browser
                .get_with("/nowhere", &[("Accept", "application/json")])
                .await,
            StatusCode::NOT_FOUND,
            "application/json",
        ),
        (
            "the stylesheet",
            browser.get("/static/css/site.css").await,
            StatusCode::OK,
            "text/css",
        ),
        (
            "a missing static file",
            browser.get("/static/css/nowhere.css").await,
            StatusCode::NOT_FOUND,
            "text/html",
        ),
        (
            "the health check",
            browser.get("/livez").await,
            StatusCode::OK,
            "text/plain",
        ),
    ];

    for (what, response, status, content_type) in responses {
        // Each response is what it claims to be, so the headers below are checked on it.
        assert_eq!(response.status, status, "{what}: {}", response.body);
        assert!(
            response
                .header("content-type")
                .is_some_and(|value| value.starts_with(content_type)),
            "{what}: content-type {:?}",
            response.header("content-type")
        );
        assert_eq!(
            response.header("referrer-policy"),
            Some("same-origin"),
            "{what}"
        );
        assert_eq!(
            response.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY),
            "{what}"
        );
        assert_eq!(
            response.headers.get_all("content-security-policy").count(),
            1,
            "{what}: one policy, not two to be combined"
        );
    }
}
