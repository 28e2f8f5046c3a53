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

use crate::{settings::SessionSettings, signing::Signer};

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
        let name = &self.settings.cookie_name;
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
                    Some(mut cookie)
                        if cookie.name() == name
                            && cookie.max_age().is_some_and(|age| age.is_positive()) =>
                    {
                        cookie.set_max_age(None);
                        cookie.unset_expires();
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

    /// Rewrites the request's session cookie when only a fallback key verifies it; returns the
    /// re-signed cookie to send back.
    fn resign_with_current_key(&self, req: &mut ServiceRequest) -> Option<Cookie<'static>> {
        if self.keys.len() < 2 {
            return None;
        }
        let settings = &self.settings;
        let name = &settings.cookie_name;
        // Parsed by hand: `req.cookies()` would cache the old value for actix-session to read.
        // A client may send several Cookie headers (HTTP/2 sends one per cookie).
        let mut headers: Vec<String> = req
            .headers()
            .get_all(header::COOKIE)
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect();
        let (index, raw) = headers.iter().enumerate().find_map(|(index, header)| {
            header
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(cookie_name, _)| cookie_name == name)
                .map(|(_, value)| (index, value.to_owned()))
        })?;
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
        let mut jar = CookieJar::new();
        jar.signed_mut(self.current_key())
            .add(Cookie::new(name.clone(), value));
        let resigned = jar.get(name)?.value().to_owned();
        headers[index] =
            headers[index].replace(&format!("{name}={raw}"), &format!("{name}={resigned}"));
        let request_headers = req.headers_mut();
        request_headers.remove(header::COOKIE);
        for value in headers {
            request_headers.append(header::COOKIE, HeaderValue::from_str(&value).ok()?);
        }
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
    let mut res = next.call(req).await?;
    if let Some(cookie) = resigned {
        let already_set = res.response().cookies().any(|c| c.name() == cookie.name());
        if !already_set {
            res.response_mut().add_cookie(&cookie)?;
        }
    }
    cookie.apply_lifetime(&mut res);
    Ok(res)
}
