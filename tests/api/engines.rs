//! Engine-only tests: what one engine does that the others cannot (or need not).

use std::{collections::HashMap, time::Duration};

use actix_session::storage::SessionStore;
use actix_session_engines::stores::file::{FileFormat, FileSessions};
use actix_web::{cookie::time::Duration as CookieDuration, http::StatusCode};
use guestbook::{
    sessions::{Backend, SessionBackend, SessionCache, SessionEngine},
    settings::{CacheBackend, SecretKey, SessionEngineKind, SessionSerializer, Settings},
};

use crate::helpers::{
    PASSWORD, SharedSite, TcpProxy, TestApp, random_string, redis_addr, redis_available, redis_url,
    run_cli_with_env, spawn_app_with,
};

fn engine(kind: SessionEngineKind) -> impl FnOnce(&mut Settings) {
    move |s| s.session.engine = kind
}

// ---------- file engine ----------

#[actix_web::test]
async fn the_file_engine_never_turns_a_foreign_key_into_a_path() {
    // Arrange: a file just outside the sessions folder that a traversal would reach.
    let app = spawn_app_with(engine(SessionEngineKind::File)).await;
    let sessions_dir = app.state.settings.session.file_path.clone();
    let outside = sessions_dir
        .parent()
        .unwrap()
        .join(format!("sessionid{}", "a".repeat(64)));
    std::fs::write(&outside, "4102444800\n{\"member_id\":1}").unwrap();
    let files = FileSessions::new(sessions_dir.clone(), "sessionid", FileFormat::Native).unwrap();

    // Act and assert: none of these is looked up, created or deleted.
    for key in [
        format!("../sessionid{}", "a".repeat(64)),
        format!("/{}", "a".repeat(63)),
        format!("{}\\..", "a".repeat(62)),
        format!("{}\0", "a".repeat(63)),
        "a".repeat(65),
        "a".repeat(63),
        String::new(),
    ] {
        assert!(files.load(&key).await.unwrap().is_none(), "{key:?}");
        assert!(
            !files
                .create(&key, b"{}", None, Duration::from_secs(60))
                .await
                .unwrap(),
            "{key:?}"
        );
        assert!(
            !files
                .update(&key, b"{}", None, Duration::from_secs(60))
                .await
                .unwrap(),
            "{key:?}"
        );
        files.delete(&key).await.unwrap();
    }
    assert!(outside.exists(), "the file outside the folder is untouched");
    assert_eq!(
        std::fs::read_dir(&sessions_dir).unwrap().count(),
        0,
        "nothing was created"
    );

    // Through HTTP too: a validly signed cookie naming a path is just "no session".
    let mut browser = app.browser();
    browser.set_cookie(
        "sessionid",
        &app.signed_session_cookie(&format!("../sessionid{}", "a".repeat(64))),
    );
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Logged in as"));
}

