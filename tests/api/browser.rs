//! The site in a real browser (headless Chromium through ChromeDriver): what a person does,
//! done by clicking and typing, with fields and buttons found by their labels and text. Each
//! scenario also saves screenshots to `target/screenshots/`, at a laptop's and a phone's size,
//! in the light and the dark scheme.

use fantoccini::key::Key;

use crate::helpers::{
    PASSWORD, TestApp,
    browser::{Chrome, DESKTOP, PHONE, Scheme, Viewport, browser_available},
    spawn_app,
};

/// Both colour schemes; a browser is started for each.
const SCHEMES: [Scheme; 2] = [Scheme::Light, Scheme::Dark];

/// Both sizes; the browser is resized for each.
const SIZES: [Viewport; 2] = [DESKTOP, PHONE];

#[actix_web::test]
async fn a_visitor_signs_up_comments_reloads_and_logs_out() {
    let Some(tools) = browser_available("a_visitor_signs_up_comments_reloads_and_logs_out") else {
        return;
    };
    for scheme in SCHEMES {
        let mut chrome = tools.launch(DESKTOP, scheme).await;
        for viewport in SIZES {
            chrome.resize(viewport).await;
            let app = spawn_app().await;

            chrome.open(&app.address, "/").await;
            chrome.wait_for_text("Leave a comment").await;
            chrome.screenshot("home").await;
            chrome.click_link("Sign up").await;
            chrome.wait_for_text("Create account").await;
            chrome.screenshot("signup").await;
            chrome.type_into("Username", "ada").await;
            chrome.type_into("Password", PASSWORD).await;
            chrome.click_button("Create account").await;
            chrome.wait_for_text("Logged in as ada").await;
            chrome.screenshot("home-member").await;

            chrome
                .type_into(
                    "Your comment",
                    "Lovely guestbook, signed in a real browser.",
                )
                .await;
            chrome.click_button("Post comment").await;
            chrome.wait_for_text("Thanks for your comment!").await;
            assert!(
                chrome
                    .text()
                    .await
                    .contains("Lovely guestbook, signed in a real browser.")
            );
            chrome.screenshot("home-commented").await;

            chrome.client.refresh().await.unwrap();
            chrome
                .wait_for_text("Lovely guestbook, signed in a real browser.")
                .await;
            let shown = chrome.text().await;
            assert!(
                !shown.contains("Thanks for your comment!"),
                "the thanks is shown once: {shown}"
            );
            assert!(
                !chrome.has_field("Your comment").await && !chrome.has_button("Post comment").await,
                "the form is gone after commenting"
            );
            assert!(
                shown.contains("Your comment is in the guestbook"),
                "a note says this visitor has commented: {shown}"
            );
            chrome.screenshot("home-after-reload").await;

            chrome.click_button("Log out").await;
            chrome.wait_for_text("You're logged out.").await;
            assert!(!chrome.text().await.contains("Logged in as"));
            chrome.screenshot("logged-out").await;
            assert_eq!(chrome.severe_log_entries().await, Vec::<String>::new());
            chrome.forget_cookies().await;
        }
    }
}

#[actix_web::test]
async fn a_wrong_password_is_refused_keeping_the_username_then_the_right_one_logs_in() {
    let Some(tools) = browser_available("a_wrong_password_is_refused_keeping_the_username") else {
        return;
    };
    for scheme in SCHEMES {
        let mut chrome = tools.launch(DESKTOP, scheme).await;
        for viewport in SIZES {
            chrome.resize(viewport).await;
            let app = spawn_app().await;
            app.create_member("grace").await;
            chrome.open(&app.address, "/").await;
            chrome.click_link("Log in").await;
            chrome.wait_for_text("Remember me").await;
            chrome.screenshot("login").await;

            chrome.type_into("Username", "grace").await;
            chrome.type_into("Password", "not her password").await;
            chrome.click_button("Log in").await;
            chrome
                .wait_for_text("Your username and password didn't match.")
                .await;
            let username = chrome.field("Username").await.prop("value").await.unwrap();
            assert_eq!(username.as_deref(), Some("grace"), "the username is kept");
            let password = chrome.field("Password").await.prop("value").await.unwrap();
            assert_eq!(
                password.as_deref(),
                Some(""),
                "the password is not sent back"
            );
            let focused = chrome
                .client
                .execute("return document.activeElement.id", vec![])
                .await
                .unwrap();
            assert_eq!(focused, "password", "the focus is where to type again");
            chrome.screenshot("login-refused").await;

            chrome.type_into("Password", PASSWORD).await;
            chrome.click_button("Log in").await;
            chrome.wait_for_text("You're logged in.").await;
            assert!(chrome.text().await.contains("Logged in as grace"));
            chrome.forget_cookies().await;
        }
    }
}

