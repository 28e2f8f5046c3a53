//! CSRF protection the way Django does it.
//!
//! A random secret lives in its own signed cookie (`csrftoken`, never in the session, so
//! reading a page stores nothing). Forms carry the secret *masked* with a fresh random pad on
//! every render, so the token in a compressed page never repeats (BREACH). A state-changing
//! request must present a token (form field `csrf_token` or header `X-CSRF-Token`) that unmasks
//! to the cookie's secret, compared in constant time; when the browser says where the request
//! came from (`Origin`), that must be this site.
//!
//! Every form post carries that cookie, so it also names the browser before any session
//! exists: [`CsrfToken::visitor_id`] is a one-way digest of the secret the browser's cookie
//! first had, its *visitor key*. Rotating the secret at login keeps the visitor key (the
//! cookie carries it beside the new secret, signed with it), so the browser stays one visitor
//! for as long as it keeps its `csrftoken`, whether or not it keeps its session; a different
//! member logging in on it makes it a new visitor ([`CsrfToken::rotate_as_new_visitor`]).

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

use actix_session_engines::django::{self, csrf::CsrfSecret};

use super::{proxies::TrustedProxies, signing::Signer};

/// Django's name, and, beside a Django site, Django's very cookie.
pub const COOKIE_NAME: &str = django::csrf::COOKIE_NAME;
pub const HEADER: &str = "X-CSRF-Token";
/// Django's `CSRF_COOKIE_AGE`: about a year.
const COOKIE_AGE: Duration = Duration::seconds(31_449_600);
const SALT: &str = "guestbook.csrf.cookie";
const VISITOR_ID_SALT: &str = "guestbook.csrf.visitor-id";
const SECRET_LEN: usize = 32;

type Secret = [u8; SECRET_LEN];

