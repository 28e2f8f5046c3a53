//! Django's own formats, byte for byte, for sharing sessions, users and forms with a running
//! Django site.
//!
//! [`signing`] is `django.core.signing` (`dumps`, `loads`, the salted HMAC, base62
//! timestamps, zlib compression, `SECRET_KEY_FALLBACKS`); [`SESSION_STORE_SALT`] and
//! [`SIGNED_COOKIES_SALT`] are the salts Django's session backends sign their data with.
//! [`csrf`] is `django.middleware.csrf`'s secret and masked tokens. (Django's password hashers
//! are a crate of their own, `django-hashers`: users, not sessions.)
//! The tests check them against vectors Django itself produced
//! (`tests/fixtures/django/make_vectors.py`).

pub mod csrf;
pub mod signing;

/// The salt `django.contrib.sessions` signs the data of its database, file and cached-database
/// sessions with (`SessionBase.key_salt` of their `SessionStore`).
pub const SESSION_STORE_SALT: &str = "django.contrib.sessions.SessionStore";

/// The salt of Django's `signed_cookies` session engine.
pub const SIGNED_COOKIES_SALT: &str = "django.contrib.sessions.backends.signed_cookies";

/// The characters of the session keys Django makes (`VALID_KEY_CHARS`).
pub const SESSION_KEY_CHARS: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// The length of the session keys Django makes.
pub const SESSION_KEY_LEN: usize = 32;

/// `django.contrib.auth`'s session keys: the user's id (a string of digits), the dotted path of
/// the backend that logged them in, and the session auth hash ([`session_auth_hash`]).
pub mod auth_keys {
    /// `SESSION_KEY`.
    pub const USER_ID: &str = "_auth_user_id";
    /// `BACKEND_SESSION_KEY`.
    pub const BACKEND: &str = "_auth_user_backend";
    /// `HASH_SESSION_KEY`.
    pub const HASH: &str = "_auth_user_hash";
    /// The backend Django's `login()` records for a username and password.
    pub const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";
}

/// A new session key as Django makes them: 32 characters of `a-z0-9` from the operating
/// system's CSPRNG-seeded generator (about 165 bits).
pub fn new_session_key() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..SESSION_KEY_LEN)
        .map(|_| char::from(SESSION_KEY_CHARS[rng.random_range(0..SESSION_KEY_CHARS.len())]))
        .collect()
}

/// Whether `key` could be a key Django made: `a-z0-9` only, between 8 characters (Django's
/// lower bound) and 40 (its column's width). Nothing else is ever looked up.
pub fn is_session_key(key: &str) -> bool {
    (8..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `AbstractBaseUser.get_session_auth_hash()`: the hex HMAC of the user's password hash under
/// `secret` (`SECRET_KEY`, or one of `SECRET_KEY_FALLBACKS` to accept an older session). A
/// password change on either site changes it, and logs out every session holding the old one.
pub fn session_auth_hash(password_hash: &str, secret: &[u8]) -> String {
    signing::salted_hmac(
        "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
        password_hash.as_bytes(),
        secret,
    )
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_are_djangos_shape_and_differ() {
        let (a, b) = (new_session_key(), new_session_key());

        assert!(is_session_key(&a) && is_session_key(&b));
        assert_eq!(a.len(), SESSION_KEY_LEN);
        assert_ne!(a, b);
    }

    #[test]
    fn only_keys_of_djangos_alphabet_and_length_are_looked_up() {
        assert!(is_session_key("abcdefgh"));
        assert!(!is_session_key("abcdefg"), "shorter than Django accepts");
        assert!(!is_session_key(&"a".repeat(41)), "longer than its column");
        assert!(!is_session_key("ABCDEFGH12345678"), "upper case");
        assert!(!is_session_key("../../etc/passwd"));
    }

    #[test]
    fn the_session_auth_hash_is_djangos() {
        // Django's salted_hmac of this key salt and password hash (tests/fixtures/django).
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/django/vectors.json")).unwrap();
        let vector = &vectors["salted_hmac"][0];
        assert_eq!(
            vector["key_salt"],
            "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        );

        let hash = session_auth_hash(
            vector["value"].as_str().unwrap(),
            vectors["secret_key"].as_str().unwrap().as_bytes(),
        );

        assert_eq!(hash, vector["hexdigest"].as_str().unwrap());
    }
}
