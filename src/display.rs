//! How values look on the pages.

use time::{PrimitiveDateTime, macros::format_description};

/// `2026-11-26 17:05 UTC`: the text of a time, and its tooltip.
pub fn format_time(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// `2026-11-26T17:05:09Z`: a `<time datetime>`, which the browser shows relative to now.
pub fn format_iso(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// A time something can still be done until, as the pages show it: how long is left, in
/// words ("another 14 minutes"), in a `<time>` whose `datetime` and `title` hold the exact
/// time (site.js keeps the words current).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// "another 14 minutes", as of when the page was made.
    pub left: String,
    /// `2026-11-26 17:05 UTC`.
    pub exact: String,
    /// `2026-11-26T17:05:09Z`.
    pub iso: String,
}

impl Deadline {
    pub fn new(until: PrimitiveDateTime, now: PrimitiveDateTime) -> Self {
        Self {
            left: time_left((until - now).whole_seconds()),
            exact: format_time(until),
            iso: format_iso(until),
        }
    }
}

/// "another 14 minutes", "another 2 hours", "less than a minute": how long `seconds` leave,
/// never more than is left (whole units, rounded down; site.js says the same).
pub fn time_left(seconds: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let count = |unit: i64, name: &str| {
        let n = seconds / unit;
        format!("another {n} {name}{}", if n == 1 { "" } else { "s" })
    };
    match seconds {
        s if s < MINUTE => "less than a minute".to_owned(),
        s if s < 2 * HOUR => count(MINUTE, "minute"),
        s if s < 2 * DAY => count(HOUR, "hour"),
        _ => count(DAY, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_in_whole_units_rounded_down() {
        let cases = [
            (-5, "less than a minute"),
            (59, "less than a minute"),
            (60, "another 1 minute"),
            (14 * 60 + 59, "another 14 minutes"),
            (119 * 60, "another 119 minutes"),
            (2 * 3600, "another 2 hours"),
            (47 * 3600 + 3599, "another 47 hours"),
            (3 * 86400, "another 3 days"),
        ];
        for (seconds, words) in cases {
            assert_eq!(time_left(seconds), words, "{seconds} s");
        }
    }

    #[test]
    fn a_deadline_carries_the_exact_time_beside_the_words() {
        let now = time::macros::datetime!(2026-12-03 08:13:30);
        let deadline = Deadline::new(time::macros::datetime!(2026-12-03 08:28:30), now);
        assert_eq!(deadline.left, "another 15 minutes");
        assert_eq!(deadline.exact, "2026-12-03 08:28 UTC");
        assert_eq!(deadline.iso, "2026-12-03T08:28:30Z");
    }
}
