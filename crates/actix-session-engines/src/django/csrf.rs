//! `django.middleware.csrf`: the CSRF secret Django keeps in its `csrftoken` cookie and the
//! masked tokens it puts in forms, so a form rendered by one side is accepted by the other.
//! (`CSRF_USE_SESSIONS`, the secret in the session instead, is not covered.)
//!
//! The secret is 32 characters of `[a-zA-Z0-9]`. A token is 64: a fresh random mask of 32,
//! then the secret enciphered with it, each character shifted by its mask character's place
//! in [`ALLOWED_CHARS`]; a new mask on every page keeps the secret out of reach of
//! compression attacks (BREACH). A request passes when its token, masked or the bare secret,
//! is the secret of its cookie. Django before 4.1 stored a masked token in the cookie too; such
//! a cookie still gives its secret.
//!
//! The tests check it against secrets, tokens and verdicts Django 5.2 produced
//! (`tests/fixtures/django/make_vectors.py`).

use std::fmt;

use rand::Rng;
use subtle::ConstantTimeEq;

/// `CSRF_ALLOWED_CHARS`, `string.ascii_letters + string.digits`: the masking adds and
/// subtracts places in this order, so the order is part of the format.
pub const ALLOWED_CHARS: &[u8; 62] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// `CSRF_SECRET_LENGTH`: the characters of a secret, and of a token's mask.
pub const SECRET_LENGTH: usize = 32;
/// `CSRF_TOKEN_LENGTH`: the characters of a masked token.
pub const TOKEN_LENGTH: usize = 2 * SECRET_LENGTH;
/// `CSRF_COOKIE_NAME`'s default, the cookie holding the secret.
pub const COOKIE_NAME: &str = "csrftoken";
/// The form field Django reads a POST's token from (`{% csrf_token %}` writes it).
pub const FORM_FIELD: &str = "csrfmiddlewaretoken";
/// `CSRF_HEADER_NAME`'s default (`HTTP_X_CSRFTOKEN`) as a header: where Django looks for the
/// token when the form has none, as JavaScript sends it.
pub const HEADER: &str = "X-CSRFToken";

/// A CSRF secret: 32 characters of [`ALLOWED_CHARS`], the value of Django's `csrftoken`
/// cookie. Only a [`mask`](CsrfSecret::mask)ed token of it goes into a page.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfSecret(String);

impl CsrfSecret {
    /// `_get_new_csrf_string()`: a new random secret (about 190 bits) from the operating
    /// system's CSPRNG-seeded generator, for a visitor without one and on `rotate_token()`
    /// (log-in).
    pub fn new() -> Self {
        Self(random_chars(SECRET_LENGTH))
    }

    /// The secret of a `csrftoken` cookie: the value
    /// itself when it is 32 allowed characters, its unmasked secret when it is a 64-character
    /// token (what Django before 4.1 stored). `None` for anything else, which Django's
    /// middleware replaces with a new secret.
    pub fn from_cookie(value: &str) -> Option<Self> {
        secret_of(value)
    }

    /// The secret's 32 characters, the value to set the `csrftoken` cookie to.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `get_token()`: a token for a form or a page, under a new random mask each time.
    pub fn mask(&self) -> String {
        self.mask_with(&random_chars(SECRET_LENGTH))
    }

    /// `_mask_cipher_secret` with a given mask of 32 allowed characters.
    fn mask_with(&self, mask: &str) -> String {
        let cipher: String = self
            .0
            .bytes()
            .zip(mask.bytes())
            .map(|(secret, mask)| {
                char::from(ALLOWED_CHARS[(place(secret) + place(mask)) % ALLOWED_CHARS.len()])
            })
            .collect();
        format!("{mask}{cipher}")
    }

    /// `_check_token_format` and `_does_token_match`: whether a request's token (from
    /// [`FORM_FIELD`] or [`HEADER`]) is this secret, either masked (64 characters) or bare (32),
    /// compared in constant time. Anything else, including an empty token, does not match.
    pub fn matches(&self, request_token: &str) -> bool {
        secret_of(request_token)
            .is_some_and(|secret| secret.0.as_bytes().ct_eq(self.0.as_bytes()).into())
    }
}

