//! Session keys: 64 random alphanumeric characters (about 381 bits), unguessable; or, beside a
//! Django site, Django's own (32 characters of `a-z0-9`, about 165 bits).

use actix_session::storage::SessionKey;
use rand::{Rng, distr::Alphanumeric};

/// The length of every session key this application makes.
pub const SESSION_KEY_LEN: usize = 64;

/// A fresh random session key from the operating system's CSPRNG-seeded generator.
pub fn generate() -> SessionKey {
    let key: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SESSION_KEY_LEN)
        .map(char::from)
        .collect();
    key.try_into()
        .expect("64 characters is a valid session key")
}

/// Whether `key` has exactly the shape [`generate`] makes; anything else is never looked up.
pub fn is_well_formed(key: &str) -> bool {
    key.len() == SESSION_KEY_LEN && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Which keys the server-side engines make and accept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyFormat {
    /// This framework's own: [`generate`], [`is_well_formed`].
    #[default]
    Native,
    /// Django's (`DJANGO_COMPAT`): the keys a Django site sharing the sessions makes and looks up.
    Django,
}

impl KeyFormat {
    /// A fresh random key of this format.
    pub fn generate(self) -> SessionKey {
        match self {
            Self::Native => generate(),
            Self::Django => crate::django::new_session_key()
                .try_into()
                .expect("32 characters is a valid session key"),
        }
    }

    /// Whether `key` could be a key of this format; nothing else is ever looked up.
    pub fn accepts(self, key: &str) -> bool {
        match self {
            Self::Native => is_well_formed(key),
            Self::Django => crate::django::is_session_key(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(is_well_formed(a.as_ref()));
        assert_ne!(a.as_ref(), b.as_ref());
        assert!(!is_well_formed("../etc/passwd"));
        assert!(!is_well_formed(&"a".repeat(65)));
    }
}
