//! Wires the application: the server, the middleware stack and the routes, in one place.
//! Tests build the very same app through [`Application::build`].

use std::net::TcpListener;

use actix_files::Files;
use actix_web::{
    App, HttpResponse, HttpServer,
    body::MessageBody,
    dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse},
    http::header,
    middleware::{DefaultHeaders, from_fn},
    web,
};
use anyhow::Context;

use crate::{
    error::{AppError, render_errors},
    logging::log_request,
    routes,
    security::csrf::set_csrf_cookie,
    sessions::{self, SessionEngine},
    settings::Settings,
    state::AppState,
};

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
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
        let bind_addr = state.settings.bind_addr;
        let listener = TcpListener::bind(bind_addr)
            .with_context(|| format!("cannot listen on BIND_ADDR {bind_addr}"))?;
        let port = listener.local_addr()?.port();
        let app_state = state.clone();
        let server = HttpServer::new(move || build_app(app_state.clone()))
            .worker_max_blocking_threads(state.settings.database.blocking_threads_per_worker)
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

    /// The pieces the running app shares, for tests and tools.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The whole application: each piece registered on its own, the middleware stack and the
/// routes.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let session_middleware = state
        .session_cookie
        .middleware(SessionEngine::clone(&state.sessions));
    App::new()
        .app_data(state.db)
        .app_data(state.passwords)
        .app_data(state.sessions)
        .app_data(state.session_cookie)
        .app_data(state.csrf)
        .app_data(state.trusted_proxies)
        .app_data(routes::payload_config())
        // Static files and the health check never touch the session store.
        .service(
            web::scope("/static")
                .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "public, max-age=86400")))
                .service(
                    Files::new("", state.settings.static_root)
                        .use_etag(true)
                        .use_last_modified(true),
                ),
        )
        .route("/healthz", web::get().to(routes::healthz))
        .service(
            web::scope("")
                .wrap(from_fn(sessions::finish_session))
                .wrap(session_middleware)
                .wrap(from_fn(sessions::cookie::accept_fallback_keys))
                .wrap(from_fn(set_csrf_cookie))
                // Pages depend on the session and CSRF cookies: no shared caching.
                .wrap(
                    DefaultHeaders::new()
                        .add((header::VARY, "Cookie"))
                        .add((header::CACHE_CONTROL, "private, no-cache")),
                )
                .configure(routes::configure_pages),
        )
        // Any address nothing answers, a missing static file included.
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(AppError::NotFound)
        }))
        .wrap(from_fn(render_errors))
        .wrap(
            DefaultHeaders::new()
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                .add((header::REFERRER_POLICY, "same-origin")),
        )
        .wrap(from_fn(log_request))
}
