//! The session cookie: actix-session's middleware configured from the `SESSION_*` settings,
//! and what it cannot do itself: key rotation, and a lifetime chosen per session. The cookie holds only the session key (or, with signed
//! cookies, the session), signed so a forged value is rejected before any lookup.

use actix_session::{
    SessionMiddleware,
    config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy},
    storage::SessionStore,
};
use actix_web::{
    HttpMessage, HttpRequest,
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key, time::Duration},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};

use crate::{
    settings::{SessionEngineKind, SessionSettings},
    signing::Signer,
};

/// The purpose the session cookie's signing keys are derived for.
const KEY_PURPOSE: &str = "actix-session.cookie";

/// The session cookie's signing keys and attributes, built once at start-up.
#[derive(Clone)]
pub struct SessionCookie {
    /// Derived from `SECRET_KEY` first, then from each fallback. Derived once: the
    /// derivation (HKDF) is too slow for every request.
    keys: Vec<Key>,
    settings: SessionSettings,
}

impl SessionCookie {
    /// The cookie `settings` describe, signed with keys derived from `signer`'s.
    pub fn new(signer: &Signer, settings: &SessionSettings) -> Self {
        let keys = signer
            .derive_keys(KEY_PURPOSE)
            .iter()
            .map(|key| Key::derive_from(key))
            .collect();
        Self {
            keys,
            settings: settings.clone(),
        }
    }

    /// The key new session cookies are signed with.
    pub fn current_key(&self) -> &Key {
        &self.keys[0]
    }

    /// The session key the request's (verified) cookie carries: which stored session is this
    /// one. For signed-cookie sessions, the session itself.
    pub fn session_key(&self, req: &HttpRequest) -> Option<String> {
        // With DJANGO_COMPAT too: by now `session_cookie_rules` has signed the request's cookie.
        let name = &self.settings.cookie_name;
        let mut jar = CookieJar::new();
        jar.add_original(req.cookie(name)?);
        jar.signed(self.current_key())
            .get(name)
            .map(|cookie| cookie.value().to_owned())
    }

    /// actix-session's middleware over `store`, configured from the settings.
    pub fn middleware<S: SessionStore>(&self, store: S) -> SessionMiddleware<S> {
        let settings = &self.settings;
        let age = Duration::seconds(settings.cookie_age);
        // Django saves the session (and pushes its expiry) only when it changed, unless
        // SESSION_SAVE_EVERY_REQUEST is set.
        let policy = if settings.save_every_request {
            TtlExtensionPolicy::OnEveryRequest
        } else {
            TtlExtensionPolicy::OnStateChanges
        };
        let builder = SessionMiddleware::builder(store, self.current_key().clone())
            .cookie_name(settings.cookie_name.clone())
            .cookie_secure(settings.cookie_secure)
            .cookie_http_only(settings.cookie_httponly)
            .cookie_same_site(settings.cookie_samesite.into())
            .cookie_domain(settings.cookie_domain.clone())
            .cookie_path(settings.cookie_path.clone())
            .cookie_content_security(CookieContentSecurity::Signed);
        // Always a cookie with Max-Age, which `session_cookie_rules` takes off for the sessions
        // that end with the browser: the choice is per session. The server forgets every
        // session after the age either way.
        builder
            .session_lifecycle(
                PersistentSession::default()
                    .session_ttl(age)
                    .session_ttl_extension_policy(policy),
            )
            .build()
    }

    /// Takes `Max-Age` and `Expires` off the session cookies `res` sets (not off a removal),
    /// when this session ends with the browser.
    fn apply_lifetime(&self, res: &mut ServiceResponse<impl MessageBody>) {
        let choice = res
            .request()
            .extensions()
            .get::<ExpireAtBrowserClose>()
            .and_then(|choice| choice.0);
        if !choice.unwrap_or(self.settings.expire_at_browser_close) {
            return;
        }
        rewrite_set_cookies(res, &self.settings.cookie_name, |cookie| {
            if !cookie.max_age().is_some_and(|age| age.is_positive()) {
                return false;
            }
            cookie.set_max_age(None);
            cookie.unset_expires();
            true
        });
    }

