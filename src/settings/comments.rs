//! `COMMENT_*`: how long an author may change their comment, and what keeps spam out.

use std::time::Duration;

use super::vars::{SettingsError, Vars};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentSettings {
    /// `COMMENT_EDIT_WINDOW`: how long after posting its author may edit or delete a comment.
    pub edit_window: Duration,
    /// `COMMENT_THROTTLE_*`.
    pub throttle: CommentThrottle,
    /// `COMMENT_MIN_SECONDS`: a comment posted sooner after its form was rendered is refused
    /// as a script's (`0`: the form's timestamp is not checked).
    pub min_seconds: Duration,
}

/// `COMMENT_THROTTLE_*`: new comments one client address may post per window before further
/// posts are refused with `429`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentThrottle {
    /// `COMMENT_THROTTLE_PER_ADDRESS`; `0`: no limit.
    pub per_address: u64,
    /// `COMMENT_THROTTLE_WINDOW`, from the address's first comment.
    pub window: Duration,
}

impl CommentSettings {
    pub(super) fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(Self {
            edit_window: Duration::from_secs(vars.ranged(
                "COMMENT_EDIT_WINDOW",
                900,
                0,
                30 * 86_400,
            )? as u64),
            throttle: CommentThrottle {
                per_address: vars.ranged("COMMENT_THROTTLE_PER_ADDRESS", 20, 0, 1_000_000)? as u64,
                window: Duration::from_secs(vars.ranged(
                    "COMMENT_THROTTLE_WINDOW",
                    3600,
                    1,
                    7 * 86_400,
                )? as u64),
            },
            min_seconds: Duration::from_secs(vars.ranged("COMMENT_MIN_SECONDS", 2, 0, 3600)? as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::settings;

    #[test]
    fn defaults_and_bounds() {
        let comments = settings(&[]).unwrap().comments;
        assert_eq!(comments.edit_window, Duration::from_secs(900));
        assert_eq!(comments.throttle.per_address, 20);
        assert_eq!(comments.throttle.window, Duration::from_secs(3600));
        assert_eq!(comments.min_seconds, Duration::from_secs(2));

        let off = settings(&[
            ("COMMENT_THROTTLE_PER_ADDRESS", "0"),
            ("COMMENT_MIN_SECONDS", "0"),
        ])
        .unwrap()
        .comments;
        assert_eq!(
            (off.throttle.per_address, off.min_seconds),
            (0, Duration::ZERO)
        );
        for name in [
            "COMMENT_EDIT_WINDOW",
            "COMMENT_THROTTLE_WINDOW",
            "COMMENT_MIN_SECONDS",
        ] {
            assert_eq!(settings(&[(name, "-1")]).unwrap_err().name, name);
        }
        assert_eq!(
            settings(&[("COMMENT_THROTTLE_WINDOW", "0")])
                .unwrap_err()
                .name,
            "COMMENT_THROTTLE_WINDOW"
        );
    }
}
