//! One error type for the whole application, and the one place errors become responses.
//!
//! Handlers and extractors fail with [`AppError`], converting into it (here, with `From`) the
//! errors of the layers below: the database's, the domain's, the session framework's (its
//! storage not answering, a session too large for a cookie, sessions turned off), and the
//! security checks' own (CSRF, the host check, the throttles, password hashing). The framework
//! fails with errors of its own (an unknown static file, an extractor that is not configured);
//! actix-session fails in its middleware when the session store does not answer. [`render_errors`], the outermost
//! middleware but one, turns each of them into a styled page or, for JSON clients,
//! `{"error": "..."}`. Pages handlers write themselves (a form shown again with its reason)
//! are not errors and pass untouched, whatever their status. Whatever failed, a comment the
//! request carried is on the error page, so the visitor never loses what they wrote.

use std::time::Duration;

use actix_web::{
    HttpMessage, HttpRequest, HttpResponse, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, StatusCode, header},
    middleware::Next,
    web,
};
use askama::Template;
use serde::Deserialize;

use actix_session_engines::{StoreError, stores::signed_cookies::SessionTooLarge};

use crate::{
    db::DbError,
    domain::{
        DomainError,
        accounts::Accounts,
        comments::{CHANGED_MEANWHILE, HIDDEN_BY_STAFF, NOT_YOURS, OwnCommentError, TOO_LATE},
    },
    security::{
        csrf::{CsrfError, CsrfToken},
        hosts::UnknownHost,
        passwords::PasswordError,
        throttle::Throttled,
    },
    sessions::{VisitorSession, typed::SessionsDisabled},
};

/// Everything a request can fail with. The message of each variant is shown to the client;
/// internal details are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    /// CSRF verification failed; the reason (Django's) says which check. JSON clients get it
    /// as is; the page says it in plain words, the reason in its footnote.
    #[error("CSRF verification failed: {0}")]
    Csrf(&'static str),
    /// A form post came without any `csrftoken` cookie: the browser refuses this site's
    /// cookies (the CSRF cookie doubles as Django's test cookie).
    #[error("{}", COOKIES_REFUSED)]
    CookiesRefused,
    #[error("There is no page at this address.")]
    NotFound,
    /// The thing exists, and this visitor may not do that to it; the message says why.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The action is a member's, and nobody is logged in (or the session was logged out
    /// because the member's credentials changed).
    #[error("Please log in first.")]
    LoginRequired,
    /// The address exists but not for this method; `allow` lists the ones it takes.
    #[error("This page cannot be used that way: use the site's own links and forms.")]
    MethodNotAllowed { allow: &'static str },
    #[error("What you sent is more than this site accepts: a comment is up to 2,000 characters.")]
    PayloadTooLarge,
    /// The action lost a race with another that changed the same thing first.
    #[error("{0}")]
    Conflict(&'static str),
    /// A field the action cannot take; the message names it.
    #[error("{0}")]
    Unprocessable(String),
    /// Too many failed attempts from this client: come back after `retry_after`.
    #[error("Too many attempts. Please try again {}.", in_words(*.retry_after))]
    TooManyAttempts { retry_after: Duration },
    /// The work this request needs is refused, for now, to keep the site answering others.
    #[error("{what} is busy right now. Please try again {}.", in_words(*.retry_after))]
    Overloaded {
        what: &'static str,
        retry_after: Duration,
    },
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

/// What a visitor whose browser refuses cookies is told, on the error page, on the login and
/// comment forms, and as JSON.
pub const COOKIES_REFUSED: &str = "Your browser did not send this site’s cookies, so nothing \
    was done. Cookies are needed to comment and to log in: allow cookies for this site in your \
    browser’s settings, then reload the page and try again.";

/// What to do after a CSRF failure other than refused cookies: the page was stale or the
/// form came from elsewhere.
const CSRF_ADVICE: &str = "Go back, reload the page and try again. If this keeps happening, \
    check that your browser allows cookies for this site.";

impl AppError {
    /// Wraps an unexpected failure, keeping its cause for the log.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// The error page's heading: what happened, in the visitor's words (the status code is
    /// only a footnote).
    fn page_title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "That request was not understood",
            Self::CookiesRefused => "Cookies are needed",
            Self::Csrf(_) => "This page was out of date",
            Self::NotFound => "Page not found",
            Self::Forbidden(reason) if *reason == TOO_LATE => "Too late to change this comment",
            Self::Forbidden(reason) if *reason == NOT_YOURS => "This is not your comment",
            Self::Forbidden(reason) if *reason == HIDDEN_BY_STAFF => "A moderator hid this comment",
            Self::Forbidden(_) => "Not allowed",
            Self::LoginRequired => "Please log in",
            Self::MethodNotAllowed { .. } => "That cannot be done here",
            Self::PayloadTooLarge => "That was too much to send",
            Self::Conflict(_) => "Changed in the meantime",
            Self::Unprocessable(_) => "That could not be saved",
            Self::TooManyAttempts { .. } => "Too many attempts",
            Self::Overloaded { .. } => "Busy right now",
            Self::Unavailable(_) => "Unavailable for a moment",
            Self::SessionsDisabled => "Sessions are turned off",
            Self::SessionTooLarge => "Your session is too large",
            Self::Internal(_) => "Something went wrong",
        }
    }

    /// The error page's message, where the client's (JSON's) would be jargon to a visitor.
    fn page_message(&self) -> Option<&'static str> {
        match self {
            Self::Csrf(_) => Some(
                "Nothing was done: this form was out of date (perhaps you logged in or out in \
                 another tab since it was loaded), or it was sent from another site.",
            ),
            _ => None,
        }
    }

    /// The technical detail the error page's footnote adds to the code, for a report.
    fn detail(&self) -> Option<&'static str> {
        match self {
            Self::Csrf(reason) => Some(reason),
            _ => None,
        }
    }

    /// What the error page advises beyond the message, for the refusals a visitor can act on.
    fn advice(&self) -> Option<&'static str> {
        match self {
            Self::Csrf(_) => Some(CSRF_ADVICE),
            Self::NotFound => Some("Check the address, or start again from the guestbook."),
            Self::Forbidden(reason) if *reason == TOO_LATE => {
                Some("Your comment stays in the guestbook as it is.")
            }
            Self::LoginRequired => Some("This page is for members: log in, then try again."),
            _ => None,
        }
    }

    /// Where the error page's button leads, and what it says.
    fn next_step(&self) -> (&'static str, &'static str) {
        match self {
            Self::LoginRequired => ("/login", "Log in"),
            _ => ("/", "Back to the guestbook"),
        }
    }
}