/// Why a state-changing request failed the CSRF check.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// The request carried no `csrftoken` cookie at all: the browser refuses this site's
    /// cookies (the CSRF cookie doubles as Django's test cookie).
    #[error("the browser sent no csrftoken cookie")]
    CookiesRefused,
    /// The form's token did not match, though the browser said the form came from one of
    /// this site's pages (an `Origin` it accepts): the form was out of date (the secret
    /// rotated at a login or logout in another tab), not forged, and may be offered again.
    /// Django's reason says which check failed.
    #[error("CSRF verification failed: {0}")]
    Stale(&'static str),
    /// Any other check failed; Django's reason says which.
    #[error("CSRF verification failed: {0}")]
    Failed(&'static str),
}

/// What the CSRF check needs, built once from the settings and registered as app data.
pub struct CsrfConfig {
    signer: Signer,
    trusted_proxies: TrustedProxies,
    /// `CSRF_TRUSTED_ORIGINS`.
    trusted_origins: Vec<String>,
    /// `SESSION_COOKIE_SECURE` makes the CSRF cookie HTTPS-only too.
    cookie_secure: bool,
    /// `CSRF_COOKIE_DOMAIN`: `None` for the host that set it.
    cookie_domain: Option<String>,
    /// `DJANGO_COMPAT`: the cookie holds Django's bare secret and forms carry Django's masked
    /// tokens, so a token from either site passes on the other (the visitor key is then the
    /// secret itself: Django's cookie has no room for more).
    django: bool,
}

impl CsrfConfig {
    pub fn new(
        signer: Signer,
        trusted_proxies: TrustedProxies,
        trusted_origins: Vec<String>,
        cookie_secure: bool,
    ) -> Self {
        Self {
            signer,
            trusted_proxies,
            trusted_origins,
            cookie_secure,
            cookie_domain: None,
            django: false,
        }
    }

    /// The cookie set for `domain` (`CSRF_COOKIE_DOMAIN`), as a site sharing it with others
    /// under one domain needs.
    pub fn with_cookie_domain(self, domain: Option<String>) -> Self {
        Self {
            cookie_domain: domain,
            ..self
        }
    }

    /// Django's cookie and tokens (`DJANGO_COMPAT`).
    pub fn shared_with_django(self, django: bool) -> Self {
        Self { django, ..self }
    }

    /// A new browser's keys: one random secret, in Django's alphabet when shared with Django.
    fn fresh_keys(&self) -> CookieKeys {
        if !self.django {
            return CookieKeys::new();
        }
        let secret: Secret = CsrfSecret::new()
            .as_str()
            .as_bytes()
            .try_into()
            .expect("Django's secrets are 32 ASCII characters");
        CookieKeys {
            secret,
            visitor: secret,
        }
    }

    /// The keys in a `csrftoken` cookie's value, and whether the value is in the current
    /// format (else the cookie is set again).
    fn keys_of_cookie(&self, value: &str) -> Option<(CookieKeys, bool)> {
        if self.django {
            let secret: Secret = CsrfSecret::from_cookie(value)?
                .as_str()
                .as_bytes()
                .try_into()
                .ok()?;
            let keys = CookieKeys {
                secret,
                visitor: secret,
            };
            return Some((keys, value.len() == SECRET_LEN));
        }
        let keys = self
            .signer
            .unsign(SALT, value)
            .and_then(CookieKeys::decode)?;
        Some((keys, true))
    }

    /// `secret` masked for a form, in this site's format or Django's.
    fn masked(&self, secret: &Secret) -> String {
        match django_secret(secret).filter(|_| self.django) {
            Some(secret) => secret.mask(),
            None => masked(secret),
        }
    }

    /// Whether `token` (from a form or a header) carries `secret`.
    fn token_matches(&self, token: &str, secret: &Secret) -> bool {
        if self.django {
            return django_secret(secret).is_some_and(|secret| secret.matches(token));
        }
        unmask(token).is_some_and(|unmasked| bool::from(unmasked.ct_eq(secret)))
    }

    /// Whether a request that says it comes from `origin` comes from this site (as `req`
    /// addressed it, through trusted proxies) or from a trusted origin.
    fn accepts_origin(&self, req: &HttpRequest, origin: &str) -> bool {
        let scheme = self.trusted_proxies.client(req).scheme;
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        // Scheme and host names are case-insensitive.
        origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
            || self
                .trusted_origins
                .iter()
                .any(|trusted| trusted.eq_ignore_ascii_case(origin))
    }

    /// A new browser's `csrftoken` cookie value and a form token for it: what a load test
    /// needs to stand for many fresh visitors (`examples/bench_seed.rs`).
    pub fn new_visitor(&self) -> (String, String) {
        let keys = self.fresh_keys();
        (self.cookie_value(&keys), self.masked(&keys.secret))
    }

    /// The signed value: the secret, then the visitor key when it is another (after a
    /// rotation), each in base64, joined by a dot.
    fn cookie_value(&self, keys: &CookieKeys) -> String {
        if let Some(secret) = django_secret(&keys.secret).filter(|_| self.django) {
            return secret.as_str().to_owned();
        }
        let mut value = URL_SAFE_NO_PAD.encode(keys.secret);
        if keys.visitor != keys.secret {
            value.push('.');
            value.push_str(&URL_SAFE_NO_PAD.encode(keys.visitor));
        }
        self.signer.sign(SALT, &value)
    }

    /// The `csrftoken` cookie that carries `keys`, signed.
    fn cookie(&self, keys: &CookieKeys) -> Cookie<'static> {
        let mut cookie = Cookie::build(COOKIE_NAME, self.cookie_value(keys))
            .path("/")
            .max_age(COOKIE_AGE)
            .same_site(SameSite::Lax)
            .secure(self.cookie_secure)
            // Readable by scripts on purpose, as Django's default: JS sends it as X-CSRF-Token.
            .http_only(false)
            .finish();
        if let Some(domain) = &self.cookie_domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }
}

/// What a `csrftoken` cookie carries: the CSRF secret, and the key the visitor id is derived
/// from (the secret the cookie was first made with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CookieKeys {
    secret: Secret,
    visitor: Secret,
}

impl CookieKeys {
    /// A new browser's: one random secret, which is its visitor key too.
    fn new() -> Self {
        let secret = rand::random();
        Self {
            secret,
            visitor: secret,
        }
    }

    /// From a cookie's (verified) value; an old cookie of one part is its own visitor key.
    fn decode(value: &str) -> Option<Self> {
        let (secret, visitor) = value.split_once('.').unwrap_or((value, value));
        Some(Self {
            secret: decode_secret(secret)?,
            visitor: decode_secret(visitor)?,
        })
    }
}

/// The request's CSRF secret: the one from its cookie, or a new one that the response will
/// set as the cookie. Every `CsrfToken` of one request reads the same one, rotations included
/// (it lives in the request, not in the token).
pub struct CsrfToken {
    req: HttpRequest,
    config: web::Data<CsrfConfig>,
}

