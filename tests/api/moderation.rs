//! Staff moderation on the site: `POST /comments/{id}/hide` and `/unhide`. Hidden comments
//! disappear for everyone but staff, and the pages stay whole around them.

use actix_web::http::StatusCode;
use diesel::RunQueryDsl;

use crate::helpers::{Browser, Flavor, PASSWORD, Server, TestApp, run_cli_with_env};

/// Creates staff member `username` (as `guestbook createmember --staff` does).
async fn create_staff(app: &TestApp, username: &str) {
    app.state
        .accounts
        .create_member(username.to_owned(), PASSWORD.to_owned(), true)
        .await
        .unwrap_or_else(|e| panic!("staff {username} not created: {e}"));
}

async fn logged_in_staff(app: &TestApp) -> Browser {
    create_staff(app, "moderator").await;
    let mut staff = app.browser();
    assert_eq!(
        staff.log_in("moderator", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    staff
}

/// The ids of the comments a page shows, in order.
fn shown_ids(body: &str) -> Vec<i64> {
    body.split(r#"id="comment-"#)
        .skip(1)
        // `comment-form`, `comment-counter`: not comments.
        .filter_map(|rest| rest[..rest.find('"')?].parse().ok())
        .collect()
}

/// The `href` of the page's "Older comments" link.
fn older_link(body: &str) -> Option<String> {
    let start = body.find(r#"<a href="/?before="#)? + r#"<a href=""#.len();
    let end = start + body[start..].find('"')?;
    Some(body[start..end].to_owned())
}

/// The `href` of the page's "Newer comments" link.
fn newer_link(body: &str) -> Option<String> {
    let end = body.find(r#"" rel="prev""#)?;
    let start = body[..end].rfind(r#"href=""#)? + r#"href=""#.len();
    Some(body[start..end].to_owned())
}

/// The `comments` change counter.
fn comments_counter(app: &TestApp) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        version: i64,
    }
    diesel::sql_query("SELECT version FROM change_counters WHERE name = 'comments'")
        .get_result::<Version>(&mut app.db())
        .unwrap()
        .version
}

fn hide_in_sql(app: &TestApp, ids: &[i64]) {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    diesel::sql_query(format!(
        "UPDATE comments SET hidden_at = created_at WHERE id IN ({})",
        list.join(",")
    ))
    .execute(&mut app.db())
    .unwrap();
}

#[actix_web::test]
async fn staff_hide_a_comment_from_everyone_else_and_show_it_again() {
    for flavor in Flavor::on_each_database("staff_hide_a_comment_from_everyone_else") {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        author.comment("spam, spam, spam").await;
        app.browser().comment("a kind word").await;
        let mut staff = logged_in_staff(&app).await;

        let staff_home = staff.get("/").await;
        assert_eq!(
            staff_home.body.matches(">Hide<").count(),
            2,
            "Hide on every comment"
        );
        assert!(
            !app.browser().get("/").await.body.contains(">Hide<"),
            "staff only"
        );

        let hidden = staff
            .post("/comments/1/hide", &[("back", "/?before=99")])
            .await;
        assert_eq!(hidden.status, StatusCode::SEE_OTHER);
        assert_eq!(hidden.header("location"), Some("/?before=99#comment-1"));

        for page in [app.browser().get("/").await, author.get("/").await] {
            assert!(
                !page.body.contains("spam, spam, spam"),
                "gone for everyone else"
            );
            assert!(page.body.contains("a kind word"));
        }
        let staff_home = staff.get("/").await;
        assert!(staff_home.body.contains("The comment is hidden"));
        assert!(
            staff_home.body.contains("spam, spam, spam"),
            "staff still see it"
        );
        assert!(staff_home.body.contains(r#"class="tag tag-hidden""#));
        assert!(staff_home.body.contains(r#"action="/comments/1/unhide""#));

        let counter = comments_counter(&app);
        let again = staff.post("/comments/1/hide", &[]).await;
        assert_eq!(
            again.status,
            StatusCode::SEE_OTHER,
            "hiding twice is harmless"
        );
        assert_eq!(
            comments_counter(&app),
            counter,
            "and changes nothing: the kept pages stay"
        );

        let shown = staff.post_json("/comments/1/unhide", &[]).await;
        assert_eq!(shown.status, StatusCode::OK);
        assert_eq!(shown.json()["message"], "The comment is shown again.");
        assert!(
            app.browser()
                .get("/")
                .await
                .body
                .contains("spam, spam, spam")
        );
    }
}

#[actix_web::test]
async fn only_staff_may_hide_and_only_what_exists() {
    for flavor in Flavor::on_each_database("only_staff_may_hide_and_only_what_exists") {
        let app = flavor.spawn_app().await;
        app.browser().comment("a comment").await;
        app.create_member("plain").await;
        let mut member = app.browser();
        member.log_in("plain", PASSWORD).await;
        let mut staff = logged_in_staff(&app).await;

        let anonymous = app.browser().post("/comments/1/hide", &[]).await;
        let not_staff = member.post("/comments/1/hide", &[]).await;
        let no_token = staff.post_raw("/comments/1/hide", "", &[]).await;
        let unknown = staff.post("/comments/77/hide", &[]).await;
        let other_action = staff.post("/comments/1/promote", &[]).await;
        let as_get = staff.get("/comments/1/hide").await;

        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        assert_eq!(not_staff.status, StatusCode::FORBIDDEN);
        assert!(not_staff.body.contains("Only staff can hide"));
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(other_action.status, StatusCode::NOT_FOUND);
        assert_eq!(as_get.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            app.browser().get("/").await.body.contains("a comment"),
            "nothing hidden"
        );

        // No longer staff (on the command line, or in SQL): refused on the next request.
        diesel::sql_query("UPDATE members SET is_staff = FALSE")
            .execute(&mut app.db())
            .unwrap();
        let demoted = staff.post("/comments/1/hide", &[]).await;
        assert_eq!(demoted.status, StatusCode::FORBIDDEN);
        assert!(!staff.get("/").await.body.contains(">Hide<"));
    }
}

/// Hidden comments between the shown ones: every page still holds 20 shown comments, and
/// walking the pages shows each shown comment exactly once, for everyone; staff walk them all.
#[actix_web::test]
async fn pages_stay_whole_around_hidden_comments() {
    for flavor in Flavor::on_each_database("pages_stay_whole_around_hidden_comments") {
        let app = flavor.spawn_app().await;
        app.insert_comments(50, |n| format!("comment number {n}"));
        let hidden: Vec<i64> = (1..=50).filter(|&n| n % 3 == 0 || n > 45).collect();
        hide_in_sql(&app, &hidden);
        let shown: Vec<i64> = (1..=50).rev().filter(|n| !hidden.contains(n)).collect();
        let mut staff = logged_in_staff(&app).await;

        for (browser, expected) in [
            (&mut app.browser(), shown.clone()),
            (&mut staff, (1..=50).rev().collect::<Vec<i64>>()),
        ] {
            let mut seen = Vec::new();
            let mut path = Some("/".to_owned());
            let mut last = String::new();
            while let Some(at) = path {
                let page = browser.get(&at).await;
                let ids = shown_ids(&page.body);
                path = older_link(&page.body);
                if path.is_some() {
                    assert_eq!(ids.len(), 20, "a full page before the last: {at}");
                }
                seen.extend(ids);
                last = at;
            }
            assert_eq!(seen, expected);

            // And back, by the "Newer comments" links, to the newest page: every page a run
            // of the shown comments with none left out, every shown comment met.
            let mut met = std::collections::BTreeSet::new();
            let mut path = Some(last);
            while let Some(at) = path {
                let page = browser.get(&at).await;
                let ids = shown_ids(&page.body);
                let start = expected
                    .iter()
                    .position(|id| Some(id) == ids.first())
                    .unwrap();
                assert_eq!(ids, expected[start..start + ids.len()], "a whole run: {at}");
                met.extend(ids);
                path = newer_link(&page.body);
            }
            assert_eq!(met.len(), expected.len());
        }
    }
}

/// Each moderation action leaves a log line saying who took it: the staff member on the site,
/// or the command line. The comment's text is not logged.
#[actix_web::test]
async fn every_moderation_is_logged_with_who_took_it() {
    let server = Server::start(&[("RUST_LOG", "info")]).await;
    let database = server.database.as_str();
    let created = run_cli_with_env(
        &["createmember", "moderator", "--staff", "--password-stdin"],
        &format!("{PASSWORD}\n"),
        &[("DATABASE_URL", database)],
    );
    assert!(created.status.success(), "{created:?}");
    Browser::at(&server.address)
        .comment("Unmistakable spam text")
        .await;
    let mut staff = Browser::at(&server.address);
    staff.log_in("moderator", PASSWORD).await;

    let hidden = staff.post("/comments/1/hide", &[]).await;
    let shown = run_cli_with_env(
        &["comments", "unhide", "1"],
        "",
        &[("DATABASE_URL", database), ("RUST_LOG", "info")],
    );
    let site_log = server.stop();

    assert_eq!(hidden.status, StatusCode::SEE_OTHER);
    assert!(shown.status.success(), "{shown:?}");
    let line = site_log
        .lines()
        .find(|line| line.contains("comment moderated"))
        .unwrap_or_else(|| panic!("no moderation line:\n{site_log}"));
    for part in [
        "comment=1",
        "action=\"hide\"",
        "staff member moderator (id 1)",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    let cli_log = String::from_utf8_lossy(&shown.stderr);
    assert!(
        cli_log.contains("comment moderated") && cli_log.contains("the command line"),
        "{cli_log}"
    );
    assert!(!site_log.contains("Unmistakable spam text") && !cli_log.contains("Unmistakable"));
}
