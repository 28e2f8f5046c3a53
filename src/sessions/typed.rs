//! The session as view code sees it: named operations instead of string keys.
//!
//! Keys that start with `_` belong to the framework (the visitor id below, and later expiry
//! bookkeeping and the like); view code cannot write them. A session whose only keys are
//! `_`-prefixed holds nothing of the visitor's and is ended rather than kept.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::{Serialize, de::DeserializeOwned};

use super::{engine::SessionEngine, keys};
use crate::error::AppError;

const HAS_COMMENTED: &str = "has_commented";
const MEMBER_ID: &str = "member_id";
/// A random id given to every stored session and kept across key rotations: the database
/// allows one comment per visitor id.
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
pub struct VisitorSession(Session, Enabled);

/// Whether this deployment has sessions at all (`SESSION_ENGINE` is not `none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Enabled(bool);

impl FromRequest for VisitorSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = |engine: web::Data<SessionEngine>| {
            Self(req.get_session(), Enabled(engine.is_enabled()))
        };
        ready(
            web::Data::<SessionEngine>::from_request(req, payload)
                .into_inner()
                .map(session),
        )
    }
}

impl VisitorSession {
    /// Whether sessions exist in this deployment.
    pub fn is_enabled(&self) -> bool {
        self.1.0
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
            self.0.clear();
        }
        self.0.renew();
        self.set(MEMBER_ID, member_id);
    }

    /// Logs the member out (harmless when nobody is logged in). The visitor's other data
    /// (`has_commented`) survives under a new key; a session left with nothing of the
    /// visitor's is ended. Either way the old key no longer authenticates anyone.
    ///
    /// Ending the emptied session is not done here but by the rule every change goes through
    /// ([`super::finish_session`]): a session left with nothing of the visitor's is ended.
    pub fn log_out(&self) {
        self.0.remove(MEMBER_ID);
        self.0.renew();
    }

    /// This session's visitor id, created (and stored with the session) on first use.
    pub fn visitor_id(&self) -> String {
        if let Some(id) = self.get::<String>(VISITOR_ID) {
            return id;
        }
        let id = keys::generate().as_ref().to_owned();
        self.insert_reserved(VISITOR_ID, &id);
        id
    }

    /// A value view code stored under `key`; unreadable values count as absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).unwrap_or_else(|err| {
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
        if !self.0.contains_key(VISITOR_ID) {
            self.visitor_id();
        }
    }

    fn insert_reserved<T: Serialize>(&self, key: &'static str, value: T) {
        debug_assert!(key.starts_with('_'));
        self.raw_insert(key, value);
    }

    fn raw_insert<T: Serialize>(&self, key: &str, value: T) {
        // Serializing plain values (bools, integers, strings) cannot fail.
        if let Err(err) = self.0.insert(key, value) {
            tracing::error!(key, error = %err, "session value not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn session() -> VisitorSession {
        VisitorSession(
            TestRequest::default().to_http_request().get_session(),
            Enabled(true),
        )
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
        assert!(session.0.entries().is_empty(), "nothing was written");
        assert!(session.insert("theme", "dark").is_ok());
    }

    #[test]
    fn the_first_write_gives_the_session_a_visitor_id_that_stays() {
        let session = session();
        session.mark_commented();
        let id = session.get::<String>(VISITOR_ID).expect("a visitor id");

        session.log_in(7);

        assert_eq!(session.visitor_id(), id, "kept across key rotation");
        assert_eq!(session.member_id(), Some(7));
    }

    #[test]
    fn logging_out_ends_a_session_with_only_framework_keys_left() {
        let only_member = session();
        only_member.log_in(1);
        only_member.log_out();
        assert!(
            !holds_visitor_data(&only_member.0),
            "nothing left: finish_session ends it"
        );

        let commented = session();
        commented.log_in(1);
        commented.mark_commented();
        commented.log_out();
        assert!(
            holds_visitor_data(&commented.0),
            "has_commented left: rotated, not ended"
        );
        assert!(commented.has_commented());
        assert_eq!(commented.member_id(), None);
    }
}
