//! `django.core.signing`: values signed with HMAC-SHA256 under a key derived from
//! `SECRET_KEY` and a salt, optionally time-stamped (base62 seconds) and, for objects, JSON in
//! URL-safe base64, zlib-compressed when that makes it shorter (marked by a leading `.`).
//!
//! Signing with `SECRET_KEY` and verifying with it or any of `SECRET_KEY_FALLBACKS` is what
//! Django's `Signer` does; a value one side signs, the other verifies. The JSON is written as
//! Python's `json.dumps(obj, separators=(",", ":"))` writes it (everything beyond ASCII escaped),
//! so an object signed here is the very string Django signs for it when its keys are in sorted
//! order.

use std::{io::Write, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use flate2::{Compression, write::ZlibEncoder};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The digits of Django's base62, in order.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Django's separator between a value, its timestamp and its signature.
const SEP: char = ':';
/// The most bytes a compressed value may inflate to: a session, not a bomb.
const MAX_INFLATED: usize = 1 << 20;

/// `django.utils.crypto.salted_hmac(key_salt, value, secret, algorithm="sha256")`: an HMAC of
/// `value` under a key derived from `key_salt` and `secret`.
pub fn salted_hmac(key_salt: &str, value: &[u8], secret: &[u8]) -> [u8; 32] {
    let key = Sha256::new()
        .chain_update(key_salt.as_bytes())
        .chain_update(secret)
        .finalize();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Django's `b62_encode`.
pub fn b62_encode(n: i64) -> String {
    if n == 0 {
        return "0".into();
    }
    let mut digits = Vec::new();
    let mut rest = n.unsigned_abs();
    while rest > 0 {
        digits.push(BASE62[(rest % 62) as usize]);
        rest /= 62;
    }
    if n < 0 {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).expect("base62 digits are ASCII")
}

/// Django's `b62_decode`; `None` for anything that is not base62.
pub fn b62_decode(s: &str) -> Option<i64> {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(digits) => (-1, digits),
        None => (1, s),
    };
    if digits.is_empty() || digits.len() > 11 {
        return None;
    }
    let mut n: i64 = 0;
    for digit in digits.bytes() {
        let value = BASE62.iter().position(|&d| d == digit)? as i64;
        n = n.checked_mul(62)?.checked_add(value)?;
    }
    Some(sign * n)
}

/// Django's `TimestampSigner` with the default separator and algorithm (SHA-256), and the
/// `dumps` / `loads` built on it.
#[derive(Clone)]
pub struct DjangoSigner {
    /// `SECRET_KEY` first, then `SECRET_KEY_FALLBACKS`.
    keys: Vec<Vec<u8>>,
    salt: String,
}

impl DjangoSigner {
    /// Signs with `key` for `salt`, and verifies with it or any of `fallbacks`.
    pub fn new(key: &[u8], fallbacks: &[&[u8]], salt: &str) -> Self {
        let mut keys = vec![key.to_vec()];
        keys.extend(fallbacks.iter().map(|key| key.to_vec()));
        Self {
            keys,
            salt: salt.to_owned(),
        }
    }

    /// `Signer.signature(value, key)`.
    fn signature(&self, value: &str, key: &[u8]) -> String {
        let salt = format!("{}signer", self.salt);
        URL_SAFE_NO_PAD.encode(salted_hmac(&salt, value.as_bytes(), key))
    }

    /// `value:signature`, signed with the current key.
    pub fn sign(&self, value: &str) -> String {
        format!("{value}{SEP}{}", self.signature(value, &self.keys[0]))
    }

    /// The value of `signed` when its signature holds under any key, compared in constant time.
    pub fn unsign<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, signature) = signed.rsplit_once(SEP)?;
        self.keys
            .iter()
            .any(|key| {
                bool::from(
                    self.signature(value, key)
                        .as_bytes()
                        .ct_eq(signature.as_bytes()),
                )
            })
            .then_some(value)
    }

    /// `TimestampSigner.sign`: `value:timestamp:signature`, stamped `now` (Unix seconds).
    pub fn sign_with_timestamp(&self, value: &str, now: i64) -> String {
        self.sign(&format!("{value}{SEP}{}", b62_encode(now)))
    }

    /// `TimestampSigner.unsign`: the value and when it was signed, when the signature holds
    /// and, given `max_age`, it was signed no longer than that before `now`.
    pub fn unsign_with_timestamp<'a>(
        &self,
        signed: &'a str,
        max_age: Option<Duration>,
        now: i64,
    ) -> Option<(&'a str, i64)> {
        let (value, timestamp) = self.unsign(signed)?.rsplit_once(SEP)?;
        let timestamp = b62_decode(timestamp)?;
        if let Some(max_age) = max_age
            && now.saturating_sub(timestamp) > i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX)
        {
            return None;
        }
        Some((value, timestamp))
    }

    /// `signing.dumps(obj, salt=..., compress=compress)` at `now`.
    pub fn dumps(&self, object: &Value, compress: bool, now: i64) -> String {
        let data = python_json(object);
        let compressed = compress.then(|| zlib(&data)).flatten();
        let payload = match compressed {
            // Django keeps the compressed form only when it saves more than a byte.
            Some(compressed) if compressed.len() < data.len().saturating_sub(1) => {
                format!(".{}", URL_SAFE_NO_PAD.encode(compressed))
            }
            _ => URL_SAFE_NO_PAD.encode(&data),
        };
        self.sign_with_timestamp(&payload, now)
    }

    /// `signing.loads(s, salt=..., max_age=max_age)` at `now`; `None` for anything tampered,
    /// expired or unreadable.
    pub fn loads(&self, signed: &str, max_age: Option<Duration>, now: i64) -> Option<Value> {
        let (payload, _) = self.unsign_with_timestamp(signed, max_age, now)?;
        let (compressed, encoded) = match payload.strip_prefix('.') {
            Some(encoded) => (true, encoded),
            None => (false, payload),
        };
        let mut data = URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
        if compressed {
            // Straight into a vector, bounded: no streaming window to set up for each request
            // (Django compresses most sessions, so every logged-in page inflates one).
            data = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&data, MAX_INFLATED)
                .ok()?;
        }
        // Django reads the JSON as Latin-1; what it writes is ASCII.
        let text: String = data.iter().map(|&b| char::from(b)).collect();
        serde_json::from_str(&text).ok()
    }
}

