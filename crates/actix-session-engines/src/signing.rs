//! HMAC-SHA256 signatures over short values, Django's `signing` in miniature.
//!
//! Each use passes its own salt, so a value signed for one purpose (a CSRF cookie) is never
//! accepted for another. New values are signed with the current key; verification also tries
//! the fallback keys, so `SECRET_KEY` can be rotated without invalidating everything at once.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The shortest `SECRET_KEY` accepted, in bytes.
pub const MIN_SECRET_KEY_LEN: usize = 32;

/// A secret of at least [`MIN_SECRET_KEY_LEN`] bytes; never printed.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// A key of `bytes`.
    ///
    /// # Errors
    /// When the key is shorter than [`MIN_SECRET_KEY_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_KEY_LEN {
            return Err(format!(
                "must be at least {MIN_SECRET_KEY_LEN} bytes long (got {})",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    /// The key itself.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Signs and verifies values with `SECRET_KEY` (and its fallbacks).
#[derive(Clone)]
pub struct Signer {
    /// The current key first, then the fallbacks.
    keys: Vec<SecretKey>,
}

impl Signer {
    /// Signs with `current`, and also accepts what any of `fallbacks` signed.
    pub fn new(current: SecretKey, fallbacks: Vec<SecretKey>) -> Self {
        let mut keys = vec![current];
        keys.extend(fallbacks);
        Self { keys }
    }

    /// `value` followed by `:` and its signature.
    pub fn sign(&self, salt: &str, value: &str) -> String {
        format!(
            "{value}:{}",
            URL_SAFE_NO_PAD.encode(mac(&self.keys[0], salt, value))
        )
    }

    /// The value inside `signed` when its signature is valid under any key, else `None`.
    pub fn unsign<'a>(&self, salt: &str, signed: &'a str) -> Option<&'a str> {
        let (value, signature) = signed.rsplit_once(':')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.keys
            .iter()
            .any(|key| {
                let mut mac = keyed(key, salt);
                mac.update(value.as_bytes());
                mac.verify_slice(&signature).is_ok()
            })
            .then_some(value)
    }

    /// A keyed, one-way digest of `value` for `salt`, with the current key: the same input
    /// gives the same digest, and the digest tells nothing about the input.
    pub fn digest(&self, salt: &str, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.keys[0], salt, value))
    }

    /// Whether `digest` is [`Signer::digest`] of `value` for `salt` under the current key
    /// ([`DigestMatch::Current`]) or only under a fallback key ([`DigestMatch::Fallback`]: worth
    /// replacing), compared in constant time.
    pub fn digest_matches(&self, salt: &str, value: &str, digest: &str) -> DigestMatch {
        let Ok(given) = URL_SAFE_NO_PAD.decode(digest) else {
            return DigestMatch::No;
        };
        let matches = |key: &SecretKey| bool::from(mac(key, salt, value).ct_eq(given.as_slice()));
        if matches(&self.keys[0]) {
            DigestMatch::Current
        } else if self.keys[1..].iter().any(matches) {
            DigestMatch::Fallback
        } else {
            DigestMatch::No
        }
    }

    /// Django's signer for `salt` (`django.core.signing`) with the same keys: `SECRET_KEY` signs,
    /// `SECRET_KEY_FALLBACKS` verify too, as on a Django site configured alike.
    pub fn django(&self, salt: &str) -> crate::django::signing::DjangoSigner {
        let fallbacks: Vec<&[u8]> = self.keys[1..].iter().map(SecretKey::as_bytes).collect();
        crate::django::signing::DjangoSigner::new(self.keys[0].as_bytes(), &fallbacks, salt)
    }

    /// The raw bytes of `SECRET_KEY` and then of each fallback, for formats keyed with them
    /// directly (Django's session auth hash).
    pub fn secrets(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(SecretKey::as_bytes)
    }

    /// A 32-byte key for `purpose` derived from each key, the current one first, for APIs
    /// that want raw key material (the session cookie's signing keys).
    pub fn derive_keys(&self, purpose: &str) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|key| mac(key, "guestbook.derive-key", purpose))
            .collect()
    }
}

/// How a digest compares with the one a value should have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestMatch {
    /// It is the digest under the current key.
    Current,
    /// It is the digest under a fallback key only.
    Fallback,
    /// It is not.
    No,
}

fn keyed(key: &SecretKey, salt: &str) -> HmacSha256 {
    // Salt the key itself, as Django does, so each purpose has its own HMAC key.
    let mut derived =
        HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    derived.update(b"guestbook.signing:");
    derived.update(salt.as_bytes());
    let derived = derived.finalize().into_bytes();
    HmacSha256::new_from_slice(&derived).expect("HMAC takes any key length")
}

fn mac(key: &SecretKey, salt: &str, value: &str) -> [u8; 32] {
    let mut mac = keyed(key, salt);
    mac.update(value.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8) -> SecretKey {
        SecretKey::new(vec![fill; 32]).unwrap()
    }

    #[test]
    fn a_signed_value_round_trips_and_tampering_is_caught() {
        let signer = Signer::new(key(1), vec![]);
        let signed = signer.sign("salt", "hello");
        assert_eq!(signer.unsign("salt", &signed), Some("hello"));
        assert_eq!(signer.unsign("other-salt", &signed), None);
        assert_eq!(
            signer.unsign("salt", &signed.replace("hello", "hellp")),
            None
        );
        assert_eq!(signer.unsign("salt", "hello"), None);
    }

    #[test]
    fn fallback_keys_verify_but_never_sign() {
        let old = Signer::new(key(1), vec![]);
        let rotated = Signer::new(key(2), vec![key(1)]);
        let signed_long_ago = old.sign("s", "v");
        assert_eq!(rotated.unsign("s", &signed_long_ago), Some("v"));
        assert_ne!(rotated.sign("s", "v"), signed_long_ago);
        assert_eq!(
            Signer::new(key(2), vec![]).unsign("s", &signed_long_ago),
            None
        );
    }

    #[test]
    fn digests_match_under_the_current_key_or_a_fallback_only_for_their_value() {
        let old = Signer::new(key(1), vec![]);
        let rotated = Signer::new(key(2), vec![key(1)]);
        let digest = rotated.digest("s", "v");
        assert_eq!(
            rotated.digest_matches("s", "v", &digest),
            DigestMatch::Current
        );
        assert_eq!(
            rotated.digest_matches("s", "v", &old.digest("s", "v")),
            DigestMatch::Fallback
        );
        assert_eq!(rotated.digest_matches("s", "w", &digest), DigestMatch::No);
        assert_eq!(rotated.digest_matches("t", "v", &digest), DigestMatch::No);
        assert_eq!(
            rotated.digest_matches("s", "v", "not base64!"),
            DigestMatch::No
        );
    }

    proptest::proptest! {
        #[test]
        fn only_what_was_signed_unsigns(value: String, forged: String) {
            let signer = Signer::new(key(1), vec![]);
            let signed = signer.sign("salt", &value);
            proptest::prop_assert_eq!(signer.unsign("salt", &signed), Some(value.as_str()));
            proptest::prop_assert_eq!(signer.unsign("salt", &forged), None);
        }
    }
}
