//! PostgreSQL's pipelined read lane: the reads nearly every request makes (a session by its
//! key, the change counters) sent from the async worker itself, on one connection per worker
//! thread, instead of handing each to a blocking thread that waits on libpq.
//!
//! Why: through the blocking pool, a read costs two thread hand-offs (worker to blocking
//! thread and back) and wakes a PostgreSQL backend of its own; profiled, those switches were
//! most of what a member's page cost beyond SQLite's (docs/benchmarks.md, "Where the time
//! goes"). tokio-postgres writes the query on the socket from the worker and pipelines the
//! queries of all the worker's requests on its one connection, so the backend answers a batch
//! per wake-up and the worker reads the answers when it next polls.
//!
//! The lane never changes what a connection is allowed to do: it is only used where
//! tokio-postgres connects as libpq would ([`Lane::for_url`] says why not, otherwise), and
//! whenever it cannot connect or a read on it fails, that read takes the blocking path, whose
//! answer (rows, or the error a request is told) is the one that counts. Writes always take
//! the blocking path.

use std::{
    cell::RefCell,
    collections::HashMap,
    str::FromStr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio_postgres::{Client, Config, NoTls, Statement, config::SslMode};
pub use tokio_postgres::{Row, types::ToSql};

/// How long the lane stays off after a connection attempt failed: reads take the blocking
/// path meanwhile, so a database that is down costs one failed connect a second, not one per
/// request.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Lanes made so far: each has its own number, so the connections of a lane (one per thread)
/// are never used by another (tests open many databases in one process).
static LANES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's connection of each lane, or a connection being opened.
    static PIPES: RefCell<HashMap<u64, Slot>> = RefCell::new(HashMap::new());
}

enum Slot {
    Connecting,
    Open(Arc<Pipe>),
}

/// How to reach PostgreSQL from the async workers, and what happened when it last tried.
pub(super) struct Lane {
    id: u64,
    config: Config,
    /// `sslmode=prefer` or `require`: TLS without checking the certificate, as libpq does
    /// with no root certificate; `None` for `disable`.
    tls: Option<postgres_native_tls::MakeTlsConnector>,
    /// After a failed connect, the blocking path until then.
    retry_at: Mutex<Option<Instant>>,
    /// Reads answered on the lane, for tests and metrics.
    reads: AtomicU64,
}

/// One worker thread's connection, and the statements prepared on it.
pub struct Pipe {
    client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
}

impl Pipe {
    /// The rows of `sql` (prepared once per connection) with `params`.
    ///
    /// # Errors
    /// When PostgreSQL refuses the statement or the connection fails.
    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.client.query(&statement, params).await
    }

    /// The row of `sql` with `params`, if there is one.
    ///
    /// # Errors
    /// As [`Pipe::query`], and when there is more than one row.
    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.statement(sql).await?;
        self.client.query_opt(&statement, params).await
    }

    async fn statement(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        let known = self.lock().get(sql).cloned();
        match known {
            Some(statement) => Ok(statement),
            None => {
                let statement = self.client.prepare(sql).await?;
                self.lock().insert(sql, statement.clone());
                Ok(statement)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Statement>> {
        self.statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Lane {
    /// The lane for the PostgreSQL database at `url`, whose statements stop after
    /// `statement_timeout`; or why reads must go through libpq instead: the URL asks for
    /// something tokio-postgres does not do as libpq does (`sslmode=verify-full` and
    /// `sslrootcert`, among others), or libpq would read settings from the environment or
    /// from files (`PG*` variables, `~/.pgpass`, `~/.postgresql/`).
    pub(super) fn for_url(url: &str, statement_timeout: Duration) -> Result<Self, String> {
        let mut config = Config::from_str(url).map_err(|e| format!("the URL: {e}"))?;
        if let Some((name, _)) = std::env::vars().find(|(name, _)| name.starts_with("PG")) {
            return Err(format!("libpq reads {name} from the environment"));
        }
        if let Some(home) = std::env::var_os("HOME").map(std::path::PathBuf::from) {
            for file in [".postgresql/root.crt", ".postgresql/postgresql.crt"] {
                if home.join(file).exists() {
                    return Err(format!("libpq uses ~/{file}"));
                }
            }
            if config.get_password().is_none() && home.join(".pgpass").exists() {
                return Err("libpq reads the password from ~/.pgpass".into());
            }
        }
        if config.get_hosts().is_empty() {
            return Err("the URL names no host".into());
        }
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            _ => {
                let connector = native_tls::TlsConnector::builder()
                    .danger_accept_invalid_certs(true)
                    .danger_accept_invalid_hostnames(true)
                    .build()
                    .map_err(|e| format!("TLS: {e}"))?;
                Some(postgres_native_tls::MakeTlsConnector::new(connector))
            }
        };
        let timeout = format!("-c statement_timeout={}", statement_timeout.as_millis());
        let options = match config.get_options() {
            Some(options) => format!("{options} {timeout}"),
            None => timeout,
        };
        config.options(options);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(statement_timeout);
        }
        Ok(Self {
            id: LANES.fetch_add(1, Ordering::Relaxed),
            config,
            tls,
            retry_at: Mutex::new(None),
            reads: AtomicU64::new(0),
        })
    }

    /// Reads answered on the lane so far.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Runs `read` on this thread's connection; `None` when the lane cannot take it now (no
    /// connection yet, or the read failed), so the caller takes the blocking path. A read that
    /// does not finish by `deadline` is `Some(Err(()))`: the database is too slow either way.
    pub(super) async fn run<T>(
        &self,
        deadline: Duration,
        read: impl AsyncFnOnce(&Pipe) -> Result<T, tokio_postgres::Error>,
    ) -> Option<Result<T, ()>> {
        let pipe = self.pipe().await?;
        match actix_web::rt::time::timeout(deadline, read(&pipe)).await {
            Ok(Ok(value)) => {
                self.reads.fetch_add(1, Ordering::Relaxed);
                Some(Ok(value))
            }
            Ok(Err(err)) => {
                // A closed connection, or a statement the server no longer takes as prepared
                // (a migration changed the table): start again on a new connection.
                tracing::debug!(error = %err, "read on the pipelined lane failed; retried through libpq");
                self.forget(&pipe);
                None
            }
            Err(_) => Some(Err(())),
        }
    }

    /// This thread's open connection, opened if there is none and the lane is not resting
    /// after a failure; `None` while one is being opened, so requests never queue behind a
    /// connect.
    async fn pipe(&self) -> Option<Arc<Pipe>> {
        let open = PIPES.with(|pipes| match pipes.borrow().get(&self.id) {
            Some(Slot::Open(pipe)) if !pipe.client.is_closed() => Some(Some(pipe.clone())),
            Some(Slot::Connecting) => Some(None),
            _ => None,
        });
        if let Some(open) = open {
            return open;
        }
        {
            let mut retry_at = self.retry_at.lock().unwrap_or_else(PoisonError::into_inner);
            match *retry_at {
                Some(at) if Instant::now() < at => return None,
                _ => *retry_at = None,
            }
        }
        let connecting = Connecting::start(self.id);
        let connected = self.connect().await;
        if let Ok(pipe) = &connected {
            connecting.opened(pipe.clone());
        }
        match connected {
            Ok(pipe) => Some(pipe),
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "cannot open PostgreSQL's pipelined read lane; reads go through libpq meanwhile"
                );
                *self.retry_at.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(Instant::now() + RETRY_AFTER);
                None
            }
        }
    }

    async fn connect(&self) -> Result<Arc<Pipe>, tokio_postgres::Error> {
        // The connection is driven by a task on this thread's runtime: the worker that sends
        // the queries also reads the answers.
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                tokio::spawn(connection);
                client
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(connection);
                client
            }
        };
        Ok(Arc::new(Pipe {
            client,
            statements: Mutex::new(HashMap::new()),
        }))
    }

    fn forget(&self, pipe: &Arc<Pipe>) {
        PIPES.with(|pipes| {
            let mut pipes = pipes.borrow_mut();
            if matches!(pipes.get(&self.id), Some(Slot::Open(open)) if Arc::ptr_eq(open, pipe)) {
                pipes.remove(&self.id);
            }
        });
    }
}