    /// Rewrites the request's session cookie when only a fallback key verifies it; returns the
    /// re-signed cookie to send back.
    fn resign_with_current_key(&self, req: &mut ServiceRequest) -> Option<Cookie<'static>> {
        if self.keys.len() < 2 || self.settings.django_compat {
            return None;
        }
        let settings = &self.settings;
        let name = &settings.cookie_name;
        let raw = request_cookie(req, name)?;
        let original = Cookie::parse_encoded(format!("{name}={raw}"))
            .ok()?
            .into_owned();
        let verify = |key: &Key| {
            let mut jar = CookieJar::new();
            jar.add_original(original.clone());
            jar.signed(key).get(name).map(|c| c.value().to_owned())
        };
        if verify(self.current_key()).is_some() {
            return None;
        }
        let value = self.keys[1..].iter().find_map(verify)?;
        let resigned = self.signed(&value);
        replace_request_cookie(req, name, Some(&resigned));
        let mut cookie = Cookie::build(name.clone(), resigned)
            .path(settings.cookie_path.clone())
            .secure(settings.cookie_secure)
            .http_only(settings.cookie_httponly)
            .same_site(settings.cookie_samesite.into())
            .finish();
        if let Some(domain) = &settings.cookie_domain {
            cookie.set_domain(domain.clone());
        }
        cookie.set_max_age(Duration::seconds(settings.cookie_age));
        Some(cookie)
    }

    /// `value` signed with the current key, as actix-session's middleware verifies it.
    fn signed(&self, value: &str) -> String {
        let name = &self.settings.cookie_name;
        let mut jar = CookieJar::new();
        jar.signed_mut(self.current_key())
            .add(Cookie::new(name.clone(), value.to_owned()));
        jar.get(name)
            .map(|cookie| cookie.value().to_owned())
            .unwrap_or_default()
    }

    /// Whether `value` could be a Django session cookie for this engine: a session key, or for
    /// signed cookies a signed value's characters. Anything else never reaches the engine.
    fn is_django_value(&self, value: &str) -> bool {
        // Signed cookies hold the session itself.
        if self.settings.engine == SessionEngineKind::SignedCookies {
            value.len() <= MAX_SIGNED_COOKIE_VALUE
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        } else {
            crate::django::is_session_key(value)
        }
    }

    /// `DJANGO_COMPAT`: the browser's cookie holds what Django's holds (the session key, or
    /// Django's signed session), which actix-session's middleware cannot read unsigned. So the
    /// request's cookie is signed here for the middleware to verify (or dropped when it could
    /// not be Django's: a new session), and the signature taken off again in the response.
    fn sign_django_cookie(&self, req: &mut ServiceRequest) {
        let name = &self.settings.cookie_name;
        let Some(raw) = request_cookie(req, name) else {
            return;
        };
        if self.is_django_value(&raw) {
            replace_request_cookie(req, name, Some(&self.signed(&raw)));
        } else {
            replace_request_cookie(req, name, None);
        }
    }

    /// Takes actix-session's signature off the session cookie `res` sets, leaving Django's
    /// value.
    fn unsign_django_cookie(&self, res: &mut ServiceResponse<impl MessageBody>) {
        rewrite_set_cookies(res, &self.settings.cookie_name, |cookie| {
            // actix-session percent-encodes the value; Django's is sent as it is.
            let decoded = Cookie::parse_encoded(format!("v={}", cookie.value()))
                .map(|decoded| decoded.value().to_owned())
                .unwrap_or_default();
            // A removal has an empty value and nothing to take off.
            let Some(value) = decoded.get(SIGNATURE_LEN..).map(str::to_owned) else {
                return false;
            };
            cookie.set_value(value);
            true
        });
    }
}

/// The characters of the signature actix-session's signed cookies start with (a base64
/// HMAC-SHA256).
const SIGNATURE_LEN: usize = 44;
/// The longest signed-cookie value worth verifying: what a browser keeps.
const MAX_SIGNED_COOKIE_VALUE: usize = 4096;

