//! One error type for the whole application, and the middleware that turns every error
//! response — ours, actix's own 404/405/413, a session store failure — into a styled page or,
//! for JSON clients, `{"error": "..."}`.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, header},
    middleware::Next,
};
use askama::Template;

use crate::db::DbError;

/// Everything a request can fail with. The message of each variant is shown to the client;
/// internal details are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// CSRF verification failed; the reason says which check.
    #[error("CSRF verification failed: {0}")]
    Csrf(&'static str),
    #[error("The page you asked for does not exist.")]
    NotFound,
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("{0}")]
    Unprocessable(String),
    /// A service we depend on did not answer; the message names it, for the operator.
    #[error("{0} is unavailable right now. Please try again in a moment.")]
    Unavailable(&'static str),
    /// `SESSION_ENGINE=none`: the actions that need a session cannot run.
    #[error(
        "Sessions are turned off in this deployment, so commenting, logging in and signing up are unavailable. You can still read the comments."
    )]
    SessionsDisabled,
    /// The signed-cookie engine could not fit the session in a cookie.
    #[error("This session has grown too large to keep in a cookie, so it was not saved.")]
    SessionTooLarge,
    /// A bug or an unexpected failure: logged in full, shown as a generic 500.
    #[error("Something went wrong on our side. It has been logged.")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// Wraps an unexpected failure, keeping its cause for the log.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<DbError> for AppError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Unavailable(_) => {
                tracing::error!(error = %err, "database unavailable");
                Self::Unavailable("The database")
            }
            DbError::Query(diesel::result::Error::NotFound) => Self::NotFound,
            DbError::Query(err) => Self::internal(err),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        Self::internal(err)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Csrf(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) | Self::SessionsDisabled => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionTooLarge => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(error = ?cause, "internal error");
        }
        // The body is written by `render_error_pages`, which knows what the client accepts.
        let mut response = HttpResponse::new(self.status_code());
        response
            .extensions_mut()
            .insert(ErrorMessage(self.to_string()));
        response
    }
}

/// The message to show on an error page, attached to the response by whoever failed.
#[derive(Clone, Debug)]
pub struct ErrorMessage(pub String);

/// Marks a response whose body is final (a page or JSON a handler wrote), so the error-page
/// middleware leaves it alone even when its status is 4xx.
#[derive(Clone, Copy, Debug)]
pub struct FinalBody;

/// Whether the client asked for JSON (`Accept` includes `application/json`).
pub fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/json"))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// Outermost middleware: every response with an error status and no final body gets the
/// error page (or JSON), and a failure of the session store becomes a `503`, never a panic or
/// actix's bare `500`.
pub async fn render_error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Decided up front: on a middleware error the request is gone (actix needs it unshared
    // while routing, so it cannot be cloned beforehand).
    let json = wants_json(req.request());
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => {
            let app_error = if is_session_too_large(&err) {
                tracing::error!(error = ?err, "session not saved: too large for a cookie");
                AppError::SessionTooLarge
            } else if is_session_store_failure(&err) {
                tracing::error!(error = ?err, "session store failed");
                AppError::Unavailable("The session store")
            } else {
                tracing::error!(error = ?err, "request failed in middleware");
                AppError::Internal(anyhow::anyhow!("{err}"))
            };
            let status = app_error.status_code();
            let mut response = HttpResponse::build(status);
            let response = match error_body(status, &app_error.to_string(), json) {
                Body::Json(body) => response.content_type("application/json").body(body),
                Body::Html(body) => response.content_type("text/html; charset=utf-8").body(body),
            };
            // The response stands in for the error all the way out to the client.
            return Err(actix_web::error::InternalError::from_response(err, response).into());
        }
    };
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || res.response().extensions().contains::<FinalBody>()
    {
        return Ok(res.map_into_boxed_body());
    }
    let message = res
        .response()
        .extensions()
        .get::<ErrorMessage>()
        .map(|m| m.0.clone())
        .unwrap_or_else(|| default_message(status).to_owned());
    let body = error_body(status, &message, json);
    Ok(res.map_body(|head, _| {
        let content_type = match body {
            Body::Json(_) => "application/json",
            Body::Html(_) => "text/html; charset=utf-8",
        };
        head.headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        head.headers.remove(header::CONTENT_LENGTH);
        match body {
            Body::Json(s) | Body::Html(s) => BoxBody::new(s),
        }
    }))
}

fn error_body(status: StatusCode, message: &str, json: bool) -> Body {
    if json {
        Body::Json(serde_json::json!({ "error": message }).to_string())
    } else {
        Body::Html(error_page_html(status, message))
    }
}

enum Body {
    Json(String),
    Html(String),
}

/// The HTML error page for `status`; falls back to plain markup if the template fails.
pub fn error_page_html(status: StatusCode, message: &str) -> String {
    let page = ErrorPage {
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    page.render().unwrap_or_else(|err| {
        tracing::error!(error = %err, "error page template failed");
        format!(
            "<!doctype html><title>Error {}</title><p>Error {}</p>",
            status.as_u16(),
            status.as_u16()
        )
    })
}

fn default_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "The page you asked for does not exist.",
        StatusCode::METHOD_NOT_ALLOWED => "This address does not accept that method.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Send the form as application/x-www-form-urlencoded.",
        s if s.is_server_error() => "Something went wrong on our side. It has been logged.",
        _ => "The request could not be processed.",
    }
}

/// The signed-cookie engine reports a session too large for a cookie as a serialization
/// failure (the only one it can have), which actix-session wraps like any store error.
fn is_session_too_large(err: &actix_web::Error) -> bool {
    use actix_session::storage::{SaveError, UpdateError};
    use actix_web::error::InternalError;
    let message = if let Some(e) = err.as_error::<InternalError<SaveError>>() {
        e.to_string()
    } else if let Some(e) = err.as_error::<InternalError<UpdateError>>() {
        e.to_string()
    } else {
        return false;
    };
    message == SaveError::Serialization(anyhow::anyhow!("")).to_string()
        || message == UpdateError::Serialization(anyhow::anyhow!("")).to_string()
}

/// actix-session turns every store error into an `InternalError` wrapping one of these.
fn is_session_store_failure(err: &actix_web::Error) -> bool {
    use actix_session::storage::{SaveError, UpdateError};
    use actix_web::error::InternalError;
    err.as_error::<InternalError<anyhow::Error>>().is_some()
        || err.as_error::<InternalError<SaveError>>().is_some()
        || err.as_error::<InternalError<UpdateError>>().is_some()
}