#[actix_web::test]
async fn the_session_cookie_is_out_of_reach_of_scripts_while_the_session_works() {
    let Some(tools) = browser_available("the_session_cookie_is_out_of_reach_of_scripts") else {
        return;
    };
    let app = spawn_app().await;
    app.create_member("linus").await;
    let chrome = tools.launch(DESKTOP, Scheme::Light).await;
    log_in(&chrome, &app, "linus").await;

    let script_cookies = chrome
        .client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    let script_cookies = script_cookies.as_str().unwrap();
    let jar = chrome.client.get_all_cookies().await.unwrap();
    let session = jar
        .iter()
        .find(|cookie| cookie.name() == "sessionid")
        .expect("the browser holds the session cookie");

    assert_eq!(session.http_only(), Some(true));
    assert!(
        !script_cookies.contains("sessionid"),
        "document.cookie shows the session cookie: {script_cookies}"
    );
    assert!(
        script_cookies.contains("csrftoken="),
        "the page's other cookies are readable: {script_cookies:?}"
    );
    chrome.client.refresh().await.unwrap();
    chrome.wait_for_text("Logged in as linus").await;
}

#[actix_web::test]
async fn after_logging_out_the_back_button_shows_no_member_page() {
    let Some(tools) = browser_available("after_logging_out_the_back_button_shows_no_member_page")
    else {
        return;
    };
    let mut chrome = tools.launch(DESKTOP, Scheme::Light).await;
    for viewport in SIZES {
        chrome.resize(viewport).await;
        let app = spawn_app().await;
        app.create_member("margaret").await;
        log_in(&chrome, &app, "margaret").await;
        chrome.click_link("Your sessions").await;
        chrome.wait_for_text("This browser").await;
        chrome.screenshot("sessions").await;

        chrome.click_button("Log out").await;
        chrome.wait_for_text("You're logged out.").await;
        chrome.client.back().await.unwrap();
        chrome.wait_for_text("Remember me").await;

        let shown = chrome.text().await;
        assert!(
            !shown.contains("Logged in as") && !shown.contains("This browser"),
            "Back showed a member page after logout ({}): {shown}",
            chrome.path().await
        );
        // Asked of the server again, the members-only page sends the visitor to log in.
        assert_eq!(chrome.path().await, "/login");
        chrome.forget_cookies().await;
    }
}

#[actix_web::test]
async fn a_keyboard_alone_signs_up_comments_and_logs_out_with_the_focus_always_visible() {
    let Some(tools) =
        browser_available("a_keyboard_alone_signs_up_comments_and_logs_out_with_the_focus_visible")
    else {
        return;
    };
    for scheme in SCHEMES {
        let app = spawn_app().await;
        let chrome = tools.launch(DESKTOP, scheme).await;
        chrome.open(&app.address, "/").await;
        chrome.wait_for_text("Leave a comment").await;

        chrome.tab_to("Sign up", false).await;
        chrome.press(Key::Enter, false).await;
        chrome.wait_for_text("Create account").await;
        if !chrome.focused().await.name.starts_with("Username") {
            chrome.tab_to("Username", false).await;
        }
        chrome.type_keys("keyboarder").await;
        chrome.tab_to("Password", false).await;
        chrome.type_keys(PASSWORD).await;
        chrome.tab_to("Create account", false).await;
        chrome.press(Key::Enter, false).await;
        chrome.wait_for_text("Logged in as keyboarder").await;

        chrome.tab_to("Your comment", false).await;
        chrome.type_keys("Typed, never clicked.").await;
        chrome.tab_to("Post comment", false).await;
        // Back and forth: Shift-Tab returns to the text, which is still there.
        let comment = chrome.tab_to("Your comment", true).await;
        assert_eq!(comment.tag, "textarea");
        chrome.tab_to("Post comment", false).await;
        chrome.screenshot("keyboard-focus").await;
        chrome.press(Key::Enter, false).await;
        chrome.wait_for_text("Thanks for your comment!").await;
        assert!(chrome.text().await.contains("Typed, never clicked."));

        chrome.tab_to("Log out", false).await;
        chrome.press(Key::Enter, false).await;
        chrome.wait_for_text("You're logged out.").await;
    }
}

