//! Session lifetime, stored form and cookie settings.

use actix_session_engines::{
    caches::Cache, serializer::SessionCodec, stores::cache::CacheSessions,
};
use actix_web::http::StatusCode;
use diesel::{QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_types::Binary};
use guestbook::sessions::{Backend, SessionEngine};

use crate::helpers::{Engine, PASSWORD, TestApp, run_cli, spawn_app, spawn_app_with};

#[derive(QueryableByName)]
struct Data {
    #[diesel(sql_type = Binary)]
    session_data: Vec<u8>,
}

#[actix_web::test]
async fn session_data_is_stored_as_a_plain_json_object() {
    let app = spawn_app().await;
    app.create_member("tara").await;
    let mut browser = app.browser();
    browser.log_in("tara", PASSWORD).await;
    browser.comment("json check").await;

    let rows = diesel::sql_query("SELECT session_data FROM sessions")
        .load::<Data>(&mut app.db())
        .unwrap();

    assert_eq!(rows.len(), 1);
    let data: serde_json::Value = serde_json::from_slice(&rows[0].session_data).unwrap();
    assert_eq!(data["has_commented"], true);
    assert!(data["member_id"].is_i64());
    assert!(
        data["_visitor_id"].is_string(),
        "the framework's own key is reserved with _"
    );
}

#[actix_web::test]
async fn an_expired_session_is_treated_as_new_and_removed_by_clearsessions() {
    // Arrange: a logged-in visitor whose session then expires.
    let app = spawn_app().await;
    app.create_member("uma").await;
    let mut browser = app.browser();
    browser.log_in("uma", PASSWORD).await;
    let mut live = app.browser();
    live.log_in("uma", PASSWORD).await;
    app.db()
        .batch_execute(&format!(
            "UPDATE sessions SET expire_date = '2000-01-01 00:00:00' WHERE session_key = '{}'",
            expired_key(&app, &browser.session_cookie().unwrap())
        ))
        .unwrap();

    // Act
    let page = browser.get("/").await;
    let cleared = run_cli(&app, &["clearsessions"], "");

    // Assert
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("Logged in as"),
        "the expired session authenticates no one"
    );
    assert!(
        cleared.status.success(),
        "{}",
        String::from_utf8_lossy(&cleared.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&cleared.stdout).trim(),
        "Deleted 1 expired session(s)."
    );
    app.assert_stored_sessions(1).await;
    assert!(
        live.get("/")
            .await
            .body
            .contains("Logged in as <strong>uma</strong>")
    );
}

/// The session key inside a signed cookie value (the signature comes first, 44 characters).
fn expired_key(app: &TestApp, cookie_value: &str) -> String {
    let key = &cookie_value[cookie_value.len() - 64..];
    assert_eq!(app.count("sessions"), 2);
    key.to_owned()
}