impl From<SessionsDisabled> for AppError {
    fn from(_: SessionsDisabled) -> Self {
        Self::SessionsDisabled
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

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "session storage unavailable");
        Self::Unavailable("The session storage")
    }
}

impl From<PasswordError> for AppError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Overloaded { retry_after } => Self::Overloaded {
                what: "The server",
                retry_after,
            },
            PasswordError::Failed(_) => Self::internal(err),
        }
    }
}

impl From<CsrfError> for AppError {
    fn from(err: CsrfError) -> Self {
        match err {
            CsrfError::CookiesRefused => Self::CookiesRefused,
            CsrfError::Stale(reason) | CsrfError::Failed(reason) => Self::Csrf(reason),
        }
    }
}

impl From<UnknownHost> for AppError {
    fn from(err: UnknownHost) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl From<Throttled> for AppError {
    fn from(Throttled { retry_after }: Throttled) -> Self {
        Self::TooManyAttempts { retry_after }
    }
}

impl From<DomainError> for AppError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Database(err) => err.into(),
            DomainError::Passwords(err) => err.into(),
            DomainError::SessionStorage(err) => err.into(),
            DomainError::Render(err) => err.into(),
        }
    }
}

impl From<OwnCommentError> for AppError {
    fn from(err: OwnCommentError) -> Self {
        match err {
            OwnCommentError::NotFound => Self::NotFound,
            OwnCommentError::NotYours => Self::Forbidden(NOT_YOURS),
            OwnCommentError::TooLate => Self::Forbidden(TOO_LATE),
            OwnCommentError::HiddenByStaff => Self::Forbidden(HIDDEN_BY_STAFF),
            OwnCommentError::ChangedMeanwhile => Self::Conflict(CHANGED_MEANWHILE),
            OwnCommentError::Failed(err) => err.into(),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Csrf(_) | Self::CookiesRefused | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::LoginRequired => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable(_) | Self::SessionsDisabled => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionTooLarge | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The status and headers; the body is written by [`render_errors`], which knows what
    /// the client accepts.
    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            Self::Csrf(reason) => tracing::info!(reason, "CSRF check failed"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            Self::TooManyAttempts { retry_after } | Self::Overloaded { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds(*retry_after)));
            }
            _ => {}
        }
        response.finish()
    }
}

/// `Retry-After`'s value for `wait`: whole seconds, at least one.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// "in 3 seconds", "in 15 minutes": when to come back.
pub fn in_words(wait: Duration) -> String {
    match retry_after_seconds(wait) {
        1 => "in a second".into(),
        s if s < 60 => format!("in {s} seconds"),
        s if s <= 60 => "in a minute".into(),
        s => format!("in {} minutes", s.div_ceil(60)),
    }
}

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
    /// The member logged in (their username, and the token for "Log out").
    member: Option<(&'a str, &'a str)>,
    sessions_enabled: bool,
    status: u16,
    title: &'a str,
    message: &'a str,
    /// Beside the code in the footnote.
    detail: Option<&'a str>,
    /// The button: where to go next, and its words.
    next: (&'a str, &'a str),
    /// What the visitor can do about it, when they can.
    advice: Option<&'a str>,
    /// The comment the failed request carried, given back.
    draft: Option<&'a str>,
}

