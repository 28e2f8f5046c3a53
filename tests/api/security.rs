//! CSRF protection, session cookie integrity and protective headers.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, encode, spawn_app};

conformance! {
    async fn a_post_without_a_valid_csrf_token_is_a_403_and_changes_nothing(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        let token = browser.csrf().await;

        let missing = browser
            .post_raw("/comments", &encode(&[("comment", "hi")]), &[])
            .await;
        let wrong = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "hi"), ("csrf_token", "AAAA")]),
                &[],
            )
            .await;
        let mut other_token = token.clone();
        other_token.replace_range(0..2, if token.starts_with("AA") { "BB" } else { "AA" });
        let altered = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "hi"), ("csrf_token", &other_token)]),
                &[],
            )
            .await;
        let mut cookieless = app.browser();
        let no_cookie = cookieless
            .post_raw(
                "/comments",
                &encode(&[("comment", "hi"), ("csrf_token", &token)]),
                &[],
            )
            .await;

        for (page, reason) in [
            (&missing, "CSRF token missing."),
            (&wrong, "CSRF token incorrect."),
            (&altered, "CSRF token incorrect."),
            // No cookie at all: the browser refuses cookies, and the form says so.
            (&no_cookie, "did not send this site’s cookies"),
        ] {
            assert_eq!(page.status, StatusCode::FORBIDDEN);
            assert!(page.body.contains(reason), "{reason}: {}", page.body);
            assert!(page.body.contains("<!doctype html>"));
        }
        assert_eq!(app.count("comments"), 0);
        app.assert_stored_sessions(0).await;
    }

    async fn login_logout_and_signup_refuse_a_missing_csrf_token(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("pat").await;
        let mut browser = app.browser();
        browser.csrf().await;

        for (path, body) in [
            (
                "/login",
                encode(&[("username", "pat"), ("password", PASSWORD)]),
            ),
            (
                "/signup",
                encode(&[("username", "quinn"), ("password", PASSWORD)]),
            ),
            ("/logout", String::new()),
        ] {
            let page = browser.post_raw(path, &body, &[]).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(app.count("members"), 1);
        app.assert_stored_sessions(0).await;
    }

    async fn the_token_may_come_in_the_x_csrf_token_header_and_from_the_meta_tag(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        let home = browser.get("/").await;
        let meta_token = home.meta_csrf_token().unwrap();

        let page = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "via header")]),
                &[
                    ("X-CSRF-Token", &meta_token),
                    ("Accept", "application/json"),
                ],
            )
            .await;

        assert_eq!(page.status, StatusCode::CREATED);
    }

    async fn json_clients_get_403_as_json(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        browser.csrf().await;

        let page = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "hi")]),
                &[("Accept", "application/json")],
            )
            .await;

        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(
            page.json()["error"]
                .as_str()
                .unwrap()
                .contains("CSRF token missing.")
        );
    }

    async fn a_post_from_another_origin_is_refused(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        let token = browser.csrf().await;
        let own_origin = browser.address.clone();

        let foreign = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "hi"), ("csrf_token", &token)]),
                &[("Origin", "http://evil.example")],
            )
            .await;
        let own = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "hi"), ("csrf_token", &token)]),
                &[("Origin", &own_origin)],
            )
            .await;

        assert_eq!(foreign.status, StatusCode::FORBIDDEN);
        assert!(foreign.body.contains("Origin checking failed"));
        assert_eq!(own.status, StatusCode::SEE_OTHER);
    }

    async fn a_tampered_session_cookie_is_a_fresh_anonymous_session(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("ruth").await;
        let mut browser = app.browser();
        browser.log_in("ruth", PASSWORD).await;
        let mut key = browser.session_cookie().unwrap();
        let flipped = if key.ends_with('A') { 'B' } else { 'A' };
        key.pop();
        key.push(flipped);

        let mut tampered = app.browser();
        tampered.set_cookie("sessionid", &key);
        let page = tampered.get("/").await;
        let mut garbage = app.browser();
        garbage.set_cookie("sessionid", "../../etc/passwd%00");
        let garbage_page = garbage.get("/").await;

        for page in [&page, &garbage_page] {
            assert_eq!(page.status, StatusCode::OK);
            assert!(!page.body.contains("Logged in as"));
            assert!(page.body.contains(r#"action="/comments""#));
        }
    }

    async fn a_validly_signed_but_unknown_session_key_is_a_fresh_anonymous_session(flavor) {
        let app = flavor.spawn_app().await;
        let chosen_key = "a".repeat(64);
        let forged = app.signed_session_cookie(&chosen_key);
        let mut browser = app.browser();
        browser.set_cookie("sessionid", &forged);

        let page = browser.get("/").await;
        let posted = browser.comment("fresh start").await;

        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(posted.status, StatusCode::SEE_OTHER);
        // A fresh session under a key of the server's choosing, not the one the visitor chose
        // (the cookie is the signature, then the key).
        let cookie = browser.session_cookie().unwrap();
        assert!(!cookie.ends_with(&chosen_key), "the chosen key was kept: {cookie}");
    }

    async fn session_and_csrf_cookies_carry_the_safe_attributes(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        let home = browser.get("/").await;

        let posted = browser.comment("cookie check").await;

        let session = posted.set_cookie("sessionid").expect("session cookie set");
        assert_eq!(session.http_only(), Some(true));
        assert_eq!(session.same_site(), Some(actix_web::cookie::SameSite::Lax));
        assert_eq!(session.path(), Some("/"));
        assert_eq!(
            session.max_age(),
            Some(actix_web::cookie::time::Duration::seconds(1_209_600))
        );
        assert!(
            session.secure() != Some(true),
            "SESSION_COOKIE_SECURE defaults to false"
        );
        let csrf = home.set_cookie("csrftoken").expect("csrf cookie set");
        assert_eq!(csrf.same_site(), Some(actix_web::cookie::SameSite::Lax));
        // Never in the session: the cookie holds a signed random secret, not a session key.
        assert_ne!(csrf.value(), session.value());
    }
}

#[actix_web::test]
async fn pages_send_protective_headers() {
    let app = spawn_app().await;

    let page = app.browser().get("/").await;

    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("vary"), Some("Cookie"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
}
