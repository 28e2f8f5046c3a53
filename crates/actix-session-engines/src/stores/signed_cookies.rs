//! `SESSION_ENGINE=signed_cookies`: the whole session is the cookie, as in Django's engine of
//! the same name. Nothing is stored on the server, so it scales anywhere, but:
//!
//! - the cookie is **signed, not encrypted**: the client can read what is in it;
//! - a session **cannot be revoked** on the server: logging out or rotating the key replaces
//!   the browser's cookie, but a copy taken earlier stays valid until it expires;
//! - a copied cookie can be **replayed** until then (at most `SESSION_COOKIE_AGE`, enforced by
//!   a signed timestamp inside the value, whatever the client does with Max-Age).
//!
//! Value: `[.]<base64 data>:<unix seconds>:<signature>`, the leading `.` marking zlib
//! compression (used for sessions of [`COMPRESS_FROM`] bytes or more, when it makes the value
//! shorter), signed with HMAC-SHA256 under
//! `SECRET_KEY` (or a fallback) with a salt of its own.

use std::{
    io::Write,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use actix_session::storage::{LoadError, SaveError, SessionKey, UpdateError};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use flate2::{Compression, write::ZlibEncoder};

use crate::{
    django::{SIGNED_COOKIES_SALT, signing::DjangoSigner},
    serializer::{SessionState, from_object, to_object, unix_now},
    settings::{SessionSerializer, SessionSettings},
    signing::Signer,
};

const SALT: &str = "guestbook.sessions.signed_cookies";

/// Sessions smaller than this go uncompressed. Django compresses whenever it shortens the
/// value; a typical session here (about 300 bytes) saves a few dozen bytes that way, and every
/// request then pays for building inflate tables (about 8% of a logged-in page's CPU).
/// Compression matters where it keeps a large session inside the 4 KB a browser stores.
pub const COMPRESS_FROM: usize = 1024;

/// `data` compressed with zlib, when it is large enough to be worth it and gets shorter.
fn compressed(data: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    if data.len() < COMPRESS_FROM {
        return Ok(None);
    }
    let mut compressor = ZlibEncoder::new(Vec::new(), Compression::default());
    compressor.write_all(data)?;
    let compressed = compressor.finish()?;
    Ok((compressed.len() < data.len()).then_some(compressed))
}
/// Browsers keep cookies of up to 4096 bytes (name, value and attributes together).
pub const MAX_COOKIE_BYTES: usize = 4096;

/// The session could not be saved: it would not fit in a cookie.
#[derive(Debug, thiserror::Error)]
#[error("the session needs a {0}-byte cookie; browsers keep {MAX_COOKIE_BYTES} bytes at most")]
pub struct SessionTooLarge(pub usize);

/// A `500`: the request's work is done, but its session could not be kept. An application
/// renders its own page for it (the error is reachable through `actix_web::Error::as_error`).
impl actix_web::ResponseError for SessionTooLarge {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The `signed_cookies` engine: the session signed into the cookie itself.
#[derive(Clone)]
pub struct SignedCookieSessions {
    signer: Signer,
    serializer: SessionSerializer,
    /// With `DJANGO_COMPAT`, Django's own cookie (`signing.dumps` with its salt, compressed
    /// whenever that is shorter, a base62 timestamp), which a Django site reads and writes.
    django: Option<DjangoSigner>,
    max_age: Duration,
    /// Bytes of the `Set-Cookie` value besides our value: name, the middleware's own
    /// signature, attributes.
    overhead: usize,
}

impl SignedCookieSessions {
    /// Sessions signed by `signer`, in `serializer`'s form, for the cookie `settings` describe.
    pub fn new(signer: Signer, serializer: SessionSerializer, settings: &SessionSettings) -> Self {
        // name=<44-character signature, '=' escaped as %3D><value>; HttpOnly; SameSite=Strict;
        // Secure; Path=..; Domain=..; Max-Age=..; Expires=<29 characters>
        let attributes = 100
            + settings.cookie_path.len()
            + settings.cookie_domain.as_ref().map_or(0, |d| d.len() + 9);
        let django = settings
            .django_compat
            .then(|| signer.django(SIGNED_COOKIES_SALT));
        Self {
            signer,
            serializer,
            django,
            max_age: Duration::from_secs(settings.cookie_age.unsigned_abs()),
            overhead: settings.cookie_name.len() + 1 + 46 + attributes,
        }
    }

    /// The form sessions are serialized in inside the cookie.
    pub fn serializer(&self) -> SessionSerializer {
        self.serializer
    }

    /// The signed cookie value holding `state`.
    ///
    /// # Errors
    /// [`SessionTooLarge`] when the cookie would not fit in a browser.
    pub fn encode(&self, state: &SessionState) -> anyhow::Result<String> {
        if let Some(django) = &self.django {
            let object = serde_json::Value::Object(to_object(state)?);
            return self.fits(django.dumps(&object, true, unix_now()));
        }
        let data = self.serializer.encode(state)?;
        let payload = match compressed(&data)? {
            Some(compressed) => format!(".{}", URL_SAFE_NO_PAD.encode(compressed)),
            None => URL_SAFE_NO_PAD.encode(data),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.fits(self.signer.sign(SALT, &format!("{payload}:{now}")))
    }

    /// `value`, unless its cookie would be too large for a browser.
    fn fits(&self, value: String) -> anyhow::Result<String> {
        let cookie_len = value.len() + self.overhead;
        if cookie_len > MAX_COOKIE_BYTES {
            return Err(SessionTooLarge(cookie_len).into());
        }
        Ok(value)
    }

    /// The state in a cookie value; `None` for anything tampered, truncated, expired or
    /// unreadable: a fresh session, never an error.
    pub fn decode(&self, value: &str) -> Option<SessionState> {
        if let Some(django) = &self.django {
            return match django.loads(value, Some(self.max_age), unix_now())? {
                serde_json::Value::Object(object) => Some(from_object(object)),
                _ => None,
            };
        }
        let signed = self.signer.unsign(SALT, value)?;
        let (payload, timestamp) = signed.rsplit_once(':')?;
        let signed_at: u64 = timestamp.parse().ok()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if now.saturating_sub(signed_at) > self.max_age.as_secs() {
            return None;
        }
        let data = match payload.strip_prefix('.') {
            // Bounded, so a forged-but-signed value cannot balloon (it would need our key).
            // Straight into a vector: no 32 KiB streaming window to set up for every request.
            Some(compressed) => miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(
                &URL_SAFE_NO_PAD.decode(compressed).ok()?,
                64 * 1024,
            )
            .ok()?,
            None => URL_SAFE_NO_PAD.decode(payload).ok()?,
        };
        SessionSerializer::decode(&data).ok()
    }

    /// The session a cookie value holds; `None` for anything tampered or expired.
    ///
    /// # Errors
    /// Never: a bad value is a new session.
    pub async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        Ok(self.decode(key.as_ref()))
    }

    /// The cookie value holding a new session.
    ///
    /// # Errors
    /// When the session does not fit in a cookie.
    pub async fn save(&self, state: SessionState) -> Result<SessionKey, SaveError> {
        let value = self.encode(&state).map_err(SaveError::Serialization)?;
        SessionKey::try_from(value).map_err(|e| SaveError::Serialization(e.into()))
    }

    /// The cookie value holding a changed session.
    ///
    /// # Errors
    /// When the session does not fit in a cookie.
    pub async fn update(&self, state: SessionState) -> Result<SessionKey, UpdateError> {
        let value = self.encode(&state).map_err(UpdateError::Serialization)?;
        SessionKey::try_from(value).map_err(|e| UpdateError::Serialization(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SecretKey;

    fn engine(key: u8, fallbacks: Vec<SecretKey>) -> SignedCookieSessions {
        let settings = SessionSettings::default();
        let signer = Signer::new(SecretKey::new(vec![key; 32]).unwrap(), fallbacks);
        SignedCookieSessions::new(signer, SessionSerializer::Json, &settings)
    }

    fn state(extra: usize) -> SessionState {
        [
            ("member_id".to_string(), "7".to_string()),
            ("note".to_string(), format!("\"{}\"", "x".repeat(extra))),
        ]
        .into()
    }

    #[test]
    fn a_cookie_round_trips_and_tampering_gives_nothing() {
        let engine = engine(1, vec![]);
        let value = engine.encode(&state(10)).unwrap();
        assert_eq!(engine.decode(&value), Some(state(10)));
        let mut tampered = value.clone();
        tampered.insert(1, 'A');
        assert_eq!(engine.decode(&tampered), None);
        assert_eq!(engine.decode(&value[..value.len() - 3]), None);
        assert_eq!(engine.decode("garbage"), None);
    }

    #[test]
    fn a_small_session_goes_uncompressed() {
        let value = engine(1, vec![]).encode(&state(10)).unwrap();
        assert!(!value.starts_with('.'));
        assert!(engine(1, vec![]).decode(&value).is_some());
    }

    #[test]
    fn repetitive_data_is_compressed() {
        let value = engine(1, vec![]).encode(&state(1000)).unwrap();
        assert!(value.starts_with('.'), "compressed values start with a dot");
        assert!(value.len() < 500, "{} bytes", value.len());
    }

    #[test]
    fn a_session_too_large_for_a_cookie_is_refused_not_dropped() {
        use rand::{Rng, distr::Alphanumeric};
        let random: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(6000)
            .map(char::from)
            .collect();
        let big: SessionState = [("note".to_string(), format!("\"{random}\""))].into();
        let err = engine(1, vec![]).encode(&big).unwrap_err();
        assert!(err.downcast_ref::<SessionTooLarge>().is_some(), "{err}");
    }

    #[test]
    fn a_fallback_key_still_verifies_old_cookies() {
        let old = engine(1, vec![]).encode(&state(1)).unwrap();
        let rotated = engine(2, vec![SecretKey::new(vec![1; 32]).unwrap()]);
        assert_eq!(rotated.decode(&old), Some(state(1)));
        assert_eq!(
            engine(2, vec![]).decode(&old),
            None,
            "without the fallback it is invalid"
        );
    }

    #[test]
    fn with_django_compat_the_cookie_is_djangos() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/django/vectors.json")).unwrap();
        let key = |name: &str| SecretKey::new(vectors[name].as_str().unwrap()).unwrap();
        let settings = |age: i64| SessionSettings {
            django_compat: true,
            cookie_age: age,
            ..SessionSettings::default()
        };
        let engine = |age: i64| {
            let signer = Signer::new(key("secret_key"), vec![]);
            SignedCookieSessions::new(signer, SessionSerializer::Json, &settings(age))
        };
        let cookies: Vec<&serde_json::Value> = vectors["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|vector| vector["salt"] == SIGNED_COOKIES_SALT)
            .collect();
        assert!(!cookies.is_empty());

        for vector in cookies {
            let made_by_django = vector["signed"].as_str().unwrap();
            let expected = from_object(vector["session"].as_object().unwrap().clone());
            // The vectors were signed when they were made: a long age still takes them.
            let ten_years = 10 * 365 * 86_400;
            assert_eq!(
                engine(ten_years).decode(made_by_django),
                Some(expected.clone())
            );
            assert_eq!(
                engine(1).decode(made_by_django),
                None,
                "older than SESSION_COOKIE_AGE"
            );
            let made_here = engine(ten_years).encode(&expected).unwrap();
            assert_eq!(engine(ten_years).decode(&made_here), Some(expected));
            assert_eq!(
                made_here.matches(':').count(),
                2,
                "value:timestamp:signature"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_cookie_value_is_a_fresh_session_or_a_signed_one_never_a_panic(value: String) {
            proptest::prop_assert_eq!(engine(1, vec![]).decode(&value), None);
        }

        #[test]
        fn a_signed_value_with_any_byte_changed_is_refused(
            extra in 0usize..300,
            position: proptest::sample::Index,
            byte in 0u8..128,
        ) {
            let engine = engine(1, vec![]);
            let value = engine.encode(&state(extra)).unwrap();
            let mut bytes = value.clone().into_bytes();
            let at = position.index(bytes.len());
            proptest::prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            let tampered = String::from_utf8_lossy(&bytes);
            proptest::prop_assert_eq!(engine.decode(&tampered), None);
        }
    }
}
