//! Signing up, logging in and logging out.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, encode};

conformance! {
    async fn signing_up_creates_the_member_and_logs_them_in(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        let signed_up = browser.sign_up("dora", PASSWORD).await;
        let home = browser.get("/").await;

        assert_eq!(signed_up.status, StatusCode::SEE_OTHER);
        assert_eq!(signed_up.header("location"), Some("/"));
        assert!(signed_up.set_cookie("sessionid").is_some());
        assert!(
            home.body.contains(r#"Welcome, <strong dir="auto">dora</strong>!"#),
            "the welcome names the account: {}",
            home.body
        );
        assert!(home.body.contains("Logged in as <strong>dora</strong>"));
        assert!(home.body.contains(r#"action="/logout""#));
        assert_eq!(app.count("members"), 1);
    }

    async fn sign_up_refuses_bad_usernames_short_passwords_and_taken_names_with_422(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("Erin").await;
        let mut browser = app.browser();

        let cases = [
            ("ab", PASSWORD, "Usernames are 3 to 32 characters"),
            ("has space", PASSWORD, "Usernames are 3 to 32 characters"),
            (
                &*"x".repeat(33),
                PASSWORD,
                "Usernames are 3 to 32 characters",
            ),
            ("frank", "short", "Passwords are 8 to 1024 characters"),
            (
                "frank",
                &*"p".repeat(1025),
                "Passwords are 8 to 1024 characters",
            ),
            ("erin", PASSWORD, "That username is taken."),
            ("ERIN", PASSWORD, "That username is taken."),
        ];
        for (username, password, reason) in cases {
            let page = browser.sign_up(username, password).await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{username}");
            assert!(page.body.contains(reason), "{username}: {}", page.body);
            assert!(page.body.contains(r#"action="/signup""#), "the form again");
        }
        assert_eq!(app.count("members"), 1);
        app.assert_stored_sessions(0).await;
    }

    async fn logging_in_rotates_the_session_key_and_keeps_the_sessions_data(flavor) {
        // Arrange: a visitor who commented, so their session exists.
        let app = flavor.spawn_app().await;
        app.create_member("gina").await;
        let mut browser = app.browser();
        browser.comment("before login").await;
        let key_before = browser.session_cookie().expect("a session");

        // Act
        let logged_in = browser.log_in("gina", PASSWORD).await;
        let home = browser.get("/").await;

        // Assert
        assert_eq!(logged_in.status, StatusCode::SEE_OTHER);
        let key_after = browser.session_cookie().expect("still a session");
        assert_ne!(key_before, key_after, "the key rotated");
        assert!(home.body.contains("Logged in as <strong>gina</strong>"));
        assert!(home.body.contains("logged in."));
        assert!(
            !home.body.contains(r#"action="/comments""#),
            "has_commented survived the login"
        );
        // The old key is dead (where sessions can be revoked at all).
        if app.revocable() {
            let mut replay = app.browser();
            replay.set_cookie("sessionid", &key_before);
            let replayed = replay.get("/").await;
            assert!(!replayed.body.contains("Logged in as"));
            assert!(
                replayed.body.contains(r#"action="/comments""#),
                "the old key carries nothing"
            );
        }
    }

    async fn usernames_match_case_insensitively_at_login(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("Hank").await;
        let mut browser = app.browser();

        let page = browser.log_in("hANK", PASSWORD).await;

        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(
            browser
                .get("/")
                .await
                .body
                .contains("Logged in as <strong>Hank</strong>")
        );
    }

    async fn a_wrong_password_and_an_unknown_username_both_get_401_after_one_verification_each(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("ivan").await;
        let mut browser = app.browser();
        let before = app.state.passwords.verifications();

        let wrong_password = browser.log_in("ivan", "not the password").await;
        let after_wrong = app.state.passwords.verifications();
        let unknown_user = browser.log_in("nobody-here", PASSWORD).await;
        let after_unknown = app.state.passwords.verifications();

        for page in [&wrong_password, &unknown_user] {
            assert_eq!(page.status, StatusCode::UNAUTHORIZED);
            assert!(
                page.body
                    .contains("Your username and password didn&#39;t match.")
                    || page
                        .body
                        .contains("Your username and password didn't match.")
            );
            assert!(page.body.contains(r#"action="/login""#));
        }
        assert_eq!(after_wrong - before, 1);
        assert_eq!(
            after_unknown - after_wrong,
            1,
            "the unknown username ran the dummy verification"
        );
        app.assert_stored_sessions(0).await;
    }

    async fn logging_out_removes_the_member_rotates_the_key_and_keeps_has_commented(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("judy").await;
        let mut browser = app.browser();
        browser.log_in("judy", PASSWORD).await;
        browser.comment("judy was here").await;
        let logged_in_key = browser.session_cookie().unwrap();

        let logged_out = browser.post("/logout", &[]).await;
        let home = browser.get("/").await;

        assert_eq!(logged_out.status, StatusCode::SEE_OTHER);
        let key_after = browser
            .session_cookie()
            .expect("the session goes on: it holds has_commented");
        assert_ne!(key_after, logged_in_key);
        assert!(home.body.contains("logged out."));
        assert!(!home.body.contains("Logged in as"));
        assert!(
            !home.body.contains(r#"action="/comments""#),
            "has_commented survived the logout"
        );
        if app.revocable() {
            let mut replay = app.browser();
            replay.set_cookie("sessionid", &logged_in_key);
            assert!(
                !replay.get("/").await.body.contains("Logged in as"),
                "the old key authenticates no one"
            );
        }
        app.assert_stored_sessions(1).await;
    }

    async fn logging_out_a_session_with_nothing_else_in_it_ends_the_session(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("kim").await;
        let mut browser = app.browser();
        browser.log_in("kim", PASSWORD).await;
        let key = browser.session_cookie().unwrap();
        app.assert_stored_sessions(1).await;

        let logged_out = browser.post("/logout", &[]).await;

        assert_eq!(logged_out.status, StatusCode::SEE_OTHER);
        let removal = logged_out
            .set_cookie("sessionid")
            .expect("the cookie is removed");
        assert!(removal.max_age().is_some_and(|age| age.is_zero()) || removal.value().is_empty());
        assert!(browser.session_cookie().is_none());
        app.assert_stored_sessions(0).await;
        assert!(browser.get("/").await.body.contains("logged out."));
        if app.revocable() {
            let mut replay = app.browser();
            replay.set_cookie("sessionid", &key);
            assert!(!replay.get("/").await.body.contains("Logged in as"));
        }
    }

    async fn logging_out_when_nobody_is_logged_in_is_harmless(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        let page = browser.post("/logout", &[]).await;

        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(browser.get("/").await.body.contains("logged out."));
        app.assert_stored_sessions(0).await;
    }

    async fn a_different_member_logging_in_does_not_inherit_the_previous_ones_session(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("leo").await;
        app.create_member("mia").await;
        let mut browser = app.browser();
        browser.log_in("leo", PASSWORD).await;
        browser.comment("leo's comment").await;

        browser.log_in("mia", PASSWORD).await;
        let home = browser.get("/").await;

        assert!(home.body.contains("Logged in as <strong>mia</strong>"));
        assert!(
            home.body.contains(r#"action="/comments""#),
            "Leo's has_commented is not Mia's"
        );
        // Nor is his visitor id: Mia is a visitor of her own, with a comment of her own.
        assert_eq!(browser.comment("mia's comment").await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("comments"), 2);
    }

    async fn json_clients_get_200_201_and_401_with_messages_and_no_flash(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        let signed_up = browser
            .post_json("/signup", &[("username", "nina"), ("password", PASSWORD)])
            .await;
        let logged_out = browser.post_json("/logout", &[]).await;
        let bad = browser
            .post_json(
                "/login",
                &[("username", "nina"), ("password", "wrong password")],
            )
            .await;
        let logged_in = browser
            .post_json("/login", &[("username", "nina"), ("password", PASSWORD)])
            .await;
        let invalid = browser
            .post_json("/signup", &[("username", "x"), ("password", PASSWORD)])
            .await;

        assert_eq!(signed_up.status, StatusCode::CREATED);
        assert_eq!(
            signed_up.json(),
            serde_json::json!({"message": "Welcome! Your account is made, and you're logged in."})
        );
        assert_eq!(logged_out.status, StatusCode::OK);
        assert_eq!(
            logged_out.json(),
            serde_json::json!({"message": "You're logged out."})
        );
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            bad.json(),
            serde_json::json!({"message": "Your username and password didn't match."})
        );
        assert_eq!(logged_in.status, StatusCode::OK);
        assert_eq!(
            logged_in.json(),
            serde_json::json!({"message": "You're logged in."})
        );
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            invalid.json()["error"]
                .as_str()
                .unwrap()
                .contains("Usernames are 3 to 32 characters")
        );
        for page in [&signed_up, &logged_out, &bad, &logged_in, &invalid] {
            assert!(page.set_cookie("messages").is_none());
        }
    }

    async fn the_csrf_token_rotates_at_login(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("omar").await;
        let mut browser = app.browser();
        let old_token = browser.csrf().await;
        let old_cookie = browser.cookie("csrftoken").unwrap();

        browser.log_in("omar", PASSWORD).await;
        let new_cookie = browser.cookie("csrftoken").unwrap();

        assert_ne!(old_cookie, new_cookie);
        // A form rendered before login no longer passes.
        let stale = browser
            .post_raw(
                "/comments",
                &encode(&[("comment", "x"), ("csrf_token", &old_token)]),
                &[],
            )
            .await;
        assert_eq!(stale.status, StatusCode::FORBIDDEN);
    }
}
