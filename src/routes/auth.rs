//! Logging in, logging out and signing up.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{
    CsrfOnlyForm, Form, Reply, html, json_error, json_message, no_control_characters, see_other,
};
use crate::{
    domain::accounts::{Accounts, PASSWORD_RULE, SignupError},
    error::AppError,
    flash::Flash,
    security::{
        csrf::{CsrfError, CsrfToken},
        throttle::Throttle,
    },
    sessions::VisitorSession,
};

pub const BAD_CREDENTIALS: &str = "Your username and password didn't match.";

#[derive(Deserialize)]
pub struct CredentialsForm {
    username: Option<String>,
    password: Option<String>,
    /// "Remember me": present (any value) when ticked. Unticked, the session ends with the
    /// browser.
    remember: Option<String>,
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: String,
    username: &'a str,
    /// Wrong credentials: about both fields.
    error: Option<&'a str>,
    cookies_refused: bool,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    csrf_token: String,
    username: &'a str,
    username_error: Option<&'a str>,
    password_error: Option<&'a str>,
    cookies_refused: bool,
}

impl<'a> SignupPage<'a> {
    fn new(csrf: &CsrfToken, username: &'a str) -> Self {
        Self {
            csrf_token: csrf.form_token(),
            username,
            username_error: None,
            password_error: None,
            cookies_refused: false,
        }
    }

    /// The page refusing the form for `reason`, shown at the field it is about.
    fn refusing(mut self, reason: &'a str) -> Self {
        if reason == PASSWORD_RULE {
            self.password_error = Some(reason);
        } else {
            self.username_error = Some(reason);
        }
        self
    }
}

pub async fn login_page(csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        csrf_token: csrf.form_token(),
        username: "",
        error: None,
        cookies_refused: false,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

pub async fn signup_page(csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    Ok(html(StatusCode::OK, SignupPage::new(&csrf, "").render()?))
}

/// Checks the form's CSRF token. A browser that sent no cookies at all gets the form again
/// (`render` with the typed username) saying cookies are needed, as a `403`; JSON clients and
/// every other failure get the error.
fn verify_csrf(
    req: &HttpRequest,
    csrf: &CsrfToken,
    form: &CredentialsForm,
    render: impl FnOnce(&str) -> Result<String, askama::Error>,
) -> Result<Option<HttpResponse>, AppError> {
    match csrf.verify(form.csrf_token.as_deref()) {
        Ok(()) => Ok(None),
        Err(CsrfError::CookiesRefused) if !Reply::to(req).is_json() => {
            let username = form.username.as_deref().unwrap_or_default();
            let page = render(username)?;
            Ok(Some(html(StatusCode::FORBIDDEN, page)))
        }
        Err(err) => Err(err.into()),
    }
}

/// Right password: new session key and CSRF secret, `member_id` and the session auth hash
/// stored, the password hash upgraded if the cost settings changed. Wrong username or
/// password: `401`, after exactly one password verification either way. Too many failures
/// from this client: `429` without any (see [`Throttle`]).
pub async fn log_in(
    req: HttpRequest,
    form: Form<CredentialsForm>,
    accounts: web::Data<Accounts>,
    throttle: web::Data<Throttle>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    session.require()?;
    let refused = verify_csrf(&req, &csrf, &form, |username| {
        LoginPage {
            csrf_token: csrf.form_token(),
            username,
            error: None,
            cookies_refused: true,
        }
        .render()
    })?;
    if let Some(refused) = refused {
        return Ok(refused);
    }
    let CredentialsForm {
        username,
        password,
        remember,
        ..
    } = form.into_inner();
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
    no_control_characters("username", &username)?;
    no_control_characters("password", &password)?;
    let attempt = throttle.login_attempt(&req, &username).await?;
    let member = match accounts.authenticate(&username, password.clone()).await {
        Ok(member) => member,
        Err(err) => {
            attempt.not_made().await;
            return Err(err.into());
        }
    };
    let reply = Reply::to(&req);
    match member {
        Some(member) => {
            attempt.succeeded().await;
            let member = accounts.upgrade_password_hash(member, password).await;
            accounts.log_in(&session, &member, remember.is_some()).await;
            Ok(logged_in(reply, StatusCode::OK, Flash::LoggedIn))
        }
        None => {
            attempt.failed().await;
            if reply.is_json() {
                return Ok(json_message(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS));
            }
            let page = LoginPage {
                csrf_token: csrf.form_token(),
                username: &username,
                error: Some(BAD_CREDENTIALS),
                cookies_refused: false,
            };
            Ok(html(StatusCode::UNAUTHORIZED, page.render()?))
        }
    }
}

/// Removes `member_id` and rotates the key, or ends a session left with nothing in it.
pub async fn log_out(
    req: HttpRequest,
    form: Form<CsrfOnlyForm>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    session.require()?;
    csrf.verify(form.csrf_token.as_deref())?;
    session.log_out();
    if Reply::to(&req).is_json() {
        return Ok(json_message(StatusCode::OK, Flash::LoggedOut.text()));
    }
    let mut response = see_other("/");
    Flash::LoggedOut.leave(&mut response);
    Ok(response)
}

/// Creates a member and logs them in. Every attempt counts against the client's sign-up limit.
pub async fn sign_up(
    req: HttpRequest,
    form: Form<CredentialsForm>,
    accounts: web::Data<Accounts>,
    throttle: web::Data<Throttle>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    session.require()?;
    let refused = verify_csrf(&req, &csrf, &form, |username| {
        SignupPage {
            cookies_refused: true,
            ..SignupPage::new(&csrf, username)
        }
        .render()
    })?;
    if let Some(refused) = refused {
        return Ok(refused);
    }
    let CredentialsForm {
        username,
        password,
        remember,
        ..
    } = form.into_inner();
    let username = username.unwrap_or_default().trim().to_owned();
    let password = password.unwrap_or_default();
    no_control_characters("username", &username)?;
    no_control_characters("password", &password)?;
    throttle.sign_up_attempt(&req).await?;
    let reply = Reply::to(&req);
    match accounts
        .create_member(username.clone(), password, false)
        .await
    {
        Ok(member) => {
            accounts.log_in(&session, &member, remember.is_some()).await;
            Ok(logged_in(reply, StatusCode::CREATED, Flash::SignedUp))
        }
        Err(SignupError::Invalid(reason)) if reply.is_json() => {
            Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason))
        }
        Err(SignupError::Invalid(reason)) => {
            let page = SignupPage::new(&csrf, &username).refusing(reason);
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page.render()?))
        }
        Err(SignupError::Failed(err)) => Err(err.into()),
    }
}

/// The answer to a successful login or sign-up: JSON with `json_status`, or a redirect home
/// that says `flash`.
fn logged_in(reply: Reply, json_status: StatusCode, flash: Flash) -> HttpResponse {
    if reply.is_json() {
        return json_message(json_status, flash.text());
    }
    let mut response = see_other("/");
    flash.leave(&mut response);
    response
}
