//! `POST /comments`: one comment per visitor.

use actix_web::http::StatusCode;
use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};

use crate::helpers::{PASSWORD, TestApp, encode};

#[derive(QueryableByName)]
struct Body {
    #[diesel(sql_type = Text)]
    body: String,
}

fn stored_bodies(app: &TestApp) -> Vec<String> {
    diesel::sql_query("SELECT body FROM comments ORDER BY id")
        .load::<Body>(&mut app.db())
        .unwrap()
        .into_iter()
        .map(|b| b.body)
        .collect()
}

conformance! {
    async fn a_first_comment_is_stored_and_thanked_once(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        let posted = browser.comment("What a lovely site").await;
        let home = browser.get("/").await;
        let again = browser.get("/").await;

        assert_eq!(posted.status, StatusCode::SEE_OTHER);
        assert_eq!(posted.header("location"), Some("/"));
        assert!(home.body.contains("Thanks for your comment!"));
        assert!(
            !again.body.contains("Thanks for your comment!"),
            "the message shows once"
        );
        assert!(
            !home.body.contains(r#"action="/comments""#),
            "no form once commented"
        );
        assert_eq!(stored_bodies(&app), ["What a lovely site"]);
    }

    async fn a_second_comment_is_refused_with_409_and_not_stored(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        browser.comment("first").await;

        let second = browser.comment("second").await;

        assert_eq!(second.status, StatusCode::CONFLICT);
        assert!(
            second.body.contains("You have already left your comment: each visitor leaves one")
        );
        assert_eq!(stored_bodies(&app), ["first"]);
    }

    async fn a_visitor_who_has_commented_gets_409_whatever_the_body(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        browser.comment("first").await;

        let empty = browser.comment("").await;
        let too_long = browser.comment(&"x".repeat(3000)).await;

        assert_eq!(empty.status, StatusCode::CONFLICT);
        assert_eq!(too_long.status, StatusCode::CONFLICT);
    }

    async fn an_empty_or_missing_comment_is_a_422_and_leaves_the_visitor_free_to_comment(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        let blank = browser.comment("  \r\n\t ").await;
        let token = browser.csrf().await;
        let missing = browser
            .post_raw("/comments", &encode(&[("csrf_token", &token)]), &[])
            .await;
        let then = browser.comment("now for real").await;

        assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(blank.body.contains("Your comment is empty."));
        assert!(
            blank.body.contains(r#"action="/comments""#),
            "the form is shown again"
        );
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            then.status,
            StatusCode::SEE_OTHER,
            "the session was not marked"
        );
        assert_eq!(stored_bodies(&app), ["now for real"]);
    }

    async fn a_comment_over_2000_characters_is_a_422_that_keeps_the_text(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        let long = "é".repeat(2001);

        let refused = browser.comment(&long).await;

        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("too long"));
        assert!(
            refused.body.contains(&long),
            "the visitor's text is not lost"
        );
        assert!(stored_bodies(&app).is_empty());
    }

    async fn exactly_2000_characters_are_accepted(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        let text = "é".repeat(2000);

        let posted = browser.comment(&format!("  {text}\n")).await;

        assert_eq!(posted.status, StatusCode::SEE_OTHER);
        assert_eq!(stored_bodies(&app), [text]);
    }

    async fn comments_are_trimmed_and_line_breaks_normalised(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        browser
            .comment("  line one\r\nline two\rline three  ")
            .await;

        assert_eq!(stored_bodies(&app), ["line one\nline two\nline three"]);
    }

    async fn comments_are_html_escaped(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        browser.comment("<script>alert('x')</script>").await;
        let home = browser.get("/").await;

        assert!(!home.body.contains("<script>alert"));
        assert!(
            home.body
                .contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"),
            "escaped, not dropped"
        );
    }

    async fn a_members_comment_is_attributed_to_them(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("bob").await;
        let mut bob = app.browser();
        bob.log_in("bob", PASSWORD).await;

        bob.comment("signed, bob").await;
        let home = app.browser().get("/").await;

        assert!(home.body.contains(r#"<span class="author" dir="auto">bob</span>"#));
    }

    async fn json_clients_get_201_409_and_422_with_no_flash_message(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        let empty = browser.post_json("/comments", &[("comment", "")]).await;
        let stored = browser
            .post_json("/comments", &[("comment", "via JSON")])
            .await;
        let again = browser
            .post_json("/comments", &[("comment", "again")])
            .await;

        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            empty.json(),
            serde_json::json!({"error": "Your comment is empty."})
        );
        assert_eq!(stored.status, StatusCode::CREATED);
        assert_eq!(
            stored.json(),
            serde_json::json!({"message": "Thanks for your comment!"})
        );
        assert!(
            stored.set_cookie("messages").is_none(),
            "no flash message for JSON"
        );
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(
            again.json(),
            serde_json::json!({"message": "You have already left your comment: each visitor leaves one, so this one was not posted."})
        );
    }

    async fn posts_from_many_tabs_before_there_is_a_session_store_exactly_one_comment(flavor) {
        // Arrange: a browser that has read the page (so it has its CSRF cookie) and has no
        // session yet.
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        let token = browser.csrf().await;
        assert!(browser.session_cookie().is_none());
        let body = encode(&[("comment", "from every tab"), ("csrf_token", &token)]);

        // Act: twenty posts at once, as from twenty tabs of that browser.
        let mut tabs: Vec<_> = (0..20).map(|_| browser.new_tab()).collect();
        let results = futures_util::future::join_all(
            tabs.iter_mut()
                .map(|tab| tab.post_raw("/comments", &body, &[])),
        )
        .await;

        // Assert: one visitor, one comment.
        let statuses: Vec<_> = results.iter().map(|p| p.status).collect();
        let stored = statuses.iter().filter(|s| **s == StatusCode::SEE_OTHER).count();
        let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
        assert_eq!((stored, refused), (1, 19), "{statuses:?}");
        assert_eq!(app.count("comments"), 1);
    }

    async fn concurrent_posts_of_one_session_store_exactly_one_comment(flavor) {
        // Arrange: a session that exists (logged in) but has not commented.
        let app = flavor.spawn_app().await;
        app.create_member("carol").await;
        let mut carol = app.browser();
        carol.log_in("carol", PASSWORD).await;
        let token = carol.csrf().await;
        let body = encode(&[("comment", "racing"), ("csrf_token", &token)]);

        // Act: eight copies of the same request at once, as from eight tabs.
        let mut tabs: Vec<_> = (0..8).map(|_| carol.new_tab()).collect();
        let results = futures_util::future::join_all(
            tabs.iter_mut()
                .map(|tab| tab.post_raw("/comments", &body, &[])),
        )
        .await;

        // Assert
        let stored = results
            .iter()
            .filter(|p| p.status == StatusCode::SEE_OTHER)
            .count();
        let refused = results
            .iter()
            .filter(|p| p.status == StatusCode::CONFLICT)
            .count();
        assert_eq!(
            (stored, refused),
            (1, 7),
            "{:?}",
            results.iter().map(|p| p.status).collect::<Vec<_>>()
        );
        assert_eq!(app.count("comments"), 1);
    }
}
