//! What a visitor reads in each state of their comment and at each refusal, in a real browser
//! (headless Chromium): the words match what happened, and no refusal loses what they typed.
//! Each scenario runs once per colour scheme; every step it checks is photographed at both
//! sizes (`target/screenshots/`), and on a phone nothing may scroll sideways.

use fantoccini::wd::WindowHandle;
use serde_json::json;

use crate::helpers::{
    PASSWORD, TestApp,
    browser::{Chrome, DESKTOP, PHONE, Scheme, browser_available},
    spawn_app, spawn_app_with,
};

const SCHEMES: [Scheme; 2] = [Scheme::Light, Scheme::Dark];

/// Every scenario below, in each scheme: one browser per scheme (starting one costs more than
/// a scenario), each scenario on an app of its own, with the cookies forgotten between them.
#[actix_web::test]
async fn the_words_match_what_happened_in_every_state_and_refusal() {
    let Some(tools) = browser_available("the_words_match_what_happened") else {
        return;
    };
    for scheme in SCHEMES {
        let mut chrome = tools.launch(DESKTOP, scheme).await;
        each_state_of_your_comment_says_what_is_true(&mut chrome).await;
        chrome.forget_cookies().await;
        no_refusal_loses_what_the_visitor_typed(&mut chrome).await;
        chrome.forget_cookies().await;
        posting_paused_for_a_network_says_so_and_the_button_waits(&mut chrome).await;
        chrome.forget_cookies().await;
        staff_see_their_confirmation_and_members_their_sessions_this_one_first(&mut chrome).await;
    }
}

/// Photographs this step at a laptop's and a phone's size (checking that the phone's page
/// does not scroll sideways), then goes back to the laptop's. A page at an anchor
/// (`#comment-12`) is photographed there, as a person landing on it sees it.
async fn snap(chrome: &mut Chrome, step: &str) {
    for viewport in [DESKTOP, PHONE] {
        chrome.resize(viewport).await;
        run(
            chrome,
            "var target = location.hash && document.querySelector(location.hash);\
             if (target) target.scrollIntoView()",
            vec![],
        )
        .await;
        if viewport == PHONE {
            assert!(
                !chrome.scrolls_sideways().await,
                "{step} scrolls sideways on a phone"
            );
        }
        chrome.screenshot(step).await;
    }
    chrome.resize(DESKTOP).await;
}

/// Runs `script` (with `args`) in the page; its value.
async fn run(chrome: &Chrome, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
    chrome
        .client
        .execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// The value of the text box labelled by the element with id `id`.
async fn value_of(chrome: &Chrome, id: &str) -> String {
    run(
        chrome,
        "var el = document.getElementById(arguments[0]); return el ? el.value : null",
        vec![json!(id)],
    )
    .await
    .as_str()
    .unwrap_or_else(|| panic!("no #{id} on the page"))
    .to_owned()
}

async fn make_staff(app: &TestApp) -> crate::helpers::Browser {
    app.state
        .accounts
        .create_member("moderator".into(), PASSWORD.into(), true)
        .await
        .unwrap();
    let mut staff = app.browser();
    staff.log_in("moderator", PASSWORD).await;
    staff
}

async fn each_state_of_your_comment_says_what_is_true(chrome: &mut Chrome) {
    let app = spawn_app().await;
    app.insert_comments(3, |n| match n {
        1 => "שלום! ספר האורחים הזה יפה מאוד.".to_owned(),
        2 => "مرحبا! هذا دفتر زوار جميل.".to_owned(),
        _ => "Plain English, left to right.".to_owned(),
    });
    let mut staff = make_staff(&app).await;

    chrome.open(&app.address, "/").await;
    chrome.wait_for_text("Leave a comment").await;
    let first = chrome.text().await;
    assert!(first.contains("Welcome to the guestbook"), "{first}");
    assert!(first.contains("Posting as Anonymous"), "{first}");
    // Right-to-left comments run right to left; the others left to right.
    let directions = run(
        chrome,
        "return Array.from(document.querySelectorAll('.comment-body'))\
           .map(function (p) { return getComputedStyle(p).direction; })",
        vec![],
    )
    .await;
    assert_eq!(directions, json!(["ltr", "rtl", "rtl"]), "newest first");

    // Posted: in, with the time left to change it in words, the exact time as its title.
    chrome.type_into("Your comment", "Mine, for a while.").await;
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("Thanks for your comment!").await;
    let posted = chrome.text().await;
    assert!(
        posted.contains("Your comment is in the guestbook"),
        "{posted}"
    );
    assert!(
        posted.contains("for another 14 minutes") || posted.contains("for another 15 minutes"),
        "{posted}"
    );
    assert!(!posted.contains("UTC"), "no raw UTC time: {posted}");
    let title = run(
        chrome,
        "return document.querySelector('time[data-remaining]').title",
        vec![],
    )
    .await;
    assert!(title.as_str().unwrap().starts_with("until 20"), "{title}");
    snap(chrome, "your-comment").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "your-comment"
    );

    // Hidden by a moderator.
    let id = run(
        chrome,
        "return document.querySelector('.comment-own').id",
        vec![],
    )
    .await;
    let id = id
        .as_str()
        .unwrap()
        .trim_start_matches("comment-")
        .to_owned();
    staff
        .post(&format!("/comments/{id}/hide"), &[("back", "/")])
        .await;
    chrome.client.refresh().await.unwrap();
    chrome.wait_for_text("A moderator hid your comment").await;
    let hidden = chrome.text().await;
    assert!(!hidden.contains("Your comment is in"), "{hidden}");
    assert!(!hidden.contains("Mine, for a while."), "{hidden}");
    snap(chrome, "your-comment-hidden").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "your-comment-hidden"
    );

    // Shown again, then deleted by its author: the page says so on every later visit.
    staff
        .post(&format!("/comments/{id}/unhide"), &[("back", "/")])
        .await;
    chrome.client.refresh().await.unwrap();
    chrome
        .wait_for_text("Your comment is in the guestbook")
        .await;
    chrome.click_link("delete").await;
    chrome.wait_for_text("Delete your comment?").await;
    chrome.click_button("Delete comment").await;
    chrome.wait_for_text("Your comment was deleted").await;
    chrome.client.refresh().await.unwrap();
    chrome.wait_for_text("Your comment was deleted").await;
    let gone = chrome.text().await;
    assert!(!gone.contains("Your comment is in"), "{gone}");
    assert!(
        !chrome.has_button("Post comment").await,
        "still one per visitor"
    );
    snap(chrome, "your-comment-deleted").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "your-comment-deleted"
    );
    assert_eq!(chrome.severe_log_entries().await, Vec::<String>::new());
}

