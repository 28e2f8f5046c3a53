//! Session keys: 64 random alphanumeric characters (about 381 bits), unguessable.

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