impl Default for CsrfSecret {
    /// [`CsrfSecret::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CsrfSecret {
    /// The secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfSecret(..)")
    }
}

/// `_unmask_cipher_token`: the secret a 64-character token of allowed characters masks.
/// `None` for anything else.
pub fn unmask(token: &str) -> Option<CsrfSecret> {
    if token.len() != TOKEN_LENGTH || !is_well_formed(token) {
        return None;
    }
    let (mask, cipher) = token.as_bytes().split_at(SECRET_LENGTH);
    let secret = cipher
        .iter()
        .zip(mask)
        .map(|(&cipher, &mask)| {
            let n = ALLOWED_CHARS.len();
            char::from(ALLOWED_CHARS[(place(cipher) + n - place(mask)) % n])
        })
        .collect();
    Some(CsrfSecret(secret))
}

/// What a cookie or a request's token stands for, as Django reads both: a well-formed value of
/// 32 characters is the secret itself, one of 64 a masked token of it.
fn secret_of(value: &str) -> Option<CsrfSecret> {
    match value.len() {
        SECRET_LENGTH if is_well_formed(value) => Some(CsrfSecret(value.to_owned())),
        _ => unmask(value),
    }
}

/// `_check_token_format`: 32 or 64 characters, all of [`ALLOWED_CHARS`].
fn is_well_formed(token: &str) -> bool {
    matches!(token.len(), SECRET_LENGTH | TOKEN_LENGTH)
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The place of an allowed character in [`ALLOWED_CHARS`].
fn place(c: u8) -> usize {
    match c {
        b'a'..=b'z' => usize::from(c - b'a'),
        b'A'..=b'Z' => usize::from(c - b'A') + 26,
        b'0'..=b'9' => usize::from(c - b'0') + 52,
        _ => unreachable!("only checked tokens are unmasked"),
    }
}

/// `get_random_string(n, CSRF_ALLOWED_CHARS)`.
fn random_chars(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALLOWED_CHARS[rng.random_range(0..ALLOWED_CHARS.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// The `csrf` section of `tests/fixtures/django/vectors.json`.
    #[derive(Deserialize)]
    struct Vectors {
        allowed_chars: String,
        secret_length: usize,
        token_length: usize,
        cookie_name: String,
        header_name: String,
        session_key: String,
        secret: String,
        tokens: Vec<String>,
        masked_with: Vec<MaskedWith>,
        cookies: Vec<Cookie>,
        checks: Vec<Check>,
    }

    /// `_mask_cipher_secret(secret)` with its mask chosen.
    #[derive(Deserialize)]
    struct MaskedWith {
        mask: String,
        token: String,
    }

    /// The secret Django's middleware reads from a cookie, or `None` when it replaces it.
    #[derive(Deserialize)]
    struct Cookie {
        value: String,
        secret: Option<String>,
    }

    /// `CsrfViewMiddleware._check_token` of a POST with this cookie and token.
    #[derive(Deserialize)]
    struct Check {
        cookie: String,
        token: String,
        accepted: bool,
    }

    fn vectors() -> Vectors {
        let all: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/django/vectors.json")).unwrap();
        serde_json::from_value(all["csrf"].clone()).unwrap()
    }

    fn secret(vectors: &Vectors) -> CsrfSecret {
        CsrfSecret::from_cookie(&vectors.secret).unwrap()
    }

    #[test]
    fn the_alphabet_lengths_and_names_are_djangos() {
        let vectors = vectors();

        assert_eq!(vectors.allowed_chars.as_bytes(), ALLOWED_CHARS);
        assert_eq!(vectors.secret_length, SECRET_LENGTH);
        assert_eq!(vectors.token_length, TOKEN_LENGTH);
        assert_eq!(vectors.cookie_name, COOKIE_NAME);
        assert_eq!(vectors.header_name, "HTTP_X_CSRFTOKEN");
        assert_eq!(
            format!("HTTP_{}", HEADER.to_ascii_uppercase().replace('-', "_")),
            vectors.header_name
        );
        assert_eq!(
            vectors.session_key, "_csrftoken",
            "CSRF_USE_SESSIONS: not supported"
        );
    }

    #[test]
    fn every_token_django_made_unmasks_to_its_secret_and_matches() {
        let vectors = vectors();
        let secret = secret(&vectors);

        for token in &vectors.tokens {
            assert_eq!(unmask(token).as_ref(), Some(&secret), "{token}");
            assert!(secret.matches(token), "{token}");
        }
    }

    #[test]
    fn a_secret_masked_here_is_the_token_django_makes_with_that_mask() {
        let vectors = vectors();
        let secret = secret(&vectors);

        for masked in &vectors.masked_with {
            assert_eq!(
                secret.mask_with(&masked.mask),
                masked.token,
                "{}",
                masked.mask
            );
        }
    }

    #[test]
    fn cookies_give_the_secret_djangos_middleware_reads_from_them() {
        let vectors = vectors();

        for cookie in &vectors.cookies {
            let secret = CsrfSecret::from_cookie(&cookie.value);

            assert_eq!(
                secret.as_ref().map(CsrfSecret::as_str),
                cookie.secret.as_deref(),
                "{:?}",
                cookie.value
            );
        }
    }

    #[test]
    fn requests_pass_exactly_when_djangos_middleware_lets_them() {
        let vectors = vectors();
        assert!(vectors.checks.iter().any(|check| check.accepted));
        assert!(vectors.checks.iter().any(|check| !check.accepted));

        for check in &vectors.checks {
            let accepted = CsrfSecret::from_cookie(&check.cookie)
                .is_some_and(|secret| secret.matches(&check.token));

            assert_eq!(
                accepted, check.accepted,
                "cookie {:?}, token {:?}",
                check.cookie, check.token
            );
        }
    }

    #[test]
    fn new_secrets_and_masks_are_djangos_shape_and_differ() {
        let secret = CsrfSecret::new();
        let (a, b) = (secret.mask(), secret.mask());

        assert_eq!(secret.as_str().len(), SECRET_LENGTH);
        assert!(CsrfSecret::from_cookie(secret.as_str()).is_some());
        assert_ne!(secret, CsrfSecret::new());
        assert_eq!(a.len(), TOKEN_LENGTH);
        assert_ne!(a, b, "a new mask each time");
        assert!(secret.matches(&a) && secret.matches(&b) && secret.matches(secret.as_str()));
        assert!(!CsrfSecret::new().matches(&a));
        assert_eq!(format!("{secret:?}"), "CsrfSecret(..)");
    }

    proptest::proptest! {
        #[test]
        fn any_cookie_or_token_is_read_or_refused_never_a_panic(value: String) {
            let well_formed = matches!(value.len(), SECRET_LENGTH | TOKEN_LENGTH)
                && value.bytes().all(|b| b.is_ascii_alphanumeric());

            proptest::prop_assert_eq!(CsrfSecret::from_cookie(&value).is_some(), well_formed);
            proptest::prop_assert_eq!(unmask(&value).is_some(), well_formed && value.len() == TOKEN_LENGTH);
            proptest::prop_assert!(!CsrfSecret::new().matches(&value));
        }

        #[test]
        fn any_secret_under_any_mask_unmasks_to_itself(
            secret in "[a-zA-Z0-9]{32}",
            mask in "[a-zA-Z0-9]{32}",
        ) {
            let secret = CsrfSecret::from_cookie(&secret).unwrap();

            let token = secret.mask_with(&mask);

            proptest::prop_assert!(token.starts_with(&mask));
            proptest::prop_assert_eq!(unmask(&token), Some(secret.clone()));
            proptest::prop_assert!(secret.matches(&token));
        }
    }

    #[test]
    fn malformed_tokens_neither_unmask_nor_match() {
        let secret = CsrfSecret::new();
        let token = secret.mask();

        for bad in [
            String::new(),
            token[..63].to_owned(),
            format!("{token}a"),
            format!("{}-", &token[..63]),
            format!("{}é", &token[..62]),
            format!("{}é", &secret.as_str()[..30]),
            " ".repeat(64),
        ] {
            assert_eq!(unmask(&bad), None, "{bad:?}");
            assert!(!secret.matches(&bad), "{bad:?}");
            assert_eq!(CsrfSecret::from_cookie(&bad), None, "{bad:?}");
        }
        assert_eq!(
            unmask(secret.as_str()),
            None,
            "a bare secret is not a token"
        );
    }
}
