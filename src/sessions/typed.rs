//! The session as view code sees it: named operations instead of string keys.
//!
//! Keys that start with `_` belong to the framework (the visitor id, the session auth hash,
//! the remember-me choice, what "your sessions" shows: see [`super::fields`]); view code
//! cannot write them. A session whose only keys are
//! `_`-prefixed holds nothing of the visitor's and is ended rather than kept.
//!
//! The visitor is known before the session is: until the session stores a visitor id, the
//! browser's (derived from its CSRF cookie) stands in, and the first write stores that one.
//! So two tabs posting before either has a session, or a retry after a save that failed, are
//! one visitor, and the database's "one comment per visitor" rule holds from the first
//! request. The browser's id outlives the CSRF secret's rotation at login, so a browser that
//! lost its session but kept its CSRF cookie is still the same visitor.

use std::{
    future::{Ready, ready},
    time::Duration,
};

use actix_session::SessionExt;
pub use actix_session_engines::typed::ReservedKey;
use actix_session_engines::{
    SessionCookie, SessionEngine,
    django::auth_keys,
    typed::{DJANGO_SESSION_EXPIRY, TypedSession},
};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use super::{
    fields::{
        AUTH_USER_HASH, HAS_COMMENTED, LoginFields, MEMBER_ID, SESSION_INFO, SessionInfo,
        VISITOR_ID,
    },
    visit::Visit,
};
use crate::security::{csrf::CsrfToken, proxies::TrustedProxies};

/// `SESSION_ENGINE=none`: this deployment has no sessions, so the actions that need one
/// cannot run.
#[derive(Debug, thiserror::Error)]
#[error("sessions are turned off (SESSION_ENGINE=none)")]
pub struct SessionsDisabled;

/// How stale a logged-in session's "last seen" may get before a request refreshes it (which
/// costs a session write, so not on every request).
pub const LAST_SEEN_PRECISION: Duration = Duration::from_secs(60);

/// The visitor's session, typed.
pub struct VisitorSession {
    session: TypedSession,
    /// Whether this deployment has sessions at all (`SESSION_ENGINE` is not `none`).
    enabled: bool,
    /// The browser's CSRF secret: its visitor id stands in until the session stores one.
    csrf: CsrfToken,
    /// The request, for what "your sessions" shows about where the session is used from.
    req: HttpRequest,
    /// Where the login is recorded (`DJANGO_COMPAT` records it as Django does).
    login: LoginFields,
}

impl FromRequest for VisitorSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let pieces = (
            web::Data::<SessionEngine>::from_request(req, payload).into_inner(),
            CsrfToken::from_request(req, payload).into_inner(),
        );
        ready(match pieces {
            (Ok(engine), Ok(csrf)) => Ok(Self {
                session: TypedSession::new(req.get_session()),
                enabled: engine.is_enabled(),
                csrf,
                req: req.clone(),
                login: req
                    .app_data::<web::Data<LoginFields>>()
                    .map(|fields| *fields.get_ref())
                    .unwrap_or_default(),
            }),
            (Err(err), _) | (_, Err(err)) => Err(err),
        })
    }
}

impl VisitorSession {
    /// Whether sessions exist in this deployment.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// For the actions that need a session.
    ///
    /// # Errors
    /// [`SessionsDisabled`] with `SESSION_ENGINE=none`.
    pub fn require(&self) -> Result<(), SessionsDisabled> {
        if self.is_enabled() {
            Ok(())
        } else {
            Err(SessionsDisabled)
        }
    }

    /// Whether this visitor has posted their one comment.
    pub fn has_commented(&self) -> bool {
        self.get(HAS_COMMENTED).unwrap_or(false)
    }

    pub fn mark_commented(&self) {
        self.set(HAS_COMMENTED, true);
    }

    /// The member this session says is logged in, unchecked: only `Accounts::refresh_login`,
    /// which checks the session auth hash, should act on it.
    pub fn claimed_member_id(&self) -> Option<i64> {
        self.login.member_of(&self.session.session().entries())
    }

    /// Who the session says is logged in, whoever logged them in: Django's `login()` flushes a
    /// session logged in as someone else even through another backend.
    fn previous_login(&self) -> Option<i64> {
        match self.login {
            LoginFields::Native => self.get(MEMBER_ID),
            LoginFields::Django => self.get::<String>(auth_keys::USER_ID)?.parse().ok(),
        }
    }