/// The keys decided by the request's first `CsrfToken` (and changed by a rotation), for all.
#[derive(Clone, Copy)]
struct RequestSecret {
    keys: CookieKeys,
    from_cookie: bool,
    /// Whether the request carried a `csrftoken` cookie at all, valid or not: without one the
    /// browser refuses this site's cookies (Django's test cookie).
    cookie_sent: bool,
}

/// The `csrftoken` cookie to send with the response.
#[derive(Clone)]
struct CookieToSet(Cookie<'static>);

impl FromRequest for CsrfToken {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let config = match web::Data::<CsrfConfig>::from_request(req, payload).into_inner() {
            Ok(config) => config,
            Err(err) => return ready(Err(err)),
        };
        let decided = req.extensions().contains::<RequestSecret>();
        if !decided {
            let cookie = req.cookie(COOKIE_NAME);
            let cookie_sent = cookie.is_some();
            let from_cookie = cookie.and_then(|cookie| config.keys_of_cookie(cookie.value()));
            let decided = match from_cookie {
                Some((keys, current_format)) => {
                    if !current_format {
                        // Django's pre-4.1 cookie: its secret, in today's format from now on.
                        req.extensions_mut()
                            .insert(CookieToSet(config.cookie(&keys)));
                    }
                    RequestSecret {
                        keys,
                        from_cookie: true,
                        cookie_sent,
                    }
                }
                None => {
                    let keys = config.fresh_keys();
                    req.extensions_mut()
                        .insert(CookieToSet(config.cookie(&keys)));
                    RequestSecret {
                        keys,
                        from_cookie: false,
                        cookie_sent,
                    }
                }
            };
            req.extensions_mut().insert(decided);
        }
        ready(Ok(Self {
            req: req.clone(),
            config,
        }))
    }
}

/// `secret` masked with a fresh pad (pad, then secret XOR pad), so the token differs on every
/// page (BREACH).
fn masked(secret: &Secret) -> String {
    let mask: Secret = rand::random();
    let mut token = Vec::with_capacity(2 * SECRET_LEN);
    token.extend_from_slice(&mask);
    token.extend(secret.iter().zip(mask).map(|(s, m)| s ^ m));
    URL_SAFE_NO_PAD.encode(token)
}

impl CsrfToken {
    /// The request's keys as of now.
    fn state(&self) -> RequestSecret {
        *self
            .req
            .extensions()
            .get::<RequestSecret>()
            .expect("decided when the first token was extracted")
    }

    /// The token to put in this page's form and `<meta name="csrf-token">`: the secret masked
    /// with a fresh pad.
    pub fn form_token(&self) -> String {
        self.config.masked(&self.state().keys.secret)
    }

    /// # Errors
    /// [`CsrfError::CookiesRefused`] when the request carried no `csrftoken` cookie at all (the
    /// browser refuses cookies: the page that set it was seen, so the cookie was offered);
    /// [`CsrfError::Stale`] when the token is missing or wrong on a form from this site's own
    /// pages; [`CsrfError::Failed`] with Django's reason when any other check fails.
    pub fn verify(&self, form_field: Option<&str>) -> Result<(), CsrfError> {
        let state = self.state();
        let origin = self.req.headers().get(header::ORIGIN);
        if let Some(origin) = origin {
            let origin = origin.to_str().unwrap_or_default();
            if !self.config.accepts_origin(&self.req, origin) {
                return Err(CsrfError::Failed(
                    "Origin checking failed - the request did not come from this site.",
                ));
            }
        }
        // Past the check above, a present Origin is this site's.
        let token_failure = if origin.is_some() {
            CsrfError::Stale
        } else {
            CsrfError::Failed
        };
        if !state.cookie_sent {
            return Err(CsrfError::CookiesRefused);
        }
        if !state.from_cookie {
            return Err(CsrfError::Failed("CSRF cookie not set."));
        }
        let present = |token: &&str| !token.is_empty();
        let headers = self.req.headers();
        let submitted = [HEADER, django::csrf::HEADER]
            .into_iter()
            .find_map(|name| headers.get(name)?.to_str().ok().filter(present))
            .or(form_field.filter(present))
            .ok_or(token_failure("CSRF token missing."))?;
        if self.config.token_matches(submitted, &state.keys.secret) {
            Ok(())
        } else {
            Err(token_failure("CSRF token incorrect."))
        }
    }

