//! The spam trap on the comment form: two checks people never notice and scripts fail.
//!
//! - A honeypot: a `website` field hidden from people (by a CSS class) and from assistive
//!   technology (`aria-hidden`, out of the tab order). Scripts that fill every field fill it;
//!   a filled one is refused, whatever `COMMENT_MIN_SECONDS` says.
//! - A signed time stamp (`form_stamp`): when the form was rendered, in Unix milliseconds,
//!   signed with `SECRET_KEY` under a salt of its own, so no other signed value passes for one
//!   and nobody can make an old one. A post whose stamp is missing or forged, younger than
//!   `COMMENT_MIN_SECONDS` (or from the future), or older than [`MAX_FORM_AGE`] is refused:
//!   a script posting without reading the form, or right after reading it, fails; a person
//!   takes longer than that to write anything, and one who kept a tab open for more than a day
//!   gets the form back with a fresh stamp. With `COMMENT_MIN_SECONDS=0` the stamp is still
//!   rendered but not checked.
//!
//! A stamp is not single-use: it only proves the form was read at least that long ago (the
//! comment throttle bounds how often one address posts). Instances compare a stamp with their
//! own clocks, so clock skew between them shifts the minimum by as much.
//!
//! A refusal ([`REFUSED`]) does not say which check failed; the log and the metric do.

use std::{
    sync::{PoisonError, RwLock},
    time::{Duration, SystemTime},
};

use actix_web::HttpRequest;

use super::{proxies::TrustedProxies, signing::Signer};
use crate::metrics;

/// The signing salt of form stamps: a value signed for any other purpose is no stamp.
const STAMP_SALT: &str = "guestbook.spam-trap.form-stamp";

/// The oldest form accepted: a day after it was rendered.
pub const MAX_FORM_AGE: Duration = Duration::from_secs(86_400);

/// What a post caught by the trap is told: the same whichever check caught it.
pub const REFUSED: &str = "Your comment could not be posted. Please wait a moment and try again.";

/// Checks comment posts against the honeypot and the form stamp (`COMMENT_MIN_SECONDS`).
pub struct SpamTrap {
    signer: Signer,
    /// `COMMENT_MIN_SECONDS`; zero: the stamp is not checked.
    min_age: Duration,
    proxies: TrustedProxies,
    /// The stamp of the current second and the second it is for: signing costs two HMACs,
    /// and every page with the form needs a stamp.
    current: RwLock<(u64, String)>,
}

/// Which check caught a post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caught {
    /// The hidden `website` field was filled in.
    Honeypot,
    /// No stamp came with the post.
    NoStamp,
    /// The stamp's signature does not hold, or it holds no time.
    ForgedStamp,
    /// Posted sooner after the form was rendered than `COMMENT_MIN_SECONDS` allows.
    TooFast,
    /// The form was rendered more than [`MAX_FORM_AGE`] ago.
    TooOld,
}

impl Caught {
    /// A short name for logs and the metric's `reason` label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Honeypot => "honeypot",
            Self::NoStamp => "no_stamp",
            Self::ForgedStamp => "forged_stamp",
            Self::TooFast => "too_fast",
            Self::TooOld => "too_old",
        }
    }
}

impl SpamTrap {
    pub fn new(signer: Signer, min_age: Duration, proxies: TrustedProxies) -> Self {
        Self {
            signer,
            min_age,
            proxies,
            current: RwLock::new((0, String::new())),
        }
    }

    /// The stamp for a form rendered now: made once a second, and dated the end of that
    /// second, so it never says a form is older than it is (a post may have to wait up to a
    /// second longer, never less).
    pub fn stamp(&self) -> String {
        let second = unix_millis(SystemTime::now()) as u64 / 1000;
        {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            if current.0 == second {
                return current.1.clone();
            }
        }
        let stamp = self.stamp_at(SystemTime::UNIX_EPOCH + Duration::from_secs(second + 1));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = (second, stamp.clone());
        stamp
    }

    /// The stamp of a form rendered at `rendered_at` (tests make the stamp of a form read a
    /// while ago with it).
    pub fn stamp_at(&self, rendered_at: SystemTime) -> String {
        self.signer
            .sign(STAMP_SALT, &unix_millis(rendered_at).to_string())
    }

    /// Checks a comment post's `website` (`honeypot`) and `form_stamp` fields, logging and
    /// counting a catch with the client's address (never the comment).
    ///
    /// # Errors
    /// [`Caught`]: which check caught the post.
    pub fn check(
        &self,
        req: &HttpRequest,
        honeypot: Option<&str>,
        stamp: Option<&str>,
    ) -> Result<(), Caught> {
        self.inspect(honeypot, stamp, SystemTime::now())
            .inspect_err(|caught| {
                let client = self.proxies.client(req).addr;
                let client = client.map_or_else(|| "unknown".into(), |addr| addr.to_string());
                tracing::info!(
                    client = %client,
                    reason = caught.reason(),
                    "comment refused by the spam trap"
                );
                metrics::comment_refusal(caught.reason());
            })
    }