#[actix_web::test]
async fn no_page_has_a_script_error_or_a_content_security_policy_violation() {
    let Some(tools) = browser_available("no_page_has_a_script_error_or_a_csp_violation") else {
        return;
    };
    let app = spawn_app().await;
    app.create_member("barbara").await;
    let chrome = tools.launch(DESKTOP, Scheme::Light).await;
    let mut problems = Vec::new();

    for path in ["/", "/login", "/signup", "/?before=2"] {
        chrome.open(&app.address, path).await;
        problems.extend(page_problems(&chrome, path).await);
    }
    // The 404 page: its own status is reported, which also shows the log is being read.
    chrome.open(&app.address, "/nowhere").await;
    let not_found = chrome.severe_log_entries().await;
    let (own, others): (Vec<_>, Vec<_>) = not_found
        .into_iter()
        .partition(|entry| entry.starts_with(&format!("SEVERE network: {}/nowhere ", app.address)));
    assert_eq!(own.len(), 1, "the browser log reports the 404: {own:?}");
    problems.extend(others.into_iter().map(|entry| format!("/nowhere: {entry}")));
    log_in(&chrome, &app, "barbara").await;
    problems.extend(page_problems(&chrome, "/ (logged in)").await);
    for path in ["/account/sessions", "/account/password", "/account/delete"] {
        chrome.open(&app.address, path).await;
        problems.extend(page_problems(&chrome, path).await);
    }
    chrome.open(&app.address, "/").await;
    chrome.type_into("Your comment", "").await;
    chrome
        .type_into("Your comment", "Checking the console")
        .await;
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("Thanks for your comment!").await;
    problems.extend(page_problems(&chrome, "/ (commented)").await);

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[actix_web::test]
async fn on_a_phone_no_page_scrolls_sideways() {
    let Some(tools) = browser_available("on_a_phone_no_page_scrolls_sideways") else {
        return;
    };
    let app = spawn_app().await;
    app.create_member("a_member_with_a_long_name_32chrs").await;
    let chrome = tools.launch(PHONE, Scheme::Light).await;
    let mut too_wide = Vec::new();

    // The detector first: on the home page, with one box wider than the phone planted in its
    // content, it must say the page scrolls sideways; else "nothing found" below means nothing.
    chrome.open(&app.address, "/").await;
    assert!(
        !chrome.scrolls_sideways().await,
        "the home page scrolls sideways before anything is planted"
    );
    plant_too_wide_box(&chrome).await;
    assert!(
        chrome.scrolls_sideways().await,
        "the detector missed a {} px box on a {} px phone",
        PHONE.width + 100,
        PHONE.width
    );

    for path in ["/", "/login", "/signup"] {
        chrome.open(&app.address, path).await;
        if chrome.scrolls_sideways().await {
            too_wide.push(path.to_owned());
        }
    }
    log_in(&chrome, &app, "a_member_with_a_long_name_32chrs").await;
    // What visitors write need not wrap by itself: a long link, one unbroken word.
    let unbroken = format!("https://example.com/{}", "a".repeat(120));
    chrome.type_into("Your comment", &unbroken).await;
    chrome.click_button("Post comment").await;
    chrome.wait_for_text("Thanks for your comment!").await;
    for path in ["/", "/account/sessions", "/account/password"] {
        chrome.open(&app.address, path).await;
        if chrome.scrolls_sideways().await {
            too_wide.push(format!("{path} (logged in)"));
        }
    }

    assert!(
        too_wide.is_empty(),
        "wider than a 375 px phone: {too_wide:?}"
    );
}

#[actix_web::test]
async fn the_browser_asks_for_the_scheme_and_size_chosen_and_the_site_follows_the_scheme() {
    let Some(tools) = browser_available("the_browser_asks_for_the_scheme_and_size_chosen") else {
        return;
    };
    let app = spawn_app().await;
    let mut backgrounds = Vec::new();
    for scheme in SCHEMES {
        let mut chrome = tools.launch(DESKTOP, scheme).await;
        for viewport in SIZES {
            chrome.resize(viewport).await;
            chrome.open(&app.address, "/").await;

            let dark = chrome.matches_media("(prefers-color-scheme: dark)").await;
            let light = chrome.matches_media("(prefers-color-scheme: light)").await;
            let size = chrome
                .client
                .execute("return [window.innerWidth, window.innerHeight]", vec![])
                .await
                .unwrap();

            assert_eq!(
                (dark, light),
                (scheme == Scheme::Dark, scheme == Scheme::Light),
                "{scheme:?}: prefers-color-scheme"
            );
            assert_eq!(
                size,
                serde_json::json!([viewport.width, viewport.height]),
                "the viewport is the size asked for"
            );
        }
        let background = chrome
            .client
            .execute(
                "const [html, body] = [document.documentElement, document.body].map(getComputedStyle);
                 return [html.backgroundColor, body.backgroundColor, body.color]",
                vec![],
            )
            .await
            .unwrap();
        backgrounds.push(background);
    }

    assert_ne!(
        backgrounds[0], backgrounds[1],
        "the page looks the same in the light and the dark scheme"
    );
}

/// A visitor edits and then deletes their own comment; a staff member hides a spam comment,
/// which then shows only to staff. Every text stays readable in both schemes, and nothing
/// scrolls sideways on a phone.
#[actix_web::test]
async fn a_visitor_edits_and_deletes_their_comment_and_staff_hide_one() {
    let Some(tools) = browser_available("a_visitor_edits_and_deletes_their_comment") else {
        return;
    };
    for scheme in SCHEMES {
        let mut chrome = tools.launch(DESKTOP, scheme).await;
        let app = spawn_app().await;

        chrome.open(&app.address, "/").await;
        chrome.type_into("Your comment", "My frist try").await;
        chrome.click_button("Post comment").await;
        chrome.wait_for_text("Thanks for your comment!").await;
        chrome.click_link("Edit your comment").await;
        chrome.wait_for_text("Edit your comment").await;
        assert_eq!(chrome.path().await, "/comments/1/edit");
        chrome.type_into("Your comment", "My first try").await;
        chrome.click_button("Save changes").await;
        chrome.wait_for_text("Your comment was updated.").await;
        let shown = chrome.text().await;
        assert!(
            shown.contains("My first try") && !shown.contains("My frist try"),
            "{shown}"
        );
        assert!(
            shown.contains("edited") && shown.contains("Your comment"),
            "{shown}"
        );
        assert_eq!(chrome.low_contrast_text().await, Vec::<String>::new());
        chrome.resize(PHONE).await;
        assert!(
            !chrome.scrolls_sideways().await,
            "the actions fit on a phone"
        );
        chrome.screenshot("own-comment").await;
        chrome.resize(DESKTOP).await;

        chrome.click_link("Delete your comment").await;
        chrome.wait_for_text("Delete your comment?").await;
        assert!(chrome.text().await.contains("cannot be undone"));
        chrome.screenshot("delete-confirm").await;
        chrome.click_button("Delete comment").await;
        chrome.wait_for_text("Your comment was deleted.").await;
        let shown = chrome.text().await;
        assert!(!shown.contains("My first try"), "{shown}");
        assert!(
            !chrome.has_button("Post comment").await,
            "still one comment per visitor"
        );

        app.browser().comment("Cheap watches, click here").await;
        app.state
            .accounts
            .create_member("moderator".into(), PASSWORD.into(), true)
            .await
            .unwrap();
        chrome.forget_cookies().await;
        log_in(&chrome, &app, "moderator").await;
        chrome.open(&app.address, "/").await;
        chrome.click_button_starting("Hide").await;
        chrome.wait_for_text("The comment is hidden").await;
        let shown = chrome.text().await;
        assert!(
            shown.contains("Cheap watches, click here") && shown.contains("Hidden"),
            "{shown}"
        );
        assert!(chrome.has_button_starting("Unhide").await);
        assert_eq!(chrome.low_contrast_text().await, Vec::<String>::new());
        chrome.screenshot("staff-hid-a-comment").await;
        let everyone = app.browser().get("/").await;
        assert!(
            !everyone.body.contains("Cheap watches"),
            "hidden from everyone else"
        );
    }
}

/// Logs `username` in through the login page, as a person would.
async fn log_in(chrome: &Chrome, app: &TestApp, username: &str) {
    chrome.open(&app.address, "/login").await;
    chrome.type_into("Username", username).await;
    chrome.type_into("Password", PASSWORD).await;
    chrome.click_button("Log in").await;
    chrome
        .wait_for_text(&format!("Logged in as {username}"))
        .await;
}

/// Adds to the page's content a box 100 px wider than the viewport, for
/// [`Chrome::scrolls_sideways`] to find. Set through the CSSOM, which the site's CSP allows.
async fn plant_too_wide_box(chrome: &Chrome) {
    chrome
        .client
        .execute(
            "const wide = document.createElement('div');
             wide.textContent = 'Planted: wider than the screen';
             wide.style.width = (window.innerWidth + 100) + 'px';
             document.getElementById('content').append(wide);",
            vec![],
        )
        .await
        .expect("the box is planted");
}

/// Adds to the page's content two paragraphs [`Chrome::low_contrast_text`] must report, and
/// returns their texts: one grey on grey of its own (about 1.5:1), and one in the page's own
/// background colour on no background of its own (1:1, found only by looking behind it).
async fn plant_low_contrast_text(chrome: &Chrome) -> [&'static str; 2] {
    let texts = [
        "Planted: grey on grey",
        "Planted: in the colour of the page",
    ];
    chrome
        .client
        .execute(
            "const content = document.getElementById('content');
             const grey = document.createElement('p');
             grey.textContent = arguments[0];
             grey.style.color = 'rgb(120, 120, 120)';
             grey.style.backgroundColor = 'rgb(150, 150, 150)';
             const unseen = document.createElement('p');
             unseen.textContent = arguments[1];
             unseen.style.color = getComputedStyle(document.documentElement).backgroundColor;
             content.prepend(grey, unseen);",
            vec![serde_json::json!(texts[0]), serde_json::json!(texts[1])],
        )
        .await
        .expect("the text is planted");
    texts
}

/// The browser's errors and CSP reports since the last look, each naming `page`.
async fn page_problems(chrome: &Chrome, page: &str) -> Vec<String> {
    chrome
        .severe_log_entries()
        .await
        .into_iter()
        .map(|entry| format!("{page}: {entry}"))
        .collect()
}

/// Text meets WCAG AA contrast in both schemes, measured on the colours the browser computes,
/// on the pages people see most: home (with a comment, an error and a notice), login with its
/// error, and a member's sessions page. The comment counter counts down as one types.
#[actix_web::test]
async fn text_meets_wcag_aa_contrast_in_both_schemes_and_the_counter_counts_down() {
    let Some(tools) = browser_available("text_meets_wcag_aa_contrast_in_both_schemes") else {
        return;
    };
    for scheme in SCHEMES {
        let app = spawn_app().await;
        app.create_member("hedy").await;
        let chrome = tools.launch(DESKTOP, scheme).await;
        let mut problems = Vec::new();

        // The detector first, in this scheme: text planted on the home page that is hard to
        // read must be reported, else an empty list below means nothing.
        chrome.open(&app.address, "/").await;
        chrome.wait_for_text("Leave a comment").await;
        let planted = plant_low_contrast_text(&chrome).await;
        let found = chrome.low_contrast_text().await;
        for text in planted {
            assert!(
                found.iter().any(|problem| problem.contains(text)),
                "{scheme:?}: the detector missed {text:?}; it found {found:#?}"
            );
        }

        chrome.open(&app.address, "/").await;
        chrome.wait_for_text("Leave a comment").await;
        chrome.type_into("Your comment", "Twelve chars").await;
        let counter = chrome
            .client
            .execute(
                "return document.getElementById('comment-counter').textContent",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            counter.as_str().unwrap_or_default().contains("1,988"),
            "{counter}"
        );
        problems.extend(chrome.low_contrast_text().await);
        chrome.click_link("Log in").await;
        chrome.wait_for_text("Remember me").await;
        chrome.type_into("Username", "hedy").await;
        chrome.type_into("Password", "not her password").await;
        chrome.click_button("Log in").await;
        chrome.wait_for_text("didn't match").await;
        problems.extend(chrome.low_contrast_text().await);
        chrome.type_into("Password", PASSWORD).await;
        chrome.click_button("Log in").await;
        chrome.wait_for_text("Logged in as hedy").await;
        chrome.type_into("Your comment", "A comment to list.").await;
        chrome.click_button("Post comment").await;
        chrome.wait_for_text("Thanks for your comment!").await;
        problems.extend(chrome.low_contrast_text().await);
        chrome.open(&app.address, "/account/sessions").await;
        chrome.wait_for_text("Your sessions").await;
        problems.extend(chrome.low_contrast_text().await);

        assert!(problems.is_empty(), "{scheme:?}: {problems:#?}");
    }
}