#[actix_web::test]
async fn file_writes_are_atomic_a_reader_never_sees_half_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let files =
        FileSessions::new(dir.path().to_path_buf(), "sessionid", FileFormat::Native).unwrap();
    let key = "k".repeat(64);
    let small = br#"{"n":"small"}"#.to_vec();
    let large = format!(r#"{{"n":"{}"}}"#, "L".repeat(200_000)).into_bytes();
    assert!(
        files
            .create(&key, &small, None, Duration::from_secs(60))
            .await
            .unwrap()
    );

    // A writer flips between the two versions while a reader loads as fast as it can.
    let writer = {
        let (files, key, small, large) = (files.clone(), key.clone(), small.clone(), large.clone());
        actix_web::rt::spawn(async move {
            for i in 0..200 {
                let data = if i % 2 == 0 { &large } else { &small };
                assert!(
                    files
                        .update(&key, data, None, Duration::from_secs(60))
                        .await
                        .unwrap()
                );
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        let loaded = files
            .load(&key)
            .await
            .unwrap()
            .expect("the session is always there");
        assert!(
            loaded.data == small || loaded.data == large,
            "a partial file was visible ({} bytes)",
            loaded.data.len()
        );
        reads += 1;
    }
    writer.await.unwrap();
    assert!(reads > 0);

    // A crash between write and rename leaves only a temporary file, which is never read as a
    // session and never counted as one.
    std::fs::write(dir.path().join(".guestbook-tmp-crashed"), b"partial").unwrap();
    assert_eq!(files.count().await.unwrap(), 1);
    assert!(files.load(&key).await.unwrap().is_some());
}

#[actix_web::test]
async fn a_missing_or_unwritable_file_folder_is_a_start_up_error_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");

    let err = FileSessions::new(missing.clone(), "sessionid", FileFormat::Native).unwrap_err();
    let cli = run_cli_with_env(
        &["migrate"],
        "",
        &[
            (
                "DATABASE_URL",
                &dir.path().join("db.sqlite3").to_string_lossy(),
            ),
            ("SESSION_ENGINE", "file"),
            ("SESSION_FILE_PATH", &missing.to_string_lossy()),
        ],
    );

    assert!(err.to_string().contains("SESSION_FILE_PATH"), "{err}");
    assert!(!cli.status.success());
    assert!(String::from_utf8_lossy(&cli.stderr).contains("SESSION_FILE_PATH"));
}

// ---------- every server-side engine: no resurrection ----------

#[actix_web::test]
async fn no_server_side_engine_brings_back_a_session_deleted_during_a_request() {
    for kind in [
        SessionEngineKind::Db,
        SessionEngineKind::Cache,
        SessionEngineKind::CachedDb,
        SessionEngineKind::File,
    ] {
        let app = spawn_app_with(engine(kind)).await;
        let store = SessionEngine::clone(&app.state.sessions);
        let state: HashMap<String, String> = [("member_id".to_string(), "1".to_string())].into();
        let ttl = CookieDuration::hours(1);
        let key = store.save(state.clone(), &ttl).await.unwrap();

        // Another request logs out (deletes) while this one still holds the key...
        store.delete(&key).await.unwrap();
        // ...and then this one saves its changes.
        let same_key =
            actix_session::storage::SessionKey::try_from(key.as_ref().to_owned()).unwrap();
        let returned = store.update(same_key, state.clone(), &ttl).await.unwrap();

        assert!(
            store.load(&returned).await.unwrap().is_none(),
            "{kind:?} resurrected the session"
        );
        assert_eq!(app.stored_sessions().await, Some(0), "{kind:?}");

        // The same two calls released together, so a store that checks and then writes
        // would let the delete land in between: whichever the store sees first, the session
        // stays deleted.
        for round in 0..20 {
            let key = store.save(state.clone(), &ttl).await.unwrap();
            let same_key =
                actix_session::storage::SessionKey::try_from(key.as_ref().to_owned()).unwrap();
            let together = tokio::sync::Barrier::new(2);
            let (deleted, updated) = futures_util::join!(
                async {
                    together.wait().await;
                    store.delete(&key).await
                },
                async {
                    together.wait().await;
                    store.update(same_key, state.clone(), &ttl).await
                }
            );
            deleted.unwrap();
            let returned = updated.unwrap();
            assert!(
                store.load(&returned).await.unwrap().is_none(),
                "{kind:?} resurrected the session in round {round}"
            );
        }
        assert_eq!(app.stored_sessions().await, Some(0), "{kind:?}");
    }
}

// ---------- serializers ----------

#[actix_web::test]
async fn switching_the_serializer_keeps_everyone_logged_in() {
    let site = SharedSite::new();
    let with = |serializer: SessionSerializer| {
        let site = &site;
        move |s: &mut Settings| {
            site.share(s);
            s.session.serializer = serializer;
        }
    };
    let json_app = spawn_app_with(with(SessionSerializer::Json)).await;
    json_app.create_member("xena").await;
    let mut browser = json_app.browser();
    browser.log_in("xena", PASSWORD).await;
    let msgpack_app = spawn_app_with(with(SessionSerializer::MessagePack)).await;

    // The JSON-written session is read by the MessagePack app, which rewrites it...
    browser.address = msgpack_app.address.clone();
    let read_by_msgpack = browser.get("/").await;
    browser.comment("written as msgpack").await;
    // ...and the JSON app reads the MessagePack form back.
    browser.address = json_app.address.clone();
    let read_by_json = browser.get("/").await;

    assert!(
        read_by_msgpack
            .body
            .contains("Logged in as <strong>xena</strong>")
    );
    assert!(
        read_by_json
            .body
            .contains("Logged in as <strong>xena</strong>")
    );
    assert!(!read_by_json.body.contains(r#"action="/comments""#));
}

#[test]
fn the_stored_form_says_which_serializer_wrote_it() {
    let state: HashMap<String, String> = [("member_id".to_string(), "7".to_string())].into();
    for serializer in [SessionSerializer::Json, SessionSerializer::MessagePack] {
        let stored = serializer.encode(&state).unwrap();
        assert_eq!(
            SessionSerializer::decode(&stored).unwrap(),
            state,
            "{serializer:?}"
        );
    }
}

// ---------- SECRET_KEY_FALLBACKS ----------

#[actix_web::test]
async fn a_rotated_secret_key_keeps_sessions_through_its_fallback_and_drops_them_without_it() {
    for kind in [SessionEngineKind::Db, SessionEngineKind::SignedCookies] {
        let dir = tempfile::tempdir().unwrap();
        let database = dir
            .path()
            .join("shared.sqlite3")
            .to_string_lossy()
            .into_owned();
        let old_key = SecretKey::new(random_string(50)).unwrap();
        let new_key = SecretKey::new(random_string(50)).unwrap();
        let with = |key: SecretKey, fallbacks: Vec<SecretKey>| {
            let database = database.clone();
            move |s: &mut Settings| {
                s.database.url = database;
                s.security.secret_key = Some(key);
                s.security.secret_key_fallbacks = fallbacks;
                s.session.engine = kind;
            }
        };
        let before = spawn_app_with(with(old_key.clone(), vec![])).await;
        before.create_member("yuri").await;
        let mut browser = before.browser();
        browser.log_in("yuri", PASSWORD).await;
        let old_cookie = browser.session_cookie().unwrap();

        // Rotated, with the old key as a fallback: still logged in, cookie re-signed.
        let rotated = spawn_app_with(with(new_key.clone(), vec![old_key.clone()])).await;
        browser.address = rotated.address.clone();
        let page = browser.get("/").await;
        assert!(
            page.body.contains("Logged in as <strong>yuri</strong>"),
            "{kind:?}"
        );
        let resigned = page.set_cookie("sessionid").map(|c| c.value().to_owned());
        assert!(
            resigned.as_ref().is_some_and(|v| *v != old_cookie),
            "{kind:?}: the cookie is re-signed with the new key"
        );
        // The CSRF cookie signed with the old key is accepted too.
        assert_eq!(
            browser.comment("after rotation").await.status,
            StatusCode::SEE_OTHER,
            "{kind:?}"
        );

        // The fallback dropped: the old cookie is worthless.
        let dropped = spawn_app_with(with(new_key.clone(), vec![])).await;
        let mut stale = dropped.browser();
        stale.set_cookie("sessionid", &old_cookie);
        assert!(
            !stale.get("/").await.body.contains("Logged in as"),
            "{kind:?}"
        );
        // The re-signed one still works.
        browser.address = dropped.address.clone();
        assert!(
            browser
                .get("/")
                .await
                .body
                .contains("Logged in as <strong>yuri</strong>"),
            "{kind:?}"
        );
    }
}

// ---------- signed cookies ----------

#[actix_web::test]
async fn a_signed_cookie_session_that_would_not_fit_gets_a_clear_error_page() {
    // A 4 KB cookie domain leaves no room for any session.
    let app = spawn_app_with(|s| {
        s.session.engine = SessionEngineKind::SignedCookies;
        s.session.cookie_domain = Some(format!("{}.example", "a".repeat(4000)));
    })
    .await;
    let mut browser = app.browser();

    let page = browser.comment("too big to keep").await;

    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        page.body.contains("too large to keep in a cookie"),
        "{}",
        page.body
    );
    assert!(page.set_cookie("sessionid").is_none());
}

#[actix_web::test]
async fn an_expired_signed_cookie_is_a_fresh_session_whatever_the_client_keeps() {
    let app = spawn_app_with(|s| {
        s.session.engine = SessionEngineKind::SignedCookies;
        s.session.cookie_age = 1;
    })
    .await;
    app.create_member("zoe").await;
    let mut browser = app.browser();
    browser.log_in("zoe", PASSWORD).await;
    assert!(browser.get("/").await.body.contains("Logged in as"));

    actix_web::rt::time::sleep(Duration::from_millis(2100)).await;

    // The browser ignores Max-Age and sends the cookie anyway.
    assert!(!browser.get("/").await.body.contains("Logged in as"));
}

// ---------- SESSION_ENGINE=none ----------

#[actix_web::test]
async fn without_sessions_the_comments_show_and_the_actions_answer_503() {
    let app = spawn_app_with(engine(SessionEngineKind::None)).await;
    let mut browser = app.browser();

    let home = browser.get("/").await;
    let comment = browser.comment("hello").await;
    let json = browser
        .post_json("/login", &[("username", "a"), ("password", "b")])
        .await;
    let signup = browser.sign_up("newbie", PASSWORD).await;
    let logout = browser.post("/logout", &[]).await;

    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Sessions are turned off"));
    assert!(!home.body.contains(r#"action="/comments""#));
    for page in [&comment, &signup, &logout] {
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            page.body
                .contains("Sessions are turned off in this deployment"),
            "{}",
            page.body
        );
    }
    assert_eq!(json.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        json.json()["error"]
            .as_str()
            .unwrap()
            .contains("Sessions are turned off")
    );
    assert_eq!(app.count("comments"), 0);
    assert_eq!(app.count("members"), 0);
}

// ---------- clearsessions per engine ----------

fn clearsessions(app: &TestApp, engine: &str, extra: &[(&str, &str)]) -> String {
    let mut env = vec![
        ("DATABASE_URL", app.state.settings.database.url.as_str()),
        ("SESSION_ENGINE", engine),
    ];
    env.extend_from_slice(extra);
    let out = run_cli_with_env(&["clearsessions"], "", &env);
    assert!(
        out.status.success(),
        "{engine}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[actix_web::test]
async fn clearsessions_does_the_right_thing_for_each_engine() {
    // file: expired files go, live ones stay.
    let app = spawn_app_with(engine(SessionEngineKind::File)).await;
    let dir = app.state.settings.session.file_path.clone();
    app.browser().comment("a live file session").await;
    std::fs::write(dir.join(format!("sessionid{}", "e".repeat(64))), "1000\n{}").unwrap();
    let out = clearsessions(
        &app,
        "file",
        &[("SESSION_FILE_PATH", &dir.to_string_lossy())],
    );
    assert_eq!(out, "Deleted 1 expired session(s).");
    assert_eq!(app.stored_sessions().await, Some(1));

    // cached_db: expired rows go, through the database.
    let app = spawn_app_with(engine(SessionEngineKind::CachedDb)).await;
    app.browser().comment("cached").await;
    diesel::connection::SimpleConnection::batch_execute(
        &mut app.db(),
        "UPDATE sessions SET expire_date = '2000-01-01 00:00:00'",
    )
    .unwrap();
    assert_eq!(
        clearsessions(&app, "cached_db", &[]),
        "Deleted 1 expired session(s)."
    );

    // cache and signed cookies: nothing to clear, and they say why.
    let out = clearsessions(&app, "cache", &[]);
    assert!(
        out.starts_with("Nothing to clear") && out.contains("time to live"),
        "{out}"
    );
    let out = clearsessions(&app, "signed_cookies", &[]);
    assert!(
        out.starts_with("Nothing to clear") && out.contains("nothing on the server"),
        "{out}"
    );
    let out = clearsessions(&app, "none", &[]);
    assert!(out.contains("turned off"), "{out}");
}

// ---------- named caches ----------

#[actix_web::test]
async fn session_cache_alias_puts_session_keys_only_in_the_chosen_cache() {
    if !redis_available("session_cache_alias_puts_session_keys_only_in_the_chosen_cache") {
        return;
    }
    let base = redis_url().unwrap();
    let base = base.trim_end_matches('/');
    let prefix = format!("guestbook-test-{}:", random_string(12));
    let vars: HashMap<&str, String> = [
        ("SESSION_ENGINE", "cache".to_string()),
        ("CACHE_URL", format!("{base}/1")),
        ("CACHE_SESSIONS_URL", format!("{base}/2")),
        ("SESSION_CACHE_ALIAS", "sessions".to_string()),
        ("CACHE_KEY_PREFIX", prefix.clone()),
    ]
    .into();
    let parsed = Settings::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let app = spawn_app_with(|s| {
        s.session.engine = parsed.session.engine;
        s.session_cache = parsed.session_cache.clone();
    })
    .await;
    assert_eq!(
        app.state.settings.session_cache.backend,
        CacheBackend::Redis {
            url: format!("{base}/2")
        }
    );

    app.browser().comment("where does my session go?").await;

    let count =
        |db: u8| crate::helpers::delete_redis_keys(&format!("{base}/{db}"), &prefix).unwrap();
    assert_eq!(count(2), 1, "the session is in the cache the alias names");
    assert_eq!(count(1), 0, "and not in the default cache");
}

// ---------- cached_db through a cache outage ----------

#[actix_web::test]
async fn cached_db_keeps_working_when_the_cache_goes_away_and_uses_it_again_when_it_returns() {
    if !redis_available("cached_db_keeps_working_when_the_cache_goes_away") {
        return;
    }
    // Arrange: the app reaches the real Redis through a proxy the test can cut.
    let proxy = TcpProxy::start(redis_addr()).await;
    let app = spawn_app_with(|s| {
        s.session.engine = SessionEngineKind::CachedDb;
        s.session_cache.backend = CacheBackend::Redis {
            url: format!("redis://{}/", proxy.addr()),
        };
    })
    .await;
    app.create_member("ada").await;
    let mut ada = app.browser();
    ada.log_in("ada", PASSWORD).await;
    let logged_in_cookie = ada.session_cookie().unwrap();
    assert!(ada.get("/").await.body.contains("Logged in as"));
    let SessionEngine::ServerSide {
        backend: Backend::CachedDb(cached),
        ..
    } = app.state.sessions.get_ref()
    else {
        panic!("cached_db engine expected");
    };
    assert_eq!(
        cached.cache().count().await.unwrap(),
        1,
        "the session is cached"
    );

    // Act 1: the cache goes away. The site keeps working from the database.
    proxy.stop().await;
    let during = ada.get("/").await;
    let logged_out = ada.post("/logout", &[]).await;
    let mut bob = app.browser();
    let bob_comment = bob.comment("written during the outage").await;

    assert_eq!(during.status, StatusCode::OK);
    assert!(during.body.contains("Logged in as <strong>ada</strong>"));
    assert_eq!(logged_out.status, StatusCode::SEE_OTHER);
    assert_eq!(bob_comment.status, StatusCode::SEE_OTHER);

    // Act 2: the cache comes back, still holding Ada's logged-in entry from before.
    proxy.start_again().await;
    actix_web::rt::time::sleep(Duration::from_millis(1200)).await;
    let mut replay = app.browser();
    replay.set_cookie("sessionid", &logged_in_cookie);
    let replayed = replay.get("/").await;
    let mut carol = app.browser();
    carol.comment("after the outage").await;

    // Assert: the stale entry did not undo the logout, and the cache is in use again.
    assert!(
        !replayed.body.contains("Logged in as"),
        "a pre-outage cache entry undid the logout"
    );
    assert!(
        !bob.get("/").await.body.contains(r#"action="/comments""#),
        "Bob's comment survived"
    );
    assert!(
        cached.cache().count().await.unwrap() >= 1,
        "new sessions are cached again"
    );
    let _ = cached.cache().delete_all().await;
}

// ---------- a Redis that is down ----------

#[actix_web::test]
async fn with_redis_down_a_comment_is_kept_once_and_the_retry_is_a_409_then_the_site_recovers() {
    if !redis_available("with_redis_down_a_comment_is_kept_once") {
        return;
    }
    // Arrange: the cache engine's Redis is unreachable from the start.
    let proxy = TcpProxy::start(redis_addr()).await;
    proxy.stop().await;
    let app = spawn_app_with(|s| {
        s.session.engine = SessionEngineKind::Cache;
        s.session_cache.backend = CacheBackend::Redis {
            url: format!("redis://{}/", proxy.addr()),
        };
    })
    .await;
    let mut browser = app.browser();

    // Act: the comment is stored, then saving the session fails; Redis returns; "try again".
    let home = browser.get("/").await;
    let failed = browser.comment("while Redis is down").await;
    proxy.start_again().await;
    let retried = browser.comment("while Redis is down").await;
    let after = browser.get("/").await;

    // Assert: reading needs no session; the failed save is a 503 that gives the text back; the
    // retry is the same visitor, so a 409, and no second comment.
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        failed.body.contains("The session store is unavailable"),
        "{}",
        failed.body
    );
    assert!(
        failed.body.contains("while Redis is down"),
        "the draft is kept"
    );
    assert_eq!(retried.status, StatusCode::CONFLICT, "{}", retried.body);
    assert_eq!(app.count("comments"), 1, "stored once");
    assert!(
        !after.body.contains(r#"action="/comments""#),
        "the session is saved now: it knows this visitor commented"
    );
    let SessionEngine::ServerSide {
        backend: Backend::Cache(cache),
        ..
    } = app.state.sessions.get_ref()
    else {
        panic!("cache engine expected")
    };
    let _ = cache.delete_all().await;
}

#[actix_web::test]
async fn with_the_file_folder_gone_a_comment_is_kept_once_and_the_retry_is_a_409() {
    // Arrange: the file engine, whose folder disappears after the visitor's first page.
    let app = spawn_app_with(engine(SessionEngineKind::File)).await;
    let folder = app.state.settings.session.file_path.clone();
    let mut browser = app.browser();
    browser.get("/").await;
    std::fs::remove_dir(&folder).unwrap();

    // Act
    let failed = browser.comment("while the folder is gone").await;
    std::fs::create_dir(&folder).unwrap();
    let retried = browser.comment("while the folder is gone").await;

    // Assert
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        failed.body.contains("while the folder is gone"),
        "the draft is kept"
    );
    assert_eq!(retried.status, StatusCode::CONFLICT);
    assert_eq!(app.count("comments"), 1);
    app.assert_stored_sessions(1).await;
}
