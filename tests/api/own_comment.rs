//! Authors edit and delete their own comment, through their session: `GET`/`POST
//! /comments/{id}/edit` and `POST /comments/{id}/delete`.

use actix_web::http::StatusCode;
use diesel::{
    QueryableByName, RunQueryDsl,
    sql_types::{BigInt, Bool, Text},
};

use crate::helpers::{Browser, Flavor, PASSWORD, TestApp};

/// What the page shows of the viewer's own comment.
const OWN_TAG: &str = r#"class="tag tag-own""#;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Bool)]
    edited: bool,
    #[diesel(sql_type = Bool)]
    deleted: bool,
}

/// Every comment row, tombstones too.
fn rows(app: &TestApp) -> Vec<Row> {
    diesel::sql_query(
        "SELECT id, body, edited_at IS NOT NULL AS edited, deleted_at IS NOT NULL AS deleted \
         FROM comments ORDER BY id",
    )
    .load(&mut app.db())
    .unwrap()
}

/// Posts `text` as `browser`'s comment and returns its id.
async fn post(app: &TestApp, browser: &mut Browser, text: &str) -> i64 {
    let posted = browser.comment(text).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    rows(app)
        .into_iter()
        .find(|row| row.body == text)
        .expect("the comment is stored")
        .id
}

/// Moves comment `id` back in time, out of the edit window.
fn age(app: &TestApp, id: i64) {
    diesel::sql_query(format!(
        "UPDATE comments SET created_at = '2020-01-01 00:00:00' WHERE id = {id}"
    ))
    .execute(&mut app.db())
    .unwrap();
}

async fn edit(browser: &mut Browser, id: i64, text: &str) -> crate::helpers::Page {
    browser
        .post(&format!("/comments/{id}/edit"), &[("comment", text)])
        .await
}

async fn delete(browser: &mut Browser, id: i64) -> crate::helpers::Page {
    browser.post(&format!("/comments/{id}/delete"), &[]).await
}

