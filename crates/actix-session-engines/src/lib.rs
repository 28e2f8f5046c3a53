//! Django's session framework for actix-web: five engines behind actix-session's middleware,
//! chosen by one setting, with the rules Django keeps and a few it leaves to luck.
//!
//! - **Engines** ([`SessionEngineKind`]): `db` (a table, SQLite or PostgreSQL), `cache`
//!   (in-process or Redis), `cached_db` (the database with a cache in front, written through),
//!   `file` (one file per session) and `signed_cookies` (the session in the cookie).
//! - **Promises every engine keeps**, checked by one contract suite against each: a load never
//!   returns an expired session, a create never overwrites, an update never brings back a
//!   session deleted meanwhile (a logout in another tab stays a logout), and `cached_db`'s
//!   cache never outlives a deleted session, not even through a cache outage.
//! - **Serializers** ([`SessionSerializer`]): JSON, or MessagePack; either reads both.
//! - **The cookie** ([`SessionCookie`]): signed with keys derived from `SECRET_KEY`, rotating
//!   through `SECRET_KEY_FALLBACKS` without logging anyone out; a lifetime chosen per session.
//! - **Typed access** ([`TypedSession`]): keys starting with `_` are reserved for the
//!   framework; a session left with only those is ended ([`finish_session`]).
//! - **`clearsessions`**: [`SessionEngine::clear_expired`].
//!
//! # Mounting it
//!
//! ```no_run
//! use actix_session_engines::{
//!     SessionCookie, SessionEngine, SessionSettings, Storage, TypedSession,
//!     caches::{Cache, CacheSettings},
//!     database::{Database, DatabaseSettings},
//!     finish_session, session_cookie_rules,
//!     signing::{SecretKey, Signer},
//! };
//! use actix_web::{App, HttpServer, middleware::from_fn, web};
//!
//! async fn visits(session: TypedSession) -> String {
//!     let visits = session.get::<u32>("visits").unwrap_or(0) + 1;
//!     session.insert("visits", visits).expect("not a reserved key");
//!     format!("visit number {visits}")
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! let settings = SessionSettings::default(); // the `db` engine
//! let database = Database::connect(&DatabaseSettings::sqlite("sessions.sqlite3"))?;
//! database.create_session_tables()?;
//! let signer = Signer::new(SecretKey::new(vec![7; 32]).map_err(anyhow::Error::msg)?, vec![]);
//! let cache = Cache::new(&CacheSettings::in_memory())?;
//! let storage = Storage { database: &database, cache: &cache, epoch: None, signer: &signer };
//! let engine = web::Data::new(SessionEngine::from_settings(&settings, storage)?);
//! let cookie = web::Data::new(SessionCookie::new(&signer, &settings));
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(engine.clone())
//!         .app_data(cookie.clone())
//!         .wrap(from_fn(finish_session))
//!         .wrap(cookie.middleware(SessionEngine::clone(&engine)))
//!         .wrap(from_fn(session_cookie_rules))
//!         .route("/", web::get().to(visits))
//! })
//! .bind("127.0.0.1:8000")?
//! .run()
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/visits.rs` is the same app, complete.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod caches;
pub mod cookie;
pub mod database;
pub mod django;
mod engine;
pub mod keys;
pub mod middleware;
pub mod observe;
pub mod serializer;
pub mod settings;
pub mod signing;
pub mod stores;
pub mod typed;

/// The README's example, compiled with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

pub use self::{
    backend::{ClearOutcome, ClearRun, SessionBackend, SessionCache, StoreError},
    cookie::{SessionCookie, session_cookie_rules},
    engine::{Backend, SessionEngine, Storage, StoredSession},
    middleware::finish_session,
    serializer::SessionState,
    settings::{SessionEngineKind, SessionSerializer, SessionSettings},
    typed::{ReservedKey, TypedSession},
};
