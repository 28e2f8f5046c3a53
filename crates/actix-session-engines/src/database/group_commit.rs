//! PostgreSQL's group commit: the small writes that requests arriving together make (a new
//! visitor's comment and session, a session saved) share one transaction, so one durable
//! commit (one WAL flush) serves many requests instead of one each.
//!
//! A new visitor's comment post is two writes, the comment and then the session the
//! middleware saves; each in a transaction of its own is two flushes of the WAL per post, and
//! the disk's flush rate (what pgbench `-N` measures) is then what caps the posts.
//!
//! One thread takes the writes waiting (`batches.rs`), runs them on one pooled connection
//! in one transaction, and tells each requester once the commit is known; nothing is
//! reported done before the commit that holds it. On PostgreSQL a failed statement aborts the
//! whole transaction, so a batch in which any write fails (or one caught its own failure and
//! went on: the transaction is checked before the commit) is rolled back and each write is run
//! again on its own, as it would have been without the batch; that is why a batched write is
//! an `Fn`, run at most twice and never twice to effect. Nothing is made less durable:
//! `synchronous_commit` stays as the server has it.
//!
//! The row locks of a batch's writes are held until its commit, a few milliseconds. Should a
//! write outside the batch wait for one of them while holding a row the batch wants next,
//! PostgreSQL ends the deadlock after `deadlock_timeout` by failing one statement: in the batch,
//! that write runs again alone; outside, its request answers `503` (`DbError::Unavailable`).

use std::{sync::mpsc::SyncSender, time::Instant};

use diesel::{Connection as _, connection::SimpleConnection, r2d2::Pool};
use tokio::sync::oneshot;

use super::{
    batches,
    connection::{DbConnection as Connection, PoolManager},
    error::DbError,
};

/// One requester's write, its outcome, and where to send it.
trait Pending: Send {
    /// Whether its requester has stopped waiting (gone, or past the deadline).
    fn abandoned(&self) -> bool;
    /// Runs the write; true when it succeeded. Called again after a rolled-back batch.
    fn run(&mut self, conn: &mut Connection) -> bool;
    /// Tells the requester the last outcome, given whether it was committed.
    fn answer(self: Box<Self>, committed: bool);
}

struct Write<T, F> {
    query: F,
    deadline: Instant,
    outcome: Option<Result<T, DbError>>,
    done: oneshot::Sender<Result<T, DbError>>,
}

impl<T, F> Pending for Write<T, F>
where
    T: Send,
    F: Fn(&mut Connection) -> Result<T, DbError> + Send,
{
    fn abandoned(&self) -> bool {
        self.done.is_closed() || Instant::now() >= self.deadline
    }

    fn run(&mut self, conn: &mut Connection) -> bool {
        let outcome = (self.query)(conn);
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn answer(self: Box<Self>, committed: bool) {
        let outcome = match self.outcome {
            Some(Ok(_)) if !committed => Err(DbError::Unavailable(
                "the write's transaction did not commit".into(),
            )),
            Some(outcome) => outcome,
            None => Err(DbError::Unavailable(
                "no write in time (the database is busy)".into(),
            )),
        };
        let _ = self.done.send(outcome);
    }
}

pub(super) struct GroupCommit {
    writes: SyncSender<Box<dyn Pending>>,
}

impl GroupCommit {
    /// Starts the batching thread, which takes its connections from `pool`.
    ///
    /// # Errors
    /// When the thread cannot start.
    pub(super) fn start(pool: Pool<PoolManager>) -> anyhow::Result<Self> {
        let writes = batches::start("postgres-group-commit", move |batch| {
            run_batch(&pool, batch)
        })?;
        Ok(Self { writes })
    }

    /// Runs `query` in the next batch, answering by `deadline`.
    pub(super) async fn run<T, F>(&self, deadline: Instant, query: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let write = Box::new(Write {
            query,
            deadline,
            outcome: None,
            done,
        });
        batches::submit(&self.writes, write as Box<dyn Pending>, result, deadline).await
    }
}

/// Runs `batch` in one transaction and answers each write; when any fails, rolls back and runs
/// each on its own instead.
fn run_batch(pool: &Pool<PoolManager>, batch: Vec<Box<dyn Pending>>) {
    let (mut batch, abandoned): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|write| !write.abandoned());
    for write in abandoned {
        write.answer(false);
    }
    if batch.is_empty() {
        return;
    }
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(error = %err, "no connection for a batch of writes");
            for write in batch {
                write.answer(false);
            }
            return;
        }
    };
    let conn: &mut Connection = &mut conn;
    if batch.len() == 1 {
        // Nothing to share: the write runs as it would without the batch.
        let mut write = batch.pop().expect("one write");
        write.run(conn);
        write.answer(true);
        return;
    }
    // Diesel's own transaction, so a write that opens one of its own gets a savepoint.
    let mut all_ran = false;
    let outcome = conn.transaction::<_, BatchError, _>(|conn| {
        if !batch.iter_mut().all(|write| write.run(conn)) {
            return Err(BatchError::WriteFailed);
        }
        // A write that caught its own failure (a key already taken) left the transaction
        // aborted, which PostgreSQL would answer COMMIT with a silent rollback: ask first.
        conn.batch_execute("SELECT 1")?;
        all_ran = true;
        Ok(())
    });
    match outcome {
        Ok(()) => {
            for write in batch {
                write.answer(true);
            }
        }
        Err(BatchError::Database(err)) if all_ran => {
            tracing::warn!(error = %err, "a batch of writes did not commit");
            for write in batch {
                write.answer(false);
            }
        }
        // Rolled back: nothing of the batch stays, and each write runs again, alone, its own
        // outcome counting.
        Err(_) => {
            for mut write in batch {
                if write.abandoned() {
                    write.answer(false);
                } else {
                    write.run(conn);
                    write.answer(true);
                }
            }
        }
    }
}

/// Why a batch's transaction ended without a commit.
enum BatchError {
    /// One of its writes failed (and is run again on its own).
    WriteFailed,
    /// The transaction itself failed: it could not begin, was aborted, or did not commit.
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for BatchError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Database(err)
    }
}
