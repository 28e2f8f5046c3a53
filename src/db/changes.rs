//! The change counters: bumped by triggers on every change to `comments` and `members`.

use diesel::prelude::*;

use super::{Connection, DbError, schema::change_counters};

/// The counters at one moment: any change to a table since then moves its counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    pub comments: i64,
    pub members: i64,
}

/// The counters now.
///
/// # Errors
/// Any database failure.
pub fn versions(conn: &mut Connection) -> Result<Versions, DbError> {
    let rows: Vec<(String, i64)> = change_counters::table
        .select((change_counters::name, change_counters::version))
        .load(conn)?;
    let mut versions = Versions::default();
    for (name, version) in rows {
        match name.as_str() {
            "comments" => versions.comments = version,
            "members" => versions.members = version,
            _ => {}
        }
    }
    Ok(versions)
}
