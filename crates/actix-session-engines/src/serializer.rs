//! How session data is stored (`SESSION_SERIALIZER`): the session's values themselves, as one
//! JSON object or one MessagePack map.
//!
//! actix-session hands stores a map of key to JSON *text*; storing that map as-is would wrap
//! JSON inside JSON (or JSON strings inside MessagePack). The serializer parses each value, so
//! the stored form is the plain object: `{"has_commented":true,"member_id":7}`.
//!
//! Both forms are self-describing from their first byte (`{` for JSON, a map marker for
//! MessagePack), so data written under one serializer is still read after switching to the
//! other: nobody is logged out by the change.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::{
    django::{SESSION_STORE_SALT, signing::DjangoSigner},
    settings::SessionSerializer,
    signing::Signer,
};

/// The session state as actix-session represents it.
pub type SessionState = HashMap<String, String>;

impl SessionSerializer {
    /// The stored form of `state`.
    ///
    /// # Errors
    /// When a value is not valid JSON text (actix-session always produces valid JSON).
    pub fn encode(self, state: &SessionState) -> anyhow::Result<Vec<u8>> {
        let object = to_object(state)?;
        Ok(match self {
            Self::Json => serde_json::to_vec(&object)?,
            Self::MessagePack => rmp_serde::to_vec(&object)?,
        })
    }

    /// The state stored as `bytes`, in either form whatever the current setting.
    ///
    /// # Errors
    /// When `bytes` is not a stored session (corrupt, or written by something else); the
    /// caller treats that as "no session", never as a server error.
    pub fn decode(bytes: &[u8]) -> anyhow::Result<SessionState> {
        let object: Map<String, Value> = match bytes.first() {
            Some(b'{') => serde_json::from_slice(bytes)?,
            // fixmap, map16, map32
            Some(0x80..=0x8f | 0xde | 0xdf) => rmp_serde::from_slice(bytes)?,
            _ => anyhow::bail!("not a stored session"),
        };
        Ok(from_object(object))
    }
}

/// How the server-side engines turn a session into stored bytes and back.
#[derive(Clone)]
pub enum SessionCodec {
    /// `SESSION_SERIALIZER`'s form: the values themselves, as JSON or MessagePack.
    Native(SessionSerializer),
    /// Django's (`DJANGO_COMPAT`): `SessionBase.encode`, the JSON object signed with the session
    /// salt and compressed when that makes it shorter, so a Django site reads it and writes what
    /// this reads. Data whose signature fails is no session, as in Django.
    Django(DjangoSigner),
}

impl SessionCodec {
    /// Django's codec for server-side sessions, signed with `signer`'s keys.
    pub fn django(signer: &Signer) -> Self {
        Self::Django(signer.django(SESSION_STORE_SALT))
    }

    /// The stored form of `state`.
    ///
    /// # Errors
    /// When a value is not valid JSON text.
    pub fn encode(&self, state: &SessionState) -> anyhow::Result<Vec<u8>> {
        match self {
            Self::Native(serializer) => serializer.encode(state),
            Self::Django(signer) => Ok(signer
                .dumps(&Value::Object(to_object(state)?), true, unix_now())
                .into_bytes()),
        }
    }

    /// The state stored as `bytes`.
    ///
    /// # Errors
    /// When `bytes` is not a stored session (corrupt, tampered, or written by something else);
    /// the caller treats that as "no session", never as a server error.
    pub fn decode(&self, bytes: &[u8]) -> anyhow::Result<SessionState> {
        match self {
            Self::Native(_) => SessionSerializer::decode(bytes),
            Self::Django(signer) => {
                let text = std::str::from_utf8(bytes)?;
                match signer.loads(text, None, unix_now()) {
                    Some(Value::Object(object)) => Ok(from_object(object)),
                    _ => anyhow::bail!("session data corrupted (bad signature or not an object)"),
                }
            }
        }
    }
}

/// The session's values as one JSON object.
pub(crate) fn to_object(state: &SessionState) -> Result<Map<String, Value>, serde_json::Error> {
    state
        .iter()
        .map(|(key, json)| Ok((key.clone(), serde_json::from_str::<Value>(json)?)))
        .collect()
}

/// A JSON object's values as actix-session holds them: JSON text.
pub(crate) fn from_object(object: Map<String, Value>) -> SessionState {
    object
        .into_iter()
        .map(|(key, value)| (key, value.to_string()))
        .collect()
}

