//! The database: SQLite or PostgreSQL behind one connection type, a pool, the embedded
//! migrations of each, and a way to run blocking Diesel code off the async workers.
//!
//! Reads and writes go through separate lanes: [`Database::read`] runs on the blocking
//! threads with a pooled connection; [`Database::write`], on SQLite, runs on a writer thread of
//! its own (`writer.rs`), so a write waiting for the lock never holds up a read. Either way
//! one deadline, `DATABASE_POOL_TIMEOUT`, covers waiting for a connection and running the
//! query: the request gets its `503` by then.

mod batches;
mod connection;
mod error;
mod group_commit;
mod pipeline;
pub mod schema;
mod settings;
mod writer;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use diesel::{
    connection::SimpleConnection,
    r2d2::{CustomizeConnection, Pool},
};

use self::{connection::PoolManager, group_commit::GroupCommit, pipeline::Lane, writer::Writer};
pub use self::{
    connection::{DbConnection as Connection, sqlite_pragmas, wait_until_no_connection_is_opening},
    error::DbError,
    pipeline::{Pipe, Row, ToSql},
    settings::{DatabaseSettings, is_postgres_url, redact_url},
};

/// How much longer than its deadline a write's requester waits for the write's own answer: a
/// write stops waiting for locks by the deadline, so its answer (done, or not) comes within
/// this, and the request reports what really happened.
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// The current time in UTC, as stored in `TIMESTAMP` columns.
pub fn now_utc() -> time::PrimitiveDateTime {
    let now = time::OffsetDateTime::now_utc();
    time::PrimitiveDateTime::new(now.date(), now.time())
}

/// The tables [`Database::create_session_tables`] makes, with `{binary}` standing for the
/// backend's byte-string type (SQLite's `BLOB`, PostgreSQL's `BYTEA`).
const SESSION_TABLES: &str = "\
    CREATE TABLE IF NOT EXISTS sessions (\
        session_key TEXT PRIMARY KEY NOT NULL,\
        session_data {binary} NOT NULL,\
        expire_date TIMESTAMP NOT NULL,\
        user_id BIGINT);\
    CREATE INDEX IF NOT EXISTS sessions_expire_date ON sessions (expire_date);\
    CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id);\
    CREATE TABLE IF NOT EXISTS session_user_index (\
        session_key TEXT PRIMARY KEY NOT NULL,\
        user_id BIGINT NOT NULL);\
    CREATE INDEX IF NOT EXISTS session_user_index_user_id ON session_user_index (user_id);\
    CREATE TABLE IF NOT EXISTS session_cache_epoch (epoch BIGINT NOT NULL);\
    INSERT INTO session_cache_epoch SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM session_cache_epoch);";

/// The pooled connections at one moment.
#[derive(Clone, Copy, Debug)]
pub struct PoolState {
    /// Open connections, idle or in use.
    pub connections: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// `DATABASE_POOL_SIZE`.
    pub max_size: u32,
}

/// A cloneable handle on the database: the pool, and SQLite's writer.
#[derive(Clone)]
pub struct Database {
    pool: Pool<PoolManager>,
    /// SQLite's write lane; PostgreSQL writes share the pool (and see `group_commit`).
    writer: Option<Arc<Writer>>,
    /// PostgreSQL's pipelined read lane (`pipeline.rs`), where it can be used.
    lane: Option<Arc<Lane>>,
    /// PostgreSQL's group commit (`group_commit.rs`).
    group_commit: Option<Arc<GroupCommit>>,
    /// `DATABASE_POOL_TIMEOUT`: how long a call may take, waiting included.
    deadline: Duration,
}

