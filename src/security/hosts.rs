//! `ALLOWED_HOSTS`, as Django's: a request addressed to a host name the site does not answer
//! to is a `400`, so a name someone else points at this server (DNS rebinding against an
//! internal deployment) gets nothing. The health checks are not behind it: load balancers probe
//! by address.

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};

use crate::settings::AllowedHosts;

/// A request addressed to a host name not in `ALLOWED_HOSTS`.
#[derive(Debug, thiserror::Error)]
#[error("This site does not answer to that host name.")]
pub struct UnknownHost;

/// The host name (and port) the request is addressed to: its `Host`, or in HTTP/2 its
/// authority; empty when it has neither.
pub fn requested_host(req: &ServiceRequest) -> &str {
    req.headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| req.uri().authority().map(|authority| authority.as_str()))
        .unwrap_or_default()
}

/// Middleware: the request's `Host` (or, in HTTP/2, its authority) must be allowed; a request
/// for any other host is answered with the error `E` made from [`UnknownHost`] (the app's
/// error type, which knows how to render it: `from_fn(check_host::<AppError>)`).
pub async fn check_host<E>(
    hosts: web::Data<AllowedHosts>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error>
where
    E: From<UnknownHost> + Into<actix_web::Error>,
{
    let host = requested_host(&req);
    if hosts.allows(host) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    tracing::debug!(host, "request for a host name not in ALLOWED_HOSTS");
    Ok(req
        .error_response(E::from(UnknownHost))
        .map_into_right_body())
}
