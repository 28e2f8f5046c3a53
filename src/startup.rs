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
    background::Background,
    db::Migrations,
    error::{AppError, keep_header_links, render_errors},
    logging::log_request,
    metrics, routes,
    security::{csrf::set_csrf_cookie, hosts::check_host, https::enforce_https},
    sessions::{self, SessionEngine},
    settings::Settings,
    state::AppState,
};

/// Only this site's own files, no inline script or style, no framing, forms only to itself.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    /// `METRICS_ADDR`'s server and its port, when metrics are on.
    metrics: Option<(u16, Server)>,
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
        if let Some(problem) = state
            .accounts
            .django_tables()?
            .and_then(|tables| tables.problem())
        {
            anyhow::bail!("DJANGO_COMPAT: {problem}");
        }
        let bind_addr = state.settings.bind_addr;
        let listener = TcpListener::bind(bind_addr)
            .with_context(|| format!("cannot listen on BIND_ADDR {bind_addr}"))?;
        let port = listener.local_addr()?.port();
        let app_state = state.clone();
        let server = HttpServer::new(move || build_app(app_state.clone()))
            .worker_max_blocking_threads(state.settings.database.blocking_threads_per_worker)
            // Signals are ours to handle: actix stops at once on SIGINT (see `run_until_signalled`).
            .disable_signals()
            .shutdown_timeout(state.settings.shutdown_timeout.as_secs())
            .listen(listener)?
            .run();
        let metrics = match state.settings.observability.metrics_addr {
            Some(addr) => Some(metrics_server(addr, &state)?),
            None => None,
        };
        Ok(Self {
            port,
            server,
            metrics,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on, when `METRICS_ADDR` is set (port 0 picks a free one).
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The pieces the running app shares, for tests and tools.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server is stopped (the tests' way: the runtime ends).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _background = self.start_background();
        serve_with_metrics(self.server, self.metrics).await
    }

    /// Serves until SIGINT (Ctrl-C) or SIGTERM, then stops accepting and finishes the
    /// requests in flight; a second SIGINT stops at once.
    ///
    /// # Errors
    /// When the server fails or the signals cannot be listened to.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let handle = self.server.handle();
        let (stop_now, stopped_now) = tokio::sync::oneshot::channel::<()>();
        actix_web::rt::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!(
                "stopping: finishing the requests in flight (Ctrl-C again to stop at once)"
            );
            let graceful = actix_web::rt::spawn({
                let handle = handle.clone();
                async move { handle.stop(true).await }
            });
            tokio::select! {
                _ = graceful => {}
                _ = interrupt.recv() => {
                    tracing::warn!("stopping at once: requests in flight are cut");
                    let _ = stop_now.send(());
                }
            }
        });
        let _background = self.start_background();
        tokio::select! {
            served = serve_with_metrics(self.server, self.metrics) => served,
            // Not `handle.stop(false)`: actix-server takes its commands one at a time, so a
            // forced stop would wait behind the graceful one. Leaving the server behind ends
            // `serve`, and the process with it, cutting the requests in flight.
            _ = async {
                if stopped_now.await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => Ok(()),
        }
    }

    fn start_background(&self) -> Background {
        Background::start(
            self.state.settings.clearsessions_interval,
            self.state.cleanup.clone(),
        )
    }
}

/// Binds `METRICS_ADDR` and serves `GET /metrics` there, and only there, with one worker.
fn metrics_server(addr: std::net::SocketAddr, state: &AppState) -> anyhow::Result<(u16, Server)> {
    metrics::enable();
    let listener =
        TcpListener::bind(addr).with_context(|| format!("cannot listen on METRICS_ADDR {addr}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "serving metrics at /metrics");
    let port = bound.port();
    let db = state.db.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(db.clone())
            .route("/metrics", web::get().to(metrics::scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((port, server))
}

/// Runs `server`, with the metrics server beside it until it ends.
async fn serve_with_metrics(server: Server, metrics: Option<(u16, Server)>) -> std::io::Result<()> {
    let Some((_, metrics)) = metrics else {
        return server.await;
    };
    let handle = metrics.handle();
    let running = actix_web::rt::spawn(metrics);
    let served = server.await;
    handle.stop(false).await;
    let _ = running.await;
    served
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
        .app_data(state.throttle)
        .app_data(state.spam_trap)
        .app_data(state.allowed_hosts)
        .app_data(state.https)
        .app_data(state.readiness)
        .app_data(state.accounts)
        .app_data(state.feed)
        .app_data(state.comments)
        .app_data(state.moderation)
        .app_data(state.login_fields)
        .app_data(routes::payload_config())
        // Static files and the health check never touch the session store.
        .service(
            web::scope("/static")
                .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "public, max-age=86400")))
                .wrap(from_fn(check_host::<AppError>))
                .configure(|cfg| match state.settings.static_root {
                    // STATIC_ROOT: a folder on disk, for customised assets.
                    Some(root) => {
                        cfg.service(Files::new("", root).use_etag(true).use_last_modified(true));
                    }
                    None => {
                        cfg.route("/{path:.*}", routes::get().to(routes::embedded_asset));
                    }
                }),
        )
        .route("/livez", routes::get().to(routes::livez))
        .route("/readyz", routes::get().to(routes::readyz))
        .route("/healthz", routes::get().to(routes::readyz))
        .service(
            web::scope("")
                .wrap(from_fn(keep_header_links))
                .wrap(from_fn(sessions::finish_session))
                .wrap(session_middleware)
                .wrap(from_fn(sessions::session_cookie_rules))
                .wrap(from_fn(set_csrf_cookie))
                // Pages depend on the session and CSRF cookies: never stored, by a shared
                // cache or by the browser (its back button must not show a logged-in page
                // after logout).
                .wrap(
                    DefaultHeaders::new()
                        .add((header::VARY, "Cookie"))
                        .add((header::CACHE_CONTROL, "no-store")),
                )
                .configure(routes::configure_pages)
                .wrap(from_fn(check_host::<AppError>)),
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
                .add((header::REFERRER_POLICY, "same-origin"))
                .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)),
        )
        .wrap(from_fn(enforce_https))
        .wrap(from_fn(log_request))
}