    /// Replaces the secret (at login, as Django does): pages rendered from now on, and the
    /// cookie sent with this response, carry the new one. The visitor key stays: the browser
    /// is the same visitor.
    pub fn rotate(&self) {
        let keys = self.state().keys;
        self.replace_keys(CookieKeys {
            secret: self.config.fresh_keys().secret,
            ..keys
        });
    }

    /// Replaces the secret and the visitor key (a different member logs in on this browser,
    /// which starts afresh): from now on the browser is a visitor nobody was before.
    pub fn rotate_as_new_visitor(&self) {
        self.replace_keys(self.config.fresh_keys());
    }

    fn replace_keys(&self, keys: CookieKeys) {
        let state = self.state();
        let mut extensions = self.req.extensions_mut();
        extensions.insert(CookieToSet(self.config.cookie(&keys)));
        extensions.insert(RequestSecret { keys, ..state });
    }

    /// A stable id for the browser this request comes from: a one-way digest (keyed with
    /// `SECRET_KEY`) of its visitor key, which every form post carries in its CSRF cookie. Two
    /// tabs, a retry, or the same browser after a login rotated its secret are one visitor;
    /// the digest gives away nothing that would forge a token.
    pub fn visitor_id(&self) -> String {
        let visitor = self.state().keys.visitor;
        self.config
            .signer
            .digest(VISITOR_ID_SALT, &URL_SAFE_NO_PAD.encode(visitor))
    }
}