async fn no_refusal_loses_what_the_visitor_typed(chrome: &mut Chrome) {
    let app = spawn_app().await;
    app.create_member("tove").await;
    let first_tab = chrome.client.window().await.unwrap();
    let second_tab = chrome.client.new_window(true).await.unwrap().handle;

    // A second comment, posted from a tab whose form was open before the first was.
    chrome.open(&app.address, "/").await;
    chrome
        .type_into("Your comment", "Typed in the first tab.")
        .await;
    switch(chrome, &second_tab).await;
    chrome.open(&app.address, "/").await;
    chrome
        .type_into("Your comment", "Posted from the second tab.")
        .await;
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("Thanks for your comment!").await;
    switch(chrome, &first_tab).await;
    chrome.click_button("Post comment").await;
    chrome
        .wait_for_text("You have already left your comment")
        .await;
    assert_eq!(
        value_of(chrome, "unposted").await,
        "Typed in the first tab."
    );
    snap(chrome, "refused-second-comment").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "refused-second-comment"
    );

    // A form made stale by logging in from another tab: offered again, and it works.
    chrome.forget_cookies().await;
    chrome.open(&app.address, "/").await;
    chrome
        .type_into("Your comment", "Typed before logging in.")
        .await;
    switch(chrome, &second_tab).await;
    chrome.open(&app.address, "/login").await;
    chrome.type_into("Username", "tove").await;
    chrome.type_into("Password", PASSWORD).await;
    chrome.click_button("Log in").await;
    chrome.wait_for_text("Logged in as tove").await;
    switch(chrome, &first_tab).await;
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("was not posted yet").await;
    let stale = chrome.text().await;
    assert!(!stale.contains("CSRF") && !stale.contains("403"), "{stale}");
    assert_eq!(
        value_of(chrome, "comment").await,
        "Typed before logging in."
    );
    snap(chrome, "stale-form-offered-again").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "stale-form-offered-again"
    );
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("Thanks for your comment!").await;
    assert!(chrome.text().await.contains("Typed before logging in."));

    // A username too long for the rules: refused whole, never cut short.
    chrome.forget_cookies().await;
    chrome.open(&app.address, "/signup").await;
    let long_name = "Bartholomew_Featherstonehaugh-III";
    chrome.type_into("Username", long_name).await;
    assert_eq!(value_of(chrome, "username").await, long_name, "nothing cut");
    chrome.type_into("Password", PASSWORD).await;
    chrome.click_button("Create account").await;
    chrome.wait_for_text("That username is too long").await;
    assert_eq!(value_of(chrome, "username").await, long_name);
    snap(chrome, "signup-refused").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "signup-refused"
    );
    // A name within the rules is welcomed by name.
    chrome.type_into("Username", "Bartholomew").await;
    chrome.type_into("Password", PASSWORD).await;
    chrome.click_button("Create account").await;
    chrome.wait_for_text("Welcome, Bartholomew!").await;
    assert!(chrome.text().await.contains("Posting as Bartholomew"));

    // A link to edit, followed after the window closed: plain words, no bare code.
    chrome
        .type_into("Your comment", "Bartholomew was here.")
        .await;
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("Thanks for your comment!").await;
    chrome.click_link("Edit your comment").await;
    chrome.wait_for_text("Edit your comment").await;
    let edit_path = chrome.path().await;
    {
        use diesel::RunQueryDsl;
        diesel::sql_query(
            "UPDATE comments SET created_at = '2026-01-01 00:00:00' \
             WHERE body = 'Bartholomew was here.'",
        )
        .execute(&mut app.db())
        .unwrap();
    }
    chrome.open(&app.address, &edit_path).await;
    chrome
        .wait_for_text("Too late to change this comment")
        .await;
    let too_late = chrome.text().await;
    assert!(
        too_late.contains("Logged in as Bartholomew"),
        "the header stays: {too_late}"
    );
    snap(chrome, "too-late-to-change").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "too-late-to-change"
    );

    let problems = chrome.severe_log_entries().await;
    assert!(
        problems.iter().all(|entry| ["403", "409", "422"]
            .iter()
            .any(|code| entry.contains(code))),
        "only the refusals' own statuses: {problems:?}"
    );
}

