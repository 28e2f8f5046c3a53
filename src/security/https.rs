//! Behind TLS, say so: `Strict-Transport-Security` on every HTTPS response, and plain-HTTP
//! visitors sent to HTTPS (`SECURE_HSTS_*`, `SECURE_SSL_REDIRECT`, as Django's
//! `SecurityMiddleware`). Whether a request came over HTTPS is the connection's own answer, or
//! `X-Forwarded-Proto` from a proxy in `TRUSTED_PROXIES`, never a client's say-so.

use actix_web::{
    HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};

use super::{hosts::requested_host, proxies::TrustedProxies};
use crate::settings::{AllowedHosts, HttpsSettings};

/// What load balancers probe, often over plain HTTP inside the network: never redirected.
const HEALTH_CHECKS: [&str; 3] = ["/livez", "/readyz", "/healthz"];

/// Middleware: the redirect to HTTPS, then HSTS on what goes out over HTTPS.
pub async fn enforce_https(
    https: web::Data<HttpsSettings>,
    proxies: web::Data<TrustedProxies>,
    hosts: web::Data<AllowedHosts>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let secure = proxies.client(req.request()).scheme == "https";
    let host = requested_host(&req);
    // Only to a host this site answers to: a redirect must not point anywhere a client names.
    if https.ssl_redirect && !secure && !HEALTH_CHECKS.contains(&req.path()) && hosts.allows(host) {
        let path = req.uri().path_and_query().map_or("/", |path| path.as_str());
        let location = format!("https://{host}{path}");
        let redirect = HttpResponse::MovedPermanently()
            .insert_header((header::LOCATION, location))
            .finish();
        return Ok(req.into_response(redirect).map_into_right_body());
    }
    let mut res = next.call(req).await?.map_into_left_body();
    if secure
        && let Some(hsts) = https.hsts_header()
        && let Ok(value) = HeaderValue::from_str(&hsts)
    {
        res.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, value);
    }
    Ok(res)
}
