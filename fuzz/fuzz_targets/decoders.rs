//! Whatever bytes arrive, the decoders answer (a session, or none) without panicking: the
//! stored-session decoder of both serializers and the signed-cookie session decoder.
#![no_main]

use std::sync::LazyLock;

use guestbook::{
    security::signing::Signer,
    sessions::signed_cookies::SignedCookieSessions,
    settings::{SecretKey, SessionSerializer, Settings},
};
use libfuzzer_sys::fuzz_target;

static SIGNED_COOKIES: LazyLock<SignedCookieSessions> = LazyLock::new(|| {
    let settings = Settings::from_lookup(|_| None).expect("default settings");
    let signer = Signer::new(SecretKey::new(vec![7; 32]).unwrap(), vec![]);
    SignedCookieSessions::new(signer, SessionSerializer::Json, &settings.session)
});

fuzz_target!(|data: &[u8]| {
    let _ = SessionSerializer::decode(data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(SIGNED_COOKIES.decode(text).is_none(), "an unsigned value decoded");
    }
});
