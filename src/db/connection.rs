//! One connection type for the whole application: query code is written once and runs on
//! SQLite or PostgreSQL (Diesel's `MultiConnection`, in a module of its own because the
//! derive brings many names into scope).

use diesel::{PgConnection, SqliteConnection, connection::SimpleConnection};

/// How long a query waits on a write lock before SQLite answers "database is locked".
const BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// The settings every SQLite connection gets: WAL so readers never wait for the writer, a
/// busy timeout so a writer waits for the lock instead of failing, foreign keys enforced.
///
/// # Errors
/// When SQLite refuses one.
pub fn sqlite_pragmas(conn: &mut diesel::SqliteConnection) -> diesel::QueryResult<()> {
    // Each PRAGMA on its own: a batch would stop at the first that returns a row.
    for pragma in [
        format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"),
        "PRAGMA journal_mode = WAL".into(),
        "PRAGMA synchronous = NORMAL".into(),
        "PRAGMA foreign_keys = ON".into(),
    ] {
        conn.batch_execute(&pragma)?;
    }
    Ok(())
}
