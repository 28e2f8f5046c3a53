//! The session cookie: actix-session's middleware configured from the `SESSION_*` settings,
//! and the key rotation around it. The cookie holds only the session key (or, with signed
//! cookies, the session), signed so a forged value is rejected before any lookup.

use actix_session::{
    SessionMiddleware,
    config::{BrowserSession, CookieContentSecurity, PersistentSession, TtlExtensionPolicy},
    storage::SessionStore,
};
use actix_web::{
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key, time::Duration},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web,
};

use crate::{security::signing::Signer, settings::SessionSettings};

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
        if settings.expire_at_browser_close {
            // No Max-Age on the cookie, but the server still forgets the session after the age.
            builder
                .session_lifecycle(
                    BrowserSession::default()
                        .state_ttl(age)
                        .state_ttl_extension_policy(policy),
                )
                .build()
        } else {
            builder
                .session_lifecycle(
                    PersistentSession::default()
                        .session_ttl(age)
                        .session_ttl_extension_policy(policy),
                )
                .build()
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
        if !settings.expire_at_browser_close {
            cookie.set_max_age(Duration::seconds(settings.cookie_age));
        }
        Some(cookie)
    }
}

/// Middleware outside the session middleware: a session cookie signed with a key from
/// `SECRET_KEY_FALLBACKS` is accepted and re-signed with `SECRET_KEY`, so rotating the key
/// logs nobody out.
pub async fn accept_fallback_keys(
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
    Ok(res)
}
