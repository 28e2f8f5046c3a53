//! Logging in, logging out and signing up.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{Reply, html, json_error, json_message, see_other};
use crate::{
    db::{Database, members},
    error::AppError,
    flash::Flash,
    members::{SignupError, create_member},
    security::{csrf::CsrfToken, passwords::Passwords},
    sessions::VisitorSession,
};

pub const BAD_CREDENTIALS: &str = "Your username and password didn't match.";

#[derive(Deserialize)]
pub struct CredentialsForm {
    username: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: String,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    csrf_token: String,
    username: &'a str,
    error: Option<&'a str>,
}

pub async fn login_page(csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        csrf_token: csrf.form_token(),
        username: "",
        error: None,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

pub async fn signup_page(csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    let page = SignupPage {
        csrf_token: csrf.form_token(),
        username: "",
        error: None,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

/// Right password: new session key, `member_id` stored. Wrong username or password: `401`,
/// after exactly one password verification either way.
pub async fn log_in(
    req: HttpRequest,
    form: web::Form<CredentialsForm>,
    db: web::Data<Database>,
    passwords: web::Data<Passwords>,
    session: VisitorSession,
    mut csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    session.require()?;
    csrf.verify(form.csrf_token.as_deref())?;
    let CredentialsForm {
        username, password, ..
    } = form.into_inner();
    let username = username.unwrap_or_default();
    let lookup = username.trim().to_owned();
    let member = db
        .run(move |conn| members::find_by_username(conn, &lookup))
        .await?;
    let stored_hash = member.as_ref().map(|m| m.password_hash.clone());
    let verified = passwords
        .verify(password.unwrap_or_default(), stored_hash)
        .await?;
    let reply = Reply::to(&req);
    match member.filter(|_| verified) {
        Some(member) => {
            session.log_in(member.id);
            csrf.rotate();
            Ok(logged_in(reply, StatusCode::OK))
        }
        None if reply.is_json() => Ok(json_message(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS)),
        None => {
            let page = LoginPage {
                csrf_token: csrf.form_token(),
                username: &username,
                error: Some(BAD_CREDENTIALS),
            };
            Ok(html(StatusCode::UNAUTHORIZED, page.render()?))
        }
    }
}

/// Removes `member_id` and rotates the key, or ends a session left with nothing in it.
pub async fn log_out(
    req: HttpRequest,
    form: web::Form<CsrfOnlyForm>,
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

#[derive(Deserialize)]
pub struct CsrfOnlyForm {
    csrf_token: Option<String>,
}

/// Creates a member and logs them in.
pub async fn sign_up(
    req: HttpRequest,
    form: web::Form<CredentialsForm>,
    db: web::Data<Database>,
    passwords: web::Data<Passwords>,
    session: VisitorSession,
    mut csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    session.require()?;
    csrf.verify(form.csrf_token.as_deref())?;
    let CredentialsForm {
        username, password, ..
    } = form.into_inner();
    let username = username.unwrap_or_default().trim().to_owned();
    let reply = Reply::to(&req);
    let password = password.unwrap_or_default();
    match create_member(&db, &passwords, username.clone(), password).await {
        Ok(member) => {
            session.log_in(member.id);
            csrf.rotate();
            Ok(logged_in(reply, StatusCode::CREATED))
        }
        Err(SignupError::Invalid(reason)) if reply.is_json() => {
            Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason))
        }
        Err(SignupError::Invalid(reason)) => {
            let page = SignupPage {
                csrf_token: csrf.form_token(),
                username: &username,
                error: Some(reason),
            };
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page.render()?))
        }
        Err(SignupError::Failed(err)) => Err(err),
    }
}

/// The answer to a successful login or sign-up: JSON with `json_status`, or a redirect home
/// that says "You're logged in."
fn logged_in(reply: Reply, json_status: StatusCode) -> HttpResponse {
    if reply.is_json() {
        return json_message(json_status, Flash::LoggedIn.text());
    }
    let mut response = see_other("/");
    Flash::LoggedIn.leave(&mut response);
    response
}