fn zlib(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

/// `json.dumps(value, separators=(",", ":"))`: no spaces, everything beyond printable ASCII
/// escaped as `\uXXXX` (surrogate pairs above the BMP), keys in the map's (sorted) order.
pub fn python_json(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_json(value, &mut out);
    out.into_bytes()
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::django::{SESSION_STORE_SALT, SIGNED_COOKIES_SALT};

    /// What `tests/fixtures/django/make_vectors.py` wrote, with Django 5.2.
    #[derive(Deserialize)]
    struct Vectors {
        secret_key: String,
        old_secret_key: String,
        timestamp: i64,
        timestamp_b62: String,
        db_session_salt: String,
        sessions: Vec<SessionVector>,
        signed_with_old_key: String,
        uncompressed_default_salt: String,
        salted_hmac: Vec<HmacVector>,
        b62: std::collections::BTreeMap<String, String>,
    }

    #[derive(Deserialize)]
    struct SessionVector {
        name: String,
        salt: String,
        session: Value,
        signed: String,
    }

    #[derive(Deserialize)]
    struct HmacVector {
        key_salt: String,
        value: String,
        hexdigest: String,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(include_str!("../../tests/fixtures/django/vectors.json")).unwrap()
    }

    fn signer(vectors: &Vectors, salt: &str) -> DjangoSigner {
        DjangoSigner::new(
            vectors.secret_key.as_bytes(),
            &[vectors.old_secret_key.as_bytes()],
            salt,
        )
    }

    #[test]
    fn a_signed_value_that_would_inflate_past_a_mebibyte_is_refused() {
        let signer = DjangoSigner::new(b"a key that signed a bomb, somehow", &[], "salt");
        // A JSON object of exactly `inflated` bytes, compressed and signed.
        let sign = |inflated: usize| {
            let json = format!("{{\"a\":\"{}\"}}", " ".repeat(inflated - 8));
            let compressed = zlib(json.as_bytes()).unwrap();
            let payload = format!(".{}", URL_SAFE_NO_PAD.encode(compressed));
            signer.sign_with_timestamp(&payload, 0)
        };

        assert_eq!(signer.loads(&sign(MAX_INFLATED + 1), None, 0), None);
        assert!(
            signer.loads(&sign(MAX_INFLATED), None, 0).is_some(),
            "up to the limit"
        );
    }

    #[test]
    fn the_salts_are_djangos() {
        let vectors = vectors();
        assert_eq!(vectors.db_session_salt, SESSION_STORE_SALT);
        assert!(
            vectors
                .sessions
                .iter()
                .any(|v| v.salt == SIGNED_COOKIES_SALT)
        );
    }

    #[test]
    fn base62_and_the_salted_hmac_match_django() {
        let vectors = vectors();
        for (n, encoded) in &vectors.b62 {
            let n: i64 = n.parse().unwrap();
            assert_eq!(&b62_encode(n), encoded, "{n}");
            assert_eq!(b62_decode(encoded), Some(n), "{encoded}");
        }
        assert_eq!(b62_encode(vectors.timestamp), vectors.timestamp_b62);
        for vector in &vectors.salted_hmac {
            let digest = salted_hmac(
                &vector.key_salt,
                vector.value.as_bytes(),
                vectors.secret_key.as_bytes(),
            );
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, vector.hexdigest);
        }
    }

    #[test]
    fn every_session_django_signed_reads_back_as_django_wrote_it() {
        let vectors = vectors();
        for vector in &vectors.sessions {
            let loaded =
                signer(&vectors, &vector.salt).loads(&vector.signed, None, vectors.timestamp);
            assert_eq!(loaded.as_ref(), Some(&vector.session), "{}", vector.name);
        }
    }

    #[test]
    fn an_uncompressed_session_is_signed_to_the_very_string_django_signs() {
        let vectors = vectors();
        let uncompressed: Vec<&SessionVector> = vectors
            .sessions
            .iter()
            .filter(|vector| !vector.signed.starts_with('.'))
            .collect();
        assert!(
            uncompressed.len() >= 4,
            "the fixtures hold uncompressed sessions"
        );
        for vector in uncompressed {
            let signed =
                signer(&vectors, &vector.salt).dumps(&vector.session, true, vectors.timestamp);
            assert_eq!(signed, vector.signed, "{}", vector.name);
        }
    }

    #[test]
    fn a_compressed_session_signed_here_is_compressed_and_reads_back() {
        let vectors = vectors();
        let session = &vectors
            .sessions
            .iter()
            .find(|vector| vector.name == "repetitive enough to compress")
            .unwrap()
            .session;
        let signer = signer(&vectors, SESSION_STORE_SALT);

        let signed = signer.dumps(session, true, vectors.timestamp);

        assert!(signed.starts_with('.'), "{signed}");
        assert_eq!(
            signer.loads(&signed, None, vectors.timestamp).as_ref(),
            Some(session)
        );
    }

    #[test]
    fn a_fallback_key_verifies_and_other_salts_or_keys_do_not() {
        let vectors = vectors();
        let expected: Value = serde_json::json!({"has_commented": true});
        let with_fallback = signer(&vectors, SESSION_STORE_SALT);
        let without = DjangoSigner::new(vectors.secret_key.as_bytes(), &[], SESSION_STORE_SALT);
        let other_salt = signer(&vectors, SIGNED_COOKIES_SALT);
        let now = vectors.timestamp;

        assert_eq!(
            with_fallback.loads(&vectors.signed_with_old_key, None, now),
            Some(expected.clone())
        );
        assert_eq!(without.loads(&vectors.signed_with_old_key, None, now), None);
        assert_eq!(
            other_salt.loads(&vectors.signed_with_old_key, None, now),
            None
        );
        let default_salt = signer(&vectors, "django.core.signing");
        assert_eq!(
            default_salt.loads(&vectors.uncompressed_default_salt, None, now),
            Some(expected)
        );
    }

    #[test]
    fn max_age_is_measured_from_the_signed_timestamp() {
        let vectors = vectors();
        let signer = signer(&vectors, SESSION_STORE_SALT);
        let signed = &vectors.signed_with_old_key;
        let day = Duration::from_secs(86_400);

        assert!(
            signer
                .loads(signed, Some(day), vectors.timestamp + 86_400)
                .is_some()
        );
        assert!(
            signer
                .loads(signed, Some(day), vectors.timestamp + 86_401)
                .is_none()
        );
    }

    #[test]
    fn any_byte_changed_in_a_signed_session_reads_as_nothing() {
        let vectors = vectors();
        for vector in &vectors.sessions {
            let signer = signer(&vectors, &vector.salt);
            let bytes = vector.signed.as_bytes();
            for i in 0..bytes.len() {
                let mut tampered = bytes.to_vec();
                tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
                let Ok(tampered) = String::from_utf8(tampered) else {
                    continue;
                };
                if tampered == vector.signed {
                    continue;
                }
                assert_eq!(
                    signer.loads(&tampered, None, vectors.timestamp),
                    None,
                    "{}: byte {i}",
                    vector.name
                );
            }
        }
    }

    #[test]
    fn python_json_escapes_as_python_does() {
        let value = serde_json::json!({"b": "caf\u{e9} \"q\" \\ \n \u{1F600} \u{7f}", "a": [1, null, false]});

        let written = String::from_utf8(python_json(&value)).unwrap();

        assert_eq!(
            written,
            r#"{"a":[1,null,false],"b":"caf\u00e9 \"q\" \\ \n \ud83d\ude00 \u007f"}"#
        );
    }
}
