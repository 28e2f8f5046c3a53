//! What the home page tells a visitor about their own comment, in every state it can be in;
//! the refusals that keep what they typed; and one comment per member, whichever browser they
//! post from, however the posts race.

use actix_web::http::StatusCode;
use diesel::{QueryableByName, RunQueryDsl, sql_types::BigInt};
use futures_util::future::join_all;

use crate::helpers::{Browser, Flavor, PASSWORD, TestApp, TestDatabase, spawn_app};

const IN_THE_GUESTBOOK: &str = "Your comment is in the guestbook";
const FROM_ANOTHER_BROWSER: &str = "from another browser or device";
const HIDDEN: &str = "A moderator hid your comment";
const DELETED: &str = "Your comment was deleted";
const FORM: &str = r#"action="/comments""#;

async fn logged_in(app: &TestApp, username: &str) -> Browser {
    let mut browser = app.browser();
    let page = browser.log_in(username, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    browser
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

fn comments_by_member(app: &TestApp, username: &str) -> i64 {
    diesel::sql_query(
        "SELECT COUNT(*) AS count FROM comments JOIN members ON members.id = comments.member_id \
         WHERE members.username = $1",
    )
    .bind::<diesel::sql_types::Text, _>(username)
    .get_result::<Count>(&mut app.db())
    .unwrap()
    .count
}

/// The id in `#comment-N` of the first own-comment link on `body`.
fn own_comment_id(body: &str) -> i64 {
    let start = body.find("/comments/").expect("a link to the comment") + "/comments/".len();
    body[start..]
        .split('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("a comment id")
}

#[actix_web::test]
async fn the_home_page_says_what_became_of_your_comment_in_each_state() {
    let app = spawn_app().await;
    let mut visitor = app.browser();
    let before = visitor.get("/").await;
    assert!(before.body.contains(FORM), "a new visitor gets the form");
    assert!(
        before
            .body
            .contains("Posting as <strong>Anonymous</strong>")
    );

    // Posted: in the guestbook, with how long it can still be changed, in words, and the
    // exact time beside them.
    visitor.comment("Hello from the states test").await;
    let posted = visitor.get("/").await.body;
    assert!(posted.contains(IN_THE_GUESTBOOK), "{posted}");
    assert!(!posted.contains(FORM), "no second form");
    assert!(
        posted.contains("data-remaining>another 14 minutes</time>")
            || posted.contains("data-remaining>another 15 minutes</time>"),
        "the time left in words: {posted}"
    );
    assert!(
        posted.contains(r#"title="until 20"#),
        "the exact time is the title"
    );
    assert!(
        !posted.contains("until <time"),
        "no raw UTC deadline: {posted}"
    );
    let id = own_comment_id(&posted);

    // Hidden by a moderator: it says so, and the delete stays possible.
    let mut staff = staff_browser(&app).await;
    let hid = staff
        .post(&format!("/comments/{id}/hide"), &[("back", "/")])
        .await;
    assert_eq!(hid.status, StatusCode::SEE_OTHER);
    let hidden = visitor.get("/").await.body;
    assert!(hidden.contains(HIDDEN), "{hidden}");
    assert!(!hidden.contains(IN_THE_GUESTBOOK), "{hidden}");
    assert!(hidden.contains(&format!(r#"href="/comments/{id}/delete""#)));
    assert!(!hidden.contains(&format!(r#"href="/comments/{id}/edit""#)));

    // Shown again, then deleted by its author: gone, and the page says so on every visit.
    staff
        .post(&format!("/comments/{id}/unhide"), &[("back", "/")])
        .await;
    assert!(visitor.get("/").await.body.contains(IN_THE_GUESTBOOK));
    let deleted = visitor.post(&format!("/comments/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    for _ in 0..2 {
        let gone = visitor.get("/").await.body;
        assert!(gone.contains(DELETED), "{gone}");
        assert!(!gone.contains(IN_THE_GUESTBOOK), "{gone}");
        assert!(!gone.contains(FORM), "still one comment per visitor");
    }
}

#[actix_web::test]
async fn once_the_edit_window_closes_the_page_offers_no_change() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.comments.edit_window = std::time::Duration::ZERO;
    })
    .await;
    let mut visitor = app.browser();
    visitor.comment("Closed at once").await;
    let page = visitor.get("/").await.body;
    assert!(page.contains(IN_THE_GUESTBOOK), "{page}");
    assert!(
        !page.contains("data-remaining"),
        "no time left to show: {page}"
    );
    assert!(!page.contains("/edit\""), "no Edit link: {page}");
}

async fn staff_browser(app: &TestApp) -> Browser {
    app.state
        .accounts
        .create_member("moderator".to_owned(), PASSWORD.to_owned(), true)
        .await
        .unwrap();
    logged_in(app, "moderator").await
}

#[actix_web::test]
async fn staff_see_the_confirmation_at_the_comment_they_hid() {
    let app = spawn_app().await;
    app.browser().comment("Spam, spam, spam").await;
    let mut staff = staff_browser(&app).await;
    let id = {
        let page = staff.get("/").await.body;
        let start = page.find("<li class=\"comment").unwrap();
        let start = start + page[start..].find("id=\"comment-").unwrap() + "id=\"comment-".len();
        page[start..]
            .split('"')
            .next()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };

    let hid = staff
        .post(&format!("/comments/{id}/hide"), &[("back", "/")])
        .await;
    assert_eq!(
        hid.header("location"),
        Some(format!("/#comment-{id}").as_str())
    );
    let page = staff.get("/").await.body;

    let at_comment = page.find(&format!("id=\"comment-{id}\"")).unwrap();
    let confirmation = page
        .find("The comment is hidden: only staff see it now.")
        .expect("the confirmation is on the page");
    assert!(
        confirmation > at_comment,
        "the confirmation is inside the comment the page jumps to, not at the top"
    );
    assert_eq!(
        page.matches("The comment is hidden").count(),
        1,
        "said once, at the comment"
    );
}

#[actix_web::test]
async fn a_refused_second_comment_gives_back_what_was_typed() {
    let app = spawn_app().await;
    let mut visitor = app.browser();
    visitor.comment("The first one").await;
    // Another tab of the same browser, its form loaded before the first post.
    let mut other_tab = visitor.new_tab();

    let second = other_tab
        .comment("A second thought <that matters>, typed at length")
        .await;

    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(second.body.contains("You have already left your comment"));
    assert!(
        second
            .body
            .contains("A second thought &#60;that matters&#62;, typed at length")
            || second
                .body
                .contains("A second thought &lt;that matters&gt;, typed at length"),
        "the text comes back, escaped: {}",
        second.body
    );
    assert!(
        second.body.contains(r#"id="unposted""#),
        "in a box to copy from"
    );
    assert!(!second.body.contains(FORM), "with no form that cannot work");
    assert!(
        second.body.contains(IN_THE_GUESTBOOK),
        "and what became of the first"
    );
}

#[actix_web::test]
async fn a_comment_form_made_stale_by_a_login_in_another_tab_comes_back_with_its_text() {
    let app = spawn_app().await;
    app.create_member("tove").await;
    let mut form_tab = app.browser();
    form_tab.get("/").await;
    let stale_token = form_tab.csrf().await;
    let mut other_tab = form_tab.new_tab();
    assert_eq!(
        other_tab.log_in("tove", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // The form tab sends the cookies the login set (one browser), with the page's old token.
    let mut form_tab = other_tab.new_tab();
    let origin = app.address.clone();
    let body = crate::helpers::encode(&[
        ("comment", "Written before the login"),
        ("csrf_token", &stale_token),
    ]);

    let refused = form_tab
        .post_raw("/comments", &body, &[("Origin", &origin)])
        .await;

    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("was not posted yet"),
        "{}",
        refused.body
    );
    assert!(
        !refused.body.contains("CSRF"),
        "no jargon: {}",
        refused.body
    );
    assert!(refused.body.contains(FORM), "the form again");
    assert!(
        refused
            .body
            .contains(">Written before the login</textarea>")
    );
    let fresh = refused.meta_csrf_token().expect("a fresh token");
    assert_ne!(fresh, stale_token);
    let body = crate::helpers::encode(&[
        ("comment", "Written before the login"),
        ("csrf_token", &fresh),
    ]);
    let posted = form_tab
        .post_raw("/comments", &body, &[("Origin", &origin)])
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "the button works now");
    assert_eq!(comments_by_member(&app, "tove"), 1);
}

#[actix_web::test]
async fn a_forged_comment_form_is_not_offered_again() {
    let app = spawn_app().await;
    let mut visitor = app.browser();
    visitor.get("/").await;
    let body =
        crate::helpers::encode(&[("comment", "Posted by another site"), ("csrf_token", "x")]);

    let from_elsewhere = visitor
        .post_raw("/comments", &body, &[("Origin", "https://evil.example")])
        .await;
    let without_origin = visitor.post_raw("/comments", &body, &[]).await;

    for refused in [from_elsewhere, without_origin] {
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(!refused.body.contains(FORM), "no form to post it with");
        assert!(refused.body.contains("This page was out of date"));
        assert!(refused.body.contains("readonly"), "the text, read-only");
    }
    assert_eq!(app.count("comments"), 0);
}

// ---------- one comment per member ----------

#[actix_web::test]
async fn a_member_who_commented_in_one_browser_gets_no_form_in_another() {
    let app = spawn_app().await;
    app.create_member("ada").await;
    let mut laptop = logged_in(&app, "ada").await;
    assert!(
        laptop
            .get("/")
            .await
            .body
            .contains("Posting as <strong dir=\"auto\">ada</strong>")
    );
    assert!(laptop.get("/").await.body.contains("one per member"));
    laptop.comment("From the laptop").await;

    let mut phone = logged_in(&app, "ada").await;
    let page = phone.get("/").await.body;
    assert!(!page.contains(FORM), "{page}");
    assert!(page.contains(IN_THE_GUESTBOOK), "{page}");
    assert!(page.contains(FROM_ANOTHER_BROWSER), "{page}");
    assert!(page.contains("Each member leaves one comment"), "{page}");

    // Logged out, the phone is an anonymous visitor who has not commented.
    assert_eq!(
        phone.post("/logout", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    let anonymous = phone.get("/").await.body;
    assert!(anonymous.contains(FORM), "{anonymous}");
    assert!(!anonymous.contains(FROM_ANOTHER_BROWSER));
    assert_eq!(
        phone.comment("Anonymous, from the phone").await.status,
        StatusCode::SEE_OTHER
    );
}

/// Eight browsers of one member post at the same moment: one comment is stored, and each of
/// the seven others is told why, with its text given back.
#[actix_web::test]
async fn racing_posts_from_eight_browsers_of_one_member_store_one_comment() {
    for flavor in Flavor::on_each_database("racing_posts_from_eight_browsers_of_one_member") {
        let app = flavor.spawn_app().await;
        app.create_member("grace").await;
        let mut browsers = Vec::new();
        for _ in 0..8 {
            let mut browser = logged_in(&app, "grace").await;
            browser.csrf().await;
            browsers.push(browser);
        }
        let together = tokio::sync::Barrier::new(browsers.len());

        let pages = join_all(browsers.iter_mut().enumerate().map(|(n, browser)| {
            let together = &together;
            async move {
                together.wait().await;
                browser.comment(&format!("Comment number {n}")).await
            }
        }))
        .await;

        let statuses: Vec<StatusCode> = pages.iter().map(|page| page.status).collect();
        let stored = statuses
            .iter()
            .filter(|&&s| s == StatusCode::SEE_OTHER)
            .count();
        assert_eq!(stored, 1, "{statuses:?}");
        for (n, page) in pages.iter().enumerate() {
            if page.status == StatusCode::SEE_OTHER {
                continue;
            }
            assert_eq!(page.status, StatusCode::CONFLICT, "{statuses:?}");
            assert!(
                page.body
                    .contains("You have already left your comment as a member")
            );
            assert!(
                page.body
                    .contains(&format!("Comment number {n}</textarea>"))
            );
        }
        assert_eq!(comments_by_member(&app, "grace"), 1);
        assert_eq!(app.count("comments"), 1);
        // A browser that lost the race is, logged out, a visitor who has not commented.
        let loser = pages
            .iter()
            .position(|page| page.status == StatusCode::CONFLICT)
            .unwrap();
        browsers[loser].post("/logout", &[]).await;
        let anonymous = browsers[loser].get("/").await.body;
        assert!(anonymous.contains(FORM), "{anonymous}");
    }
}

/// A database from before the rule, where a member has three comments: the migration keeps
/// them all (the later two marked as predating it), and the member's next one is refused.
#[actix_web::test]
async fn the_migration_keeps_every_comment_a_member_left_before_the_rule() {
    use diesel::connection::SimpleConnection;
    for flavor in Flavor::on_each_database("the_migration_keeps_every_comment") {
        let app = flavor.spawn_app().await;
        app.create_member("old").await;
        let (down, up) = match flavor.database {
            TestDatabase::Sqlite => (
                include_str!(
                    "../../migrations/sqlite/2026-12-03-000007_one_comment_per_member/down.sql"
                ),
                include_str!(
                    "../../migrations/sqlite/2026-12-03-000007_one_comment_per_member/up.sql"
                ),
            ),
            TestDatabase::Postgres => (
                include_str!(
                    "../../migrations/postgres/2026-12-03-000007_one_comment_per_member/down.sql"
                ),
                include_str!(
                    "../../migrations/postgres/2026-12-03-000007_one_comment_per_member/up.sql"
                ),
            ),
        };
        let mut conn = app.db();
        conn.batch_execute(down).unwrap();
        for (body, visitor) in [("first", "v1"), ("second", "v2"), ("third", "v3")] {
            diesel::sql_query(format!(
                "INSERT INTO comments (body, member_id, visitor_id, created_at) \
                 SELECT '{body}', id, '{visitor}', CURRENT_TIMESTAMP FROM members \
                 WHERE username = 'old'"
            ))
            .execute(&mut conn)
            .unwrap();
        }

        conn.batch_execute(up).unwrap();

        assert_eq!(comments_by_member(&app, "old"), 3, "every comment kept");
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Marked {
            #[diesel(sql_type = diesel::sql_types::Text)]
            body: String,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            predates_one_per_member: bool,
        }
        let marked: Vec<Marked> =
            diesel::sql_query("SELECT body, predates_one_per_member FROM comments ORDER BY id")
                .load(&mut conn)
                .unwrap();
        let flags: Vec<(&str, bool)> = marked
            .iter()
            .map(|m| (m.body.as_str(), m.predates_one_per_member))
            .collect();
        assert_eq!(flags, [("first", false), ("second", true), ("third", true)]);

        let mut browser = logged_in(&app, "old").await;
        assert!(!browser.get("/").await.body.contains(FORM));
        let refused = browser.comment("fourth").await;
        assert_eq!(refused.status, StatusCode::CONFLICT);
        assert_eq!(comments_by_member(&app, "old"), 3);
    }
}

#[actix_web::test]
async fn an_edit_made_stale_by_a_login_in_another_tab_comes_back_with_its_text() {
    let app = spawn_app().await;
    app.create_member("ilse").await;
    let mut visitor = app.browser();
    visitor.comment("Before the login").await;
    let edit_page = visitor.get("/comments/1/edit").await;
    let stale_token = edit_page.meta_csrf_token().expect("the edit form's token");
    let mut other_tab = visitor.new_tab();
    assert_eq!(
        other_tab.log_in("ilse", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let mut edit_tab = other_tab.new_tab();
    let origin = app.address.clone();
    let body = crate::helpers::encode(&[
        ("comment", "Edited in the old tab"),
        ("csrf_token", &stale_token),
    ]);

    let refused = edit_tab
        .post_raw("/comments/1/edit", &body, &[("Origin", &origin)])
        .await;

    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("Your changes were not saved yet"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(">Edited in the old tab</textarea>"));
    let fresh = refused.meta_csrf_token().expect("a fresh token");
    let body =
        crate::helpers::encode(&[("comment", "Edited in the old tab"), ("csrf_token", &fresh)]);
    let saved = edit_tab
        .post_raw("/comments/1/edit", &body, &[("Origin", &origin)])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(
        edit_tab
            .get("/")
            .await
            .body
            .contains("Edited in the old tab")
    );
}