/// This thread's slot of a lane marked as connecting until the connection is open; a connect
/// that fails, or whose request is dropped half-way, leaves the slot empty again.
struct Connecting {
    lane: u64,
}

impl Connecting {
    fn start(lane: u64) -> Self {
        PIPES.with(|pipes| {
            let mut pipes = pipes.borrow_mut();
            // Connections of lanes whose runtime has stopped (tests) are closed: let them go.
            pipes.retain(|_, slot| !matches!(slot, Slot::Open(pipe) if pipe.client.is_closed()));
            pipes.insert(lane, Slot::Connecting);
        });
        Self { lane }
    }

    fn opened(self, pipe: Arc<Pipe>) {
        PIPES.with(|pipes| pipes.borrow_mut().insert(self.lane, Slot::Open(pipe)));
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        // `try_with`: at thread exit the map may be gone already.
        let _ = PIPES.try_with(|pipes| {
            let mut pipes = pipes.borrow_mut();
            if matches!(pipes.get(&self.lane), Some(Slot::Connecting)) {
                pipes.remove(&self.lane);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_lane_is_used_where_tokio_postgres_connects_as_libpq_does() {
        for url in [
            "postgres://app@db/site",
            "postgres://app:secret@db:5433/site?sslmode=disable",
            "postgresql://app:secret@db/site?sslmode=require&application_name=guestbook",
        ] {
            assert!(Lane::for_url(url, SECOND).is_ok(), "{url}");
        }
        let tls = Lane::for_url("postgres://app:pw@db/site", SECOND).unwrap();
        assert!(tls.tls.is_some(), "libpq's default, prefer, tries TLS");
        let plain = Lane::for_url("postgres://app:pw@db/site?sslmode=disable", SECOND).unwrap();
        assert!(plain.tls.is_none());
        assert_eq!(
            plain.config.get_options(),
            Some("-c statement_timeout=1000"),
            "statements stop at the deadline, as on the pool's connections"
        );
    }

    #[test]
    fn a_url_asking_for_certificate_checks_keeps_to_libpq() {
        for url in [
            "postgres://app:pw@db/site?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "postgres://app:pw@db/site?sslmode=verify-ca",
            "postgres://app:pw@db/site?sslrootcert=/etc/ca.pem",
            "postgres://app:pw@db/site?sslcert=/etc/client.pem",
        ] {
            let why = Lane::for_url(url, SECOND).err();
            assert!(why.is_some_and(|why| why.starts_with("the URL")), "{url}");
        }
    }
}
