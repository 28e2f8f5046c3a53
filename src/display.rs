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
