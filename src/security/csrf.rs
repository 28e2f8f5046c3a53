//! CSRF protection the way Django does it.
//!
//! A random secret lives in its own signed cookie (`csrftoken`, never in the session, so
//! reading a page stores nothing). Forms carry the secret *masked* with a fresh random pad on
//! every render, so the token in a compressed page never repeats (BREACH). A state-changing
//! request must present a token (form field `csrf_token` or header `X-CSRF-Token`) that unmasks
//! to the cookie's secret, compared in constant time; when the browser says where the request
//! came from (`Origin`), that must be this site.

use std::future::{Ready, ready};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    body::MessageBody,
    cookie::{Cookie, SameSite, time::Duration},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

use crate::{error::AppError, startup::AppState};

pub const COOKIE_NAME: &str = "csrftoken";
pub const FORM_FIELD: &str = "csrf_token";
pub const HEADER: &str = "X-CSRF-Token";
/// Django's `CSRF_COOKIE_AGE`: about a year.
const COOKIE_AGE: Duration = Duration::seconds(31_449_600);
const SALT: &str = "guestbook.csrf.cookie";
const SECRET_LEN: usize = 32;

type Secret = [u8; SECRET_LEN];

/// The request's CSRF secret: the one from its cookie, or a new one that the response will
/// set as the cookie.
pub struct CsrfToken {
    secret: Secret,
    from_cookie: bool,
    req: HttpRequest,
}

/// A `csrftoken` cookie value to send with the response.
#[derive(Clone)]
struct CookieToSet(String);

impl FromRequest for CsrfToken {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered");
        let secret = req.cookie(COOKIE_NAME).and_then(|cookie| {
            state
                .signer
                .unsign(SALT, cookie.value())
                .and_then(decode_secret)
        });
        let token = match secret {
            Some(secret) => Self {
                secret,
                from_cookie: true,
                req: req.clone(),
            },
            None => {
                let mut token = Self {
                    secret: [0; SECRET_LEN],
                    from_cookie: false,
                    req: req.clone(),
                };
                token.replace_secret();
                token
            }
        };
        ready(Ok(token))
    }
}

impl CsrfToken {
    /// The token to put in this page's form and `<meta name="csrf-token">`: the secret masked
    /// with a fresh pad.
    pub fn form_token(&self) -> String {
        let mask: Secret = rand::random();
        let mut token = Vec::with_capacity(2 * SECRET_LEN);
        token.extend_from_slice(&mask);
        token.extend(self.secret.iter().zip(mask).map(|(s, m)| s ^ m));
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Checks a state-changing request: its origin, the cookie, and the submitted token
    /// (`X-CSRF-Token` header first, else `form_field`).
    ///
    /// # Errors
    /// [`AppError::Csrf`] with Django's reason when any check fails.
    pub fn verify(&self, form_field: Option<&str>) -> Result<(), AppError> {
        if let Some(origin) = self.req.headers().get(header::ORIGIN) {
            let state = self
                .req
                .app_data::<web::Data<AppState>>()
                .expect("AppState is registered");
            // The scheme as trusted proxies report it; the host as the browser addressed it.
            let scheme = state.settings.trusted_proxies.client(&self.req).scheme;
            let host = self
                .req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let origin = origin.to_str().unwrap_or_default();
            let own_site = origin == format!("{scheme}://{host}");
            let trusted = state
                .settings
                .csrf_trusted_origins
                .iter()
                .any(|o| o == origin);
            if !own_site && !trusted {
                return Err(AppError::Csrf(
                    "Origin checking failed - the request did not come from this site.",
                ));
            }
        }
        if !self.from_cookie {
            return Err(AppError::Csrf("CSRF cookie not set."));
        }
        let submitted = self
            .req
            .headers()
            .get(HEADER)
            .and_then(|value| value.to_str().ok())
            .or(form_field)
            .filter(|token| !token.is_empty())
            .ok_or(AppError::Csrf("CSRF token missing."))?;
        match unmask(submitted) {
            Some(secret) if bool::from(secret.ct_eq(&self.secret)) => Ok(()),
            _ => Err(AppError::Csrf("CSRF token incorrect.")),
        }
    }

    /// Replaces the secret (at login, as Django does): pages rendered from now on, and the
    /// cookie sent with this response, carry the new one.
    pub fn rotate(&mut self) {
        self.replace_secret();
    }

    fn replace_secret(&mut self) {
        self.secret = rand::random();
        let state = self
            .req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered");
        let value = state
            .signer
            .sign(SALT, &URL_SAFE_NO_PAD.encode(self.secret));
        self.req.extensions_mut().insert(CookieToSet(value));
    }
}

fn decode_secret(encoded: &str) -> Option<Secret> {
    URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()
}

/// The secret inside a submitted token: masked (pad + secret XOR pad) or, as Django also
/// accepts, the bare secret.
fn unmask(token: &str) -> Option<Secret> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    match bytes.len() {
        SECRET_LEN => bytes.try_into().ok(),
        n if n == 2 * SECRET_LEN => {
            let (mask, masked) = bytes.split_at(SECRET_LEN);
            let mut secret = [0; SECRET_LEN];
            for (out, (m, x)) in secret.iter_mut().zip(mask.iter().zip(masked)) {
                *out = m ^ x;
            }
            Some(secret)
        }
        _ => None,
    }
}

/// Middleware: sends the `csrftoken` cookie when the request created or rotated the secret.
pub async fn set_csrf_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let to_set = res.request().extensions().get::<CookieToSet>().cloned();
    if let Some(CookieToSet(value)) = to_set {
        let secure = res
            .request()
            .app_data::<web::Data<AppState>>()
            .is_some_and(|state| state.settings.session.cookie_secure);
        let cookie = Cookie::build(COOKIE_NAME, value)
            .path("/")
            .max_age(COOKIE_AGE)
            .same_site(SameSite::Lax)
            .secure(secure)
            // Readable by scripts on purpose, as Django's default: JS sends it as X-CSRF-Token.
            .http_only(false)
            .finish();
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_and_bare_tokens_unmask_to_the_secret() {
        let secret: Secret = rand::random();
        let mask: Secret = rand::random();
        let mut masked = mask.to_vec();
        masked.extend(secret.iter().zip(mask).map(|(s, m)| s ^ m));
        assert_eq!(unmask(&URL_SAFE_NO_PAD.encode(&masked)), Some(secret));
        assert_eq!(unmask(&URL_SAFE_NO_PAD.encode(secret)), Some(secret));
        assert_eq!(unmask("not base64 at all!"), None);
        assert_eq!(unmask(&URL_SAFE_NO_PAD.encode([1u8; 10])), None);
    }
}
