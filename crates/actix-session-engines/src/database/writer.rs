//! SQLite's write lane: every write runs on one connection, on a thread of its own.
//!
//! SQLite takes one writer at a time; in WAL mode readers never wait for it. Keeping writes
//! off the threads that serve reads means a write waiting for the lock (another process holds
//! it, a checkpoint runs) never holds up a page that only reads. Each write waits for the lock
//! at most until its request's deadline, and a write whose requester has stopped waiting is
//! not started.

use std::{
    sync::mpsc::{self, SyncSender, TrySendError},
    time::Instant,
};

use diesel::{Connection as _, connection::SimpleConnection};
use tokio::sync::oneshot;

use super::{
    connection::{DbConnection as Connection, sqlite_pragmas},
    error::DbError,
};

/// Writes that may wait for the writer; past that, a write is refused at once.
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

pub(super) struct Writer {
    jobs: SyncSender<Job>,
}

impl Writer {
    /// Opens the write connection to the SQLite file at `path` and starts its thread.
    ///
    /// # Errors
    /// When the file cannot be opened or the thread cannot start.
    pub(super) fn start(path: &str) -> anyhow::Result<Self> {
        let mut conn = Connection::establish(path)?;
        if let Connection::Sqlite(sqlite) = &mut conn {
            sqlite_pragmas(sqlite)?;
        }
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `query` on the write connection, answering by `deadline`.
    pub(super) async fn run<T, F>(&self, deadline: Instant, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || done.is_closed() {
                return;
            }
            // Wait for the write lock no longer than the request waits for us.
            let _ = conn.batch_execute(&format!("PRAGMA busy_timeout = {}", left.as_millis()));
            let _ = done.send(query(conn));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(DbError::Unavailable("too many writes waiting".into()));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(DbError::Unavailable("the writer is gone".into()));
            }
        }
        // The write gives up by the deadline itself; waiting a little longer for its answer
        // means the request is told what really happened, never a 503 for a write that then
        // commits.
        let wait = deadline.saturating_duration_since(Instant::now()) + super::ANSWER_GRACE;
        match actix_web::rt::time::timeout(wait, result).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) | Err(_) => Err(DbError::Unavailable(
                "no write in time (the database is locked or busy)".into(),
            )),
        }
    }
}