impl Database {
    /// Opens (creating a SQLite file if needed) the database `settings` name, with their pool
    /// size and checkout timeout.
    ///
    /// # Errors
    /// When the database cannot be reached, or the file cannot be opened or created.
    pub fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        // OpenSSL started by its Rust binding first, so without clean-up at exit: libpq starts
        // it with one, which frees OpenSSL's state while other threads (workers still holding
        // TLS connections) may be using it, and the process can crash on its way out.
        openssl_sys::init();
        let target = if settings.is_postgres() {
            settings.url.clone()
        } else {
            let path = settings.sqlite_path();
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot create the folder of DATABASE_URL {}: {e}",
                        parent.display()
                    )
                })?;
            }
            owner_only(&path).map_err(|e| {
                anyhow::anyhow!("cannot prepare the database file {}: {e}", path.display())
            })?;
            path.to_string_lossy().into_owned()
        };
        let manager = PoolManager::new(&target, settings.is_postgres());
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            // No `SELECT 1` before every checkout: SQLite connections are files, not sockets,
            // and a failed query already marks a connection broken.
            .test_on_check_out(false)
            .connection_timeout(settings.pool_timeout)
            .connection_customizer(Box::new(PerConnection {
                statement_timeout: settings.pool_timeout,
            }))
            .build(manager)
            .map_err(|e| {
                anyhow::anyhow!("cannot open the database {}: {e}", settings.redacted_url())
            })?;
        let (writer, lane, group_commit) = if settings.is_postgres() {
            let lane = Lane::for_url(&settings.url, settings.pool_timeout)
                .inspect_err(|why| {
                    tracing::info!("PostgreSQL's reads all go through libpq: {why}");
                })
                .ok()
                .map(Arc::new);
            let group_commit = GroupCommit::start(pool.clone())?;
            (None, lane, Some(Arc::new(group_commit)))
        } else {
            (Some(Arc::new(Writer::start(&target)?)), None, None)
        };
        Ok(Self {
            pool,
            writer,
            lane,
            group_commit,
            deadline: settings.pool_timeout,
        })
    }

    /// Runs blocking Diesel code that only reads, on the blocking thread pool with a pooled
    /// connection taken inside the blocking task, so async workers never wait on the
    /// database.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when no connection frees up, or the call does not finish, by
    /// the deadline; [`DbError::Query`] for a failed query.
    pub async fn read<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let call = actix_web::web::block(move || {
            let mut conn = pool
                .get()
                .map_err(|e| DbError::Unavailable(format!("no connection: {e}")))?;
            query(&mut conn)
        });
        match actix_web::rt::time::timeout(self.deadline, call).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(DbError::Unavailable(format!("blocking task failed: {e}"))),
            Err(_) => Err(DbError::Unavailable("no answer in time".into())),
        }
    }

    /// A read that nearly every request makes, on PostgreSQL sent from the async worker on its
    /// pipelined connection (`on_lane`, `pipeline.rs`); on SQLite, where the lane cannot be
    /// used, and when a read on it fails, `blocking` runs as [`Database::read`] runs it, and
    /// its answer counts. Both must read the same thing.
    ///
    /// # Errors
    /// As [`Database::read`].
    pub async fn read_pipelined<T, F>(
        &self,
        on_lane: impl AsyncFnOnce(&Pipe) -> Result<T, tokio_postgres::Error>,
        blocking: F,
    ) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        if let Some(lane) = &self.lane {
            match lane.run(self.deadline, on_lane).await {
                Some(Ok(value)) => return Ok(value),
                Some(Err(())) => return Err(DbError::Unavailable("no answer in time".into())),
                None => {}
            }
        }
        self.read(blocking).await
    }

    /// Reads answered on PostgreSQL's pipelined lane so far (none on SQLite, or where libpq
    /// must connect instead).
    pub fn pipelined_reads(&self) -> u64 {
        self.lane.as_ref().map_or(0, |lane| lane.reads())
    }

    /// Runs blocking Diesel code that writes (and may read): on SQLite, on its writer thread;
    /// on PostgreSQL, as [`Database::read`] does.
    ///
    /// # Errors
    /// As [`Database::read`]; on SQLite also when the write lock stays taken until the
    /// deadline.
    pub async fn write<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let deadline = Instant::now() + self.deadline;
        if let Some(writer) = &self.writer {
            return writer.run(deadline, query).await;
        }
        let (pool, full) = (self.pool.clone(), self.deadline);
        let call = actix_web::web::block(move || {
            let mut conn = pool
                .get()
                .map_err(|e| DbError::Unavailable(format!("no connection: {e}")))?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DbError::Unavailable("no connection in time".into()));
            }
            // Statements may take the whole deadline; after waiting for the connection, only
            // what is left of it, so the write ends (done or not) by the deadline.
            let shortened = left + Duration::from_millis(50) < full;
            let limit = |conn: &mut Connection, limit: Duration| {
                conn.batch_execute(&format!("SET statement_timeout = {}", limit.as_millis()))
            };
            if shortened {
                limit(&mut conn, left)?;
            }
            let outcome = query(&mut conn);
            if shortened {
                limit(&mut conn, full)?;
            }
            outcome
        });
        match actix_web::rt::time::timeout(self.deadline + ANSWER_GRACE, call).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(DbError::Unavailable(format!("blocking task failed: {e}"))),
            Err(_) => Err(DbError::Unavailable("no answer in time".into())),
        }
    }

    /// A small write that many requests make at once (a comment, a session saved), which
    /// may share its transaction, and so its durable commit, with the writes of other requests
    /// arriving together: on SQLite on its writer thread as [`Database::write`]; on PostgreSQL
    /// batched (`group_commit.rs`). `query` may run a second time, alone, when another write
    /// of its batch fails (the batch is rolled back first): it must only depend on what it
    /// captures and reads, as a retried transaction does.
    ///
    /// # Errors
    /// As [`Database::write`].
    pub async fn write_batched<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        match &self.group_commit {
            Some(group) => group.run(Instant::now() + self.deadline, query).await,
            None => self.write(query).await,
        }
    }

    /// The pool's connections now: open, idle, and the most it opens (for metrics). The
    /// SQLite writer's own connection is not pooled and not counted.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max_size: self.pool.max_size(),
        }
    }

    /// A SQLite file `db.sqlite3` in `dir`, opened with a small pool and without tables: for
    /// tests.
    #[doc(hidden)]
    pub fn sqlite_in(dir: &std::path::Path) -> Self {
        Self::connect(&DatabaseSettings {
            url: dir.join("db.sqlite3").to_string_lossy().into_owned(),
            pool_size: 2,
            pool_timeout: Duration::from_secs(5),
            blocking_threads_per_worker: 1,
        })
        .expect("a SQLite file in a temporary folder opens")
    }

    /// Creates the tables the session engines use, where they do not exist yet: `sessions`
    /// (the `db` and `cached_db` engines), `session_cache_epoch` (`cached_db`'s
    /// `DatabaseEpoch`) and `session_user_index` (the `db` engine's index beside Django's
    /// `django_session`, which Django's own migrations make). An application with
    /// migrations of its own creates them there instead.
    ///
    /// # Errors
    /// When the database does not answer or refuses the statements.
    pub fn create_session_tables(&self) -> Result<(), DbError> {
        let mut conn = self.get()?;
        let binary = match &*conn {
            Connection::Sqlite(_) => "BLOB",
            Connection::Postgresql(_) => "BYTEA",
        };
        conn.batch_execute(&SESSION_TABLES.replace("{binary}", binary))
            .map_err(DbError::from)
    }

    /// Whether the database answers a trivial query.
    ///
    /// # Errors
    /// What went wrong, for the health check's answer.
    pub async fn ping(&self) -> Result<(), DbError> {
        // Reads a real table: an unmigrated database is not healthy.
        self.read(|conn| {
            conn.batch_execute("SELECT 1 FROM sessions LIMIT 1")
                .map_err(DbError::from)
        })
        .await
    }

    /// A connection for blocking code outside request handling (the CLI, tests).
    ///
    /// # Errors
    /// When no connection frees up in time.
    pub fn get(&self) -> Result<impl std::ops::DerefMut<Target = Connection>, DbError> {
        self.pool
            .get()
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }
}

/// The SQLite database file, made readable by its owner only (created so if missing); SQLite
/// gives its `-wal` and `-shm` files the same permissions, and existing ones are tightened.
fn owner_only(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Per-connection settings. SQLite: WAL so readers never block the writer, a busy timeout so
/// writers queue instead of failing, foreign keys enforced. PostgreSQL: no statement runs past
/// the deadline, so a stalled query frees its thread.
#[derive(Debug)]
struct PerConnection {
    statement_timeout: Duration,
}

impl CustomizeConnection<Connection, diesel::r2d2::Error> for PerConnection {
    fn on_acquire(&self, conn: &mut Connection) -> Result<(), diesel::r2d2::Error> {
        match conn {
            Connection::Sqlite(conn) => sqlite_pragmas(conn),
            Connection::Postgresql(conn) => conn.batch_execute(&format!(
                "SET statement_timeout = {}",
                self.statement_timeout.as_millis()
            )),
        }
        .map_err(diesel::r2d2::Error::QueryError)
    }
}
