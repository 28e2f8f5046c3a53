//! Logging: `tracing` to standard error, filtered by `RUST_LOG`, as text or JSON
//! (`LOG_FORMAT`); one line per request; a request id on every line logged while a request is
//! handled, and in its `X-Request-Id` response header.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use tracing::Instrument;
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

use crate::{metrics, security::proxies::TrustedProxies, settings::LogFormat};

/// The header a request id comes in (from a trusted proxy) and goes back out in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a proxy.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Installs the subscriber; `RUST_LOG` filters (default `info`).
pub fn init() {
    init_with_default("info");
}

/// Installs the subscriber; `RUST_LOG` filters, else `default`. `LOG_FORMAT` picks text or
/// JSON; an invalid value logs as text here, and the settings then refuse it at start-up
/// (logging starts before the settings are read, so that their errors are logged too).
pub fn init_with_default(default: &str) {
    install(default, std::io::stderr);
}

/// The tests' subscriber: as [`init_with_default`], but written through the test harness's
/// output capture, so a passing test's logs (the failures many tests cause on purpose) stay
/// hidden and a failing test's are shown with it.
pub fn init_for_tests(default: &str) {
    install(default, tracing_subscriber::fmt::TestWriter::new());
}

fn install<W>(default: &str, writer: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
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
    let format = std::env::var("LOG_FORMAT")
        .ok()
        .and_then(|value| LogFormat::parse(&value))
        .unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // A second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // The event's fields at the top level, the request span's id under "span".
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Middleware, the outermost: gives the request its id, handles it inside a span that carries
/// the id (so every line logged meanwhile has it), sends the id back in `X-Request-Id`, counts
/// the request for the metrics, and logs one line with method, path (never the query string,
/// which could carry something private), client address (as trusted proxies report it),
/// status and latency.
pub async fn log_request(
    proxies: web::Data<TrustedProxies>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&proxies, &req);
    // At ERROR level so that it is enabled whatever RUST_LOG lets through: a span's level
    // only decides whether it exists, and the lines inside need it.
    let span = tracing::error_span!("request", request_id = %id);
    let method = req.method().clone();
    let path = req.path().to_owned();
    // The pattern comes from the app's route table, known before routing; worked out (a
    // lookup and a string) only when it is counted.
    let route = metrics::enabled().then(|| req.match_pattern()).flatten();
    let client = proxies.client(req.request()).addr;
    let header = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    let res = next.call(req).instrument(span.clone()).await;
    let (status, res) = match res {
        Ok(mut res) => {
            res.headers_mut().insert(REQUEST_ID, header);
            (res.status(), Ok(res))
        }
        // A failure in a middleware (`render_errors` has made its page already): the id goes
        // on that page too.
        Err(err) => {
            let status = err.as_response_error().status_code();
            let mut response = err.error_response();
            response.headers_mut().insert(REQUEST_ID, header);
            let err = actix_web::error::InternalError::from_response(err, response).into();
            (status, Err(err))
        }
    };
    let took = started.elapsed();
    metrics::http_request(
        route.as_deref().unwrap_or(metrics::UNMATCHED_ROUTE),
        method.as_str(),
        status.as_u16(),
        took,
    );
    span.in_scope(|| {
        tracing::info!(
            target: "guestbook::request",
            method = %method,
            path = %path,
            client = %client.map(|addr| addr.to_string()).unwrap_or_default(),
            status = status.as_u16(),
            latency_ms = took.as_secs_f64() * 1000.0,
        );
    });
    res
}

/// The request's id: the `X-Request-Id` a trusted proxy sent, if it is a sane token (visible
/// ASCII, at most [`MAX_REQUEST_ID_LEN`] characters); otherwise a fresh random one. From
/// anyone else the header is ignored, so a client cannot make its requests look like others'.
fn request_id(proxies: &TrustedProxies, req: &ServiceRequest) -> String {
    let from_proxy = req
        .peer_addr()
        .is_some_and(|peer| proxies.trusts(peer.ip()));
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|_| from_proxy)
        .filter(|id| is_sane(id));
    match given {
        Some(id) => id.to_owned(),
        None => format!("{:032x}", rand::random::<u128>()),
    }
}

fn is_sane(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn id_of(peer: &str, header: Option<&str>) -> String {
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        if let Some(value) = header {
            req = req.insert_header(("X-Request-Id", value));
        }
        request_id(&proxies, &req.to_srv_request())
    }

    #[test]
    fn a_proxy_id_is_kept_only_from_a_trusted_proxy_and_only_when_sane() {
        assert_eq!(id_of("10.1.2.3", Some("lb-7f3a")), "lb-7f3a");

        let fresh = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(
            fresh(&id_of("203.0.113.9", Some("lb-7f3a"))),
            "untrusted client"
        );
        assert!(fresh(&id_of("10.1.2.3", None)));
        assert!(fresh(&id_of("10.1.2.3", Some("has space"))));
        assert!(fresh(&id_of("10.1.2.3", Some(&"a".repeat(129)))));
        assert_eq!(id_of("10.1.2.3", Some(&"a".repeat(128))), "a".repeat(128));
        assert_ne!(id_of("10.1.2.3", None), id_of("10.1.2.3", None));
    }
}
