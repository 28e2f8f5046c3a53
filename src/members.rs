//! Membership rules shared by the sign-up page and `guestbook createmember`.

use crate::{
    db::{Database, models::Member},
    error::AppError,
    security::passwords::Passwords,
};

pub const USERNAME_RULE: &str = "Usernames are 3 to 32 characters: letters, digits, _ and -.";
pub const PASSWORD_RULE: &str = "Passwords are 8 to 1024 characters long.";
/// The longest password a member can have, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const USERNAME_TAKEN: &str = "That username is taken.";

/// Why a member could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// The username or password breaks a rule, or the name is taken: say so and let them retry.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Failed(#[from] AppError),
}

/// # Errors
/// [`USERNAME_RULE`] when `username` is not 3–32 ASCII letters, digits, `_` or `-`.
pub fn validate_username(username: &str) -> Result<(), &'static str> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if (3..=32).contains(&username.len()) && username.bytes().all(allowed) {
        Ok(())
    } else {
        Err(USERNAME_RULE)
    }
}

/// # Errors
/// [`PASSWORD_RULE`] when `password` is not 8–1024 characters.
pub fn validate_password(password: &str) -> Result<(), &'static str> {
    if (8..=MAX_PASSWORD_CHARS).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(PASSWORD_RULE)
    }
}

/// Validates, hashes (off the async workers) and stores a new member (staff with
/// `is_staff`).
///
/// # Errors
/// [`SignupError::Invalid`] for a broken rule or a taken name (in any case);
/// [`SignupError::Failed`] when the database or hashing fails.
pub async fn create_member(
    db: &Database,
    passwords: &Passwords,
    username: String,
    password: String,
    is_staff: bool,
) -> Result<Member, SignupError> {
    validate_username(&username).map_err(SignupError::Invalid)?;
    validate_password(&password).map_err(SignupError::Invalid)?;
    let hash = passwords.hash(password).await?;
    let created = db
        .write(move |conn| crate::db::members::create(conn, &username, &hash, is_staff))
        .await
        .map_err(AppError::from)?;
    created.ok_or(SignupError::Invalid(USERNAME_TAKEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rule() {
        for ok in ["abc", "Alice_99", "a-b", &"x".repeat(32)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "",
            "with space",
            "émile",
            &"x".repeat(33),
            "semi;colon",
        ] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_counted_in_characters() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"é".repeat(1024)).is_ok());
        assert!(validate_password(&"é".repeat(1025)).is_err());
    }
}
