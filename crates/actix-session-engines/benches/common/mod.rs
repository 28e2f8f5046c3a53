//! What the benches share: the session of a typical logged-in user (the guestbook's
//! member, whose session is the largest the site writes).

use actix_session_engines::SessionState;
use serde::Serialize;

/// The guestbook's field names, spelled out: the bench stores what that site stores.
pub mod fields {
    pub const MEMBER_ID: &str = "member_id";
    pub const AUTH_USER_HASH: &str = "_auth_user_hash";
    pub const EXPIRE_AT_BROWSER_CLOSE: &str = "_expire_at_browser_close";
    pub const SESSION_INFO: &str = "_session_info";
    pub const VISITOR_ID: &str = "_visitor_id";
    pub const HAS_COMMENTED: &str = "has_commented";
}

/// What "your sessions" keeps in a logged-in session.
#[derive(Serialize)]
struct SessionInfo {
    id: String,
    logged_in_at: i64,
    last_seen_at: i64,
    device: String,
    address: Option<String>,
}

/// A logged-in member's session as actix-session hands it to the store (field name to JSON
/// text): the six fields that logging in, using the site and commenting leave in it.
pub fn member_session() -> SessionState {
    let info = SessionInfo {
        id: "u1Qm9ZkT0xHc2pLw".into(),
        logged_in_at: 1_767_225_600,
        last_seen_at: 1_767_229_200,
        device: "Firefox on Linux".into(),
        address: Some("203.0.113.7".into()),
    };
    // Both are HMAC-SHA256 digests in unpadded base64: 43 characters.
    let auth_hash = "q3mVt0rJcK8yXw2dLfPa9Zs6HnBuE4gTiO1lRkYp5Ce";
    let visitor_id = "Hb7Nw2cQeR5tYu8iOp1aSd4fGh6jKl9zXx3cVb0nM2Q";
    [
        (fields::MEMBER_ID, "42".to_owned()),
        (fields::AUTH_USER_HASH, json(&auth_hash)),
        (fields::EXPIRE_AT_BROWSER_CLOSE, "false".to_owned()),
        (fields::SESSION_INFO, json(&info)),
        (fields::VISITOR_ID, json(&visitor_id)),
        (fields::HAS_COMMENTED, "true".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

/// Short runs: the engines differ by orders of magnitude and the serializers are compared with
/// each other, not gated on; the whole set takes about a minute and a half on two cores.
pub fn short_runs() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2))
}
