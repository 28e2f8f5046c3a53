//! The change counters: bumped by triggers on every change to `comments` and `members`, and
//! the cache epoch, bumped by the application when a cache could not follow a change.

use diesel::{Connection as _, prelude::*};

use super::{Connection, Database, DbError, schema::change_counters};

/// The counters at one moment: any change to a table since then moves its counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    pub comments: i64,
    pub members: i64,
    /// Moves when an instance changed a session in the database but could not make the cache
    /// follow: cache entries written under an older epoch are not trusted as they are.
    pub cache_epoch: i64,
}

/// The counters now.
///
/// # Errors
/// Any database failure.
pub fn versions(conn: &mut Connection) -> Result<Versions, DbError> {
    let rows: Vec<(String, i64)> = change_counters::table
        .select((change_counters::name, change_counters::version))
        .load(conn)?;
    Ok(Versions::from_rows(rows))
}

/// The counters now, read as every request reads them: on PostgreSQL from the async worker
/// (the pipelined lane), else as [`versions`].
///
/// # Errors
/// Any database failure.
pub async fn read_versions(db: &Database) -> Result<Versions, DbError> {
    db.read_pipelined(
        async |pipe| {
            let rows = pipe.query(VERSIONS, &[]).await?;
            let rows: Result<Vec<(String, i64)>, _> = rows
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect();
            Ok(Versions::from_rows(rows?))
        },
        versions,
    )
    .await
}

/// [`versions`]' query, for the pipelined lane.
const VERSIONS: &str = "SELECT name, version FROM change_counters";

impl Versions {
    fn from_rows(rows: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut versions = Self::default();
        for (name, version) in rows {
            match name.as_str() {
                "comments" => versions.comments = version,
                "members" => versions.members = version,
                "cache_epoch" => versions.cache_epoch = version,
                _ => {}
            }
        }
        versions
    }
}

/// Moves the cache epoch on; the new epoch.
///
/// # Errors
/// Any database failure.
pub fn bump_cache_epoch(conn: &mut Connection) -> Result<i64, DbError> {
    // Read back in the same transaction (RETURNING is not portable across Diesel's
    // multi-connection): the write lock is held, so this is the epoch this bump made.
    let counter = || change_counters::table.filter(change_counters::name.eq("cache_epoch"));
    Ok(conn.transaction(|conn| {
        diesel::update(counter())
            .set(change_counters::version.eq(change_counters::version + 1))
            .execute(conn)?;
        counter().select(change_counters::version).first(conn)
    })?)
}