/// Seconds since the Unix epoch, for signed timestamps.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    fn state() -> SessionState {
        [
            ("has_commented".to_string(), "true".to_string()),
            ("member_id".to_string(), "7".to_string()),
            ("_visitor_id".to_string(), "\"abc\"".to_string()),
        ]
        .into()
    }

    #[test]
    fn json_stores_the_values_themselves() {
        let stored = SessionSerializer::Json.encode(&state()).unwrap();
        let stored_json: Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(
            stored_json,
            serde_json::json!({"has_commented": true, "member_id": 7, "_visitor_id": "abc"})
        );
        assert_eq!(SessionSerializer::decode(&stored).unwrap(), state());
    }

    #[test]
    fn msgpack_stores_the_values_themselves_not_json_text() {
        let stored = SessionSerializer::MessagePack.encode(&state()).unwrap();
        let value: Value = rmp_serde::from_slice(&stored).unwrap();
        assert_eq!(value["member_id"], 7, "a number, not the string \"7\"");
        assert!(stored.len() < SessionSerializer::Json.encode(&state()).unwrap().len());
        assert_eq!(SessionSerializer::decode(&stored).unwrap(), state());
    }

    #[test]
    fn djangos_codec_reads_what_django_wrote_and_writes_what_it_reads() {
        use crate::signing::SecretKey;
        let vectors: Value =
            serde_json::from_str(include_str!("../tests/fixtures/django/vectors.json")).unwrap();
        let key = |name: &str| SecretKey::new(vectors[name].as_str().unwrap()).unwrap();
        let codec = SessionCodec::django(&Signer::new(key("secret_key"), vec![]));
        let as_a_fallback =
            SessionCodec::django(&Signer::new(key("old_secret_key"), vec![key("secret_key")]));
        let stored: Vec<&Value> = vectors["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|vector| vector["salt"] == SESSION_STORE_SALT)
            .collect();
        assert!(stored.len() >= 2, "a visitor's session and a logged-in one");

        for vector in stored {
            let written_by_django = vector["signed"].as_str().unwrap().as_bytes();
            let expected = from_object(vector["session"].as_object().unwrap().clone());

            assert_eq!(codec.decode(written_by_django).unwrap(), expected);
            let through_fallback = as_a_fallback.decode(written_by_django).unwrap();
            assert_eq!(through_fallback, expected, "verified by a fallback key");
            let mut tampered = written_by_django.to_vec();
            tampered[3] ^= 1;
            assert!(
                codec.decode(&tampered).is_err(),
                "tampered data is no session"
            );
            let written_here = codec.encode(&expected).unwrap();
            assert_eq!(codec.decode(&written_here).unwrap(), expected);
        }
        let other_salt = SessionCodec::Django(
            Signer::new(key("secret_key"), vec![])
                .django("django.contrib.sessions.backends.signed_cookies"),
        );
        let written = codec
            .encode(&SessionState::from([("a".into(), "1".into())]))
            .unwrap();
        assert!(
            other_salt.decode(&written).is_err(),
            "the salt is part of the signature"
        );
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(SessionSerializer::decode(b"\xff\x00garbage").is_err());
        assert!(SessionSerializer::decode(b"[1,2]").is_err());
        assert!(SessionSerializer::decode(b"").is_err());
        assert!(SessionSerializer::decode(b"\x81\xa1").is_err());
    }

    /// Session states as actix-session hands them over: keys to JSON texts.
    fn states() -> impl proptest::strategy::Strategy<Value = SessionState> {
        use proptest::prelude::*;
        let value = prop_oneof![
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
        ];
        proptest::collection::hash_map(any::<String>(), value, 0..8)
    }

    /// JSON objects of any shape: nested arrays and objects, numbers, strings, null.
    fn objects() -> impl proptest::strategy::Strategy<Value = Map<String, Value>> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map(any::<String>(), value, 0..6)
            .prop_map(|map| map.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_refused_or_decode_to_a_state_that_can_be_stored_again(
            bytes in proptest::prop_oneof![
                proptest::prelude::any::<Vec<u8>>(),
                // Maps that are not sessions' (any first byte of MessagePack's maps, anything
                // after it), and JSON texts that may or may not be objects.
                (proptest::sample::select(vec![0x80u8, 0x81, 0x82, 0x8f, 0xde, 0xdf]),
                    proptest::prelude::any::<Vec<u8>>())
                    .prop_map(|(first, rest)| [vec![first], rest].concat()),
                proptest::prelude::any::<String>().prop_map(|s| format!("{{{s}").into_bytes()),
            ],
        ) {
            let first = bytes.first().copied();
            // Refused is an answer too (an error, never a panic); what is accepted must be a
            // session, whose values can be stored again in either form.
            if let Ok(state) = SessionSerializer::decode(&bytes) {
                proptest::prop_assert!(
                    matches!(first, Some(b'{' | 0x80..=0x8f | 0xde | 0xdf)),
                    "only a JSON object or a MessagePack map is a stored session"
                );
                for serializer in [SessionSerializer::Json, SessionSerializer::MessagePack] {
                    let stored = serializer.encode(&state).unwrap();
                    proptest::prop_assert_eq!(SessionSerializer::decode(&stored).unwrap(), state.clone());
                }
            }
        }

        #[test]
        fn any_object_stored_in_either_form_decodes_to_its_values_as_json_texts(
            object in objects(),
        ) {
            let expected: SessionState = object
                .iter()
                .map(|(key, value)| (key.clone(), serde_json::to_string(value).unwrap()))
                .collect();
            let as_json = serde_json::to_vec(&object).unwrap();
            let as_msgpack = rmp_serde::to_vec(&object).unwrap();

            proptest::prop_assert_eq!(SessionSerializer::decode(&as_json).unwrap(), expected.clone());
            proptest::prop_assert_eq!(SessionSerializer::decode(&as_msgpack).unwrap(), expected);
        }

        #[test]
        fn a_stored_session_cut_short_is_refused(
            state in states(),
            msgpack: bool,
            cut: proptest::sample::Index,
        ) {
            let serializer =
                if msgpack { SessionSerializer::MessagePack } else { SessionSerializer::Json };
            let stored = serializer.encode(&state).unwrap();
            let cut_short = &stored[..cut.index(stored.len())];
            proptest::prop_assert!(SessionSerializer::decode(cut_short).is_err());
        }

        #[test]
        fn any_state_survives_either_form(state in states()) {
            for serializer in [SessionSerializer::Json, SessionSerializer::MessagePack] {
                let stored = serializer.encode(&state).unwrap();
                proptest::prop_assert_eq!(SessionSerializer::decode(&stored).unwrap(), state.clone());
            }
        }
    }
}
