//! Builds the application: state, middleware stack, routes, server. Tests build the very same
//! app through [`Application::build`].

use std::{
    fs,
    io::Write,
    net::TcpListener,
    path::{Path, PathBuf},
};

use actix_files::Files;
use actix_web::{
    App, HttpServer,
    body::MessageBody,
    dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse},
    error::UrlencodedError,
    http::header,
    middleware::{Condition, DefaultHeaders, from_fn},
    web,
};
use anyhow::Context;

use crate::{
    db::{Database, is_postgres, sqlite_path},
    error::{AppError, render_error_pages},
    logging::log_request,
    routes,
    security::{csrf::set_csrf_cookie, passwords::Passwords, signing::Signer},
    sessions::{self, SessionEngine},
    settings::{SecretKey, Settings},
};

/// The largest form body accepted: room for a 2000-character comment of 4-byte characters,
/// percent-encoded, with margin.
pub const FORM_LIMIT_BYTES: usize = 64 * 1024;

/// What every request handler can reach.
pub struct AppState {
    pub settings: Settings,
    pub db: Database,
    pub passwords: Passwords,
    pub signer: Signer,
    /// `None` when `SESSION_ENGINE=none`.
    pub sessions: Option<SessionEngine>,
    /// The session cookie's signing keys: `SECRET_KEY`'s first, then the fallbacks'.
    pub session_cookie_keys: Vec<actix_web::cookie::Key>,
}

impl AppState {
    /// Opens the database and prepares everything the handlers and the CLI need; does not
    /// migrate.
    ///
    /// # Errors
    /// When the database cannot be opened, the secret key cannot be read or made, or a
    /// setting is unusable.
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let db = Database::connect(
            &settings.database_url,
            settings.database_pool_size,
            settings.database_pool_timeout,
        )?;
        let secret_key = match &settings.secret_key {
            Some(key) => key.clone(),
            None if is_postgres(&settings.database_url) => anyhow::bail!(
                "SECRET_KEY must be set when DATABASE_URL is PostgreSQL: every instance sharing the database must sign with the same key"
            ),
            None => secret_key_beside_database(&sqlite_path(&settings.database_url))?,
        };
        let signer = Signer::new(secret_key, settings.secret_key_fallbacks.clone());
        let passwords =
            Passwords::new(settings.password_hash).context("PASSWORD_ARGON2_* settings")?;
        let sessions = SessionEngine::from_settings(&settings, &db, &signer)?;
        let session_cookie_keys = sessions::cookie_keys(&signer);
        Ok(Self {
            settings,
            db,
            passwords,
            signer,
            sessions,
            session_cookie_keys,
        })
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Prepares the state, applies pending migrations when `migrate` is set, and binds
    /// `settings.bind_addr` (port 0 picks a free port: see [`Application::port`]).
    ///
    /// # Errors
    /// Anything [`AppState::new`] refuses, a failed migration, or an address that cannot be bound.
    pub fn build(settings: Settings, migrate: bool) -> anyhow::Result<Self> {
        let state = AppState::new(settings)?;
        if migrate {
            for name in state.db.migrate()? {
                tracing::info!(migration = %name, "applied migration");
            }
        }
        let listener = TcpListener::bind(state.settings.bind_addr)
            .with_context(|| format!("cannot listen on BIND_ADDR {}", state.settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(state);
        let app_state = state.clone();
        let blocking_threads = state.settings.blocking_threads_per_worker;
        let server = HttpServer::new(move || build_app(app_state.clone()))
            .worker_max_blocking_threads(blocking_threads)
            .listen(listener)?
            .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The state the running app shares, for tests and tools.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The whole application: middleware stack and routes, in one place.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // With SESSION_ENGINE=none the middleware is switched off (`Condition` needs one to hold,
    // so it holds one over an engine that is never called).
    let sessions_on = state.sessions.is_some();
    let engine = state
        .sessions
        .clone()
        .unwrap_or_else(SessionEngine::never_used);
    let session_middleware =
        sessions::middleware(engine, &state.session_cookie_keys, &state.settings.session);
    let static_root = state.settings.static_root.clone();
    App::new()
        .app_data(state)
        .app_data(form_config())
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _| AppError::BadRequest(err.to_string()).into()),
        )
        // Static files and the health check never touch the session store.
        .service(
            web::scope("/static")
                .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "public, max-age=86400")))
                .service(
                    Files::new("", static_root)
                        .use_etag(true)
                        .use_last_modified(true),
                ),
        )
        .route("/healthz", web::get().to(routes::healthz))
        .service(
            web::scope("")
                .wrap(from_fn(sessions::finish_session))
                .wrap(Condition::new(sessions_on, session_middleware))
                .wrap(from_fn(sessions::accept_fallback_cookie_keys))
                .wrap(from_fn(set_csrf_cookie))
                // Pages depend on the session and CSRF cookies: no shared caching.
                .wrap(
                    DefaultHeaders::new()
                        .add((header::VARY, "Cookie"))
                        .add((header::CACHE_CONTROL, "private, no-cache")),
                )
                .configure(routes::configure_pages)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(AppError::NotFound)
                })),
        )
        .wrap(from_fn(render_error_pages))
        .wrap(
            DefaultHeaders::new()
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                .add((header::REFERRER_POLICY, "same-origin")),
        )
        .wrap(from_fn(log_request))
}

fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(FORM_LIMIT_BYTES)
        .error_handler(|err, _| {
            match err {
                UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge,
                UrlencodedError::ContentType => AppError::BadRequest(
                    "Send the form as application/x-www-form-urlencoded.".into(),
                ),
                other => AppError::BadRequest(format!("The form could not be read: {other}")),
            }
            .into()
        })
}

/// The secret key kept beside the SQLite database (`<database>.secret-key`), made on first
/// start with owner-only permissions, so sessions and CSRF cookies survive restarts.
fn secret_key_beside_database(database: &Path) -> anyhow::Result<SecretKey> {
    let mut path = PathBuf::from(database);
    path.as_mut_os_string().push(".secret-key");
    let key = match fs::read(&path) {
        Ok(bytes) => {
            let bytes = String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec();
            SecretKey::new(bytes).map_err(|reason| {
                anyhow::anyhow!("the secret key file {} {reason}", path.display())
            })?
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key: String = {
                use rand::{Rng, distr::Alphanumeric};
                rand::rng()
                    .sample_iter(&Alphanumeric)
                    .take(50)
                    .map(char::from)
                    .collect()
            };
            write_owner_only(&path, key.as_bytes())
                .with_context(|| format!("cannot write the secret key file {}", path.display()))?;
            SecretKey::new(key.into_bytes()).map_err(anyhow::Error::msg)?
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read the secret key file {}", path.display()));
        }
    };
    tracing::warn!(
        file = %path.display(),
        "SECRET_KEY is not set: using the generated key in this file. Set SECRET_KEY in production, the same on every instance."
    );
    Ok(key)
}

fn write_owner_only(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
