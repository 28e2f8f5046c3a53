//! Members in control of their sessions: changing the password, "your sessions" with logging
//! out one or all the others, remember me, upgrading password hashes, deleting the account.

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use guestbook::settings::{SessionEngineKind, Settings};

use crate::helpers::{
    Browser, Engine, Flavor, PASSWORD, Page, SharedSite, TestApp, redis_available, run_cli,
    spawn_app, spawn_app_with,
};

const NEW_PASSWORD: &str = "a brand new passphrase";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

fn shows_logged_in(page: &Page, username: &str) -> bool {
    page.body
        .contains(&format!("Logged in as <strong>{username}</strong>"))
}

/// A new browser of `app`, logged in as `username` with `user_agent`.
async fn logged_in_browser(app: &TestApp, username: &str, user_agent: &str) -> Browser {
    let mut browser = app.browser();
    let page = browser
        .post_with(
            "/login",
            &[("username", username), ("password", PASSWORD)],
            &[("User-Agent", user_agent)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    browser
}

async fn is_logged_in(browser: &mut Browser, username: &str) -> bool {
    shows_logged_in(&browser.get("/").await, username)
}

/// `GET /account/sessions` as JSON.
async fn listed_sessions(browser: &mut Browser) -> serde_json::Value {
    let page = browser
        .get_with("/account/sessions", &[("Accept", "application/json")])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.json()
}

fn sessions_in(listing: &serde_json::Value) -> Vec<serde_json::Value> {
    listing["sessions"].as_array().cloned().unwrap_or_default()
}

/// The id "your sessions" gives the browser's own session.
async fn current_session_id(browser: &mut Browser) -> String {
    let listing = listed_sessions(browser).await;
    let current = sessions_in(&listing)
        .into_iter()
        .find(|s| s["current"] == true);
    current.expect("this session is listed")["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

async fn change_password(browser: &mut Browser, current: &str, new: &str) -> Page {
    browser
        .post(
            "/account/password",
            &[("current_password", current), ("new_password", new)],
        )
        .await
}

conformance! {
    async fn changing_the_password_keeps_this_session_under_a_new_key_and_logs_out_every_other(flavor) {
        // Arrange: one member logged in from two clients.
        let app = flavor.spawn_app().await;
        app.create_member("ada").await;
        let mut laptop = logged_in_browser(&app, "ada", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "ada", IPHONE).await;
        assert!(is_logged_in(&mut phone, "ada").await);
        let key_before = laptop.session_cookie().unwrap();

        // Act
        let changed = change_password(&mut laptop, PASSWORD, NEW_PASSWORD).await;
        let laptop_home = laptop.get("/").await;
        let phone_home = phone.get("/").await;

        // Assert
        assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
        assert_eq!(changed.header("location"), Some("/"));
        assert!(laptop_home.body.contains(
            "Your password was changed, and your other sessions were logged out."
        ));
        assert!(shows_logged_in(&laptop_home, "ada"), "this session stays logged in");
        assert_ne!(laptop.session_cookie().unwrap(), key_before, "under a new key");
        assert!(!shows_logged_in(&phone_home, "ada"), "the other session is logged out");
        assert!(phone_home.body.contains(r#"href="/login""#));
        let mut fresh = app.browser();
        assert_eq!(fresh.log_in("ada", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(fresh.log_in("ada", NEW_PASSWORD).await.status, StatusCode::SEE_OTHER);
    }

    async fn a_password_change_is_refused_with_422_and_its_reason_and_changes_nothing(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("bea").await;
        let mut browser = logged_in_browser(&app, "bea", FIREFOX).await;

        let wrong = change_password(&mut browser, "not my password", NEW_PASSWORD).await;
        let short = change_password(&mut browser, PASSWORD, "short").await;
        let json = browser
            .post_json(
                "/account/password",
                &[("current_password", "nope nope"), ("new_password", NEW_PASSWORD)],
            )
            .await;

        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong.body.contains("Your current password is wrong."), "{}", wrong.body);
        assert!(wrong.body.contains(r#"action="/account/password""#), "the form again");
        assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(short.body.contains("Passwords are 8 to 1024 characters"));
        assert_eq!(json.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json.json()["error"], "Your current password is wrong.");
        assert!(is_logged_in(&mut browser, "bea").await, "still logged in");
        assert_eq!(
            app.browser().log_in("bea", PASSWORD).await.status,
            StatusCode::SEE_OTHER,
            "the password is unchanged"
        );
    }

    async fn your_sessions_lists_each_logged_in_session_with_its_device_and_marks_this_one(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("cleo").await;
        let mut laptop = logged_in_browser(&app, "cleo", FIREFOX).await;
        let _phone = logged_in_browser(&app, "cleo", IPHONE).await;
        let mut anonymous = app.browser();
        anonymous.comment("not a member").await;

        let listing = listed_sessions(&mut laptop).await;
        let page = laptop.get("/account/sessions").await;

        let sessions = sessions_in(&listing);
        if app.revocable() {
            assert_eq!(listing["listable"], true);
            assert_eq!(sessions.len(), 2, "{listing}");
            let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
            assert_eq!(current.len(), 1);
            assert_eq!(current[0]["device"], "Firefox on Linux");
            assert!(sessions.iter().any(|s| s["device"] == "Safari on iPhone"));
            assert!(sessions.iter().all(|s| s["address"] == "127.0.0.1"));
            assert_eq!(sessions[0]["current"], true, "this session first: {listing}");
            assert!(page.body.contains("This browser"));
            assert!(
                page.body.find("This browser") < page.body.find("Safari on iPhone"),
                "this session first on the page too"
            );
            assert!(page.body.contains(r#"action="/account/sessions/end""#));
        } else {
            assert_eq!(listing["listable"], false);
            assert_eq!(sessions.len(), 1, "only this session is known");
            assert_eq!(sessions[0]["current"], true);
            assert!(page.body.contains("cannot list them"), "{}", page.body);
        }
        assert!(page.body.contains(r#"action="/account/sessions/end-others""#));
        // No session key is ever shown: ids are not keys.
        let key = laptop.session_cookie().unwrap();
        assert!(!page.body.contains(&key[key.len().saturating_sub(64)..]));
    }

    async fn logging_out_one_other_session_ends_just_that_one(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("dina").await;
        let mut laptop = logged_in_browser(&app, "dina", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "dina", IPHONE).await;
        let mut tablet = logged_in_browser(&app, "dina", IPHONE).await;
        let phone_id = current_session_id(&mut phone).await;
        if !app.revocable() {
            // Signed cookies: the server cannot find the phone's session to end it, says so,
            // and offers no form that would pretend to.
            let refused = laptop
                .post_json("/account/sessions/end", &[("session_id", &phone_id)])
                .await;
            let page = laptop.get("/account/sessions").await;

            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
            assert!(
                refused.json()["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("cannot log out one of them")),
                "{}",
                refused.body
            );
            assert!(!page.body.contains(r#"action="/account/sessions/end""#));
            assert!(is_logged_in(&mut phone, "dina").await, "nothing was ended");
            assert!(is_logged_in(&mut tablet, "dina").await);
            return;
        }

        let ended = laptop
            .post("/account/sessions/end", &[("session_id", &phone_id)])
            .await;
        let again = laptop
            .post_json("/account/sessions/end", &[("session_id", &phone_id)])
            .await;
        let own_id = current_session_id(&mut laptop).await;
        let own = laptop
            .post_json("/account/sessions/end", &[("session_id", &own_id)])
            .await;

        assert_eq!(ended.status, StatusCode::SEE_OTHER);
        assert_eq!(ended.header("location"), Some("/account/sessions"));
        assert_eq!(again.status, StatusCode::OK, "ending it again is harmless");
        assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY, "log out to end this one");
        assert!(!is_logged_in(&mut phone, "dina").await);
        assert!(is_logged_in(&mut tablet, "dina").await);
        assert!(is_logged_in(&mut laptop, "dina").await);
        assert_eq!(sessions_in(&listed_sessions(&mut laptop).await).len(), 2);
    }

    async fn log_out_everywhere_else_ends_every_other_session_on_every_engine(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("emil").await;
        let mut laptop = logged_in_browser(&app, "emil", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "emil", IPHONE).await;
        let mut tablet = logged_in_browser(&app, "emil", IPHONE).await;
        let copied_cookie = phone.session_cookie().unwrap();

        let done = laptop.post("/account/sessions/end-others", &[]).await;
        let laptop_page = laptop.get("/account/sessions").await;

        assert_eq!(done.status, StatusCode::SEE_OTHER);
        assert!(laptop_page.body.contains("Your other sessions are logged out."));
        assert!(is_logged_in(&mut laptop, "emil").await);
        assert!(!is_logged_in(&mut phone, "emil").await);
        assert!(!is_logged_in(&mut tablet, "emil").await);
        // Even a copy of a cookie from before (signed cookies included) is logged out.
        let mut replay = app.browser();
        replay.set_cookie("sessionid", &copied_cookie);
        assert!(!is_logged_in(&mut replay, "emil").await);
        if app.revocable() {
            assert_eq!(sessions_in(&listed_sessions(&mut laptop).await).len(), 1);
        }
    }

    async fn the_session_index_follows_key_rotation_and_logout(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("fay").await;
        let mut laptop = logged_in_browser(&app, "fay", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "fay", IPHONE).await;
        phone.comment("so the session outlives the logout").await;

        // Logged out, logged in again (a new key each time), logged out for good elsewhere.
        phone.post("/logout", &[]).await;
        let after_logout = sessions_in(&listed_sessions(&mut laptop).await).len();
        phone.log_in("fay", PASSWORD).await;
        phone.log_in("fay", PASSWORD).await;
        let after_two_logins = sessions_in(&listed_sessions(&mut laptop).await).len();
        let mut other = logged_in_browser(&app, "fay", IPHONE).await;
        other.post("/logout", &[]).await;
        let listed = listed_sessions(&mut laptop).await;
        let listing = sessions_in(&listed);

        if app.revocable() {
            assert_eq!(after_logout, 1, "a logged-out session is not listed");
            assert_eq!(after_two_logins, 2, "a rotated key is listed once");
            assert_eq!(listing.len(), 2);
            assert_eq!(app.stored_sessions().await, Some(2), "laptop and phone only");
        } else {
            // Signed cookies keep no index: through every login and logout elsewhere, the
            // laptop knows its own session only, and the server stores none.
            assert_eq!((after_logout, after_two_logins), (1, 1));
            assert_eq!(listed["listable"], false);
            assert_eq!(listing.len(), 1);
            assert_eq!(listing[0]["current"], true);
            assert_eq!(app.stored_sessions().await, None);
        }
        assert!(is_logged_in(&mut phone, "fay").await, "logged in again after the rotations");
    }

    async fn remember_me_ticked_keeps_the_cookie_for_the_session_age_unticked_until_the_browser_closes(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("gus").await;

        let mut remembered = app.browser();
        let ticked = remembered
            .post("/login", &[("username", "gus"), ("password", PASSWORD), ("remember", "on")])
            .await;
        let mut forgotten = app.browser();
        forgotten.comment("an anonymous session first").await;
        let unticked = forgotten.log_in("gus", PASSWORD).await;
        // The choice is the session's: it stays through a logout (a new key) and later writes.
        let logged_out = forgotten.post("/logout", &[]).await;
        let signed_up = app
            .browser()
            .post("/signup", &[("username", "hal"), ("password", PASSWORD), ("remember", "on")])
            .await;

        let age = Some(actix_web::cookie::time::Duration::seconds(1_209_600));
        let cookie = |page: &Page| page.set_cookie("sessionid").cloned().expect("a session cookie");
        assert_eq!(cookie(&ticked).max_age(), age);
        assert_eq!(cookie(&unticked).max_age(), None);
        assert!(cookie(&unticked).expires().is_none());
        assert_eq!(cookie(&logged_out).max_age(), None, "kept across logout");
        assert!(!cookie(&logged_out).value().is_empty(), "the session lives on");
        assert_eq!(cookie(&signed_up).max_age(), age);
        assert!(is_logged_in(&mut remembered, "gus").await);
    }

    async fn deleting_the_account_removes_the_member_and_their_sessions_and_keeps_their_comments(flavor) {
        let app = flavor.spawn_app().await;
        app.create_member("ivy").await;
        let mut laptop = logged_in_browser(&app, "ivy", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "ivy", IPHONE).await;
        laptop.comment("I was here").await;

        let wrong = laptop.post("/account/delete", &[("current_password", "not it at all")]).await;
        let deleted = laptop.post("/account/delete", &[("current_password", PASSWORD)]).await;
        let home = laptop.get("/").await;

        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong.body.contains("Your current password is wrong."));
        assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
        assert!(home.body.contains("Your account was deleted."));
        assert!(!shows_logged_in(&home, "ivy"));
        assert!(home.body.contains("I was here"));
        assert!(home.body.contains("a former member"), "{}", home.body);
        assert!(!home.body.contains(r#"action="/comments""#), "still commented once");
        assert!(!is_logged_in(&mut phone, "ivy").await);
        assert_eq!(app.count("members"), 0);
        assert_eq!(app.browser().log_in("ivy", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
        if app.revocable() {
            app.assert_stored_sessions(1).await; // the laptop's, still holding has_commented
        }
    }

    async fn account_pages_and_actions_need_a_logged_in_member(flavor) {
        let app = flavor.spawn_app().await;
        let mut visitor = app.browser();

        for path in ["/account/password", "/account/sessions", "/account/delete"] {
            let page = visitor.get(path).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(page.header("location"), Some("/login"), "{path}");
            let json = visitor.get_with(path, &[("Accept", "application/json")]).await;
            assert_eq!(json.status, StatusCode::UNAUTHORIZED, "{path}");
        }
        for path in ["/account/sessions/end-others", "/account/delete", "/account/password"] {
            let page = visitor.post(path, &[("current_password", PASSWORD)]).await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{path}");
            assert!(page.body.contains("Please log in first."), "{path}");
        }
    }

    async fn eight_password_changes_at_once_from_one_session_are_one_303_and_seven_409s(flavor) {
        // Arrange: eight tabs of one logged-in session, each holding its form's token, under
        // the default throttle (attempts in flight are no failures, so none is refused).
        let app = flavor.spawn_app().await;
        app.create_member("hal").await;
        let browser = logged_in_browser(&app, "hal", FIREFOX).await;
        let mut tabs: Vec<Browser> = (0..8).map(|_| browser.new_tab()).collect();
        for tab in &mut tabs {
            tab.csrf().await;
        }
        let together = tokio::sync::Barrier::new(tabs.len());

        // Act: the eight posts leave together.
        let pages = join_all(tabs.iter_mut().enumerate().map(|(n, tab)| {
            let together = &together;
            async move {
                together.wait().await;
                change_password(tab, PASSWORD, &format!("new password number {n}")).await
            }
        }))
        .await;

        // Assert: one change applied; every other lost the race and says so.
        let statuses: Vec<StatusCode> = pages.iter().map(|page| page.status).collect();
        let winners: Vec<usize> = (0..pages.len())
            .filter(|&n| statuses[n] == StatusCode::SEE_OTHER)
            .collect();
        assert_eq!(winners.len(), 1, "{statuses:?}");
        let lost = pages.iter().filter(|page| page.status == StatusCode::CONFLICT);
        assert_eq!(lost.clone().count(), 7, "{statuses:?}");
        for page in lost {
            assert!(page.body.contains("changed from another session meanwhile"), "{}", page.body);
        }
        let winner = winners[0];
        let mut fresh = app.browser();
        let new_password = format!("new password number {winner}");
        assert_eq!(fresh.log_in("hal", &new_password).await.status, StatusCode::SEE_OTHER);
        assert!(is_logged_in(&mut tabs[winner], "hal").await, "the winner stays logged in");
    }
}

// ---------- races ----------

/// Exactly one winner (`303`) and one loser of the conditional write (`409`), in either order.
fn one_won_one_lost(a: &Page, b: &Page) -> bool {
    let mut statuses = [a.status, b.status];
    statuses.sort();
    statuses == [StatusCode::SEE_OTHER, StatusCode::CONFLICT]
}

/// Two sessions each ask to log out everywhere else at the same moment: one wins, and the
/// other is logged out, never both left standing. Both requests are held after they read the
/// member and before their conditional write, so they really overlap where it matters.
#[actix_web::test]
async fn two_sessions_logging_each_other_out_at_once_leave_exactly_one() {
    for flavor in Flavor::on_each_database("two_sessions_logging_each_other_out") {
        let app = flavor.spawn_app().await;
        app.create_member("jon").await;
        let mut laptop = logged_in_browser(&app, "jon", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "jon", IPHONE).await;
        laptop.csrf().await;
        phone.csrf().await;

        let (a, b) = app
            .at_the_credential_write(
                laptop.post("/account/sessions/end-others", &[]),
                phone.post("/account/sessions/end-others", &[]),
            )
            .await;

        assert!(
            one_won_one_lost(&a, &b),
            "{flavor:?}: {} / {}",
            a.status,
            b.status
        );
        let loser = if a.status == StatusCode::CONFLICT {
            &a
        } else {
            &b
        };
        assert!(
            loser
                .body
                .contains("changed from another session meanwhile"),
            "{}",
            loser.body
        );
        let standing = [
            is_logged_in(&mut laptop, "jon").await,
            is_logged_in(&mut phone, "jon").await,
        ];
        assert_eq!(standing.iter().filter(|s| **s).count(), 1, "{flavor:?}");
    }
}

/// Requests of a session keep arriving while another session logs it out: once the logout
/// has answered, the session is anonymous, whatever its in-flight requests wrote meanwhile.
#[actix_web::test]
async fn a_logout_from_elsewhere_is_final_even_with_requests_in_flight() {
    for engine in [
        SessionEngineKind::Db,
        SessionEngineKind::File,
        SessionEngineKind::SignedCookies,
    ] {
        let app = spawn_app_with(|s| s.session.engine = engine).await;
        app.create_member("kim").await;
        let mut laptop = logged_in_browser(&app, "kim", FIREFOX).await;
        let phone = logged_in_browser(&app, "kim", IPHONE).await;
        let mut tabs: Vec<Browser> = (0..8).map(|_| phone.new_tab()).collect();
        for tab in &mut tabs {
            tab.csrf().await;
        }

        let in_flight = join_all(tabs.iter_mut().enumerate().map(|(n, tab)| async move {
            if n % 2 == 0 {
                tab.get("/").await
            } else {
                tab.post("/comments", &[("comment", "racing the logout")])
                    .await
            }
        }));
        let (_, logout) =
            futures_util::join!(in_flight, laptop.post("/account/sessions/end-others", &[]));

        assert_eq!(logout.status, StatusCode::SEE_OTHER, "{engine:?}");
        for tab in &mut tabs {
            assert!(!is_logged_in(tab, "kim").await, "{engine:?}");
        }
        assert!(is_logged_in(&mut laptop, "kim").await, "{engine:?}");
    }
}

/// Two sessions change the password at once: one change applies, the other is refused (and
/// its session logged out); the password is the winner's.
#[actix_web::test]
async fn two_password_changes_at_once_apply_exactly_one() {
    let app = spawn_app().await;
    app.create_member("lea").await;
    let mut laptop = logged_in_browser(&app, "lea", FIREFOX).await;
    let mut phone = logged_in_browser(&app, "lea", IPHONE).await;
    laptop.csrf().await;
    phone.csrf().await;
    // Both held after checking the current password, before their conditional write.
    let (a, b) = app
        .at_the_credential_write(
            change_password(&mut laptop, PASSWORD, "laptop's new password"),
            change_password(&mut phone, PASSWORD, "phone's new password"),
        )
        .await;

    let winners: Vec<&str> = [(&a, "laptop's new password"), (&b, "phone's new password")]
        .into_iter()
        .filter(|(page, _)| page.status == StatusCode::SEE_OTHER)
        .map(|(_, password)| password)
        .collect();
    assert_eq!(winners.len(), 1, "{} / {}", a.status, b.status);
    assert!(one_won_one_lost(&a, &b), "{} / {}", a.status, b.status);
    let mut fresh = app.browser();
    assert_eq!(
        fresh.log_in("lea", winners[0]).await.status,
        StatusCode::SEE_OTHER
    );
    let standing = [
        is_logged_in(&mut laptop, "lea").await,
        is_logged_in(&mut phone, "lea").await,
    ];
    assert_eq!(standing.iter().filter(|s| **s).count(), 1);
}

/// A session logged out from elsewhere lost the race with its next action: `409`, nothing
/// done; its pages send it to log in. Logged out by a password change in another session
/// (signed cookies: the session still names the member), its next action is a plain `401`;
/// with its record gone (ended from "Your sessions", or by that password change on a
/// server-side engine), its cookie names nothing and every action is the `409` until it logs
/// in again.
#[actix_web::test]
async fn an_action_from_a_session_logged_out_elsewhere_is_a_409() {
    for engine in [Engine::Db, Engine::SignedCookies] {
        let flavor = Flavor {
            engine,
            ..Flavor::DEFAULT
        };
        let app = flavor.spawn_app().await;
        app.create_member("ivo").await;
        let mut laptop = logged_in_browser(&app, "ivo", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "ivo", IPHONE).await;
        let mut tablet = logged_in_browser(&app, "ivo", IPHONE).await;
        phone.csrf().await;

        assert_eq!(
            change_password(&mut laptop, PASSWORD, NEW_PASSWORD)
                .await
                .status,
            StatusCode::SEE_OTHER
        );
        let lost = phone.post("/account/sessions/end-others", &[]).await;
        let after = phone.post_json("/account/sessions/end-others", &[]).await;
        let page = tablet.get("/account/password").await;

        assert_eq!(lost.status, StatusCode::CONFLICT, "{engine:?}");
        assert!(
            lost.body.contains("changed from another session meanwhile"),
            "{}",
            lost.body
        );
        let expected_after = if app.revocable() {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(after.status, expected_after, "{engine:?}");
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{engine:?}");
        assert_eq!(page.header("location"), Some("/login"));
        assert!(
            is_logged_in(&mut laptop, "ivo").await,
            "{engine:?}: nothing done"
        );
        assert_eq!(
            phone.log_in("ivo", NEW_PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
    }

    // Ended from "Your sessions": the record is gone.
    let app = spawn_app().await;
    app.create_member("jae").await;
    let mut laptop = logged_in_browser(&app, "jae", FIREFOX).await;
    let mut phone = logged_in_browser(&app, "jae", IPHONE).await;
    let phone_id = current_session_id(&mut phone).await;
    phone.csrf().await;
    let ended = laptop
        .post("/account/sessions/end", &[("session_id", &phone_id)])
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);

    let lost = phone
        .post("/account/delete", &[("current_password", PASSWORD)])
        .await;

    assert_eq!(lost.status, StatusCode::CONFLICT, "{}", lost.body);
    assert_eq!(app.count("members"), 1, "nothing deleted");
}

// ---------- several instances ----------

/// "Log out everywhere else" on the `cache` engine with one Redis shared by two instances:
/// a session served by the other instance is logged out too.
#[actix_web::test]
async fn log_out_everywhere_else_reaches_sessions_of_another_instance_through_redis() {
    if !redis_available("log_out_everywhere_else_reaches_sessions_of_another_instance") {
        return;
    }
    let mut site = SharedSite::new();
    let redis = site.redis();
    let shared = |s: &mut Settings| {
        site.share(s);
        s.session.engine = SessionEngineKind::Cache;
        s.session_cache.backend = redis.clone();
        s.session_cache.key_prefix.clone_from(&site.redis_prefix);
    };
    let one = spawn_app_with(shared).await;
    let two = spawn_app_with(shared).await;
    one.create_member("max").await;
    let mut laptop = logged_in_browser(&one, "max", FIREFOX).await;
    let mut phone = logged_in_browser(&two, "max", IPHONE).await;

    let listing_before = sessions_in(&listed_sessions(&mut laptop).await);
    let done = laptop.post("/account/sessions/end-others", &[]).await;

    assert_eq!(
        listing_before.len(),
        2,
        "one index in Redis for both instances"
    );
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(
        !is_logged_in(&mut phone, "max").await,
        "logged out on the other instance"
    );
    phone.address.clone_from(&one.address);
    assert!(!is_logged_in(&mut phone, "max").await);
    assert!(is_logged_in(&mut laptop, "max").await);
    assert_eq!(
        one.stored_sessions().await,
        Some(1),
        "the phone's entry is gone from Redis"
    );
}

// ---------- password hashes upgraded at login ----------

/// A hash made with other costs than `PASSWORD_ARGON2_*` now asks for is replaced at the next
/// successful login, whether the costs were lowered or raised; sessions logged in before the
/// upgrade stay logged in. Two instances on one database stand for the site before and after
/// the operator changed the costs.
#[actix_web::test]
async fn a_login_rehashes_a_password_whose_costs_changed_up_or_down() {
    for (old_memory_kib, new_memory_kib) in [(16, 8), (8, 32)] {
        let site = SharedSite::new();
        let with_costs = |memory_kib: u32| {
            let site = &site;
            move |s: &mut Settings| {
                site.share(s);
                s.security.password_hash.memory_kib = memory_kib;
            }
        };
        let before = spawn_app_with(with_costs(old_memory_kib)).await;
        before.create_member("nia").await;
        let mut laptop = logged_in_browser(&before, "nia", FIREFOX).await;
        let old_hash = password_hash_of(&before, "nia");
        let after = spawn_app_with(with_costs(new_memory_kib)).await;

        let mut phone = logged_in_browser(&after, "nia", IPHONE).await;
        let new_hash = password_hash_of(&after, "nia");
        laptop.address.clone_from(&after.address);

        let prefix = |kib: u32| format!("$argon2id$v=19$m={kib},t=1,p=1$");
        assert!(old_hash.starts_with(&prefix(old_memory_kib)), "{old_hash}");
        assert!(new_hash.starts_with(&prefix(new_memory_kib)), "{new_hash}");
        assert!(is_logged_in(&mut phone, "nia").await);
        assert!(
            is_logged_in(&mut laptop, "nia").await,
            "the upgrade logged nobody out"
        );
        assert_eq!(
            after.browser().log_in("nia", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            password_hash_of(&after, "nia"),
            new_hash,
            "no second rehash"
        );
        // A password change still ends the carried-over session.
        change_password(&mut phone, PASSWORD, NEW_PASSWORD).await;
        assert!(!is_logged_in(&mut laptop, "nia").await);
    }
}

fn password_hash_of(app: &TestApp, username: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Hash {
        #[diesel(sql_type = diesel::sql_types::Text)]
        password_hash: String,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT password_hash FROM members WHERE username = $1")
        .bind::<diesel::sql_types::Text, _>(username)
        .get_result::<Hash>(&mut app.db())
        .unwrap()
        .password_hash
}

// ---------- the command line ----------

#[actix_web::test]
async fn changepassword_and_sessions_on_the_command_line() {
    for engine in [SessionEngineKind::Db, SessionEngineKind::SignedCookies] {
        let app = spawn_app_with(|s| s.session.engine = engine).await;
        app.create_member("olga").await;
        let mut laptop = logged_in_browser(&app, "olga", FIREFOX).await;
        let mut phone = logged_in_browser(&app, "olga", IPHONE).await;
        let env = cli_env(&app);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

        let listed = crate::helpers::run_cli_with_env(&["sessions", "olga"], "", &env);
        let revoked =
            crate::helpers::run_cli_with_env(&["sessions", "OLGA", "--revoke-all"], "", &env);
        let phone_after_revoke = is_logged_in(&mut phone, "olga").await;
        let mut tablet = logged_in_browser(&app, "olga", IPHONE).await;
        let changed = crate::helpers::run_cli_with_env(
            &["changepassword", "olga", "--password-stdin"],
            &format!("{NEW_PASSWORD}\n"),
            &env,
        );
        let unknown = run_cli(&app, &["sessions", "nobody"], "");

        let listed_out = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.status.success(), "{listed:?}");
        if engine == SessionEngineKind::Db {
            assert!(listed_out.contains("Firefox on Linux"), "{listed_out}");
            assert!(listed_out.contains("Safari on iPhone"), "{listed_out}");
        } else {
            assert!(listed_out.contains("cannot be listed"), "{listed_out}");
        }
        assert!(revoked.status.success(), "{revoked:?}");
        assert!(!phone_after_revoke, "{engine:?}");
        assert!(!is_logged_in(&mut laptop, "olga").await, "{engine:?}");
        assert!(changed.status.success(), "{changed:?}");
        assert!(!is_logged_in(&mut tablet, "olga").await, "{engine:?}");
        assert_eq!(
            app.browser().log_in("olga", NEW_PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no member is called"));
    }
}

/// What the binary needs to act on `app`'s data: its database, secret key and engine.
fn cli_env(app: &TestApp) -> Vec<(&'static str, String)> {
    let settings = &app.state.settings;
    let engine = match settings.session.engine {
        SessionEngineKind::SignedCookies => "signed_cookies",
        _ => "db",
    };
    vec![
        ("DATABASE_URL", settings.database.url.clone()),
        ("SESSION_ENGINE", engine.into()),
        ("SECRET_KEY", app.secret_key()),
    ]
}

// ---------- throttling ----------

/// Guessing the current password on the change-password and delete forms counts as failed
/// logins: past the limit, `429` without running the hash, and the member's password stands.
#[actix_web::test]
async fn guessing_the_current_password_is_throttled_like_a_login() {
    let app = spawn_app().await;
    app.create_member("pia").await;
    let mut thief = logged_in_browser(&app, "pia", FIREFOX).await;

    let mut statuses = Vec::new();
    for n in 0..3 {
        let guess = format!("guess number {n}");
        let page = change_password(&mut thief, &guess, NEW_PASSWORD).await;
        statuses.push(page.status);
    }
    for n in 3..5 {
        let guess = format!("guess number {n}");
        let page = thief
            .post("/account/delete", &[("current_password", guess.as_str())])
            .await;
        statuses.push(page.status);
    }
    let verifications = app.state.passwords.verifications();
    let refused = change_password(&mut thief, PASSWORD, NEW_PASSWORD).await;

    assert_eq!(statuses, [StatusCode::UNPROCESSABLE_ENTITY; 5]);
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.header("retry-after").is_some());
    assert_eq!(
        app.state.passwords.verifications(),
        verifications,
        "no hash ran"
    );
    assert_eq!(app.count("members"), 1);
    assert_eq!(
        app.browser().log_in("pia", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the same client is throttled at the login form too"
    );
}

// ---------- a service that fails halfway ----------

/// The cache of `cached_db` goes away between the logins and "log out everywhere else": the
/// logout still holds, during the outage and after the cache returns holding the other
/// session's entry from before (the generation bump is in the database, and the keys changed
/// during the outage are cleared before the cache is trusted again).
#[actix_web::test]
async fn log_out_everywhere_else_holds_when_the_cache_fails_halfway_and_comes_back() {
    if !redis_available("log_out_everywhere_else_holds_when_the_cache_fails_halfway") {
        return;
    }
    // Arrange: cached_db reaches the real Redis through a proxy the test can cut; both
    // sessions are cached.
    let proxy = crate::helpers::TcpProxy::start(crate::helpers::redis_addr()).await;
    let app = spawn_app_with(|s| {
        s.session.engine = SessionEngineKind::CachedDb;
        s.session_cache.backend = guestbook::settings::CacheBackend::Redis {
            url: format!("redis://{}/", proxy.addr()),
        };
    })
    .await;
    app.create_member("quinn").await;
    let mut laptop = logged_in_browser(&app, "quinn", FIREFOX).await;
    let mut phone = logged_in_browser(&app, "quinn", IPHONE).await;
    assert!(is_logged_in(&mut phone, "quinn").await);
    let phone_cookie = phone.session_cookie().unwrap();

    // Act: the cache fails, the laptop logs the others out; then the cache returns.
    proxy.stop().await;
    let done = laptop.post("/account/sessions/end-others", &[]).await;
    let phone_during = is_logged_in(&mut phone, "quinn").await;
    proxy.start_again().await;
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1200)).await;
    let mut replay = app.browser();
    replay.set_cookie("sessionid", &phone_cookie);

    // Assert
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(!phone_during, "logged out while the cache is down");
    assert!(
        !is_logged_in(&mut replay, "quinn").await,
        "the phone's cached entry from before did not bring it back"
    );
    assert!(!is_logged_in(&mut phone, "quinn").await);
    assert!(is_logged_in(&mut laptop, "quinn").await);
    // Reached through the proxy, the test Redis is not cleaned by the app's own resources.
    let prefix = &app.state.settings.session_cache.key_prefix;
    let _ = crate::helpers::delete_redis_keys(&crate::helpers::redis_url().unwrap(), prefix);
}

// ---------- members' rows from memory ----------

/// The per-request auth check reads the member's row from memory while the database's
/// `members` counter stands: a change made in plain SQL (here, what "log out everywhere" does)
/// moves the counter, and the very next request sees it, on every engine's database.
#[actix_web::test]
async fn a_member_changed_in_sql_is_seen_by_the_next_request() {
    use diesel::connection::SimpleConnection;

    for flavor in Flavor::on_each_database("a_member_changed_in_sql") {
        let app = flavor.spawn_app().await;
        app.create_member("sql").await;
        let mut browser = logged_in_browser(&app, "sql", FIREFOX).await;
        assert!(is_logged_in(&mut browser, "sql").await);
        assert!(
            is_logged_in(&mut browser, "sql").await,
            "{flavor:?}: from memory"
        );

        app.db()
            .batch_execute("UPDATE members SET session_generation = session_generation + 1")
            .unwrap();

        assert!(!is_logged_in(&mut browser, "sql").await, "{flavor:?}");
    }
}

/// Member ids are never given twice, on either database: after the newest member deleted
/// their account, the next sign-up gets a new id (on SQLite it used to get theirs), and stays
/// logged in. A copy of the deleted member's signed cookie asks for a page in between, so the
/// instance has looked that id up and found nobody: such an absence must not outlive the
/// sign-up (the `members` counter does not move on inserts).
#[actix_web::test]
async fn a_new_member_never_gets_a_deleted_members_id_and_stays_logged_in() {
    for on_database in Flavor::on_each_database("a_new_member_never_gets_a_deleted_members_id") {
        for engine in [Engine::Db, Engine::SignedCookies] {
            let flavor = Flavor {
                engine,
                ..on_database
            };
            let app = flavor.spawn_app().await;
            app.create_member("first").await;
            app.create_member("newest").await;
            let newest_id = member_id(&app, "newest");
            let mut leaving = logged_in_browser(&app, "newest", FIREFOX).await;
            let mut copy = leaving.new_tab();
            let deleted = leaving
                .post("/account/delete", &[("current_password", PASSWORD)])
                .await;
            assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{flavor:?}");
            assert!(!is_logged_in(&mut copy, "newest").await, "{flavor:?}");

            let mut newcomer = app.browser();
            let signed_up = newcomer.sign_up("newcomer", PASSWORD).await;
            let newcomer_id = member_id(&app, "newcomer");
            let mut logged_in = Vec::new();
            for _ in 0..3 {
                logged_in.push(is_logged_in(&mut newcomer, "newcomer").await);
            }

            assert_eq!(signed_up.status, StatusCode::SEE_OTHER, "{flavor:?}");
            assert!(
                newcomer_id > newest_id,
                "{flavor:?}: the newcomer got id {newcomer_id}, the deleted member had {newest_id}"
            );
            assert_eq!(logged_in, [true; 3], "{flavor:?}: every request logged in");
        }
    }
}

fn member_id(app: &TestApp, username: &str) -> i64 {
    use diesel::{RunQueryDsl, sql_types::Text};
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    diesel::sql_query("SELECT id FROM members WHERE username = $1")
        .bind::<Text, _>(username)
        .get_result::<Id>(&mut app.db())
        .unwrap_or_else(|e| panic!("no member {username}: {e}"))
        .id
}
