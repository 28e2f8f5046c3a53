//! One connection type for the whole application: query code is written once and runs on
//! SQLite or PostgreSQL (Diesel's `MultiConnection`, in a module of its own because the
//! derive brings many names into scope).

use std::{
    cell::Cell,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use diesel::{
    Connection as _, PgConnection, SqliteConnection,
    connection::SimpleConnection,
    r2d2::{Error, ManageConnection, R2D2Connection},
};

/// How long a query waits on a write lock before SQLite answers "database is locked".
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// A connection to either database.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL.
    Postgresql(PgConnection),
    /// SQLite.
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
        let _opening = Opening::start();
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
        // The flag is read (and cleared) on every hand-back, so it never outlives the
        // connection the failed query ran on: connections are used and handed back on the
        // thread that took them.
        connection_lost_taken() || conn.is_broken()
    }
}

thread_local! {
    /// Set when a query on this thread found its connection gone (the server restarted, the
    /// network dropped it). Diesel's own check looks only at the transaction state, so
    /// without this the pool would keep handing out the dead connection, and the site would
    /// answer `503` long after the server was back.
    static CONNECTION_LOST: Cell<bool> = const { Cell::new(false) };
}

/// Marks the connection the current thread is using as lost: the pool drops it when it is
/// handed back and opens a new one.
pub(super) fn connection_lost() {
    CONNECTION_LOST.set(true);
}

/// Whether [`connection_lost`] was called on this thread since the last time this was asked.
pub(super) fn connection_lost_taken() -> bool {
    CONNECTION_LOST.replace(false)
}

/// Connections being opened right now, by any pool of the process (r2d2 opens them on
/// threads of its own, to keep its idle minimum).
static OPENING: AtomicUsize = AtomicUsize::new(0);

/// One connection being opened, counted in [`OPENING`] until dropped.
struct Opening;

impl Opening {
    fn start() -> Self {
        OPENING.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        OPENING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits, up to `within`, until no pool of the process is opening a connection; whether it
/// came to that. A short-lived process (a command) calls this before it exits: libpq opening
/// a TLS connection on a pool thread while the exit handlers run (OpenSSL's frees the locks
/// libpq is using) kills the process with `SIGSEGV` after its work is done
/// (diesel-rs/diesel#3441).
pub fn wait_until_no_connection_is_opening(within: Duration) -> bool {
    let deadline = Instant::now() + within;
    // Twice at rest, a moment apart: a connection the pool asked for just now may not have
    // started opening yet.
    let mut at_rest = 0;
    while Instant::now() < deadline {
        if OPENING.load(Ordering::SeqCst) == 0 {
            at_rest += 1;
            if at_rest == 2 {
                return true;
            }
        } else {
            at_rest = 0;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
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