conformance! {
    async fn a_session_lives_as_long_as_session_cookie_age(flavor) {
        let app = flavor.spawn_app_with(|s| s.session.cookie_age = 60).await;
        let mut browser = app.browser();

        let posted = browser.comment("short-lived").await;

        let cookie = posted.set_cookie("sessionid").unwrap();
        assert_eq!(
            cookie.max_age(),
            Some(actix_web::cookie::time::Duration::seconds(60))
        );
    }

    async fn expire_at_browser_close_sends_a_cookie_without_max_age(flavor) {
        let app = flavor.spawn_app_with(|s| s.session.expire_at_browser_close = true).await;
        let mut browser = app.browser();

        let posted = browser.comment("until the browser closes").await;

        let cookie = posted.set_cookie("sessionid").unwrap();
        assert_eq!(cookie.max_age(), None);
        assert!(cookie.expires().is_none());
    }

    async fn cookie_settings_name_path_domain_and_samesite_apply(flavor) {
        let app = flavor.spawn_app_with(|s| {
            s.session.cookie_name = "gbsession".into();
            s.session.cookie_samesite = guestbook::settings::SameSite::Strict;
            s.session.cookie_secure = true;
        })
        .await;
        let mut browser = app.browser();

        let posted = browser.comment("custom cookie").await;

        let cookie = posted
            .set_cookie("gbsession")
            .expect("cookie named by SESSION_COOKIE_NAME");
        assert_eq!(
            cookie.same_site(),
            Some(actix_web::cookie::SameSite::Strict)
        );
        assert_eq!(cookie.secure(), Some(true));
        assert!(posted.set_cookie("sessionid").is_none());
    }

    async fn the_configured_engine_and_serializer_are_the_ones_in_use(flavor) {
        let app = flavor.spawn_app().await;
        let mut browser = app.browser();

        browser.comment("which engine?").await;

        let on_redis = |cache: &CacheSessions| matches!(cache.cache(), Cache::Redis(_));
        let (engine, serializer) = match app.state.sessions.get_ref() {
            SessionEngine::ServerSide { backend, codec, .. } => {
                let engine = match backend {
                    Backend::Db(_) => Engine::Db,
                    Backend::Cache(cache) if on_redis(cache) => Engine::CacheRedis,
                    Backend::Cache(_) => Engine::CacheMemory,
                    Backend::CachedDb(cached) if on_redis(cached.cache()) => Engine::CachedDbRedis,
                    Backend::CachedDb(_) => Engine::CachedDbMemory,
                    Backend::File(_) => Engine::File,
                    Backend::DjangoDb(_) => panic!("DJANGO_COMPAT is off"),
                };
                let SessionCodec::Native(serializer) = codec else {
                    panic!("DJANGO_COMPAT is off")
                };
                (engine, *serializer)
            }
            SessionEngine::SignedCookies(cookies) => (Engine::SignedCookies, cookies.serializer()),
            SessionEngine::Disabled => panic!("sessions are on"),
        };
        assert_eq!((engine, serializer), (flavor.engine, flavor.serializer));
        let expected_stored = (flavor.engine != Engine::SignedCookies).then_some(1);
        assert_eq!(app.stored_sessions().await, expected_stored);
        // The session is really read back from where it was stored.
        assert!(
            !browser
                .get("/")
                .await
                .body
                .contains(r#"action="/comments""#)
        );
    }

    async fn save_every_request_sends_an_unchanged_session_again_and_only_with_it(flavor) {
        for every_request in [false, true] {
            let app = flavor
                .spawn_app_with(|s| s.session.save_every_request = every_request)
                .await;
            let mut browser = app.browser();
            browser.comment("a session to keep").await;
            browser.get("/").await;

            let unchanged = browser.get("/").await;

            let resent = unchanged.set_cookie("sessionid");
            assert_eq!(resent.is_some(), every_request, "{flavor:?}, {every_request}");
            if let Some(cookie) = resent {
                assert_eq!(Some(cookie.value().to_owned()), browser.session_cookie());
                assert_eq!(
                    cookie.max_age(),
                    Some(actix_web::cookie::time::Duration::seconds(1_209_600))
                );
            }
        }
    }
}

#[derive(QueryableByName)]
struct SecondsLeft {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    left: i64,
}

/// How long the one stored session has left, in seconds (SQLite).
fn seconds_left(app: &TestApp) -> i64 {
    let rows = diesel::sql_query(
        "SELECT CAST(strftime('%s', expire_date) AS INTEGER) \
         - CAST(strftime('%s', 'now') AS INTEGER) AS left FROM sessions",
    )
    .load::<SecondsLeft>(&mut app.db())
    .unwrap();
    assert_eq!(rows.len(), 1);
    rows[0].left
}

/// `SESSION_SAVE_EVERY_REQUEST` as Django has it: an unchanged session is saved again, its
/// expiry pushed to a whole `SESSION_COOKIE_AGE` from now; without it, an unchanged session
/// is not written at all.
#[actix_web::test]
async fn save_every_request_pushes_the_stored_expiry_of_an_unchanged_session() {
    for every_request in [false, true] {
        let app = spawn_app_with(|s| s.session.save_every_request = every_request).await;
        let mut browser = app.browser();
        browser.comment("a session to keep").await;
        browser.get("/").await;
        app.db()
            .batch_execute("UPDATE sessions SET expire_date = datetime('now', '+60 seconds')")
            .unwrap();

        browser.get("/").await;

        let left = seconds_left(&app);
        if every_request {
            assert!(
                left > 1_209_600 - 60,
                "pushed to a whole age from now: {left}"
            );
        } else {
            assert!((0..=60).contains(&left), "left alone: {left}");
        }
    }
}