    /// The session auth hash stored at login.
    pub fn auth_hash(&self) -> Option<String> {
        self.get(AUTH_USER_HASH)
    }

    /// Logs `member_id` in under a new session key and a new CSRF secret (so a key or a token
    /// planted before login is useless after it), with the session auth hash of their
    /// credentials. A different member's data is not inherited: as Django's `login()`, the
    /// session is flushed first when someone else was logged in, and the browser becomes a new
    /// visitor; otherwise it stays the visitor it was. `remember` chooses whether the session
    /// outlives the browser.
    pub fn log_in(&self, member_id: i64, auth_hash: String, remember: bool) {
        if self
            .previous_login()
            .is_some_and(|current| current != member_id)
        {
            self.session.clear();
            self.csrf.rotate_as_new_visitor();
        } else if self.login == LoginFields::Django
            && self.previous_login().is_some()
            && self.auth_hash().as_deref() != Some(auth_hash.as_str())
        {
            // Django's `login()` flushes a session of the same user whose hash is stale too.
            self.session.clear();
            self.csrf.rotate();
        } else {
            self.csrf.rotate();
        }
        self.session.renew();
        match self.login {
            LoginFields::Native => self.set(MEMBER_ID, member_id),
            LoginFields::Django => {
                // As `django.contrib.auth.login()` writes them: the id as a string.
                self.insert_reserved(auth_keys::USER_ID, member_id.to_string());
                self.insert_reserved(auth_keys::BACKEND, auth_keys::MODEL_BACKEND);
                self.ensure_visitor_id();
            }
        }
        self.insert_reserved(AUTH_USER_HASH, auth_hash);
        self.session.set_expire_at_browser_close(!remember);
        if self.login == LoginFields::Django {
            // Django's own record of the choice (`set_expiry(0)`), which a Django site saving
            // this session goes by.
            if remember {
                self.session.remove(DJANGO_SESSION_EXPIRY);
            } else {
                self.insert_reserved(DJANGO_SESSION_EXPIRY, 0);
            }
        }
        let visit = self.visit();
        let info = SessionInfo {
            device: visit.device,
            address: visit.address,
            ..new_info(unix_now())
        };
        self.insert_reserved(SESSION_INFO, info);
    }

    /// Replaces the session auth hash (the member's credentials changed by this very session,
    /// or the stored hash was outdated).
    pub fn restamp(&self, auth_hash: String) {
        self.insert_reserved(AUTH_USER_HASH, auth_hash);
    }

    /// A new key for the same session: after a change of credentials, the old key (which
    /// anyone may have copied) must not carry them.
    pub fn rotate_key(&self) {
        self.session.renew();
    }

    /// Logs the member out (harmless when nobody is logged in). The visitor's other data
    /// (`has_commented`, the remember-me choice) survives under a new key; a session left
    /// with nothing of the visitor's is ended. Either way the old key no longer authenticates
    /// anyone.
    ///
    /// Ending the emptied session is not done here but by the rule every change goes through
    /// ([`super::finish_session`]): a session left with nothing of the visitor's is ended.
    pub fn log_out(&self) {
        for key in self.login.keys() {
            self.session.remove(key);
        }
        self.session.renew();
    }

    /// The key of this session as stored (the request's cookie, verified), if it has one.
    pub fn key(&self) -> Option<String> {
        self.req
            .app_data::<web::Data<SessionCookie>>()?
            .session_key(&self.req)
    }

    /// Whether the request's cookie named a stored session that is gone: a key this site
    /// signed, with nothing loaded for it (a stored session is never empty). It was ended
    /// (logged out elsewhere, expired) or another request of the same session rotated its key
    /// after the browser sent this one.
    pub fn was_ended_meanwhile(&self) -> bool {
        self.session.is_empty() && self.key().is_some()
    }

    /// What "your sessions" shows about this session, while a member is logged in with it.
    pub fn info(&self) -> Option<SessionInfo> {
        self.get(SESSION_INFO)
    }

    /// Records that the logged-in session was just used, when its "last seen" is older than
    /// [`LAST_SEEN_PRECISION`].
    pub fn note_seen(&self) {
        self.note_seen_at(unix_now());
    }

