//! Every promise holds when the cache (in process or Redis) fails, fills up or comes back
//! stale: a logout the cache missed stays final on every instance and after a restart, the site
//! keeps taking comments, logins and sign-ups through an outage, throttling never pushes
//! sessions out and never grows past its bound, and members behind one address are not locked
//! out by their own successes.

use std::time::Duration;

use actix_session_engines::stores::cached_db::EPOCH_MAX_AGE;
use actix_web::http::StatusCode;
use futures_util::future::join_all;
use guestbook::{
    sessions::SessionBackend,
    sessions::{Backend, SessionEngine},
    settings::{CacheBackend, SessionEngineKind, Settings},
};

use crate::helpers::{
    Browser, Flavor, PASSWORD, Page, RedisServer, Server, SharedSite, TcpProxy, TestApp,
    behind_a_proxy, create_postgres_schema, delete_redis_keys, drop_postgres_schema,
    postgres_available, random_string, redis_addr, redis_available, redis_url, spawn_app_with,
};

fn logged_in_as(page: &Page, username: &str) -> bool {
    page.body
        .contains(&format!("Logged in as <strong>{username}</strong>"))
}

/// A browser whose cookies are a copy of `cookie`, on `app`.
fn replaying(address: &str, cookie: &str) -> Browser {
    let mut copy = Browser::at(address);
    copy.set_cookie("sessionid", cookie);
    copy
}

// ---------- a logout the cache missed ----------

/// Two instances share one database and one Redis; instance A loses Redis for a moment. A
/// logout and an ended session made on A hold on B, which never saw the outage and never hears
/// from A again, within the stated bound. On SQLite and on PostgreSQL.
#[actix_web::test]
async fn a_logout_the_cache_missed_holds_on_an_instance_that_never_saw_the_outage() {
    let test = "a_logout_the_cache_missed_holds_on_another_instance";
    if !redis_available(test) {
        return;
    }
    a_logout_the_cache_missed_holds_elsewhere(None).await;
    if postgres_available(test) {
        let schema = create_postgres_schema();
        a_logout_the_cache_missed_holds_elsewhere(Some(&schema)).await;
        drop_postgres_schema(&schema);
    }
}

