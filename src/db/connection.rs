//! One connection type for the whole application: query code is written once and runs on
//! SQLite or PostgreSQL (Diesel's `MultiConnection`, in a module of its own because the
//! derive brings many names into scope).

use diesel::{
    Connection as _, PgConnection, SqliteConnection,
    connection::SimpleConnection,
    r2d2::{Error, ManageConnection, R2D2Connection},
};

/// How long a query waits on a write lock before SQLite answers "database is locked".
const BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Opens the pool's connections on the backend the URL names. The derive's own `establish`
/// tries each backend in turn and, when all fail, says only "Invalid connection url for
/// multiconnection": libpq's reason (a certificate that failed verification, a refused
/// password, a server that is down) would never reach the start-up error or the log.
#[derive(Debug)]
pub struct PoolManager {
    url: String,
    postgres: bool,
}

impl PoolManager {
    /// Connections to `url`: PostgreSQL when `postgres`, else a SQLite file path.
    pub fn new(url: &str, postgres: bool) -> Self {
        Self {
            url: url.to_owned(),
            postgres,
        }
    }
}

impl ManageConnection for PoolManager {
    type Connection = DbConnection;
    type Error = Error;

    fn connect(&self) -> Result<DbConnection, Error> {
        let conn = if self.postgres {
            PgConnection::establish(&self.url).map(DbConnection::Postgresql)
        } else {
            SqliteConnection::establish(&self.url).map(DbConnection::Sqlite)
        };
        conn.map_err(Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Error> {
        conn.ping().map_err(Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
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