    /// [`VisitorSession::note_seen`] at `now` (Unix seconds).
    fn note_seen_at(&self, now: i64) {
        let info = match self.info() {
            Some(info) if now - info.last_seen_at < LAST_SEEN_PRECISION.as_secs() as i64 => {
                return;
            }
            Some(info) => info,
            // Logged in before sessions kept this: from now on.
            None => new_info(now),
        };
        let visit = self.visit();
        self.insert_reserved(
            SESSION_INFO,
            SessionInfo {
                last_seen_at: now,
                device: visit.device,
                address: visit.address,
                ..info
            },
        );
    }

    /// This session's choice between ending with the browser (`true`) and lasting
    /// `SESSION_COOKIE_AGE`, if it made one.
    pub fn expire_at_browser_close(&self) -> Option<bool> {
        self.session.expire_at_browser_close()
    }

    /// The visitor id of a session that has posted its comment: the comment it may change.
    /// Only the session's own (never the browser's stand-in), and nothing is written.
    pub fn author_id(&self) -> Option<String> {
        self.get::<String>(VISITOR_ID)
            .filter(|_| self.has_commented())
    }

    /// This visitor's id: the one the session stores, or else the browser's, which the
    /// session stores from now on.
    pub fn visitor_id(&self) -> String {
        if let Some(id) = self.get::<String>(VISITOR_ID) {
            return id;
        }
        let id = self.csrf.visitor_id();
        self.insert_reserved(VISITOR_ID, &id);
        id
    }

    /// A value view code stored under `key`; unreadable values count as absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.session.get(key)
    }

    /// Stores `value` under `key` for view code.
    ///
    /// # Errors
    /// [`ReservedKey`] when `key` starts with `_`.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), ReservedKey> {
        self.session.insert(key, value)?;
        self.ensure_visitor_id();
        Ok(())
    }

    fn set<T: Serialize>(&self, key: &'static str, value: T) {
        self.insert(key, value)
            .expect("the layer's own keys are not reserved");
    }

    /// Every stored session gets a visitor id the moment it first holds anything, so two
    /// concurrent requests of one session always share it.
    fn ensure_visitor_id(&self) {
        if !self.session.contains_key(VISITOR_ID) {
            self.visitor_id();
        }
    }

    fn insert_reserved<T: Serialize>(&self, key: &'static str, value: T) {
        self.session.insert_reserved(key, value);
    }

    fn visit(&self) -> Visit {
        let proxies = self.req.app_data::<web::Data<TrustedProxies>>();
        let default = TrustedProxies::default();
        Visit::of(&self.req, proxies.map_or(&default, |p| p.get_ref()))
    }
}