/// The raw value of cookie `name` among the request's `Cookie` headers. Parsed by hand:
/// `req.cookies()` would cache the value for actix-session to read before it is rewritten. A
/// client may send several `Cookie` headers (HTTP/2 sends one per cookie).
fn request_cookie(req: &ServiceRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie_name, _)| *cookie_name == name)
        .map(|(_, value)| value.to_owned())
}

/// Replaces the value of cookie `name` in the request's `Cookie` headers, or with `None` takes
/// the cookie out.
fn replace_request_cookie(req: &mut ServiceRequest, name: &str, value: Option<&str>) {
    let rewritten: Vec<String> = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|header| header.to_str().ok())
        .map(|header| {
            header
                .split(';')
                .map(str::trim)
                .filter_map(|pair| match pair.split_once('=') {
                    Some((cookie_name, _)) if cookie_name == name => {
                        value.map(|value| format!("{name}={value}"))
                    }
                    _ => Some(pair.to_owned()),
                })
                .filter(|pair| !pair.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|header| !header.is_empty())
        .collect();
    let headers = req.headers_mut();
    headers.remove(header::COOKIE);
    for header in rewritten {
        if let Ok(value) = HeaderValue::from_str(&header) {
            headers.append(header::COOKIE, value);
        }
    }
}

/// Applies `rewrite` to every cookie named `name` that `res` sets (its value as sent, encoding
/// and all); `rewrite` answers whether it changed the cookie.
fn rewrite_set_cookies(
    res: &mut ServiceResponse<impl MessageBody>,
    name: &str,
    mut rewrite: impl FnMut(&mut Cookie<'static>) -> bool,
) {
    let headers = res.response_mut().headers_mut();
    let set_cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).cloned().collect();
    let mut changed = false;
    let rewritten: Vec<HeaderValue> = set_cookies
        .into_iter()
        .map(|value| {
            let parsed = value
                .to_str()
                .ok()
                .and_then(|raw| Cookie::parse(raw.to_owned()).ok());
            match parsed {
                Some(mut cookie) if cookie.name() == name => {
                    if !rewrite(&mut cookie) {
                        return value;
                    }
                    changed = true;
                    HeaderValue::from_str(&cookie.to_string()).unwrap_or(value)
                }
                _ => value,
            }
        })
        .collect();
    if changed {
        headers.remove(header::SET_COOKIE);
        for value in rewritten {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// The session's own choice of cookie lifetime, left in the request's extensions by
/// `finish_session` (inside the session middleware) for [`session_cookie_rules`] (outside it,
/// where the cookie is set): `None` when it made none (`SESSION_EXPIRE_AT_BROWSER_CLOSE`
/// decides).
pub(crate) struct ExpireAtBrowserClose(pub Option<bool>);

/// Middleware outside the session middleware:
///
/// - a session cookie signed with a key from `SECRET_KEY_FALLBACKS` is accepted and re-signed
///   with `SECRET_KEY`, so rotating the key logs nobody out;
/// - a session that ends with the browser ("remember me" unticked, or
///   `SESSION_EXPIRE_AT_BROWSER_CLOSE` for sessions that did not choose) gets its cookie
///   without `Max-Age`.
pub async fn session_cookie_rules(
    cookie: web::Data<SessionCookie>,
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let resigned = cookie.resign_with_current_key(&mut req);
    // DJANGO_COMPAT: the browser sees Django's cookie.
    let django_compat = cookie.settings.django_compat;
    if django_compat {
        cookie.sign_django_cookie(&mut req);
    }
    let mut res = next.call(req).await?;
    if django_compat {
        cookie.unsign_django_cookie(&mut res);
    }
    if let Some(cookie) = resigned {
        let already_set = res.response().cookies().any(|c| c.name() == cookie.name());
        if !already_set {
            res.response_mut().add_cookie(&cookie)?;
        }
    }
    cookie.apply_lifetime(&mut res);
    Ok(res)
}
