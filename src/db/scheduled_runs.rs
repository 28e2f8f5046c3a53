//! Background work that one instance at a time runs, among those sharing the database.

use diesel::prelude::*;

use super::{Connection, DbError, schema::scheduled_runs};

/// The expired-session cleanup (`CLEARSESSIONS_INTERVAL`).
pub const CLEARSESSIONS: &str = "clearsessions";

/// Claims the run of `name` at `now` (seconds since the epoch) when the last one started at
/// least `interval` seconds before: `true` for the one caller whose conditional `UPDATE` wrote
/// `now`. Callers that race see the row as the winner left it, and claim nothing.
///
/// # Errors
/// Any database failure.
pub fn claim(conn: &mut Connection, name: &str, now: i64, interval: i64) -> Result<bool, DbError> {
    let claimed = diesel::update(
        scheduled_runs::table
            .filter(scheduled_runs::name.eq(name))
            .filter(scheduled_runs::started_at.le(now - interval)),
    )
    .set(scheduled_runs::started_at.eq(now))
    .execute(conn)?;
    Ok(claimed == 1)
}
