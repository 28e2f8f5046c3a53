//! Logging: `tracing` to standard error, filtered by `RUST_LOG`, and one line per request.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use tracing_subscriber::EnvFilter;

use crate::security::proxies::TrustedProxies;

/// Installs the subscriber; `RUST_LOG` filters (default `info`).
pub fn init() {
    init_with_default("info");
}

/// Installs the subscriber; `RUST_LOG` filters, else `default`.
pub fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // actix-session warns about every cookie that fails its signature: the client's doing (a
    // stale or forged cookie, which simply starts a new session), and a way to fill the logs.
    // Quieted unless RUST_LOG says otherwise about it.
    let quiet_sessions =
        std::env::var("RUST_LOG").map_or(true, |log| !log.contains("actix_session"));
    let filter = if quiet_sessions {
        filter.add_directive(
            "actix_session::middleware=error"
                .parse()
                .expect("a valid directive"),
        )
    } else {
        filter
    };
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Middleware: one line per request with method, path (never the query string, which could
/// carry something private), client address (as trusted proxies report it), status and
/// latency.
pub async fn log_request(
    proxies: web::Data<TrustedProxies>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let client = proxies.client(req.request()).addr;
    let res = next.call(req).await;
    let status = match &res {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    tracing::info!(
        target: "guestbook::request",
        method = %method,
        path = %path,
        client = %client.map(|addr| addr.to_string()).unwrap_or_default(),
        status = status.as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    res
}