/// A logged-in session's info as of `now`, with a fresh id.
fn new_info(now: i64) -> SessionInfo {
    SessionInfo {
        id: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>()),
        logged_in_at: now,
        last_seen_at: now,
        device: String::new(),
        address: None,
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::{
        security::{csrf::CsrfConfig, proxies::TrustedProxies, signing::Signer},
        settings::SecretKey,
    };

    fn session() -> VisitorSession {
        let signer = Signer::new(SecretKey::new(vec![7; 32]).unwrap(), vec![]);
        let config = CsrfConfig::new(signer, TrustedProxies::default(), vec![], false);
        let req = TestRequest::default()
            .app_data(web::Data::new(config))
            .to_http_request();
        VisitorSession {
            session: TypedSession::new(req.get_session()),
            enabled: true,
            csrf: CsrfToken::extract(&req).into_inner().unwrap(),
            req,
            login: LoginFields::Native,
        }
    }

    #[test]
    fn with_django_compat_a_login_is_recorded_as_djangos_and_a_logout_removes_it() {
        let session = VisitorSession {
            login: LoginFields::Django,
            ..session()
        };

        session.log_in(42, "hash".into(), true);

        assert_eq!(
            session.get::<String>("_auth_user_id").as_deref(),
            Some("42")
        );
        assert_eq!(
            session.get::<String>("_auth_user_backend").as_deref(),
            Some("django.contrib.auth.backends.ModelBackend")
        );
        assert_eq!(
            session.get::<i64>(MEMBER_ID),
            None,
            "not the tutorial's key"
        );
        assert_eq!(session.claimed_member_id(), Some(42));
        session.insert_reserved(auth_keys::BACKEND, "myapp.backends.EmailBackend");
        assert_eq!(
            session.claimed_member_id(),
            None,
            "another backend's login is not one this site can check"
        );

        session.log_out();
        assert_eq!(session.get::<String>("_auth_user_id"), None);
        assert_eq!(session.get::<String>("_auth_user_backend"), None);
        assert_eq!(session.auth_hash(), None);
    }

    #[test]
    fn last_seen_moves_at_most_once_a_minute() {
        let session = session();
        session.log_in(7, "hash".into(), true);
        let logged_in = session.info().expect("recorded at login");
        let seen = logged_in.last_seen_at;

        session.note_seen_at(seen + 59);
        let within_the_minute = session.info().unwrap();
        session.note_seen_at(seen + 60);
        let a_minute_on = session.info().unwrap();
        session.note_seen_at(seen + 60 + 59);
        let within_the_next_minute = session.info().unwrap();
        session.note_seen_at(seen + 60 + 60);
        let another_minute_on = session.info().unwrap();

        assert_eq!(within_the_minute, logged_in, "not moved, nothing written");
        assert_eq!(a_minute_on.last_seen_at, seen + 60);
        assert_eq!(
            (a_minute_on.id.as_str(), a_minute_on.logged_in_at),
            (logged_in.id.as_str(), logged_in.logged_in_at),
            "the same session's info, only seen later"
        );
        assert_eq!(within_the_next_minute, a_minute_on);
        assert_eq!(another_minute_on.last_seen_at, seen + 120);
    }

    #[test]
    fn view_code_cannot_write_reserved_keys() {
        let session = session();

        assert_eq!(
            session.insert("_visitor_id", "forged"),
            Err(ReservedKey("_visitor_id".into()))
        );
        assert_eq!(
            session.insert("_anything", 1),
            Err(ReservedKey("_anything".into()))
        );
        assert!(session.session.is_empty(), "nothing was written");
        assert!(session.insert("theme", "dark").is_ok());
    }

    #[test]
    fn the_first_write_stores_the_browsers_visitor_id_which_then_stays() {
        let session = session();
        let browser = session.csrf.visitor_id();
        assert_eq!(
            session.visitor_id(),
            browser,
            "the browser's, before any write"
        );
        session.session.clear();

        session.mark_commented();
        let stored = session.get::<String>(VISITOR_ID);
        session.log_in(7, "hash".into(), true);

        assert_eq!(stored, Some(browser.clone()));
        assert_eq!(session.visitor_id(), browser, "kept across key rotation");
        assert_eq!(session.claimed_member_id(), Some(7));
    }

    #[test]
    fn logging_in_keeps_the_browsers_visitor_unless_a_different_member_was_logged_in() {
        let session = session();
        let browser = session.csrf.visitor_id();
        let secret_before = session.csrf.form_token();

        session.log_in(7, "hash".into(), true);
        let first_login = session.visitor_id();
        let browser_after_login = session.csrf.visitor_id();
        session.log_in(7, "hash".into(), true);
        let same_member_again = session.visitor_id();
        session.log_in(8, "hash".into(), true);
        let someone_else = session.visitor_id();

        assert_eq!(first_login, browser);
        assert_eq!(
            browser_after_login, browser,
            "the rotated secret keeps the visitor"
        );
        assert!(
            session.csrf.verify(Some(&secret_before)).is_err(),
            "but a token from before the login no longer passes"
        );
        assert_eq!(same_member_again, browser);
        assert_ne!(someone_else, browser, "a different member is a new visitor");
        assert_eq!(
            session.csrf.visitor_id(),
            someone_else,
            "and so is the browser from then on, session or not"
        );
    }

    #[test]
    fn a_stored_visitor_id_wins_over_the_browsers() {
        let session = session();
        session
            .session
            .insert_reserved(VISITOR_ID, "from an earlier browser");

        assert_eq!(session.visitor_id(), "from an earlier browser");
    }

    #[test]
    fn logging_out_ends_a_session_with_only_framework_keys_left() {
        let only_member = session();
        only_member.log_in(1, "hash".into(), false);
        only_member.log_out();
        assert!(
            !only_member.session.holds_unreserved_data(),
            "nothing left: finish_session ends it"
        );

        let commented = session();
        commented.log_in(1, "hash".into(), false);
        commented.mark_commented();
        commented.log_out();
        assert!(
            commented.session.holds_unreserved_data(),
            "has_commented left: rotated, not ended"
        );
        assert!(commented.has_commented());
        assert_eq!(commented.claimed_member_id(), None);
        assert_eq!(commented.auth_hash(), None);
        assert_eq!(commented.info(), None);
        assert_eq!(
            commented.expire_at_browser_close(),
            Some(true),
            "the remember-me choice outlives the login"
        );
    }
}
