//! The rules every engine shares, through the middleware, on the `db` engine over SQLite as an
//! application mounts it (the same stack as `examples/visits.rs`): a changed session is saved
//! and read back, a request that fails with a 5xx leaves it as it was, a session left with only
//! reserved keys is ended (its row and its cookie), and a forged cookie is a new session; and,
//! beside a Django site (`django_compat`), the cookie is Django's.

use actix_session_engines::{
    SessionCookie, SessionEngine, SessionEngineKind, SessionSettings, Storage, TypedSession,
    caches::{Cache, CacheSettings},
    database::{Database, DatabaseSettings},
    finish_session, session_cookie_rules,
    signing::{SecretKey, Signer},
};
use actix_web::{
    App, HttpResponse,
    cookie::Cookie,
    dev::ServiceResponse,
    http::{Method, StatusCode},
    middleware::from_fn,
    test, web,
};

/// Counts the visit; `?fail` counts it and then fails with a `500`.
async fn visit(session: TypedSession, query: web::Query<Vec<(String, String)>>) -> HttpResponse {
    let visits = session.get::<u32>("visits").unwrap_or(0) + 1;
    session.insert("visits", visits).unwrap();
    if query.iter().any(|(name, _)| name == "fail") {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok().body(visits.to_string())
}

/// Leaves nothing of the visitor's: only a reserved key.
async fn forget(session: TypedSession) -> HttpResponse {
    session.remove("visits");
    session.set_expire_at_browser_close(true);
    HttpResponse::Ok().finish()
}

struct Site {
    database: Database,
    engine: web::Data<SessionEngine>,
    cookie: web::Data<SessionCookie>,
    _dir: tempfile::TempDir,
}

fn site() -> Site {
    site_with(SessionSettings::default())
}

fn site_with(settings: SessionSettings) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.sqlite3");
    let database = Database::connect(&DatabaseSettings::sqlite(path.to_string_lossy())).unwrap();
    database.create_session_tables().unwrap();
    let signer = Signer::new(SecretKey::new(vec![9; 32]).unwrap(), vec![]);
    let cache = Cache::new(&CacheSettings::in_memory()).unwrap();
    let settings = SessionSettings {
        file_path: dir.path().to_owned(),
        ..settings
    };
    let storage = Storage {
        database: &database,
        cache: &cache,
        epoch: None,
        signer: &signer,
    };
    Site {
        engine: web::Data::new(SessionEngine::from_settings(&settings, storage).unwrap()),
        cookie: web::Data::new(SessionCookie::new(&signer, &settings)),
        database,
        _dir: dir,
    }
}

macro_rules! app {
    ($site:expr) => {
        test::init_service(
            App::new()
                .app_data($site.engine.clone())
                .app_data($site.cookie.clone())
                .wrap(from_fn(finish_session))
                .wrap($site.cookie.middleware(SessionEngine::clone(&$site.engine)))
                .wrap(from_fn(session_cookie_rules))
                .route("/", web::get().to(visit))
                .route("/forget", web::post().to(forget)),
        )
        .await
    };
}

/// A request to `uri`, with the session cookie `cookie` if given.
fn request(method: Method, uri: &str, cookie: Option<Cookie<'static>>) -> test::TestRequest {
    let req = test::TestRequest::default().method(method).uri(uri);
    match cookie {
        Some(cookie) => req.cookie(cookie),
        None => req,
    }
}

/// The `sessionid` cookie a response sets, if any.
fn session_cookie<B>(res: &ServiceResponse<B>) -> Option<Cookie<'static>> {
    res.response()
        .cookies()
        .find(|cookie| cookie.name() == "sessionid")
        .map(Cookie::into_owned)
}

async fn stored_sessions(site: &Site) -> u64 {
    site.engine.stored_count().await.unwrap().unwrap()
}

#[actix_web::test]
async fn a_changed_session_is_saved_and_read_back() {
    let site = site();
    let app = app!(site);

    let first = test::call_service(&app, request(Method::GET, "/", None).to_request()).await;
    let cookie = session_cookie(&first).expect("a new session's cookie");
    let second =
        test::call_service(&app, request(Method::GET, "/", Some(cookie)).to_request()).await;

    assert_eq!(test::read_body(second).await, "2");
    assert_eq!(stored_sessions(&site).await, 1);
}

#[actix_web::test]
async fn a_request_that_fails_leaves_the_session_as_it_was() {
    let site = site();
    let app = app!(site);
    let first = test::call_service(&app, request(Method::GET, "/", None).to_request()).await;
    let cookie = session_cookie(&first).unwrap();

    let failed = test::call_service(
        &app,
        request(Method::GET, "/?fail", Some(cookie.clone())).to_request(),
    )
    .await;
    let after =
        test::call_service(&app, request(Method::GET, "/", Some(cookie)).to_request()).await;

    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        test::read_body(after).await,
        "2",
        "the failed request's visit was not kept"
    );
}

#[actix_web::test]
async fn a_session_left_with_only_reserved_keys_is_ended_with_its_cookie() {
    let site = site();
    let app = app!(site);
    let first = test::call_service(&app, request(Method::GET, "/", None).to_request()).await;
    let cookie = session_cookie(&first).unwrap();
    assert_eq!(stored_sessions(&site).await, 1);

    let forgotten = test::call_service(
        &app,
        request(Method::POST, "/forget", Some(cookie)).to_request(),
    )
    .await;

    let removal = session_cookie(&forgotten).expect("the cookie is removed");
    assert_eq!(removal.value(), "");
    assert_eq!(stored_sessions(&site).await, 0, "its row is deleted");
    assert!(site.database.ping().await.is_ok());
}

#[actix_web::test]
async fn a_forged_cookie_is_a_new_session_not_an_error() {
    let site = site();
    let app = app!(site);

    let res = test::call_service(
        &app,
        request(
            Method::GET,
            "/",
            Some(Cookie::new("sessionid", "forged-value")),
        )
        .to_request(),
    )
    .await;

    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(
        session_cookie(&res)
            .map(|c| c.value().to_owned())
            .as_deref(),
        Some("forged-value")
    );
    assert_eq!(test::read_body(res).await, "1");
}

#[actix_web::test]
async fn with_django_compat_the_cookie_holds_djangos_bare_session_key() {
    let site = site_with(SessionSettings {
        engine: SessionEngineKind::File,
        django_compat: true,
        ..SessionSettings::default()
    });
    let app = app!(site);

    let first = test::call_service(&app, request(Method::GET, "/", None).to_request()).await;
    let cookie = session_cookie(&first).expect("a new session's cookie");
    let key = cookie.value().to_owned();
    let second =
        test::call_service(&app, request(Method::GET, "/", Some(cookie)).to_request()).await;

    assert!(
        key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "Django's key, unsigned: {key}"
    );
    let file = std::fs::read_to_string(site._dir.path().join(format!("sessionid{key}"))).unwrap();
    assert_eq!(file.matches(':').count(), 2, "Django's signed data: {file}");
    assert_eq!(test::read_body(second).await, "2");

    // What could not be a Django key, or is the key signed as the native cookie is, is a new
    // session.
    for value in [
        "not-a-key",
        "../../../../etc/passwd",
        &format!("{}{key}", "A".repeat(44)),
    ] {
        let res = test::call_service(
            &app,
            request(
                Method::GET,
                "/",
                Some(Cookie::new("sessionid", value.to_owned())),
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{value}");
        assert_ne!(session_cookie(&res).unwrap().value(), key);
        assert_eq!(test::read_body(res).await, "1", "{value}");
    }
}