    /// [`SpamTrap::check`] at `now`, without logging.
    fn inspect(
        &self,
        honeypot: Option<&str>,
        stamp: Option<&str>,
        now: SystemTime,
    ) -> Result<(), Caught> {
        // Whitespace alone counts as empty: nothing a script gains, and a person's autofill
        // that typed a space is no spammer.
        if honeypot.is_some_and(|value| !value.trim().is_empty()) {
            return Err(Caught::Honeypot);
        }
        if self.min_age.is_zero() {
            return Ok(());
        }
        let stamp = stamp.filter(|s| !s.is_empty()).ok_or(Caught::NoStamp)?;
        let rendered_at: i128 = self
            .signer
            .unsign(STAMP_SALT, stamp)
            .and_then(|value| value.parse().ok())
            .ok_or(Caught::ForgedStamp)?;
        let age = i128::from(unix_millis(now)) - rendered_at;
        if age < self.min_age.as_millis() as i128 {
            Err(Caught::TooFast)
        } else if age > MAX_FORM_AGE.as_millis() as i128 {
            Err(Caught::TooOld)
        } else {
            Ok(())
        }
    }
}

/// Milliseconds since the Unix epoch (zero before it).
fn unix_millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SecretKey;

    fn signer(fill: u8) -> Signer {
        Signer::new(SecretKey::new(vec![fill; 32]).unwrap(), vec![])
    }

    fn trap(min_seconds: u64) -> SpamTrap {
        SpamTrap::new(
            signer(1),
            Duration::from_secs(min_seconds),
            TrustedProxies::default(),
        )
    }

    fn ago(seconds: u64) -> SystemTime {
        SystemTime::now() - Duration::from_secs(seconds)
    }

    fn check(trap: &SpamTrap, honeypot: Option<&str>, stamp: &str) -> Result<(), Caught> {
        trap.inspect(honeypot, Some(stamp), SystemTime::now())
    }

    #[test]
    fn the_stamp_of_now_never_makes_a_form_older_than_it_is() {
        let trap = trap(1);
        let made = SystemTime::now();
        let stamp = trap.stamp();

        let just_short = trap.inspect(None, Some(&stamp), made + Duration::from_millis(999));
        let later = trap.inspect(None, Some(&stamp), made + Duration::from_secs(3));

        assert_eq!(just_short, Err(Caught::TooFast));
        assert_eq!(later, Ok(()), "dated at most a second after it was made");
    }

    #[test]
    fn a_stamp_old_enough_and_not_too_old_passes() {
        let trap = trap(2);

        assert_eq!(check(&trap, None, &trap.stamp_at(ago(3))), Ok(()));
        assert_eq!(check(&trap, Some(""), &trap.stamp_at(ago(3600))), Ok(()));
        assert_eq!(
            check(&trap, Some("  "), &trap.stamp_at(ago(86_000))),
            Ok(())
        );
    }

    #[test]
    fn a_stamp_too_young_from_the_future_or_too_old_is_caught() {
        let trap = trap(2);

        assert_eq!(check(&trap, None, &trap.stamp()), Err(Caught::TooFast));
        assert_eq!(
            check(&trap, None, &trap.stamp_at(ago(1))),
            Err(Caught::TooFast)
        );
        let future = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(
            check(&trap, None, &trap.stamp_at(future)),
            Err(Caught::TooFast)
        );
        assert_eq!(
            check(&trap, None, &trap.stamp_at(ago(86_400 + 60))),
            Err(Caught::TooOld)
        );
    }

    #[test]
    fn a_missing_forged_or_tampered_stamp_is_caught() {
        let trap = trap(2);
        let good = trap.stamp_at(ago(10));
        let (time, signature) = good.rsplit_once(':').unwrap();
        let earlier = (time.parse::<i64>().unwrap() - 60_000).to_string();

        assert_eq!(
            trap.inspect(None, None, SystemTime::now()),
            Err(Caught::NoStamp)
        );
        assert_eq!(check(&trap, None, ""), Err(Caught::NoStamp));
        assert_eq!(
            check(&trap, None, &format!("{earlier}:{signature}")),
            Err(Caught::ForgedStamp),
            "the time changed under its signature"
        );
        assert_eq!(check(&trap, None, time), Err(Caught::ForgedStamp));
        assert_eq!(check(&trap, None, "not a stamp"), Err(Caught::ForgedStamp));
        assert_eq!(
            check(
                &trap,
                None,
                &SpamTrap::new(signer(2), Duration::from_secs(2), TrustedProxies::default())
                    .stamp_at(ago(10))
            ),
            Err(Caught::ForgedStamp),
            "signed with another key"
        );
        assert_eq!(
            check(&trap, None, &signer(1).sign("another purpose", &earlier)),
            Err(Caught::ForgedStamp),
            "signed for another purpose"
        );
        assert_eq!(
            check(&trap, None, &signer(1).sign(STAMP_SALT, "soon")),
            Err(Caught::ForgedStamp),
            "signed, but no time"
        );
    }

    #[test]
    fn a_filled_honeypot_is_caught_even_with_a_good_stamp_or_none_checked() {
        let checked = trap(2);
        let unchecked = trap(0);

        assert_eq!(
            check(
                &checked,
                Some("https://spam.example"),
                &checked.stamp_at(ago(60))
            ),
            Err(Caught::Honeypot)
        );
        assert_eq!(
            unchecked.inspect(Some("x"), None, SystemTime::now()),
            Err(Caught::Honeypot)
        );
    }

    #[test]
    fn with_no_minimum_the_stamp_is_not_checked() {
        let trap = trap(0);

        assert_eq!(trap.inspect(None, None, SystemTime::now()), Ok(()));
        assert_eq!(check(&trap, None, "forged:stamp"), Ok(()));
        assert_eq!(check(&trap, None, &trap.stamp()), Ok(()));
    }
}
