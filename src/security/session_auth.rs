//! Which logged-in sessions still count: Django's session auth hash.
//!
//! A session that logs a member in stores a digest of that member's credentials
//! (`_auth_user_hash`): their id, password hash and session generation, keyed with
//! `SECRET_KEY`. Every request that acts as the member recomputes it from the member's row
//! and logs the session out when it no longer matches. So a password change, or a bump of
//! the generation ("log out everywhere"), ends every other session at its next request, on
//! every engine, signed cookies included, where nothing on the server could be deleted.
//!
//! Beside a Django site (`DJANGO_COMPAT`) the digest is Django's own
//! (`get_session_auth_hash()`: the hex HMAC of the password hash alone), so a session logged in
//! on either site is checked the same way on both, and a password change on either logs the
//! other sessions out on both. Django's digest has no session generation in it.
//!
//! Two digests are still accepted but replaced at once: one made with a fallback key (so
//! rotating `SECRET_KEY` logs nobody out), and the member's carried digest, from before their
//! password was rehashed with new costs (so an upgrade at login logs no other device out).

use subtle::ConstantTimeEq;

use super::signing::{DigestMatch, Signer};
use crate::db::models::Member;

const SALT: &str = "guestbook.session-auth";

/// What a session's stored digest says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthCheck {
    /// Matches the member's current credentials.
    Current,
    /// Still good, but should be replaced with the current digest.
    Outdated,
    /// The credentials changed since (or the digest is forged, or missing): log it out.
    Invalid,
}

/// Computes and checks session auth hashes; cheap to clone.
#[derive(Clone)]
pub struct SessionAuth {
    signer: Signer,
    /// Django's digest (`DJANGO_COMPAT`) instead of this site's own.
    django: bool,
}

impl SessionAuth {
    pub fn new(signer: Signer, django: bool) -> Self {
        Self { signer, django }
    }

    /// The digest a session logged in as `member` stores now.
    pub fn hash_for(&self, member: &Member) -> String {
        if self.django {
            return django_hash(member, self.signer.secrets().next().expect("SECRET_KEY"));
        }
        self.signer.digest(SALT, &credentials(member))
    }

    /// How `stored` (the session's digest, if any) compares with `member`'s credentials.
    pub fn check(&self, stored: Option<&str>, member: &Member) -> AuthCheck {
        let Some(stored) = stored else {
            return AuthCheck::Invalid;
        };
        let matched = if self.django {
            // `get_user()`: the current key's digest, else a fallback's (then replaced).
            let matches = |secret: &[u8]| {
                bool::from(
                    django_hash(member, secret)
                        .as_bytes()
                        .ct_eq(stored.as_bytes()),
                )
            };
            let mut secrets = self.signer.secrets();
            if secrets.next().is_some_and(matches) {
                DigestMatch::Current
            } else if secrets.any(matches) {
                DigestMatch::Fallback
            } else {
                DigestMatch::No
            }
        } else {
            self.signer
                .digest_matches(SALT, &credentials(member), stored)
        };
        match matched {
            DigestMatch::Current => AuthCheck::Current,
            DigestMatch::Fallback => AuthCheck::Outdated,
            DigestMatch::No => {
                let carried = member
                    .carried_session_hash
                    .as_deref()
                    .is_some_and(|carried| bool::from(carried.as_bytes().ct_eq(stored.as_bytes())));
                if carried {
                    AuthCheck::Outdated
                } else {
                    AuthCheck::Invalid
                }
            }
        }
    }
}

/// Django's `get_session_auth_hash()` of `member` under `secret`.
fn django_hash(member: &Member, secret: &[u8]) -> String {
    actix_session_engines::django::session_auth_hash(&member.password_hash, secret)
}

fn credentials(member: &Member) -> String {
    format!(
        "{}:{}:{}",
        member.id, member.session_generation, member.password_hash
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{db::models::now_utc, settings::SecretKey};

    fn member() -> Member {
        Member {
            id: 7,
            username: "ada".into(),
            password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into(),
            created_at: now_utc(),
            session_generation: 0,
            carried_session_hash: None,
            is_staff: false,
        }
    }

    fn auth(current: u8, fallbacks: &[u8]) -> SessionAuth {
        let key = |fill: u8| SecretKey::new(vec![fill; 32]).unwrap();
        SessionAuth::new(
            Signer::new(key(current), fallbacks.iter().copied().map(key).collect()),
            false,
        )
    }

    #[test]
    fn a_digest_stops_matching_when_the_password_or_generation_changes() {
        let auth = auth(1, &[]);
        let member = member();
        let stored = auth.hash_for(&member);

        assert_eq!(auth.check(Some(&stored), &member), AuthCheck::Current);
        let new_password = Member {
            password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$b3RoZXI".into(),
            ..member.clone()
        };
        assert_eq!(auth.check(Some(&stored), &new_password), AuthCheck::Invalid);
        let logged_out_everywhere = Member {
            session_generation: 1,
            ..member.clone()
        };
        assert_eq!(
            auth.check(Some(&stored), &logged_out_everywhere),
            AuthCheck::Invalid
        );
        let someone_else = Member {
            id: 8,
            ..member.clone()
        };
        assert_eq!(auth.check(Some(&stored), &someone_else), AuthCheck::Invalid);
        assert_eq!(auth.check(None, &member), AuthCheck::Invalid);
        assert_eq!(auth.check(Some("forged"), &member), AuthCheck::Invalid);
    }

    #[test]
    fn with_django_compat_the_digest_is_djangos_and_a_fallback_keys_is_outdated() {
        let key = |fill: u8| SecretKey::new(vec![fill; 32]).unwrap();
        let django = |current: u8, fallbacks: Vec<SecretKey>| {
            SessionAuth::new(Signer::new(key(current), fallbacks), true)
        };
        let member = member();
        let stored = django(1, vec![]).hash_for(&member);

        assert_eq!(
            stored,
            actix_session_engines::django::session_auth_hash(&member.password_hash, &[1; 32]),
            "get_session_auth_hash()"
        );
        assert_eq!(
            django(1, vec![]).check(Some(&stored), &member),
            AuthCheck::Current
        );
        assert_eq!(
            django(2, vec![key(1)]).check(Some(&stored), &member),
            AuthCheck::Outdated
        );
        let logged_out_everywhere = Member {
            session_generation: 1,
            ..member.clone()
        };
        assert_eq!(
            django(1, vec![]).check(Some(&stored), &logged_out_everywhere),
            AuthCheck::Current,
            "Django's digest has no generation in it"
        );
        let new_password = Member {
            password_hash: "pbkdf2_sha256$1000000$salt$other".into(),
            ..member
        };
        assert_eq!(
            django(1, vec![]).check(Some(&stored), &new_password),
            AuthCheck::Invalid
        );
    }

    #[test]
    fn a_fallback_keys_digest_and_the_carried_one_are_outdated_not_invalid() {
        let member = member();
        let before_rotation = auth(1, &[]).hash_for(&member);
        assert_eq!(
            auth(2, &[1]).check(Some(&before_rotation), &member),
            AuthCheck::Outdated
        );
        assert_eq!(
            auth(2, &[]).check(Some(&before_rotation), &member),
            AuthCheck::Invalid
        );

        let auth = auth(1, &[]);
        let rehashed = Member {
            password_hash: "$argon2id$v=19$m=16,t=2,p=1$c2FsdDI$aGFzaDI".into(),
            carried_session_hash: Some(auth.hash_for(&member)),
            ..member.clone()
        };
        assert_eq!(
            auth.check(Some(&auth.hash_for(&member)), &rehashed),
            AuthCheck::Outdated
        );
    }
}
