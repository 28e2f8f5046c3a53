//! The session as view code sees it: named operations instead of string keys.
//!
//! Keys that start with `_` belong to the framework (the visitor id below, and later expiry
//! bookkeeping and the like); view code cannot write them. A session whose only keys are
//! `_`-prefixed holds nothing of the visitor's and is ended rather than kept.
//!
//! The visitor is known before the session is: until the session stores a visitor id, the
//! browser's (derived from its CSRF cookie) stands in, and the first write stores that one.
//! So two tabs posting before either has a session, or a retry after a save that failed, are
//! one visitor, and the database's "one comment per visitor" rule holds from the first
//! request.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::{Serialize, de::DeserializeOwned};

use super::engine::SessionEngine;
use crate::{error::AppError, security::csrf::CsrfToken};

const HAS_COMMENTED: &str = "has_commented";
const MEMBER_ID: &str = "member_id";
/// The visitor's id, stored with the session the moment it holds anything and kept across key
/// rotations, login and logout: the database allows one comment per visitor id.
const VISITOR_ID: &str = "_visitor_id";

/// View code tried to write a key reserved for the framework.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("session keys starting with '_' are reserved for the framework: {0:?}")]
pub struct ReservedKey(pub String);

/// Whether `session` holds anything of the visitor's (a key not reserved with `_`).
pub(crate) fn holds_visitor_data(session: &Session) -> bool {
    session.entries().keys().any(|key| !key.starts_with('_'))
}

/// The visitor's session, typed.
pub struct VisitorSession {
    session: Session,
    /// Whether this deployment has sessions at all (`SESSION_ENGINE` is not `none`).
    enabled: bool,
    /// The browser's CSRF secret: its visitor id stands in until the session stores one.
    csrf: CsrfToken,
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
                session: req.get_session(),
                enabled: engine.is_enabled(),
                csrf,
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
    /// [`AppError::SessionsDisabled`] with `SESSION_ENGINE=none`.
    pub fn require(&self) -> Result<(), AppError> {
        if self.is_enabled() {
            Ok(())
        } else {
            Err(AppError::SessionsDisabled)
        }
    }

    /// Whether this visitor has posted their one comment.
    pub fn has_commented(&self) -> bool {
        self.get(HAS_COMMENTED).unwrap_or(false)
    }

    pub fn mark_commented(&self) {
        self.set(HAS_COMMENTED, true);
    }

    /// The logged-in member, if any.
    pub fn member_id(&self) -> Option<i64> {
        self.get(MEMBER_ID)
    }

    /// Logs `member_id` in under a new session key (so a key planted before login is useless
    /// after it). A different member's data is not inherited: as Django's `login()`, the
    /// session is flushed first when someone else was logged in.
    pub fn log_in(&self, member_id: i64) {
        if self.member_id().is_some_and(|current| current != member_id) {
            self.session.clear();
        }
        self.session.renew();
        self.set(MEMBER_ID, member_id);
    }

    /// Logs the member out (harmless when nobody is logged in). The visitor's other data
    /// (`has_commented`) survives under a new key; a session left with nothing of the
    /// visitor's is ended. Either way the old key no longer authenticates anyone.
    ///
    /// Ending the emptied session is not done here but by the rule every change goes through
    /// ([`super::finish_session`]): a session left with nothing of the visitor's is ended.
    pub fn log_out(&self) {
        self.session.remove(MEMBER_ID);
        self.session.renew();
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
        self.session.get(key).unwrap_or_else(|err| {
            tracing::warn!(key, error = %err, "unreadable session value ignored");
            None
        })
    }

    /// Stores `value` under `key` for view code.
    ///
    /// # Errors
    /// [`ReservedKey`] when `key` starts with `_`.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), ReservedKey> {
        if key.starts_with('_') {
            return Err(ReservedKey(key.to_owned()));
        }
        self.ensure_visitor_id();
        self.raw_insert(key, value);
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
        debug_assert!(key.starts_with('_'));
        self.raw_insert(key, value);
    }

    fn raw_insert<T: Serialize>(&self, key: &str, value: T) {
        // Serializing plain values (bools, integers, strings) cannot fail.
        if let Err(err) = self.session.insert(key, value) {
            tracing::error!(key, error = %err, "session value not stored");
        }
    }
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
            session: req.get_session(),
            enabled: true,
            csrf: CsrfToken::extract(&req).into_inner().unwrap(),
        }
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
        assert!(session.session.entries().is_empty(), "nothing was written");
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
        session.log_in(7);

        assert_eq!(stored, Some(browser.clone()));
        assert_eq!(session.visitor_id(), browser, "kept across key rotation");
        assert_eq!(session.member_id(), Some(7));
    }

    #[test]
    fn a_stored_visitor_id_wins_over_the_browsers() {
        let session = session();
        session
            .session
            .insert(VISITOR_ID, "from an earlier browser")
            .unwrap();

        assert_eq!(session.visitor_id(), "from an earlier browser");
    }

    #[test]
    fn logging_out_ends_a_session_with_only_framework_keys_left() {
        let only_member = session();
        only_member.log_in(1);
        only_member.log_out();
        assert!(
            !holds_visitor_data(&only_member.session),
            "nothing left: finish_session ends it"
        );

        let commented = session();
        commented.log_in(1);
        commented.mark_commented();
        commented.log_out();
        assert!(
            holds_visitor_data(&commented.session),
            "has_commented left: rotated, not ended"
        );
        assert!(commented.has_commented());
        assert_eq!(commented.member_id(), None);
    }
}
