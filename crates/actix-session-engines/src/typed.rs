//! The session as view code should see it: values in and out as Rust types, and the keys
//! that start with `_` kept for the framework and the layers built on it (a login, a
//! remembered choice). View code that tries to write one gets [`ReservedKey`]; a session left
//! with nothing but reserved keys holds nothing of the visitor's and is ended rather than kept
//! (see `finish_session`).

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::{Serialize, de::DeserializeOwned};

/// The session's own choice of cookie lifetime (`true`: it ends with the browser), over
/// `SESSION_EXPIRE_AT_BROWSER_CLOSE`; see [`TypedSession::set_expire_at_browser_close`].
pub const EXPIRE_AT_BROWSER_CLOSE: &str = "_expire_at_browser_close";

/// View code tried to write a key reserved for the framework.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("session keys starting with '_' are reserved for the framework: {0:?}")]
pub struct ReservedKey(pub String);

/// Django's record of a session's lifetime (`set_expiry()`): `0` for "ends with the browser",
/// seconds or a date for a lifetime of its own, absent for `SESSION_EXPIRE_AT_BROWSER_CLOSE`.
pub const DJANGO_SESSION_EXPIRY: &str = "_session_expiry";

/// `session`'s choice between ending with the browser (`true`) and lasting (`false`), if it
/// made one: its own, or else Django's (`_session_expiry`, a session a Django site saved).
pub fn browser_close_choice(session: &Session) -> Option<bool> {
    if let Ok(Some(choice)) = session.get::<bool>(EXPIRE_AT_BROWSER_CLOSE) {
        return Some(choice);
    }
    match session
        .get::<serde_json::Value>(DJANGO_SESSION_EXPIRY)
        .ok()??
    {
        serde_json::Value::Number(seconds) => Some(seconds.as_f64() == Some(0.0)),
        serde_json::Value::String(_) => Some(false),
        _ => None,
    }
}

/// Whether `session` holds anything but reserved keys. A login recorded as Django records it
/// (`_auth_user_id`) counts as data: it is what a Django session that holds nothing else is
/// for.
pub fn holds_unreserved_data(session: &Session) -> bool {
    session
        .entries()
        .keys()
        .any(|key| !key.starts_with('_') || key == crate::django::auth_keys::USER_ID)
}

/// The request's session, typed. Extract it in a handler (`session: TypedSession`), or wrap a
/// [`Session`] with [`TypedSession::new`].
#[derive(Clone)]
pub struct TypedSession(Session);

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(req.get_session())))
    }
}

impl TypedSession {
    /// Typed access to `session`.
    pub fn new(session: Session) -> Self {
        Self(session)
    }

    /// The value stored under `key`; a value that does not read as a `T` counts as absent
    /// (and is logged, without the value).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).unwrap_or_else(|err| {
            tracing::warn!(key, error = %err, "unreadable session value ignored");
            None
        })
    }

    /// Stores `value` under `key`, for view code.
    ///
    /// # Errors
    /// [`ReservedKey`] when `key` starts with `_`; nothing is written.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), ReservedKey> {
        if key.starts_with('_') {
            return Err(ReservedKey(key.to_owned()));
        }
        self.write(key, value);
        Ok(())
    }

    /// Stores `value` under a reserved `key` (one that starts with `_`): for the layers built
    /// on the framework (a login, a visitor id), never for what a visitor sends.
    pub fn insert_reserved<T: Serialize>(&self, key: &'static str, value: T) {
        debug_assert!(key.starts_with('_'), "{key:?} is not a reserved key");
        self.write(key, value);
    }

    /// Removes `key`, reserved or not.
    pub fn remove(&self, key: &str) {
        self.0.remove(key);
    }

    /// Whether anything is stored under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether nothing at all is stored (a new session, or one that was not found).
    pub fn is_empty(&self) -> bool {
        self.0.entries().is_empty()
    }

    /// Whether the session holds anything but reserved keys (a Django login counts).
    pub fn holds_unreserved_data(&self) -> bool {
        holds_unreserved_data(&self.0)
    }

    /// Chooses whether this session ends with the browser (`true`) or lasts
    /// `SESSION_COOKIE_AGE` (Django's `set_expiry(0)` or `set_expiry(None)`).
    pub fn set_expire_at_browser_close(&self, at_browser_close: bool) {
        self.insert_reserved(EXPIRE_AT_BROWSER_CLOSE, at_browser_close);
    }

    /// This session's choice between ending with the browser (`true`) and lasting
    /// `SESSION_COOKIE_AGE`, if it made one (or a Django site made it: [`browser_close_choice`]).
    pub fn expire_at_browser_close(&self) -> Option<bool> {
        browser_close_choice(&self.0)
    }

    /// Keeps the data under a new key (Django's `cycle_key()`): do it whenever the session
    /// gains or loses privileges, so a key someone copied before is worth nothing after.
    pub fn renew(&self) {
        self.0.renew();
    }

    /// Removes everything, keeping the key until the response (Django's `clear()`).
    pub fn clear(&self) {
        self.0.clear();
    }

    /// The untyped session underneath.
    pub fn session(&self) -> &Session {
        &self.0
    }

    fn write<T: Serialize>(&self, key: &str, value: T) {
        // Serializing plain values (bools, integers, strings, small structs) cannot fail.
        if let Err(err) = self.0.insert(key, value) {
            tracing::error!(key, error = %err, "session value not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn session() -> TypedSession {
        TypedSession::new(TestRequest::default().to_http_request().get_session())
    }

    #[test]
    fn view_code_cannot_write_reserved_keys() {
        let session = session();

        assert_eq!(
            session.insert("_anything", 1),
            Err(ReservedKey("_anything".into()))
        );
        assert!(session.is_empty(), "nothing was written");
        assert!(session.insert("theme", "dark").is_ok());
        assert_eq!(session.get::<String>("theme").as_deref(), Some("dark"));
    }

    #[test]
    fn a_session_with_only_reserved_keys_holds_nothing_of_the_visitors() {
        let session = session();
        session.set_expire_at_browser_close(true);
        assert!(!session.holds_unreserved_data());
        assert_eq!(session.expire_at_browser_close(), Some(true));

        session.insert("theme", "dark").unwrap();
        assert!(session.holds_unreserved_data());
    }

    #[test]
    fn an_unreadable_value_counts_as_absent() {
        let session = session();
        session.insert("count", "not a number").unwrap();

        assert_eq!(session.get::<u32>("count"), None);
    }
}