async fn switch(chrome: &Chrome, tab: &WindowHandle) {
    chrome.client.switch_to_window(tab.clone()).await.unwrap();
}

async fn posting_paused_for_a_network_says_so_and_the_button_waits(chrome: &mut Chrome) {
    let app = spawn_app_with(|s| s.comments.throttle.per_address = 1).await;
    app.browser().comment("Someone else on this network").await;

    chrome.open(&app.address, "/").await;
    chrome
        .type_into("Your comment", "Mine, kept while paused.")
        .await;
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("your network").await;
    let page = chrome.text().await;
    assert!(!page.contains("You have posted too many"), "{page}");
    assert!(page.contains("You can post it in"), "{page}");
    assert_eq!(
        value_of(chrome, "comment").await,
        "Mine, kept while paused."
    );
    let disabled = run(
        chrome,
        "return document.querySelector('#comment-form button[type=submit]').disabled",
        vec![],
    )
    .await;
    assert_eq!(disabled, json!(true), "the button waits");
    snap(chrome, "posting-paused").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "posting-paused"
    );
}

async fn staff_see_their_confirmation_and_members_their_sessions_this_one_first(
    chrome: &mut Chrome,
) {
    let app = spawn_app().await;
    app.insert_comments(20, |n| {
        format!("Comment number {n}, with a few words in it.")
    });
    app.state
        .accounts
        .create_member("moderator".into(), PASSWORD.into(), true)
        .await
        .unwrap();

    chrome.open(&app.address, "/").await;
    let header_logged_out = header_height(chrome).await;
    chrome.click_link("Log in").await;
    chrome.type_into("Username", "moderator").await;
    chrome.type_into("Password", PASSWORD).await;
    chrome.click_button("Log in").await;
    chrome.wait_for_text("Logged in as moderator").await;
    assert_eq!(
        header_height(chrome).await,
        header_logged_out,
        "the header keeps its height"
    );

    // Hide a comment far down the page: the confirmation is where the page lands.
    let far_down = run(
        chrome,
        "var buttons = document.querySelectorAll('.comment-actions button');\
         buttons[buttons.length - 3].scrollIntoView(); return buttons.length",
        vec![],
    )
    .await;
    assert_eq!(far_down, json!(20));
    run(
        chrome,
        "var buttons = document.querySelectorAll('.comment-actions button');\
         buttons[buttons.length - 3].click()",
        vec![],
    )
    .await;
    chrome.wait_for_text("The comment is hidden").await;
    let in_view = run(
        chrome,
        "var r = document.querySelector('.comment-notice').getBoundingClientRect();\
         return r.top >= 0 && r.bottom <= window.innerHeight",
        vec![],
    )
    .await;
    assert_eq!(in_view, json!(true), "the confirmation is in view");
    snap(chrome, "staff-confirmation-in-view").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "staff-confirmation-in-view"
    );

    // Your sessions: this one first; the address never wraps.
    let mut phone = app.browser();
    phone.log_in("moderator", PASSWORD).await;
    chrome.open(&app.address, "/account/sessions").await;
    chrome.wait_for_text("This browser").await;
    let layout = run(
        chrome,
        "var rows = document.querySelectorAll('table.sessions tbody tr');\
         var address = rows[0].querySelector('.address');\
         return [rows.length, rows[0].innerText.indexOf('This browser') >= 0,\
                 address.getClientRects().length]",
        vec![],
    )
    .await;
    assert_eq!(
        layout,
        json!([2, true, 1]),
        "two sessions, this one first, address on one line"
    );
    snap(chrome, "sessions-this-browser-first").await;
    assert_eq!(
        chrome.low_contrast_text().await,
        Vec::<String>::new(),
        "sessions-this-browser-first"
    );
}

async fn header_height(chrome: &Chrome) -> f64 {
    run(
        chrome,
        "return document.querySelector('.site-header').getBoundingClientRect().height",
        vec![],
    )
    .await
    .as_f64()
    .unwrap()
}
