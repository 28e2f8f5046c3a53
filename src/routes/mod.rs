//! Every route in one place, and the small helpers handlers answer with.

mod account;
mod assets;
mod auth;
mod comments;
mod health;
mod home;
mod moderation;
mod own_comment;

use std::pin::Pin;

use actix_web::{
    FromRequest, HttpMessage, HttpRequest, HttpResponse, Resource, Route,
    dev::Payload,
    error::UrlencodedError,
    guard,
    http::{StatusCode, header},
    web,
};
use serde::de::DeserializeOwned;

pub use self::{
    assets::embedded_asset,
    health::{Readiness, livez, readyz},
};
use crate::{
    error::{AppError, wants_json},
    flash::Flash,
};

/// The largest form body accepted: room for a 2000-character comment of 4-byte characters,
/// percent-encoded, with margin.
const FORM_LIMIT_BYTES: usize = 64 * 1024;

/// Request bodies read whole, by anyone (the error pages read a comment before the handler
/// does): the form limit.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(FORM_LIMIT_BYTES)
}

/// The pages that use the session (wrapped in the session middleware by `startup`), and how
/// their forms and queries are read.
pub fn configure_pages(cfg: &mut web::ServiceConfig) {
    cfg.app_data(form_config())
        .app_data(query_config())
        .service(resource("/", "GET, HEAD").route(get().to(home::show_home)))
        .service(resource("/comments", "POST").route(web::post().to(comments::post_comment)))
        .service(
            resource("/comments/{id}/edit", "GET, HEAD, POST")
                .route(get().to(own_comment::edit_page))
                .route(web::post().to(own_comment::edit_comment)),
        )
        .service(
            resource("/comments/{id}/delete", "GET, HEAD, POST")
                .route(get().to(own_comment::delete_page))
                .route(web::post().to(own_comment::delete_comment)),
        )
        .service(
            resource("/comments/{id}/{action:hide|unhide}", "POST")
                .route(web::post().to(moderation::moderate_comment)),
        )
        .service(
            resource("/login", "GET, HEAD, POST")
                .route(get().to(auth::login_page))
                .route(web::post().to(auth::log_in)),
        )
        .service(resource("/logout", "POST").route(web::post().to(auth::log_out)))
        .service(
            resource("/signup", "GET, HEAD, POST")
                .route(get().to(auth::signup_page))
                .route(web::post().to(auth::sign_up)),
        )
        .service(
            resource("/account/password", "GET, HEAD, POST")
                .route(get().to(account::password_page))
                .route(web::post().to(account::change_password)),
        )
        .service(resource("/account/sessions", "GET, HEAD").route(get().to(account::sessions_page)))
        .service(
            resource("/account/sessions/end", "POST").route(web::post().to(account::end_session)),
        )
        .service(
            resource("/account/sessions/end-others", "POST")
                .route(web::post().to(account::end_other_sessions)),
        )
        .service(
            resource("/account/delete", "GET, HEAD, POST")
                .route(get().to(account::delete_page))
                .route(web::post().to(account::delete_account)),
        );
}

/// A route for `GET` and `HEAD` (which answers the same headers, without the body).
pub fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// A resource whose routes answer the methods in `allow`; any other method is a `405` error.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(AppError::MethodNotAllowed { allow })
    }))
}

/// Forms: at most [`FORM_LIMIT_BYTES`], and a clear answer when the body is not a form.
fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(FORM_LIMIT_BYTES)
        .error_handler(|err, _| {
            match err {
                UrlencodedError::Overflow { .. } => AppError::PayloadTooLarge,
                UrlencodedError::ContentType => AppError::BadRequest(
                    "Send the form as application/x-www-form-urlencoded.".into(),
                ),
                other => AppError::BadRequest(format!("The form could not be read: {other}")),
            }
            .into()
        })
}

/// What a form whose text is not UTF-8 is told.
pub const NOT_UTF8: &str = "The form could not be read: it is not valid UTF-8.";

