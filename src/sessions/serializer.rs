//! How session data is stored: the session's values themselves, as one JSON object.
//!
//! actix-session hands stores a map of key to JSON *text*; storing that map as-is would wrap
//! JSON inside JSON. The serializer parses each value so the stored form is the plain object
//! (`{"has_commented":true,"member_id":7}`), readable in the database and by other tools.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// The session state as actix-session represents it.
pub type SessionState = HashMap<String, String>;

/// `SESSION_SERIALIZER`: the format of stored session data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionSerializer {
    #[default]
    Json,
}

impl SessionSerializer {
    /// The stored form of `state`.
    ///
    /// # Errors
    /// When a value is not valid JSON text (actix-session always produces valid JSON).
    pub fn encode(self, state: &SessionState) -> anyhow::Result<Vec<u8>> {
        let object = state
            .iter()
            .map(|(key, json)| Ok((key.clone(), serde_json::from_str::<Value>(json)?)))
            .collect::<Result<Map<String, Value>, serde_json::Error>>()?;
        match self {
            Self::Json => Ok(serde_json::to_vec(&object)?),
        }
    }

    /// The state stored as `bytes`.
    ///
    /// # Errors
    /// When `bytes` is not a stored session (corrupt, or written by something else); the
    /// caller treats that as "no session", never as a server error.
    pub fn decode(self, bytes: &[u8]) -> anyhow::Result<SessionState> {
        let object: Map<String, Value> = serde_json::from_slice(bytes)?;
        Ok(object
            .into_iter()
            .map(|(key, value)| (key, value.to_string()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stored_as_themselves_not_as_json_strings() {
        let state: SessionState = [
            ("has_commented".to_string(), "true".to_string()),
            ("member_id".to_string(), "7".to_string()),
        ]
        .into();
        let stored = SessionSerializer::Json.encode(&state).unwrap();
        let stored_json: Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(
            stored_json,
            serde_json::json!({"has_commented": true, "member_id": 7})
        );
        assert_eq!(SessionSerializer::Json.decode(&stored).unwrap(), state);
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(SessionSerializer::Json.decode(b"\xff\x00garbage").is_err());
        assert!(SessionSerializer::Json.decode(b"[1,2]").is_err());
    }
}
