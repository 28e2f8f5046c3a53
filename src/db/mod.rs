//! The database: SQLite or PostgreSQL behind one connection type, a pool, the embedded
//! migrations of each, and a way to run blocking Diesel code off the async workers.

pub mod comments;
mod connection;
pub mod members;
pub mod models;
pub mod schema;

use diesel::{
    RunQueryDsl,
    connection::SimpleConnection,
    r2d2::{ConnectionManager, CustomizeConnection, Pool},
    result::{DatabaseErrorKind, Error as DieselError},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use self::connection::DbConnection as Connection;
use crate::settings::DatabaseSettings;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The PostgreSQL advisory lock held while migrating, so instances starting together take
/// turns (an arbitrary constant: "guestbk" in ASCII).
const MIGRATION_LOCK: i64 = 0x67_75_65_73_74_62_6b;

/// How long a query waits on a write lock before SQLite answers "database is locked".
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// Why a database call failed: the database could not be reached in time (a `503`), or the
/// query itself failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(DieselError),
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::Unavailable(err.to_string()),
            // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: a lock, not a bad query.
            DieselError::DatabaseError(_, info)
                if info.message().contains("locked") || info.message().contains("busy") =>
            {
                Self::Unavailable(err.to_string())
            }
            _ => Self::Query(err),
        }
    }
}

/// A cloneable handle on the connection pool.
#[derive(Clone)]
pub struct Database {
    pool: Pool<ConnectionManager<Connection>>,
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
            path.to_string_lossy().into_owned()
        };
        let manager = ConnectionManager::<Connection>::new(&target);
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(1))
            // No `SELECT 1` before every checkout: SQLite connections are files, not sockets,
            // and a failed query already marks a connection broken.
            .test_on_check_out(false)
            .connection_timeout(settings.pool_timeout)
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)
            .map_err(|e| {
                anyhow::anyhow!("cannot open the database {}: {e}", settings.redacted_url())
            })?;
        Ok(Self { pool })
    }

    /// Runs blocking Diesel code on the blocking thread pool, with a pooled connection taken
    /// inside the blocking task, so async workers never wait on SQLite.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when no connection frees up in time or the database is locked;
    /// [`DbError::Query`] for a failed query.
    pub async fn run<T, F>(&self, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool
                .get()
                .map_err(|e| DbError::Unavailable(format!("no connection: {e}")))?;
            query(&mut conn)
        })
        .await
        .map_err(|e| DbError::Unavailable(format!("blocking task failed: {e}")))?
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
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .execute(conn)?;
                let applied = migrate_with(conn, POSTGRES_MIGRATIONS);
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .execute(conn)?;
                applied
            }
        }
    }

    /// Whether the database answers a trivial query.
    ///
    /// # Errors
    /// What went wrong, for the health check's answer.
    pub async fn ping(&self) -> Result<(), DbError> {
        // Reads a real table: a locked or unmigrated database is not healthy.
        self.run(|conn| {
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

/// Per-connection settings: WAL so readers never block the writer, a busy timeout so writers
/// queue instead of failing, and foreign keys enforced.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<Connection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut Connection) -> Result<(), diesel::r2d2::Error> {
        let Connection::Sqlite(conn) = conn else {
            return Ok(());
        };
        // Each PRAGMA on its own: a batch would stop at the first that returns a row.
        for pragma in [
            format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"),
            "PRAGMA journal_mode = WAL".into(),
            "PRAGMA synchronous = NORMAL".into(),
            "PRAGMA foreign_keys = ON".into(),
        ] {
            conn.batch_execute(&pragma)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}
