//! The database: SQLite or PostgreSQL behind one connection type, a pool, the embedded
//! migrations of each, and a way to run blocking Diesel code off the async workers.
//!
//! Reads and writes go through separate lanes: [`Database::read`] runs on the blocking
//! threads with a pooled connection; [`Database::write`], on SQLite, runs on a writer thread of
//! its own (`writer.rs`), so a write waiting for the lock never holds up a read. Either way
//! one deadline, `DATABASE_POOL_TIMEOUT`, covers waiting for a connection and running the
//! query: the request gets its `503` by then.

pub mod changes;
pub mod comments;
mod connection;
mod error;
pub mod members;
pub mod models;
pub mod schema;
mod writer;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use diesel::{
    Connection as _, RunQueryDsl,
    connection::SimpleConnection,
    migration::MigrationSource,
    r2d2::{CustomizeConnection, Pool},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use self::connection::wait_until_no_connection_is_opening;
pub use self::{connection::DbConnection as Connection, error::DbError};
use self::{
    connection::{PoolManager, sqlite_pragmas},
    writer::Writer,
};
use crate::settings::DatabaseSettings;

/// How much longer than its deadline a write's requester waits for the write's own answer: a
/// write stops waiting for locks by the deadline, so its answer (done, or not) comes within
/// this, and the request reports what really happened.
const ANSWER_GRACE: Duration = Duration::from_secs(1);

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The PostgreSQL advisory lock held while migrating, so instances starting together take
/// turns (an arbitrary constant: "guestbk" in ASCII).
const MIGRATION_LOCK: i64 = 0x67_75_65_73_74_62_6b;

/// The pooled connections at one moment.
#[derive(Clone, Copy, Debug)]
pub struct PoolState {
    /// Open connections, idle or in use.
    pub connections: u32,
    pub idle: u32,
    /// `DATABASE_POOL_SIZE`.
    pub max_size: u32,
}

/// A cloneable handle on the database: the pool, and SQLite's writer.
#[derive(Clone)]
pub struct Database {
    pool: Pool<PoolManager>,
    /// SQLite's write lane; PostgreSQL writes share the pool.
    writer: Option<Arc<Writer>>,
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
        let writer = if settings.is_postgres() {
            None
        } else {
            Some(Arc::new(Writer::start(&target)?))
        };
        Ok(Self {
            pool,
            writer,
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

    /// A SQLite file `db.sqlite3` in `dir`, opened with a small pool and not migrated: what the
    /// unit tests build on.
    #[cfg(test)]
    pub(crate) fn sqlite_in(dir: &std::path::Path) -> Self {
        Self::connect(&DatabaseSettings {
            url: dir.join("db.sqlite3").to_string_lossy().into_owned(),
            pool_size: 2,
            pool_timeout: Duration::from_secs(5),
            blocking_threads_per_worker: 1,
        })
        .expect("a SQLite file in a temporary folder opens")
    }

    /// Applies the migrations not yet applied and returns their names, oldest first.
    ///
    /// # Errors
    /// When a migration fails; nothing of that migration is kept.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut conn = self.pool.get()?;
        match &mut *conn {
            Connection::Sqlite(conn) => migrate_with(conn, SQLITE_MIGRATIONS),
            Connection::Postgresql(conn) => {
                // Instances starting together take turns; the second finds nothing pending.
                // One transaction holds the lock and every migration (each its own
                // savepoint): a transaction-scoped lock is released by the commit or the
                // rollback, and works through a pooler in transaction mode (PgBouncer), where
                // a session lock could stay with a server connection someone else gets.
                conn.transaction::<_, anyhow::Error, _>(|conn| {
                    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                        .execute(conn)?;
                    migrate_with(conn, POSTGRES_MIGRATIONS)
                })
            }
        }
    }

    /// Every migration this binary carries, oldest first, with whether it is applied.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub fn migration_status(&self) -> anyhow::Result<Vec<(String, bool)>> {
        let mut conn = self.pool.get()?;
        match &mut *conn {
            Connection::Sqlite(conn) => status_with(conn, SQLITE_MIGRATIONS),
            Connection::Postgresql(conn) => status_with(conn, POSTGRES_MIGRATIONS),
        }
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

fn status_with<C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<Vec<(String, bool)>>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    let fail = |e| anyhow::anyhow!("cannot read migrations: {e}");
    let all = MigrationSource::<C::Backend>::migrations(&migrations).map_err(fail)?;
    let pending: Vec<String> = conn
        .pending_migrations(migrations)
        .map_err(fail)?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok(all
        .iter()
        .map(|m| {
            let name = m.name().to_string();
            let applied = !pending.contains(&name);
            (name, applied)
        })
        .collect())
}

fn migrate_with<C>(conn: &mut C, migrations: EmbeddedMigrations) -> anyhow::Result<Vec<String>>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    let pending = conn
        .pending_migrations(migrations)
        .map_err(|e| anyhow::anyhow!("cannot read migrations: {e}"))?;
    let mut applied = Vec::with_capacity(pending.len());
    for migration in &pending {
        let name = migration.name().to_string();
        conn.run_migration(&**migration)
            .map_err(|e| anyhow::anyhow!("migration {name} failed: {e}"))?;
        applied.push(name);
    }
    Ok(applied)
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

#[cfg(test)]
mod tests {
    use diesel::{QueryDsl, SqliteConnection, sqlite::Sqlite};