/// What the client is told about an error.
struct ErrorText {
    /// What JSON clients are told.
    message: String,
    /// What the page says, when it says it otherwise.
    page_message: Option<&'static str>,
    /// The footnote's detail, beside the code.
    detail: Option<&'static str>,
    /// The page's heading.
    title: &'static str,
    advice: Option<&'static str>,
    next: (&'static str, &'static str),
}

impl ErrorText {
    fn of(app_error: &AppError) -> Self {
        Self {
            message: app_error.to_string(),
            page_message: app_error.page_message(),
            detail: app_error.detail(),
            title: app_error.page_title(),
            advice: app_error.advice(),
            next: app_error.next_step(),
        }
    }

    /// For the framework's own errors: words for their status (their own text may name
    /// internals).
    fn for_status(status: StatusCode) -> Self {
        let app_error = match status {
            StatusCode::NOT_FOUND => Some(AppError::NotFound),
            StatusCode::PAYLOAD_TOO_LARGE => Some(AppError::PayloadTooLarge),
            StatusCode::METHOD_NOT_ALLOWED => Some(AppError::MethodNotAllowed { allow: "" }),
            _ => None,
        };
        if let Some(app_error) = app_error {
            return Self::of(&app_error);
        }
        Self {
            message: default_message(status).to_owned(),
            page_message: None,
            detail: None,
            title: if status.is_server_error() {
                "Something went wrong"
            } else {
                "That request was not understood"
            },
            advice: None,
            next: ("/", "Back to the guestbook"),
        }
    }
}

/// Middleware: every response made from an error gets the error page (or JSON), and a failure
/// of the session store becomes a `503`, never a panic or actix's bare `500`.
pub async fn render_errors(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Decided up front: on a middleware error the request is gone (actix needs it unshared
    // while routing, so it cannot be cloned beforehand).
    let json = wants_json(req.request());
    let draft = match read_draft(&mut req).await {
        Ok(draft) => draft,
        Err(err) => return Ok(render(req.error_response(err), json, None)),
    };
    match next.call(req).await {
        Ok(res) => Ok(render(res, json, draft.as_deref())),
        Err(err) => {
            let (status, text) = describe_middleware_failure(&err);
            let links = HeaderLinks::default();
            let body = ErrorBody::new(status, &text, json, draft.as_deref(), &links);
            let response = HttpResponse::build(status)
                .content_type(body.content_type())
                .body(body.into_string());
            // The page stands in for the error all the way out to the client.
            Err(actix_web::error::InternalError::from_response(err, response).into())
        }
    }
}

/// `res` with the error page for a body, if it was made from an error.
fn render(
    res: ServiceResponse<impl MessageBody + 'static>,
    json: bool,
    draft: Option<&str>,
) -> ServiceResponse<BoxBody> {
    let Some(error) = res.response().error() else {
        return res.map_into_boxed_body();
    };
    let status = res.status();
    let text = text_of(error, status);
    let links = res
        .response()
        .extensions()
        .get::<HeaderLinks>()
        .cloned()
        .unwrap_or_default();
    let body = ErrorBody::new(status, &text, json, draft, &links);
    res.map_body(|head, _| {
        head.headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(body.content_type()),
        );
        head.headers.remove(header::CONTENT_LENGTH);
        BoxBody::new(body.into_string())
    })
}

/// The comment a form post carries, read before anything can fail so an error page can give
/// it back; the body is put back for the handler. A body over the limit (`PayloadConfig`) is
/// the error.
async fn read_draft(req: &mut ServiceRequest) -> Result<Option<String>, actix_web::Error> {
    #[derive(Deserialize)]
    struct Draft {
        comment: Option<String>,
    }
    let form_post =
        req.method() == Method::POST && req.content_type() == "application/x-www-form-urlencoded";
    if !form_post {
        return Ok(None);
    }
    let body = req.extract::<web::Bytes>().await?;
    req.set_payload(body.clone().into());
    Ok(serde_urlencoded::from_bytes::<Draft>(&body)
        .ok()
        .and_then(|form| form.comment)
        .filter(|comment| !comment.trim().is_empty()))
}