/// A form (`application/x-www-form-urlencoded`), read as [`web::Form`] reads it (the limit and
/// the refusals of [`form_config`]), after checking that its text is UTF-8: percent-encoded
/// bytes that are not (`%C0%AF`, `%FF`) are a `400` [`NOT_UTF8`], where `web::Form` would put
/// U+FFFD in their place and the handler would store the text changed.
pub struct Form<T>(pub T);

impl<T> Form<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Form<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        // The whole body, within `payload_config`'s limit (the form limit too).
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await?;
            // Anything else is not a form: `web::Form` refuses it and says so.
            let is_form = req
                .content_type()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded");
            if is_form && !is_utf8_form(&body) {
                return Err(AppError::BadRequest(NOT_UTF8.into()).into());
            }
            let form = web::Form::<T>::from_request(&req, &mut Payload::from(body)).await?;
            Ok(Self(form.into_inner()))
        })
    }
}

/// Whether every name and value of the form `body` is UTF-8 once percent-decoded. Decoding the
/// whole body at once is the same check: `&` and `=` are ASCII, and a byte sequence is UTF-8
/// exactly when each stretch between ASCII characters is.
fn is_utf8_form(body: &[u8]) -> bool {
    percent_encoding::percent_decode(body).decode_utf8().is_ok()
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| AppError::BadRequest(err.to_string()).into())
}

/// Refuses a field holding control characters (NUL and the like): nobody types them, and not
/// every database stores them.
///
/// # Errors
/// [`AppError::Unprocessable`] naming the field.
pub fn no_control_characters(field: &str, value: &str) -> Result<(), AppError> {
    if value.chars().any(char::is_control) {
        return Err(AppError::Unprocessable(format!(
            "The {field} contains a control character."
        )));
    }
    Ok(())
}

/// A finished HTML page with `status`.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// `{"message": text}` with `status`: what a JSON client gets where a browser gets a page.
pub fn json_message(status: StatusCode, text: &str) -> HttpResponse {
    json_body(status, serde_json::json!({ "message": text }))
}

/// `{"error": text}` with `status`: a refusal, for a JSON client.
pub fn json_error(status: StatusCode, text: &str) -> HttpResponse {
    json_body(status, serde_json::json!({ "error": text }))
}

pub(super) fn json_body(status: StatusCode, value: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(value.to_string())
}

/// `303 See Other` to `location`: the answer to a successful form post.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A form that carries nothing but its CSRF token (logging out, "log out everywhere else").
#[derive(serde::Deserialize)]
pub struct CsrfOnlyForm {
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
}

/// How a handler answers: JSON for clients that asked for it, pages and redirects otherwise.
#[derive(Clone, Copy)]
pub struct Reply {
    json: bool,
}

impl Reply {
    pub fn to(req: &HttpRequest) -> Self {
        Self {
            json: wants_json(req),
        }
    }

    pub fn is_json(self) -> bool {
        self.json
    }

    /// The answer to an action that worked: `{"message"}` with `200` for JSON clients, else a
    /// redirect to `location` that shows `flash`.
    pub fn done(self, flash: Flash, location: &str) -> HttpResponse {
        if self.json {
            return json_message(StatusCode::OK, flash.text());
        }
        let mut response = see_other(location);
        flash.leave(&mut response);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_is_utf8_when_every_percent_decoded_byte_sequence_is() {
        assert!(is_utf8_form(b"comment=caf%C3%A9+%E2%9C%93&csrf_token=abc"));
        assert!(is_utf8_form("comment=déjà vu".as_bytes()), "raw UTF-8 too");
        assert!(
            is_utf8_form(b"a=%&b=%G1"),
            "a stray % is no byte, and no harm"
        );
        assert!(
            !is_utf8_form(b"comment=%C0%AF%FF"),
            "an overlong slash, a byte never in UTF-8"
        );
        assert!(!is_utf8_form(b"comment=caf%E9"), "Latin-1");
        assert!(
            !is_utf8_form(b"a=%C3&b=%A9"),
            "a character split between two fields"
        );
        assert!(
            !is_utf8_form(b"comment=\xff"),
            "raw bytes that are not UTF-8"
        );
        assert!(!is_utf8_form(b"%FF=name"), "names too");
    }
}