    use super::*;
    use crate::db::schema;

    const REBUILD: &str = "member_ids_never_reused";

    fn sqlite(conn: &mut Connection) -> &mut SqliteConnection {
        match conn {
            Connection::Sqlite(conn) => conn,
            Connection::Postgresql(_) => unreachable!("the test opens SQLite"),
        }
    }

    fn members_of(conn: &mut Connection) -> Vec<(i64, String, i64, Option<String>, bool)> {
        use schema::members::dsl::*;
        members
            .select((
                id,
                username,
                session_generation,
                carried_session_hash,
                is_staff,
            ))
            .order(id)
            .load(conn)
            .unwrap()
    }

    fn authors_of(conn: &mut Connection) -> Vec<(String, Option<i64>)> {
        use schema::comments::dsl::*;
        comments
            .select((body, member_id))
            .order(id)
            .load(conn)
            .unwrap()
    }

    /// The rebuild that gives `members` AUTOINCREMENT keeps every row and id, the comments'
    /// references (with foreign keys enforced again), the case-blind unique index and the
    /// change-counter triggers; and from then on a deleted member's id is not given again.
    #[test]
    fn the_members_rebuild_keeps_rows_references_index_and_triggers() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::sqlite_in(dir.path());
        let mut conn = db.get().unwrap();
        let (rebuild, before): (Vec<_>, Vec<_>) =
            MigrationSource::<Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .unwrap()
                .into_iter()
                .partition(|m| m.name().to_string().ends_with(REBUILD));
        // Creates diesel's own table of applied migrations.
        sqlite(&mut conn).applied_migrations().unwrap();
        for migration in &before {
            sqlite(&mut conn).run_migration(&**migration).unwrap();
        }
        conn.batch_execute(
            "INSERT INTO members (id, username, password_hash, created_at, session_generation, \
                 carried_session_hash, is_staff) VALUES \
                 (1, 'ada', 'h1', '2026-01-01 00:00:00', 3, 'carried', TRUE), \
                 (2, 'bob', 'h2', '2026-01-02 00:00:00', 0, NULL, FALSE), \
                 (3, 'cy', 'h3', '2026-01-03 00:00:00', 1, NULL, FALSE); \
             INSERT INTO comments (body, member_id, visitor_id, created_at) VALUES \
                 ('by ada', 1, 'v1', '2026-01-04 00:00:00'), \
                 ('by bob', 2, 'v2', '2026-01-04 00:00:00'), \
                 ('by nobody', NULL, 'v3', '2026-01-04 00:00:00');",
        )
        .unwrap();
        let (members_before, authors_before) = (members_of(&mut conn), authors_of(&mut conn));

        sqlite(&mut conn).run_migration(&*rebuild[0]).unwrap();

        assert_eq!(
            members_of(&mut conn),
            members_before,
            "every row and id kept"
        );
        assert_eq!(
            authors_of(&mut conn),
            authors_before,
            "every comment still theirs"
        );
        let taken = conn.batch_execute(
            "INSERT INTO members (username, password_hash, created_at) \
             VALUES ('ADA', 'h', '2026-01-05 00:00:00')",
        );
        assert!(taken.is_err(), "usernames still unique in any case");
        let counter = |conn: &mut Connection| changes::versions(conn).unwrap().members;
        let at_start = counter(&mut conn);
        conn.batch_execute("UPDATE members SET is_staff = TRUE WHERE id = 2")
            .unwrap();
        let after_update = counter(&mut conn);
        conn.batch_execute("DELETE FROM members WHERE id = 2")
            .unwrap();
        let after_delete = counter(&mut conn);
        assert_eq!(
            (after_update, after_delete),
            (at_start + 1, at_start + 2),
            "updates and deletions still move the counter"
        );
        assert_eq!(
            authors_of(&mut conn)[1],
            ("by bob".into(), None),
            "foreign keys enforced again: a deleted member's comment keeps no id"
        );
        conn.batch_execute("DELETE FROM members WHERE id = 3")
            .unwrap();
        let newcomer = members::create(&mut conn, "dee", "h4", false)
            .unwrap()
            .unwrap();
        assert_eq!(newcomer.id, 4, "the newest member's id is not given again");

        // Reverted, the table is as before, rows and references kept.
        let (members_now, authors_now) = (members_of(&mut conn), authors_of(&mut conn));
        sqlite(&mut conn).revert_migration(&*rebuild[0]).unwrap();
        assert_eq!(members_of(&mut conn), members_now);
        assert_eq!(authors_of(&mut conn), authors_now);
        conn.batch_execute("DELETE FROM members WHERE id = 1")
            .unwrap();
        assert_eq!(authors_of(&mut conn)[0], ("by ada".into(), None));
    }
}