/// What the client is told about `error`: an [`AppError`]'s own message, or for the
/// framework's errors a message for their status (their own text may name internals).
fn text_of(error: &actix_web::Error, status: StatusCode) -> ErrorText {
    if error.as_error::<SessionTooLarge>().is_some() {
        return ErrorText::of(&AppError::SessionTooLarge);
    }
    match error.as_error::<AppError>() {
        Some(app_error) => ErrorText::of(app_error),
        None => ErrorText::for_status(status),
    }
}

/// The status and message for an error returned by a middleware instead of a response:
/// actix-session's failure to reach the session store, or a bug.
fn describe_middleware_failure(err: &actix_web::Error) -> (StatusCode, ErrorText) {
    if let Some(app_error) = err.as_error::<AppError>() {
        return (app_error.status_code(), ErrorText::of(app_error));
    }
    let app_error = if is_session_store_failure(err) {
        tracing::error!(error = ?err, "session store failed");
        AppError::Unavailable("The session store")
    } else {
        tracing::error!(error = ?err, "request failed in middleware");
        AppError::Internal(anyhow::anyhow!("{err}"))
    };
    (app_error.status_code(), ErrorText::of(&app_error))
}

/// An error body: JSON for clients that asked for it, the styled page otherwise.
enum ErrorBody {
    Json(String),
    Html(String),
}

impl ErrorBody {
    fn new(
        status: StatusCode,
        text: &ErrorText,
        json: bool,
        draft: Option<&str>,
        links: &HeaderLinks,
    ) -> Self {
        if json {
            Self::Json(serde_json::json!({ "error": text.message }).to_string())
        } else {
            Self::Html(error_page_html(status, text, draft, links))
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Self::Json(_) => "application/json",
            Self::Html(_) => "text/html; charset=utf-8",
        }
    }

    fn into_string(self) -> String {
        match self {
            Self::Json(body) | Self::Html(body) => body,
        }
    }
}

/// Middleware, inside the session middleware (where the session can still be read): an error
/// page gets the header links every other page has, kept on the response for
/// [`render_errors`], which writes the page.
pub async fn keep_header_links(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let mut res = next.call(req).await?;
    if res.response().error().is_some() && !wants_json(res.request()) {
        let links = HeaderLinks::of(res.request(), res.status()).await;
        res.response_mut().extensions_mut().insert(links);
    }
    Ok(res)
}

/// The account links of an error page's header, as on every other page: the member's name
/// and links, or "Log in" and "Sign up".
#[derive(Clone, Default)]
struct HeaderLinks {
    /// The member logged in, and the token for their "Log out" button.
    member: Option<(String, String)>,
    sessions_enabled: bool,
}

impl HeaderLinks {
    /// The links for the page answering `req` with `status`. Only a visitor's own mistakes
    /// (`4xx`) look the member up: a `429`, a `503` or a `500` answers without asking the
    /// database anything more.
    async fn of(req: &HttpRequest, status: StatusCode) -> Self {
        use actix_web::FromRequest;
        if !status.is_client_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Self::default();
        }
        let mut payload = actix_web::dev::Payload::None;
        let (Ok(session), Ok(csrf), Some(accounts)) = (
            VisitorSession::from_request(req, &mut payload).into_inner(),
            CsrfToken::from_request(req, &mut payload).into_inner(),
            req.app_data::<web::Data<Accounts>>(),
        ) else {
            return Self::default();
        };
        // The session middleware has finished: whatever this writes to the session is not
        // saved, and nothing here needs it to be.
        let member = accounts.refresh_login(&session).await.ok().flatten();
        Self {
            member: member.map(|member| (member.username, csrf.form_token())),
            sessions_enabled: session.is_enabled(),
        }
    }
}

/// The HTML error page for `status`; falls back to plain markup if the template fails.
fn error_page_html(
    status: StatusCode,
    text: &ErrorText,
    draft: Option<&str>,
    links: &HeaderLinks,
) -> String {
    let page = ErrorPage {
        member: links
            .member
            .as_ref()
            .map(|(name, token)| (name.as_str(), token.as_str())),
        sessions_enabled: links.sessions_enabled,
        status: status.as_u16(),
        title: text.title,
        message: text.page_message.unwrap_or(&text.message),
        detail: text.detail,
        next: text.next,
        advice: text.advice,
        draft,
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
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Send the form as application/x-www-form-urlencoded.",
        s if s.is_server_error() => "Something went wrong on our side. It has been logged.",
        _ => "The request could not be processed.",
    }
}

/// actix-session turns every store error into an `InternalError` wrapping one of these.
fn is_session_store_failure(err: &actix_web::Error) -> bool {
    use actix_session::storage::{SaveError, UpdateError};
    use actix_web::error::InternalError;
    err.as_error::<InternalError<anyhow::Error>>().is_some()
        || err.as_error::<InternalError<SaveError>>().is_some()
        || err.as_error::<InternalError<UpdateError>>().is_some()
}