conformance! {
    async fn the_author_edits_and_deletes_their_comment_and_nobody_else_can(flavor) {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        let mut stranger = app.browser();
        let id = post(&app, &mut author, "first words").await;
        stranger.comment("the stranger's own").await;

        let author_home = author.get("/").await;
        let stranger_home = stranger.get("/").await;
        let anonymous_home = app.browser().get("/").await;
        assert_eq!(author_home.body.matches(OWN_TAG).count(), 1);
        assert!(author_home.body.contains(&format!(r#"href="/comments/{id}/edit""#)));
        assert!(author_home.body.contains(&format!(r#"href="/comments/{id}/delete""#)));
        assert!(!stranger_home.body.contains(&format!("/comments/{id}/")), "not the stranger's");
        assert!(!anonymous_home.body.contains(OWN_TAG));
        assert!(!anonymous_home.body.contains("/edit\""));

        let edit_form = author.get(&format!("/comments/{id}/edit")).await;
        assert_eq!(edit_form.status, StatusCode::OK);
        assert!(edit_form.body.contains(">first words</textarea>"));
        assert_eq!(stranger.get(&format!("/comments/{id}/edit")).await.status, StatusCode::FORBIDDEN);
        let confirm = author.get(&format!("/comments/{id}/delete")).await;
        assert_eq!(confirm.status, StatusCode::OK);
        assert!(confirm.body.contains("Delete your comment?") && confirm.body.contains("first words"));
        assert_eq!(stranger.get(&format!("/comments/{id}/delete")).await.status, StatusCode::FORBIDDEN);

        let by_stranger = edit(&mut stranger, id, "defaced").await;
        let deleted_by_stranger = delete(&mut stranger, id).await;
        assert_eq!(by_stranger.status, StatusCode::FORBIDDEN);
        assert!(by_stranger.body.contains("This comment is not yours"), "{}", by_stranger.body);
        assert_eq!(deleted_by_stranger.status, StatusCode::FORBIDDEN);

        let edited = edit(&mut author, id, "  better words \r\n").await;
        assert_eq!(edited.status, StatusCode::SEE_OTHER);
        let home = author.get("/").await;
        assert!(home.body.contains("Your comment was updated."));
        assert!(home.body.contains("better words"));
        assert!(home.body.contains(r#"<span class="edited">edited</span>"#));
        let everyone = app.browser().get("/").await;
        assert!(everyone.body.contains("better words"));
        assert!(everyone.body.contains(r#"<span class="edited">edited</span>"#), "edited, for everyone");
        let row = rows(&app).into_iter().find(|r| r.id == id).unwrap();
        assert_eq!((row.body.as_str(), row.edited), ("better words", true));

        let deleted = delete(&mut author, id).await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER);
        let home = author.get("/").await;
        assert!(home.body.contains("Your comment was deleted."));
        assert!(!home.body.contains("better words"));
        assert!(!home.body.contains(r#"action="/comments""#), "still no form: one comment per visitor");
        assert_eq!(author.comment("a second one").await.status, StatusCode::CONFLICT);
        let row = rows(&app).into_iter().find(|r| r.id == id).unwrap();
        assert!(row.deleted && row.body.is_empty(), "a tombstone, without the text");

        assert_eq!(delete(&mut author, id).await.status, StatusCode::NOT_FOUND, "deleted already");
        assert_eq!(edit(&mut author, id, "back").await.status, StatusCode::NOT_FOUND);
        assert_eq!(edit(&mut author, 999_999, "x").await.status, StatusCode::NOT_FOUND);
        assert_eq!(author.get("/comments/nonsense/edit").await.status, StatusCode::NOT_FOUND);
    }

    async fn the_author_keeps_their_comment_across_login_and_logout(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("kim").await;
        let mut author = app.browser();
        let id = post(&app, &mut author, "posted anonymously").await;
        let key_before = author.session_cookie();

        assert_eq!(author.log_in("kim", PASSWORD).await.status, StatusCode::SEE_OTHER);
        assert_ne!(author.session_cookie(), key_before, "the key rotated at login");
        assert!(author.get("/").await.body.contains(OWN_TAG));
        assert_eq!(edit(&mut author, id, "edited as kim").await.status, StatusCode::SEE_OTHER);

        let key_logged_in = author.session_cookie();
        assert_eq!(author.post("/logout", &[]).await.status, StatusCode::SEE_OTHER);
        assert_ne!(author.session_cookie(), key_logged_in, "the key rotated at logout");
        assert!(author.get("/").await.body.contains(OWN_TAG));
        assert_eq!(edit(&mut author, id, "edited after logout").await.status, StatusCode::SEE_OTHER);
        assert_eq!(delete(&mut author, id).await.status, StatusCode::SEE_OTHER);

    }

    async fn a_browser_that_lost_its_session_but_kept_its_csrftoken_is_still_the_author(flavor) {
        // Arrange: a member logs in without "Remember me" (the CSRF secret rotates) and
        // comments. The browser closes: the session cookie (no Max-Age) goes, the year-long
        // csrftoken stays.
        let app = flavor.spawn_app().await;
        app.create_member("noor").await;
        let mut before = app.browser();
        assert_eq!(before.log_in("noor", PASSWORD).await.status, StatusCode::SEE_OTHER);
        let id = post(&app, &mut before, "posted before the browser closed").await;
        let mut reopened = app.browser();
        reopened.set_cookie("csrftoken", &before.cookie("csrftoken").unwrap());

        // Act: the same browser logs in again.
        let logged_in = reopened.log_in("noor", PASSWORD).await;
        let home = reopened.get("/").await;
        let edited = edit(&mut reopened, id, "edited after the browser reopened").await;
        let second = reopened.comment("a second comment").await;

        // Assert: the same visitor, so the comment is theirs and still their only one.
        assert_eq!(logged_in.status, StatusCode::SEE_OTHER);
        assert!(home.body.contains(OWN_TAG), "{}", home.body);
        assert!(!home.body.contains(r#"action="/comments""#), "no form for a second comment");
        assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
        assert_eq!(second.status, StatusCode::CONFLICT);
        let stored: Vec<String> = rows(&app).into_iter().map(|row| row.body).collect();
        assert_eq!(stored, ["edited after the browser reopened"]);
    }

    async fn a_member_on_another_browser_is_not_the_author(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("lee").await;
        let mut laptop = app.browser();
        let mut phone = app.browser();
        laptop.log_in("lee", PASSWORD).await;
        phone.log_in("lee", PASSWORD).await;
        let id = post(&app, &mut laptop, "posted as lee on the laptop").await;

        let phone_home = phone.get("/").await;
        let edited = edit(&mut phone, id, "from the phone").await;
        let deleted = delete(&mut phone, id).await;

        assert!(phone_home.body.contains("posted as lee on the laptop"));
        assert!(!phone_home.body.contains(OWN_TAG), "the session posted it, not the member");
        assert_eq!(edited.status, StatusCode::FORBIDDEN);
        assert_eq!(deleted.status, StatusCode::FORBIDDEN);
        assert_eq!(edit(&mut laptop, id, "from the laptop").await.status, StatusCode::SEE_OTHER);
    }

    async fn after_the_window_the_comment_is_marked_but_cannot_be_changed(flavor) {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        let id = post(&app, &mut author, "said long ago").await;
        age(&app, id);

        let home = author.get("/").await;
        let edited = edit(&mut author, id, "rewritten").await;
        let deleted = delete(&mut author, id).await;

        assert!(home.body.contains(OWN_TAG), "still marked as theirs");
        assert!(!home.body.contains(&format!("/comments/{id}/edit")), "no Edit");
        assert_eq!(edited.status, StatusCode::FORBIDDEN);
        assert!(edited.body.contains("can no longer be changed"), "{}", edited.body);
        assert_eq!(deleted.status, StatusCode::FORBIDDEN);
        assert_eq!(rows(&app)[0].body, "said long ago");
    }
}

#[actix_web::test]
async fn edits_answer_json_as_the_other_routes() {
    for flavor in Flavor::on_each_database("edits_answer_json_as_the_other_routes") {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        let id = post(&app, &mut author, "json").await;
        let path = format!("/comments/{id}/edit");

        let edited = author
            .post_json(&path, &[("comment", "json, edited")])
            .await;
        let empty = author.post_json(&path, &[("comment", " ")]).await;
        let stranger = app.browser().post_json(&path, &[("comment", "x")]).await;
        let unknown = author.post_json("/comments/424242/delete", &[]).await;
        let deleted = author
            .post_json(&format!("/comments/{id}/delete"), &[])
            .await;

        assert_eq!(edited.status, StatusCode::OK);
        assert_eq!(edited.json()["message"], "Your comment was updated.");
        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(empty.json()["error"], "Your comment is empty.");
        assert_eq!(stranger.status, StatusCode::FORBIDDEN);
        assert!(
            stranger.json()["error"]
                .as_str()
                .unwrap()
                .contains("not yours")
        );
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.json()["error"].is_string());
        assert_eq!(deleted.status, StatusCode::OK);
        assert_eq!(deleted.json()["message"], "Your comment was deleted.");
    }
}

#[actix_web::test]
async fn a_refused_edit_keeps_the_text_and_changes_nothing() {
    for flavor in Flavor::on_each_database("a_refused_edit_keeps_the_text_and_changes_nothing") {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        let id = post(&app, &mut author, "kept").await;

        let empty = edit(&mut author, id, "   ").await;
        let too_long = edit(&mut author, id, &"x".repeat(2001)).await;
        let no_token = author
            .post_raw(&format!("/comments/{id}/edit"), "comment=sneaky", &[])
            .await;

        assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(empty.body.contains("Your comment is empty."));
        assert!(empty.body.contains(r#"aria-invalid="true""#));
        assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            too_long.body.contains(&"x".repeat(2001)),
            "the text is given back"
        );
        assert_eq!(no_token.status, StatusCode::FORBIDDEN, "CSRF as everywhere");
        let row = &rows(&app)[0];
        assert_eq!((row.body.as_str(), row.edited), ("kept", false));

        let unchanged = edit(&mut author, id, " kept ").await;
        assert_eq!(unchanged.status, StatusCode::SEE_OTHER);
        assert!(!rows(&app)[0].edited, "saved as it was: not edited");
    }
}

#[actix_web::test]
async fn a_hidden_comment_can_be_deleted_by_its_author_not_edited() {
    for flavor in Flavor::on_each_database("a_hidden_comment_can_be_deleted_by_its_author") {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        let id = post(&app, &mut author, "moderated").await;
        diesel::sql_query(format!(
            "UPDATE comments SET hidden_at = created_at WHERE id = {id}"
        ))
        .execute(&mut app.db())
        .unwrap();

        let edited = edit(&mut author, id, "sneaked back").await;
        let deleted = delete(&mut author, id).await;

        assert_eq!(edited.status, StatusCode::FORBIDDEN);
        assert!(edited.body.contains("A moderator has hidden this comment"));
        assert_eq!(deleted.status, StatusCode::SEE_OTHER);
        assert!(rows(&app)[0].deleted);
    }
}

/// The change counters move only when a row did: a stranger's refused edit or delete, or a
/// deletion of a deleted comment, leaves every instance's kept page in place (on PostgreSQL a
/// statement trigger fires for an UPDATE that matches no row too).
#[actix_web::test]
async fn refused_changes_leave_the_change_counter_alone() {
    for flavor in Flavor::on_each_database("refused_changes_leave_the_change_counter_alone") {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        let id = post(&app, &mut author, "counted once").await;
        let mut stranger = app.browser();
        stranger.get("/").await;
        let before = comments_counter(&app);

        for _ in 0..3 {
            assert_eq!(
                delete(&mut stranger, id).await.status,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                edit(&mut stranger, id, "x").await.status,
                StatusCode::FORBIDDEN
            );
        }
        assert_eq!(comments_counter(&app), before, "{flavor:?}");

        assert_eq!(delete(&mut author, id).await.status, StatusCode::SEE_OTHER);
        let deleted = comments_counter(&app);
        assert_eq!(deleted, before + 1, "a change moves it once");
        assert_eq!(delete(&mut author, id).await.status, StatusCode::NOT_FOUND);
        assert_eq!(comments_counter(&app), deleted);
    }
}

/// The `comments` change counter.
fn comments_counter(app: &TestApp) -> i64 {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = BigInt)]
        version: i64,
    }
    diesel::sql_query("SELECT version FROM change_counters WHERE name = 'comments'")
        .get_result::<Version>(&mut app.db())
        .unwrap()
        .version
}

/// Tabs of one visitor racing each other, and strangers racing the author: every request
/// gets a clear answer, and the end state is one of the orders they could have run in.
#[actix_web::test]
async fn racing_edits_and_deletes_end_in_one_consistent_state() {
    for flavor in Flavor::on_each_database("racing_edits_and_deletes_end_in_one_consistent_state") {
        let app = flavor.spawn_app().await;
        let mut author = app.browser();
        let id = post(&app, &mut author, "original").await;
        author.get("/").await;
        let mut tabs: Vec<Browser> = (0..6).map(|_| author.new_tab()).collect();
        let mut strangers: Vec<Browser> = (0..4).map(|_| app.browser()).collect();

        let edits = tabs.iter_mut().enumerate().map(|(n, tab)| async move {
            if n == 3 {
                delete(tab, id).await.status
            } else {
                edit(tab, id, &format!("edit {n}")).await.status
            }
        });
        let defacements = strangers
            .iter_mut()
            .map(|stranger| async move { edit(stranger, id, "defaced").await.status });
        let (edits, defacements) = futures_util::future::join(
            futures_util::future::join_all(edits),
            futures_util::future::join_all(defacements),
        )
        .await;

        assert!(
            defacements
                .iter()
                .all(|s| [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(s)),
            "refused, or not found once deleted: {defacements:?}"
        );
        assert_eq!(edits[3], StatusCode::SEE_OTHER, "the delete applies");
        for status in &edits {
            assert!(
                [StatusCode::SEE_OTHER, StatusCode::NOT_FOUND].contains(status),
                "an edit before the delete, or a 404 after it: {edits:?}"
            );
        }
        let row = &rows(&app)[0];
        assert!(
            row.deleted && row.body.is_empty(),
            "no edit lands after the delete"
        );
    }
}
