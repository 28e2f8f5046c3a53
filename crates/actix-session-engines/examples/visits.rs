//! A complete actix-web site on the `db` engine over SQLite: it counts your visits, and
//! forgets you on `POST /forget`.
//!
//! ```sh
//! cargo run -p actix-session-engines --example visits    # then open http://127.0.0.1:8000
//! ```
//!
//! `SECRET_KEY` signs the cookie (a random key is made when it is unset, so sessions end with
//! the process); `VISITS_DB` names the SQLite file (`visits.sqlite3`), `VISITS_ADDR` where it
//! listens (`127.0.0.1:8000`).

use actix_session_engines::{
    SessionCookie, SessionEngine, SessionSettings, Storage, TypedSession,
    caches::{Cache, CacheSettings},
    database::{Database, DatabaseSettings},
    finish_session, session_cookie_rules,
    signing::{SecretKey, Signer},
};
use actix_web::{App, HttpResponse, HttpServer, middleware::from_fn, web};

async fn visits(session: TypedSession) -> HttpResponse {
    let visits = session.get::<u32>("visits").unwrap_or(0) + 1;
    session
        .insert("visits", visits)
        .expect("not a reserved key");
    HttpResponse::Ok().body(format!("Visit number {visits}.\n"))
}

async fn forget(session: TypedSession) -> HttpResponse {
    // Nothing left but reserved keys: `finish_session` deletes the session and its cookie.
    session.remove("visits");
    HttpResponse::Ok().body("Forgotten.\n")
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let secret = std::env::var("SECRET_KEY")
        .map(String::into_bytes)
        .unwrap_or_else(|_| rand::random::<[u8; 32]>().to_vec());
    let signer = Signer::new(SecretKey::new(secret).map_err(anyhow::Error::msg)?, vec![]);
    let path = std::env::var("VISITS_DB").unwrap_or_else(|_| "visits.sqlite3".into());
    let database = Database::connect(&DatabaseSettings::sqlite(path))?;
    database.create_session_tables()?;
    let cache = Cache::new(&CacheSettings::in_memory())?;

    let settings = SessionSettings::default(); // SESSION_ENGINE=db, Django's defaults
    let storage = Storage {
        database: &database,
        cache: &cache,
        epoch: None,
        signer: &signer,
    };
    let engine = web::Data::new(SessionEngine::from_settings(&settings, storage)?);
    let cookie = web::Data::new(SessionCookie::new(&signer, &settings));

    let address = std::env::var("VISITS_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    println!("Listening on http://{address}");
    HttpServer::new(move || {
        App::new()
            .app_data(engine.clone())
            .app_data(cookie.clone())
            .wrap(from_fn(finish_session))
            .wrap(cookie.middleware(SessionEngine::clone(&engine)))
            .wrap(from_fn(session_cookie_rules))
            .route("/", web::get().to(visits))
            .route("/forget", web::post().to(forget))
    })
    .bind(address)?
    .run()
    .await?;
    Ok(())
}