/// `secret` as Django's, when it is one (32 characters of Django's alphabet).
fn django_secret(secret: &Secret) -> Option<CsrfSecret> {
    CsrfSecret::from_cookie(std::str::from_utf8(secret).ok()?)
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
    let to_set = res.request().extensions_mut().remove::<CookieToSet>();
    if let Some(CookieToSet(cookie)) = to_set {
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::settings::SecretKey;

    fn config() -> CsrfConfig {
        let signer = Signer::new(SecretKey::new(vec![3; 32]).unwrap(), vec![]);
        CsrfConfig::new(signer, TrustedProxies::default(), vec![], false)
    }

    /// The token of a request from a browser whose CSRF cookie holds `secret`, never rotated.
    fn token(config: &web::Data<CsrfConfig>, secret: &Secret) -> CsrfToken {
        let keys = CookieKeys {
            secret: *secret,
            visitor: *secret,
        };
        token_with_cookie(config, config.cookie(&keys))
    }

    fn token_with_cookie(config: &web::Data<CsrfConfig>, cookie: Cookie<'static>) -> CsrfToken {
        let req = TestRequest::default()
            .app_data(config.clone())
            .cookie(cookie)
            .to_http_request();
        CsrfToken::extract(&req).into_inner().unwrap()
    }

    /// The `csrftoken` cookie the response to `token`'s request sets.
    fn cookie_set(token: &CsrfToken) -> Cookie<'static> {
        let set = token.req.extensions().get::<CookieToSet>().cloned();
        set.expect("a cookie to set").0
    }

    #[test]
    fn with_django_compat_the_cookie_and_tokens_are_djangos() {
        let vectors: serde_json::Value = serde_json::from_str(include_str!(
            "../../crates/actix-session-engines/tests/fixtures/django/vectors.json"
        ))
        .unwrap();
        let config = web::Data::new(config().shared_with_django(true));

        // A new browser: the cookie is Django's bare 32-character secret, the form's token
        // Django's 64-character masked one.
        let fresh = TestRequest::default()
            .app_data(config.clone())
            .to_http_request();
        let token = CsrfToken::extract(&fresh).into_inner().unwrap();
        let cookie = cookie_set(&token);
        assert_eq!(cookie.value().len(), 32);
        assert!(CsrfSecret::from_cookie(cookie.value()).is_some());
        assert_eq!(token.form_token().len(), 64);

        // Django's secret and the tokens Django masked it into pass, in the form and in
        // Django's header; another secret's do not.
        let secret = vectors["csrf"]["secret"].as_str().unwrap();
        let token = token_with_cookie(&config, Cookie::new(COOKIE_NAME, secret.to_owned()));
        for django_token in vectors["csrf"]["tokens"].as_array().unwrap() {
            assert_eq!(token.verify(django_token.as_str()), Ok(()));
        }
        assert_eq!(
            token.verify(Some(secret)),
            Ok(()),
            "the bare secret, as Django takes"
        );
        let rendered = token.form_token();
        assert!(
            CsrfSecret::from_cookie(secret).unwrap().matches(&rendered),
            "Django takes ours"
        );
        let other = token_with_cookie(&config, Cookie::new(COOKIE_NAME, "x".repeat(32)));
        assert_eq!(
            other.verify(Some(&rendered)),
            Err(CsrfError::Failed("CSRF token incorrect."))
        );
        let header = TestRequest::default()
            .app_data(config.clone())
            .cookie(Cookie::new(COOKIE_NAME, secret.to_owned()))
            .insert_header(("X-CSRFToken", rendered.clone()))
            .to_http_request();
        let by_header = CsrfToken::extract(&header).into_inner().unwrap();
        assert_eq!(by_header.verify(None), Ok(()));

        // A rotation (login) keeps the browser one visitor for the rest of the request.
        let visitor = token.visitor_id();
        token.rotate();
        assert_eq!(token.visitor_id(), visitor);
        assert_ne!(cookie_set(&token).value(), secret);
    }

    #[test]
    fn one_browser_is_one_visitor_and_its_id_gives_nothing_away() {
        let config = web::Data::new(config());
        let (one, other): (Secret, Secret) = (rand::random(), rand::random());

        let first_tab = token(&config, &one).visitor_id();
        let second_tab = token(&config, &one).visitor_id();
        let someone_else = token(&config, &other).visitor_id();

        assert_eq!(first_tab, second_tab);
        assert_ne!(first_tab, someone_else);
        assert!(!first_tab.contains(&URL_SAFE_NO_PAD.encode(one)));
        // A cookie from before rotations kept the visitor key: its visitor id is the digest of
        // its secret, as it always was, so the comments stored under it stay its own.
        let as_before = config
            .signer
            .digest(VISITOR_ID_SALT, &URL_SAFE_NO_PAD.encode(one));
        assert_eq!(first_tab, as_before);
    }

    #[test]
    fn a_rotated_secret_keeps_the_visitor_unless_a_new_visitor_is_asked_for() {
        let config = web::Data::new(config());
        let before_login = token(&config, &rand::random());
        let old_form_token = before_login.form_token();
        let visitor = before_login.visitor_id();

        before_login.rotate();
        let rotated = cookie_set(&before_login);
        let after_login = token_with_cookie(&config, rotated.clone());
        after_login.rotate();
        let rotated_twice = token_with_cookie(&config, cookie_set(&after_login));
        before_login.rotate_as_new_visitor();
        let someone_new = token_with_cookie(&config, cookie_set(&before_login));

        assert_eq!(after_login.visitor_id(), visitor, "the same browser");
        assert_eq!(
            rotated_twice.visitor_id(),
            visitor,
            "every rotation keeps it"
        );
        assert_ne!(someone_new.visitor_id(), visitor, "a new visitor");
        assert!(
            matches!(
                token_with_cookie(&config, rotated).verify(Some(&old_form_token)),
                Err(CsrfError::Failed("CSRF token incorrect."))
            ),
            "a form from before the rotation no longer passes"
        );
    }

    #[test]
    fn every_token_of_a_request_sees_a_rotation_made_through_another() {
        let config = web::Data::new(config());
        let req = TestRequest::default()
            .app_data(config.clone())
            .cookie(config.cookie(&CookieKeys::new()))
            .to_http_request();
        let session_side = CsrfToken::extract(&req).into_inner().unwrap();
        let route_side = CsrfToken::extract(&req).into_inner().unwrap();

        session_side.rotate();

        assert_eq!(route_side.state().keys, session_side.state().keys);
        let form_token = route_side.form_token();
        assert!(
            session_side.verify(Some(&form_token)).is_ok(),
            "one secret per request"
        );
    }

    #[test]
    fn every_token_of_a_request_shares_its_secret() {
        let config = web::Data::new(config());
        let req = TestRequest::default()
            .app_data(config.clone())
            .to_http_request();

        let first = CsrfToken::extract(&req).into_inner().unwrap();
        let second = CsrfToken::extract(&req).into_inner().unwrap();

        assert!(!first.state().from_cookie, "no cookie: a new secret");
        assert_eq!(
            first.state().keys,
            second.state().keys,
            "one new secret per request"
        );
    }

    #[test]
    fn no_cookie_at_all_means_cookies_are_refused_and_a_bad_one_is_a_csrf_failure() {
        let config = web::Data::new(config());
        let without = TestRequest::default()
            .app_data(config.clone())
            .to_http_request();
        let garbled = TestRequest::default()
            .app_data(config.clone())
            .cookie(Cookie::new(COOKIE_NAME, "not signed"))
            .to_http_request();
        let token = CsrfToken::extract(&without).into_inner().unwrap();
        let form_token = token.form_token();

        let refused = token.verify(Some(&form_token));
        let failed = CsrfToken::extract(&garbled)
            .into_inner()
            .unwrap()
            .verify(Some(&form_token));

        assert!(
            matches!(refused, Err(CsrfError::CookiesRefused)),
            "{refused:?}"
        );
        assert!(
            matches!(failed, Err(CsrfError::Failed("CSRF cookie not set."))),
            "{failed:?}"
        );
    }

    #[test]
    fn masked_and_bare_tokens_unmask_to_the_secret() {
        let secret: Secret = rand::random();
        assert_eq!(unmask(&masked(&secret)), Some(secret));
        assert_eq!(unmask(&URL_SAFE_NO_PAD.encode(secret)), Some(secret));
        assert_eq!(unmask("not base64 at all!"), None);
        assert_eq!(unmask(&URL_SAFE_NO_PAD.encode([1u8; 10])), None);
    }

    proptest::proptest! {
        #[test]
        fn a_token_passes_for_the_secret_it_was_minted_for_only(
            secret: Secret,
            other: Secret,
            position: proptest::sample::Index,
            replacement: proptest::sample::Index,
        ) {
            proptest::prop_assume!(secret != other);
            let config = web::Data::new(config());
            let minted = token(&config, &secret);
            let form_token = minted.form_token();
            // One character of the token changed for another of its alphabet.
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut tampered = form_token.clone().into_bytes();
            let at = position.index(tampered.len());
            let others: Vec<u8> = ALPHABET.iter().copied().filter(|&c| c != tampered[at]).collect();
            tampered[at] = *replacement.get(&others);
            let tampered = String::from_utf8(tampered).unwrap();

            proptest::prop_assert_eq!(minted.verify(Some(&form_token)), Ok(()));
            proptest::prop_assert_eq!(
                token(&config, &other).verify(Some(&form_token)),
                Err(CsrfError::Failed("CSRF token incorrect."))
            );
            proptest::prop_assert_eq!(
                minted.verify(Some(&tampered)),
                Err(CsrfError::Failed("CSRF token incorrect."))
            );
        }

        #[test]
        fn any_other_submitted_token_or_cookie_is_refused(secret: Secret, submitted: String) {
            let config = web::Data::new(config());
            let minted = token(&config, &secret);
            // An arbitrary string carries this secret with odds of 2^-256: never.
            let expected = if submitted.is_empty() {
                Err(CsrfError::Failed("CSRF token missing."))
            } else {
                Err(CsrfError::Failed("CSRF token incorrect."))
            };

            proptest::prop_assert_eq!(minted.verify(Some(&submitted)), expected);
            proptest::prop_assert_eq!(config.keys_of_cookie(&submitted), None, "unsigned");
        }

        #[test]
        fn a_cookie_gives_back_the_keys_it_was_made_with(secret: Secret, visitor: Secret) {
            let config = config();
            for keys in [CookieKeys { secret, visitor }, CookieKeys { secret, visitor: secret }] {
                let value = config.cookie_value(&keys);
                proptest::prop_assert_eq!(config.keys_of_cookie(&value), Some((keys, true)));
            }
        }

        #[test]
        fn any_base64_token_unmasks_to_the_secret_it_carries_or_to_nothing(
            bytes in proptest::prop_oneof![
                proptest::collection::vec(proptest::prelude::any::<u8>(), SECRET_LEN),
                proptest::collection::vec(proptest::prelude::any::<u8>(), 2 * SECRET_LEN),
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
            ],
        ) {
            let expected: Option<Secret> = match bytes.len() {
                SECRET_LEN => Some(bytes.clone().try_into().unwrap()),
                n if n == 2 * SECRET_LEN => {
                    let (pad, masked) = bytes.split_at(SECRET_LEN);
                    let unmasked: Vec<u8> = pad.iter().zip(masked).map(|(p, m)| p ^ m).collect();
                    Some(unmasked.try_into().unwrap())
                }
                _ => None,
            };
            proptest::prop_assert_eq!(unmask(&URL_SAFE_NO_PAD.encode(&bytes)), expected);
        }
    }
}