/// The test above on the shared SQLite file, or on the PostgreSQL schema at `postgres`.
async fn a_logout_the_cache_missed_holds_elsewhere(postgres: Option<&str>) {
    // Arrange: A reaches the shared Redis through a proxy the test can cut, B directly.
    let mut site = SharedSite::new();
    let redis = site.redis();
    let proxy = TcpProxy::start(redis_addr()).await;
    let on = |backend: CacheBackend| {
        let site = &site;
        move |s: &mut Settings| {
            site.share(s);
            if let Some(url) = postgres {
                s.database.url = url.to_owned();
            }
            s.session.engine = SessionEngineKind::CachedDb;
            s.session_cache.backend = backend;
            s.session_cache.key_prefix.clone_from(&site.redis_prefix);
        }
    };
    let proxied = CacheBackend::Redis {
        url: format!("redis://{}/", proxy.addr()),
    };
    let a = spawn_app_with(on(proxied)).await;
    let b = spawn_app_with(on(redis)).await;
    a.create_member("ada").await;
    let mut laptop = Browser::at(&b.address);
    let mut phone = Browser::at(&b.address);
    let mut tablet = Browser::at(&b.address);
    for browser in [&mut laptop, &mut phone, &mut tablet] {
        assert_eq!(
            browser.log_in("ada", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
    }
    let laptop_cookie = laptop.session_cookie().unwrap();
    let phone_cookie = phone.session_cookie().unwrap();
    let phone_id = {
        let listing = phone
            .get_with("/account/sessions", &[("Accept", "application/json")])
            .await
            .json();
        let sessions = listing["sessions"].as_array().unwrap().clone();
        let current = sessions.iter().find(|s| s["current"] == true).unwrap();
        current["id"].as_str().unwrap().to_owned()
    };
    for cookie in [&laptop_cookie, &phone_cookie] {
        assert!(logged_in_as(
            &replaying(&b.address, cookie).get("/").await,
            "ada"
        ));
    }

    // Act: on A, without Redis, the laptop logs out and the tablet ends the phone's session.
    proxy.stop().await;
    laptop.address.clone_from(&a.address);
    tablet.address.clone_from(&a.address);
    let logged_out = laptop.post("/logout", &[]).await;
    let ended = tablet
        .post("/account/sessions/end", &[("session_id", &phone_id)])
        .await;
    // The bound the README states: B relies on a read of the epoch at most this old.
    actix_web::rt::time::sleep(EPOCH_MAX_AGE + Duration::from_millis(100)).await;
    let laptop_copy = replaying(&b.address, &laptop_cookie).get("/").await;
    let phone_copy = replaying(&b.address, &phone_cookie).get("/").await;

    // Assert
    let on = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    assert_eq!(
        logged_out.status,
        StatusCode::SEE_OTHER,
        "{on}: {}",
        logged_out.body
    );
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{on}: {}", ended.body);
    assert!(
        !logged_in_as(&laptop_copy, "ada"),
        "{on}: the logout came back on B"
    );
    assert!(
        !logged_in_as(&phone_copy, "ada"),
        "{on}: the ended session came back on B"
    );
    assert!(logged_in_as(&tablet.get("/").await, "ada"), "{on}");
    drop(a);
    let _ = delete_redis_keys(&redis_url().unwrap(), &site.redis_prefix);
}

/// One instance, its own Redis: Redis stalls, the member logs out, the instance is restarted
/// (a deploy) and Redis resumes holding the logged-in entry. The copied cookie stays logged
/// out on the new process, which never saw the failure.
#[actix_web::test]
async fn after_a_restart_a_logout_made_while_redis_stalled_stays_final() {
    if !redis_available("after_a_restart_a_logout_made_while_redis_stalled_stays_final") {
        return;
    }
    let redis = RedisServer::start();
    let site = SharedSite::new();
    let secret = String::from_utf8(site.secret.as_bytes().to_vec()).unwrap();
    let env = [
        ("DATABASE_URL", site.database.as_str()),
        ("SECRET_KEY", secret.as_str()),
        ("SESSION_ENGINE", "cached_db"),
        ("CACHE_URL", &redis.url()),
        ("PASSWORD_ARGON2_MEMORY_KIB", "8"),
        ("PASSWORD_ARGON2_ITERATIONS", "1"),
    ];
    let server = Server::start(&env).await;
    let mut member = Browser::at(&server.address);
    let signed_up = member.sign_up("rosa", PASSWORD).await;
    assert_eq!(
        signed_up.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_up.body
    );
    let cookie = member.session_cookie().unwrap();
    assert!(logged_in_as(
        &replaying(&server.address, &cookie).get("/").await,
        "rosa"
    ));

    // Act: Redis stalls; the logout is answered; a deploy restarts the instance; Redis resumes.
    redis.pause();
    let logged_out = member.post("/logout", &[]).await;
    let log = server.stop();
    let server = Server::start(&env).await;
    redis.resume();
    let copy = replaying(&server.address, &cookie).get("/").await;

    // Assert
    assert_eq!(logged_out.status, StatusCode::SEE_OTHER, "{log}");
    assert_eq!(copy.status, StatusCode::OK);
    assert!(
        !logged_in_as(&copy, "rosa"),
        "the stalled entry undid the logout"
    );
}

// ---------- the site through an outage ----------

/// With every Redis the site uses gone, `cached_db` and `db` still take a new visitor's
/// comment, a sign-up and a login (the throttles count in memory meanwhile); readiness says
/// "degraded", not "down". The `cache` engine, which has nowhere else to keep sessions, is
/// not ready.
#[actix_web::test]
async fn with_redis_gone_comments_logins_and_sign_ups_work_and_readiness_is_degraded() {
    if !redis_available("with_redis_gone_comments_logins_and_sign_ups_work") {
        return;
    }
    let proxy = TcpProxy::start(redis_addr()).await;
    let url = format!("redis://{}/", proxy.addr());
    let on = |engine: SessionEngineKind| {
        let url = url.clone();
        move |s: &mut Settings| {
            s.session.engine = engine;
            let redis = CacheBackend::Redis { url };
            s.cache.backend = redis.clone();
            s.session_cache.backend = redis;
        }
    };
    let flavors = Flavor::on_each_database("with_redis_gone_comments_logins_and_sign_ups_work");
    for flavor in flavors {
        for engine in [SessionEngineKind::CachedDb, SessionEngineKind::Db] {
            let app = flavor.spawn_app_with(on(engine)).await;
            app.create_member("ann").await;
            proxy.stop().await;

            let comment = app.browser().comment("while Redis is away").await;
            let sign_up = app.browser().sign_up("newcomer", PASSWORD).await;
            let mut ann = app.browser();
            let login = ann.log_in("ann", PASSWORD).await;
            let ready = app.browser().get("/readyz").await;

            let case = format!("{engine:?} on {:?}", flavor.database);
            assert_eq!(
                comment.status,
                StatusCode::SEE_OTHER,
                "{case}: {}",
                comment.body
            );
            assert_eq!(
                sign_up.status,
                StatusCode::SEE_OTHER,
                "{case}: {}",
                sign_up.body
            );
            assert_eq!(
                login.status,
                StatusCode::SEE_OTHER,
                "{case}: {}",
                login.body
            );
            assert!(logged_in_as(&ann.get("/").await, "ann"), "{case}");
            assert_eq!(app.count("comments"), 1, "{case}");
            assert_eq!(ready.status, StatusCode::OK, "{case}");
            assert_eq!(ready.body, "degraded: cache unavailable", "{case}");

            proxy.start_again().await;
            clean(&app);
        }
    }

    let app = spawn_app_with(on(SessionEngineKind::Cache)).await;
    proxy.stop().await;
    let ready = app.browser().get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body, "cache unavailable");
    proxy.start_again().await;
    let ready_again = app.browser().get("/readyz").await;
    assert_eq!(ready_again.status, StatusCode::OK);
    assert_eq!(ready_again.body, "ok");
}

/// Deletes what `app` wrote to the test Redis through a proxy (its own resources only clean
/// what it wrote there directly).
fn clean(app: &TestApp) {
    let _ = delete_redis_keys(&redis_url().unwrap(), &app.state.settings.cache.key_prefix);
}

// ---------- a flood of refused logins ----------

/// 30 members are logged in on the `cache` engine; one address then posts 300 logins with a
/// random username each. Nobody's session is pushed out, and the throttle keeps at most its
/// address counter and one counter per failure it let through.
#[actix_web::test]
async fn a_flood_of_refused_logins_pushes_out_no_session_and_makes_a_bounded_number_of_keys() {
    for (engine, on_redis) in [
        (crate::helpers::Engine::CacheMemory, false),
        (crate::helpers::Engine::CacheRedis, true),
    ] {
        let flavor = Flavor {
            engine,
            ..Flavor::DEFAULT
        };
        if !flavor.services_available("a_flood_of_refused_logins_pushes_out_no_session") {
            continue;
        }
        // Arrange: an in-process cache with room for the sessions and little more.
        let app = flavor
            .spawn_app_with(|s| {
                behind_a_proxy(s);
                s.security.login_throttle.per_address = 20;
                if on_redis {
                    s.cache.backend = s.session_cache.backend.clone();
                } else {
                    let small = CacheBackend::Memory { max_entries: 64 };
                    s.cache.backend = small.clone();
                    s.session_cache.backend = small;
                }
            })
            .await;
        let mut members = Vec::new();
        for n in 0..30 {
            let name = format!("member{n}");
            app.create_member(&name).await;
            let mut browser = app.browser();
            let page = browser.log_in_from(&name, PASSWORD, "198.51.100.1").await;
            assert_eq!(page.status, StatusCode::SEE_OTHER);
            members.push((name, browser));
        }

        // Act: the flood, from one address, with a valid CSRF token.
        let mut attacker = app.browser();
        let mut statuses = Vec::new();
        for _ in 0..300 {
            let name = random_string(12);
            statuses.push(
                attacker
                    .log_in_from(&name, "guess", "203.0.113.66")
                    .await
                    .status,
            );
        }
        let counters = app.state.throttle.stored_counters().await.unwrap();

        // Assert
        assert!(
            statuses
                .iter()
                .all(|s| [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(s)),
            "{engine:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::UNAUTHORIZED)
                .count(),
            20,
            "{engine:?}: the address's limit"
        );
        assert!(
            counters <= 1 + 20 + 1,
            "{engine:?}: {counters} throttle counters (address, failures, the members' address)"
        );
        for (name, browser) in &mut members {
            assert!(
                logged_in_as(&browser.get("/").await, name),
                "{engine:?}: {name} was pushed out"
            );
        }
    }
}

// ---------- many members behind one address ----------

/// Correct logins that arrive at the same moment are never failures: eight at once, then three
/// bursts of sixteen, all get in, and afterwards a single login of the same member and of
/// another member from the same address still do. Under every engine, with the throttles in
/// process, and in Redis with the engines that use it.
#[actix_web::test]
async fn correct_logins_at_the_same_moment_never_lock_an_address_out() {
    use crate::helpers::Engine;
    let engines = [
        Engine::Db,
        Engine::CacheMemory,
        Engine::CacheRedis,
        Engine::CachedDbMemory,
        Engine::CachedDbRedis,
        Engine::File,
        Engine::SignedCookies,
    ];
    for engine in engines {
        let flavor = Flavor {
            engine,
            ..Flavor::DEFAULT
        };
        if !flavor.services_available("correct_logins_at_the_same_moment_never_lock_an_address_out")
        {
            continue;
        }
        let app = flavor
            .spawn_app_with(|s| {
                behind_a_proxy(s);
                // Room in the password queue for every burst: this is about the throttle.
                s.security.password_work.queue = 64;
                // The throttles count where the sessions are: in Redis when they are there.
                s.cache.backend = s.session_cache.backend.clone();
            })
            .await;
        app.create_member("tess").await;
        app.create_member("uma").await;
        let office = "192.0.2.44";

        let mut outcomes = Vec::new();
        for burst in [8, 16, 16, 16] {
            let mut browsers: Vec<Browser> = (0..burst).map(|_| app.browser()).collect();
            for browser in &mut browsers {
                browser.csrf().await;
            }
            let pages = join_all(
                browsers
                    .iter_mut()
                    .map(|browser| browser.log_in_from("tess", PASSWORD, office)),
            )
            .await;
            outcomes.extend(pages.into_iter().map(|page| page.status));
        }
        let single = app.browser().log_in_from("tess", PASSWORD, office).await;
        let another = app.browser().log_in_from("uma", PASSWORD, office).await;

        assert!(
            outcomes.iter().all(|s| *s == StatusCode::SEE_OTHER),
            "{engine:?}: {outcomes:?}"
        );
        assert_eq!(single.status, StatusCode::SEE_OTHER, "{engine:?}");
        assert_eq!(another.status, StatusCode::SEE_OTHER, "{engine:?}");
    }
}

// ---------- account deletion ----------

/// Deleting an account under `cached_db` ends the member's other sessions in the cache too,
/// not only in the database.
#[actix_web::test]
async fn deleting_an_account_ends_its_other_sessions_in_the_cache_too() {
    for engine in [
        crate::helpers::Engine::CachedDbMemory,
        crate::helpers::Engine::CachedDbRedis,
    ] {
        let flavor = Flavor {
            engine,
            ..Flavor::DEFAULT
        };
        if !flavor.services_available("deleting_an_account_ends_its_other_sessions_in_the_cache") {
            continue;
        }
        let app = flavor.spawn_app().await;
        app.create_member("vic").await;
        let mut laptop = app.browser();
        let mut phone = app.browser();
        laptop.log_in("vic", PASSWORD).await;
        phone.log_in("vic", PASSWORD).await;
        let SessionEngine::ServerSide {
            backend: Backend::CachedDb(cached),
            ..
        } = app.state.sessions.get_ref()
        else {
            panic!("cached_db expected");
        };
        assert_eq!(cached.cache().count().await.unwrap(), 2, "{engine:?}");

        let deleted = laptop
            .post("/account/delete", &[("current_password", PASSWORD)])
            .await;

        assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
        assert_eq!(app.count("members"), 0);
        assert_eq!(
            cached.cache().count().await.unwrap(),
            0,
            "{engine:?}: a deleted member's sessions left in the cache"
        );
        assert!(!logged_in_as(&phone.get("/").await, "vic"));
    }
}
