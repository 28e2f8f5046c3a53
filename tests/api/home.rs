//! `GET /`, the static files and the health check.

use actix_web::http::StatusCode;
use diesel::connection::SimpleConnection;

use guestbook::settings::Settings;

use crate::helpers::{
    Flavor, PASSWORD, SharedSite, TestDatabase, TestResources, spawn_app, spawn_app_with,
};

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
                .contains(r#"<span class="author" dir="auto">Anonymous</span>"#)
        );
        assert!(page.body.contains(r#"<span class="author" dir="auto">alice</span>"#));
        assert!(page.body.contains(" UTC</time>"), "a time is shown");
        assert!(page.body.contains(r#"href="/login""#) && page.body.contains(r#"href="/signup""#));
    }

    async fn a_visitor_who_only_reads_pages_stores_no_session(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        for path in ["/", "/login", "/signup", "/?before=2", "/nowhere"] {
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
        app.insert_comments(25, |n| format!("comment number {n}."));

        let first = app.browser().get("/").await;
        let older = older_link(&first.body).expect("a link to older comments");
        let second = app.browser().get(&older).await;

        assert!(first.body.contains("comment number 25.") && first.body.contains("comment number 6."));
        assert!(!first.body.contains("comment number 5."));
        assert!(second.body.contains("comment number 5.") && second.body.contains("comment number 1."));
        assert!(!second.body.contains("comment number 6."));
        assert_eq!(older_link(&second.body), None, "the oldest page links no further");
    }

    async fn a_comment_changed_outside_the_site_shows_on_the_next_page(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();
        assert_eq!(browser.comment("As first written").await.status, StatusCode::SEE_OTHER);
        assert!(browser.get("/").await.body.contains("As first written"));

        // A moderator edits it with plain SQL: the database bumps the change counter itself.
        app.db()
            .batch_execute("UPDATE comments SET body = 'As edited in SQL'")
            .unwrap();

        let page = browser.get("/").await;
        assert!(page.body.contains("As edited in SQL") && !page.body.contains("As first written"));
        app.db().batch_execute("DELETE FROM comments").unwrap();
        assert!(browser.get("/").await.body.contains("No comments yet"));
    }
}

#[actix_web::test]
async fn a_page_number_that_is_not_a_number_is_a_400_page() {
    let app = spawn_app().await;

    let page = app.browser().get("/?before=abc").await;
    let both = app.browser().get("/?before=5&after=2").await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("<!doctype html>"));
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert!(both.body.contains("not both"));
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

/// The `href` of the page's "Older comments" link.
fn older_link(body: &str) -> Option<String> {
    let start = body.find(r#"<a href="/?before="#)? + r#"<a href=""#.len();
    let end = start + body[start..].find('"')?;
    Some(body[start..end].to_owned())
}

/// Each instance keeps the rendered newest page in memory; a comment posted through one is on
/// the very next page served by the other, for the poster and everyone else, on SQLite and on
/// PostgreSQL.
#[actix_web::test]
async fn a_comment_posted_on_one_instance_is_on_the_next_page_of_the_other() {
    for flavor in Flavor::on_each_database("a_comment_posted_on_one_instance") {
        let site = SharedSite::new();
        let mut resources = TestResources::new();
        let database = match flavor.database {
            TestDatabase::Sqlite => site.database.clone(),
            TestDatabase::Postgres => resources.database_url(TestDatabase::Postgres),
        };
        let shared = |s: &mut Settings| {
            site.share(s);
            s.database.url.clone_from(&database);
        };
        let first = flavor.spawn_app_with(shared).await;
        let second = flavor.spawn_app_with(shared).await;
        let mut reader = second.browser();
        for _ in 0..2 {
            assert!(
                first
                    .browser()
                    .get("/")
                    .await
                    .body
                    .contains("No comments yet")
            );
            assert!(reader.get("/").await.body.contains("No comments yet"));
        }

        let mut poster = first.browser();
        let posted = poster.comment("Hello from the first instance").await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{flavor:?}");
        poster.address.clone_from(&second.address);

        let mine = poster.get("/").await;
        assert!(
            mine.body.contains("Hello from the first instance"),
            "{flavor:?}"
        );
        assert!(mine.body.contains("Your comment is in"));
        assert!(
            reader
                .get("/")
                .await
                .body
                .contains("Hello from the first instance")
        );
    }
}

/// The pager walks by comment id both ways: older pages, then back to the newest one.
#[actix_web::test]
async fn the_pager_walks_older_and_back_to_the_newest_page() {
    let app = spawn_app_with(|_| {}).await;
    app.insert_comments(45, |n| format!("number {n}."));
    let mut browser = app.browser();

    let newest = browser.get("/").await;
    let middle = browser.get("/?before=26").await;
    let oldest = browser.get("/?before=6").await;
    let back = browser.get("/?after=5").await;
    let back_to_newest = browser.get("/?after=25").await;
    let past_the_end = browser.get("/?before=1").await;

    assert_eq!(older_link(&newest.body).as_deref(), Some("/?before=26"));
    assert!(middle.body.contains("number 25.") && middle.body.contains("number 6."));
    assert!(!middle.body.contains("number 26.") && !middle.body.contains("number 5."));
    assert!(middle.body.contains(r#"<a href="/?after=25" rel="prev""#));
    assert!(middle.body.contains(r#"<a href="/?before=6" rel="next""#));
    assert!(oldest.body.contains("number 5.") && oldest.body.contains("number 1."));
    assert_eq!(older_link(&oldest.body), None);
    assert!(back.body.contains("number 25.") && back.body.contains("number 6."));
    assert!(!back.body.contains("number 26."));
    // Fewer than a page newer than 25: the newest page itself.
    assert!(
        back_to_newest.body.contains("number 45.") && back_to_newest.body.contains("number 26.")
    );
    assert!(!back_to_newest.body.contains("Newer comments"));
    assert_eq!(past_the_end.status, StatusCode::OK);
    assert!(past_the_end.body.contains("No comments here"));
    assert!(past_the_end.body.contains(r#"<a href="/" rel="prev""#));
}

/// The newest page comes from memory while the database's change counter stands: a change
/// made behind the counter's back stays unseen until the counter moves.
#[actix_web::test]
async fn the_newest_page_is_served_from_memory_while_the_change_counter_stands() {
    let app = spawn_app().await;
    let mut browser = app.browser();
    assert_eq!(
        browser.comment("Kept in memory").await.status,
        StatusCode::SEE_OTHER
    );
    assert!(browser.get("/").await.body.contains("Kept in memory"));

    let mut conn = app.db();
    conn.batch_execute(
        "UPDATE comments SET body = 'Changed behind its back'; \
         UPDATE change_counters SET version = version - 1 WHERE name = 'comments'",
    )
    .unwrap();
    let cached = browser.get("/").await;
    conn.batch_execute("UPDATE change_counters SET version = version + 1 WHERE name = 'comments'")
        .unwrap();
    let current = browser.get("/").await;

    assert!(cached.body.contains("Kept in memory"), "served from memory");
    assert!(current.body.contains("Changed behind its back"));
}

/// While readers keep the newest page busy (refreshing it as comments arrive), every poster
/// still finds their own comment on their very next page.
#[actix_web::test]
async fn racing_posters_each_see_their_comment_on_their_next_page() {
    for flavor in Flavor::on_each_database("racing_posters_each_see_their_comment") {
        let app = flavor.spawn_app().await;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let readers = futures_util::future::join_all((0..4).map(|_| async {
            let mut reader = app.browser();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(reader.get("/").await.status, StatusCode::OK);
            }
        }));
        let posters = async {
            let seen = futures_util::future::join_all((0..12).map(|n| {
                let mut poster = app.browser();
                async move {
                    let text = format!("Racing comment {n}");
                    assert_eq!(poster.comment(&text).await.status, StatusCode::SEE_OTHER);
                    poster.get("/").await.body.contains(&text)
                }
            }))
            .await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            seen
        };
        let (_, seen) = tokio::join!(readers, posters);
        assert!(seen.iter().all(|&s| s), "{flavor:?}: {seen:?}");
    }
}
