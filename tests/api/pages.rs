//! The pages people see, at the HTTP level: what the markup promises to assistive technology
//! and to the script, the answer to a browser that refuses cookies, and how pages are cached.
//! (What the script does in a browser is `browser.rs`'s.)

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use diesel::connection::SimpleConnection;
use html5gum::{Token, Tokenizer};

use crate::helpers::{PASSWORD, Page, encode, spawn_app};

/// The attributes of the first `tag` whose `id` is `id`, or `None` when there is none.
fn element(page: &Page, tag: &str, id: &str) -> Option<BTreeMap<String, String>> {
    Tokenizer::new(page.body.as_str())
        .flatten()
        .find_map(|token| match token {
            Token::StartTag(start)
                if start.name == tag.as_bytes()
                    && start.attributes.get(b"id".as_slice()).map(|v| &v.value[..])
                        == Some(id.as_bytes()) =>
            {
                Some(
                    start
                        .attributes
                        .iter()
                        .map(|(name, value)| {
                            (
                                String::from_utf8_lossy(name).into_owned(),
                                String::from_utf8_lossy(value).into_owned(),
                            )
                        })
                        .collect(),
                )
            }
            _ => None,
        })
}

/// Asserts that the field `tag#id` is marked invalid and described by the element `error_id`,
/// which holds `reason`.
fn assert_error_tied_to_field(page: &Page, tag: &str, id: &str, error_id: &str, reason: &str) {
    let field = element(page, tag, id).unwrap_or_else(|| panic!("no {tag}#{id}: {}", page.body));
    assert_eq!(
        field.get("aria-invalid").map(String::as_str),
        Some("true"),
        "{id}"
    );
    let described_by = field.get("aria-describedby").cloned().unwrap_or_default();
    assert!(
        described_by
            .split_whitespace()
            .any(|ref_id| ref_id == error_id),
        "{id} is described by {described_by:?}, not {error_id}"
    );
    let error = element(page, "p", error_id).unwrap_or_else(|| panic!("no #{error_id}"));
    assert_eq!(error.get("role").map(String::as_str), Some("alert"));
    let error_text = &page.body[page.body.find(&format!(r#"id="{error_id}""#)).unwrap()..];
    let error_text = &error_text[..error_text.find("</p>").unwrap()];
    assert!(
        error_text.contains(reason),
        "#{error_id} says {error_text:?}"
    );
}

#[actix_web::test]
async fn a_visitor_who_has_commented_sees_a_note_where_the_form_was() {
    let app = spawn_app().await;
    let mut browser = app.browser();
    browser.comment("Here I am").await;

    let home = browser.get("/").await;
    let stranger = app.browser().get("/").await;

    assert!(!home.body.contains(r#"action="/comments""#), "no form");
    assert!(
        home.body.contains("Your comment is in the guestbook"),
        "{}",
        home.body
    );
    assert!(stranger.body.contains(r#"action="/comments""#));
    assert!(!stranger.body.contains("You have left your comment"));
}

#[actix_web::test]
async fn pages_load_the_script_and_comments_carry_their_exact_time() {
    let app = spawn_app().await;
    app.db()
        .batch_execute(
            "INSERT INTO comments (body, member_id, visitor_id, created_at) \
             VALUES ('timed', NULL, 'visitor-1', '2026-03-04 05:06:07')",
        )
        .unwrap();
    let mut browser = app.browser();

    let home = browser.get("/").await;
    let login = browser.get("/login").await;

    for page in [&home, &login] {
        assert!(
            page.body
                .contains(r#"<script src="/static/js/site.js" defer></script>"#)
        );
    }
    assert!(
        home.body.contains(
            r#"<time datetime="2026-03-04T05:06:07Z" title="2026-03-04 05:06 UTC" data-relative>2026-03-04 05:06 UTC</time>"#
        ),
        "the exact time without JavaScript, and on hover: {}",
        home.body
    );
    let counter = element(&home, "p", "comment-counter").expect("a counter for site.js");
    assert_eq!(counter.get("aria-live").map(String::as_str), Some("polite"));
    let comment = element(&home, "textarea", "comment").unwrap();
    assert_eq!(
        comment.get("data-max-chars").map(String::as_str),
        Some("2000")
    );
    assert!(comment["aria-describedby"].contains("comment-counter"));
}

#[actix_web::test]
async fn the_script_is_served_as_javascript() {
    let app = spawn_app().await;

    let script = app.browser().get("/static/js/site.js").await;

    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script
            .header("content-type")
            .unwrap()
            .contains("javascript"),
        "{:?}",
        script.header("content-type")
    );
    assert!(script.body.contains("cookieEnabled"));
}

#[actix_web::test]
async fn pagination_links_say_where_they_go() {
    let app = spawn_app().await;
    app.insert_comments(45, |n| format!("number {n}"));

    let first = app.browser().get("/").await;
    let middle = app.browser().get("/?before=26").await;

    assert!(first.body.contains("Older comments"));
    assert!(!first.body.contains("Newer comments"));
    assert!(
        middle
            .body
            .contains(r#"<a href="/?after=25" rel="prev" class="pager-newer">"#)
    );
    assert!(
        middle
            .body
            .contains(r#"<a href="/?before=6" rel="next" class="pager-older">"#)
    );
}

#[actix_web::test]
async fn a_refused_comment_is_tied_to_the_comment_field() {
    let app = spawn_app().await;
    let mut browser = app.browser();

    let blank = browser.comment("   ").await;
    let fresh = browser.get("/").await;

    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_tied_to_field(
        &blank,
        "textarea",
        "comment",
        "comment-error",
        "Your comment is empty.",
    );
    let untouched = element(&fresh, "textarea", "comment").unwrap();
    assert!(!untouched.contains_key("aria-invalid"));
    assert!(element(&fresh, "p", "comment-error").is_none());
}

#[actix_web::test]
async fn a_failed_login_is_tied_to_both_fields_and_keeps_the_username() {
    let app = spawn_app().await;
    app.create_member("ivy").await;
    let mut browser = app.browser();

    let wrong = browser.log_in("ivy", "not the password").await;

    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    for field in ["username", "password"] {
        assert_error_tied_to_field(
            &wrong,
            "input",
            field,
            "login-error",
            "Your username and password didn&#39;t match.",
        );
    }
    assert_eq!(
        element(&wrong, "input", "username").unwrap()["value"],
        "ivy"
    );
}

#[actix_web::test]
async fn sign_up_and_account_errors_are_tied_to_their_field() {
    let app = spawn_app().await;
    app.create_member("jon").await;
    let mut browser = app.browser();

    let taken = browser.sign_up("JON", PASSWORD).await;
    let short = browser.sign_up("newcomer", "short").await;
    browser.log_in("jon", PASSWORD).await;
    browser.get("/account/password").await;
    let wrong_current = browser
        .post(
            "/account/password",
            &[
                ("current_password", "nope nope"),
                ("new_password", "a new password"),
            ],
        )
        .await;
    let weak_new = browser
        .post(
            "/account/password",
            &[("current_password", PASSWORD), ("new_password", "tiny")],
        )
        .await;
    browser.get("/account/delete").await;
    let wrong_delete = browser
        .post("/account/delete", &[("current_password", "nope nope")])
        .await;

    assert_error_tied_to_field(
        &taken,
        "input",
        "username",
        "username-error",
        "That username is taken.",
    );
    assert_error_tied_to_field(
        &short,
        "input",
        "password",
        "password-error",
        "Passwords are 8 to 1024",
    );
    assert!(
        !element(&short, "input", "username")
            .unwrap()
            .contains_key("aria-invalid")
    );
    assert_error_tied_to_field(
        &wrong_current,
        "input",
        "current_password",
        "current_password-error",
        "Your current password is wrong.",
    );
    assert_error_tied_to_field(
        &weak_new,
        "input",
        "new_password",
        "new_password-error",
        "Passwords are 8 to 1024",
    );
    assert_error_tied_to_field(
        &wrong_delete,
        "input",
        "current_password",
        "current_password-error",
        "Your current password is wrong.",
    );
}

#[actix_web::test]
async fn a_comment_from_a_browser_that_refuses_cookies_gets_the_form_back_saying_so() {
    // Arrange: the page was seen (its token is good), but the cookie it set was refused.
    let app = spawn_app().await;
    let token = app.browser().csrf().await;
    let mut refusing = app.browser();
    let body = encode(&[
        ("comment", "Kept as typed, ünïcode too"),
        ("csrf_token", &token),
    ]);

    // Act
    let page = refusing.post_raw("/comments", &body, &[]).await;
    // Every request of a browser that refuses cookies comes without them: a new jar each time.
    let json = app
        .browser()
        .post_raw("/comments", &body, &[("Accept", "application/json")])
        .await;

    // Assert
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("did not send this site’s cookies"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Cookies are needed to comment and to log in")
    );
    assert!(page.body.contains("allow cookies for this site"));
    assert!(
        page.body.contains(r#"action="/comments""#),
        "the form again"
    );
    assert!(
        page.body.contains(">Kept as typed, ünïcode too</textarea>"),
        "the text is kept: {}",
        page.body
    );
    assert!(
        page.set_cookie("csrftoken").is_some(),
        "offered again, for when cookies are allowed"
    );
    assert_eq!(json.status, StatusCode::FORBIDDEN);
    assert!(json.json()["error"].as_str().unwrap().contains("cookies"));
    assert_eq!(app.count("comments"), 0);
    app.assert_stored_sessions(0).await;
}

#[actix_web::test]
async fn a_login_from_a_browser_that_refuses_cookies_gets_the_form_back_saying_so() {
    let app = spawn_app().await;
    app.create_member("kim").await;
    let token = app.browser().csrf().await;
    let mut refusing = app.browser();

    let page = refusing
        .post_raw(
            "/login",
            &encode(&[
                ("username", "kim"),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ]),
            &[],
        )
        .await;

    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("did not send this site’s cookies"));
    assert!(page.body.contains(r#"action="/login""#), "the form again");
    assert_eq!(element(&page, "input", "username").unwrap()["value"], "kim");
    assert!(page.set_cookie("sessionid").is_none(), "not logged in");
    app.assert_stored_sessions(0).await;
}

#[actix_web::test]
async fn other_forms_from_a_browser_that_refuses_cookies_get_a_page_that_says_so() {
    let app = spawn_app().await;
    let token = app.browser().csrf().await;

    for path in [
        "/logout",
        "/signup",
        "/account/password",
        "/account/sessions/end-others",
    ] {
        let page = app
            .browser()
            .post_raw(path, &encode(&[("csrf_token", &token)]), &[])
            .await;

        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.body.contains("did not send this site’s cookies"),
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains("<!doctype html>"));
    }
}

#[actix_web::test]
async fn a_csrf_failure_page_says_what_to_do() {
    let app = spawn_app().await;
    let mut browser = app.browser();
    browser.csrf().await;
    let mut garbled = app.browser();
    garbled.set_cookie("csrftoken", "not-a-signed-secret");

    let missing = browser
        .post_raw("/comments", &encode(&[("comment", "hello")]), &[])
        .await;
    let bad_cookie = garbled
        .post_raw("/logout", &encode(&[("csrf_token", "AAAA")]), &[])
        .await;

    for (page, reason) in [
        (&missing, "CSRF token missing."),
        (&bad_cookie, "CSRF cookie not set."),
    ] {
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(
            page.body.contains(&format!("Error code 403: {reason}")),
            "{}",
            page.body
        );
        assert!(page.body.contains("This page was out of date"));
        assert!(page.body.contains("reload the page and try again"));
        assert!(page.body.contains("allows cookies for this site"));
        // A cookie was sent: the browser takes cookies, so not the cookies-refused page.
        assert!(!page.body.contains("did not send this site’s cookies"));
    }
    assert!(missing.body.contains("hello"), "the comment is given back");
}

#[actix_web::test]
async fn pages_are_never_stored_by_the_browser() {
    let app = spawn_app().await;
    app.create_member("lee").await;
    let mut browser = app.browser();
    let anonymous = [
        browser.get("/").await,
        browser.get("/login").await,
        browser.get("/signup").await,
    ];
    let logged_in = browser.log_in("lee", PASSWORD).await;
    let member_pages = [
        browser.get("/").await,
        browser.get("/account/sessions").await,
        browser.get("/account/password").await,
    ];
    let logged_out = browser.post("/logout", &[]).await;
    let css = browser.get("/static/css/site.css").await;

    for page in anonymous
        .iter()
        .chain(&member_pages)
        .chain([&logged_in, &logged_out])
    {
        assert_eq!(page.header("cache-control"), Some("no-store"), "{page:?}");
        assert_eq!(page.header("vary"), Some("Cookie"));
    }
    assert!(
        css.header("cache-control").unwrap().contains("max-age="),
        "static files are still cached"
    );
}

#[actix_web::test]
async fn older_comments_are_a_page_of_their_own_without_the_form() {
    let app = spawn_app().await;
    app.insert_comments(25, |n| format!("Comment number {n}"));
    let mut visitor = app.browser();

    let newest = visitor.get("/").await.body;
    let older = visitor.get("/?before=6").await.body;

    assert!(newest.contains(r#"action="/comments""#));
    assert!(newest.contains("<title>Guestbook</title>"));
    assert!(
        !older.contains(r#"action="/comments""#),
        "the form is on the newest page only"
    );
    assert!(
        older.contains("<title>Older comments · Guestbook</title>"),
        "{older}"
    );
    assert!(older.contains(r#"<h1 id="comments-heading">Older comments</h1>"#));
    assert!(older.contains("Back to the newest comments</a> and the comment form"));
    assert!(older.contains("Comment number 5") && !older.contains("Comment number 6<"));
}

#[actix_web::test]
async fn the_sign_up_form_never_cuts_or_vaguely_refuses_a_username() {
    let app = spawn_app().await;
    let mut visitor = app.browser();
    let form = visitor.get("/signup").await.body;
    let start = form.find(r#"<input id="username""#).unwrap();
    let input = &form[start..start + form[start..].find('>').unwrap()];
    assert!(
        !input.contains("maxlength") && !input.contains("pattern"),
        "{input}"
    );

    let long_name = "Bartholomew_Featherstonehaugh-III";
    for (name, reason) in [
        (long_name, "That username is too long"),
        ("Ba", "That username is too short"),
        (
            "Bart Simpson",
            "That username has a space or another character",
        ),
    ] {
        let refused = visitor
            .post(
                "/signup",
                &[("username", name), ("password", crate::helpers::PASSWORD)],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(refused.body.contains(reason), "{name}: {}", refused.body);
        assert!(
            refused.body.contains(&format!(r#"value="{name}""#)),
            "kept whole"
        );
    }
    assert_eq!(app.count("members"), 0);
}

#[actix_web::test]
async fn numbers_are_written_one_way_and_deleting_an_account_can_be_cancelled() {
    let app = spawn_app().await;
    app.create_member("una").await;
    let mut member = app.browser();
    member.log_in("una", crate::helpers::PASSWORD).await;

    let too_long = app.browser().comment(&"x".repeat(2001)).await.body;
    let delete = member.get("/account/delete").await.body;
    let password = member.get("/account/password").await.body;

    assert!(too_long.contains("2,000 characters at most"), "{too_long}");
    assert!(!too_long.contains("2000 characters"));
    assert!(
        delete.contains(r#"<a href="/account/password">Cancel</a>"#),
        "{delete}"
    );
    assert!(password.contains(r#"<h2 id="delete-heading">Delete your account</h2>"#));
}
