//! What SQLite's writer (`writer.rs`) and PostgreSQL's group commit (`group_commit.rs`) share:
//! a bounded queue of writes, one thread that takes the writes waiting together as a batch,
//! and requesters that wait for their own answer until their deadline.

use std::{
    sync::mpsc::{self, SyncSender, TrySendError},
    time::Instant,
};

use tokio::sync::oneshot;

use super::error::DbError;

/// Writes that may wait for the thread; past that, a write is refused at once.
const QUEUE: usize = 1024;

/// The most writes one transaction holds: enough to share a commit among every request a busy
/// instance has waiting, few enough that its locks are held for a few milliseconds at most.
const BATCH: usize = 64;

/// Starts the thread `name`, which hands every batch of the writes queued together (up to
/// [`BATCH`]) to `run`; the queue it reads.
///
/// # Errors
/// When the thread cannot start.
pub(super) fn start<W: Send + 'static>(
    name: &str,
    mut run: impl FnMut(Vec<W>) + Send + 'static,
) -> std::io::Result<SyncSender<W>> {
    let (writes, queue) = mpsc::sync_channel::<W>(QUEUE);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Ok(first) = queue.recv() {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match queue.try_recv() {
                        Ok(write) => batch.push(write),
                        Err(_) => break,
                    }
                }
                run(batch);
            }
        })?;
    Ok(writes)
}

/// Queues `write` and waits for its `outcome`, which the write itself gives up on by
/// `deadline`.
///
/// # Errors
/// [`DbError::Unavailable`] when the queue is full or no answer comes in time; else the
/// write's own outcome.
pub(super) async fn submit<W, T>(
    writes: &SyncSender<W>,
    write: W,
    outcome: oneshot::Receiver<Result<T, DbError>>,
    deadline: Instant,
) -> Result<T, DbError> {
    match writes.try_send(write) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Err(DbError::Unavailable("too many writes waiting".into()));
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(DbError::Unavailable("the writing thread is gone".into()));
        }
    }
    // Waiting a little past the deadline means the request is told what really happened,
    // never a 503 for a write that then commits.
    let wait = deadline.saturating_duration_since(Instant::now()) + super::ANSWER_GRACE;
    match actix_web::rt::time::timeout(wait, outcome).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) | Err(_) => Err(DbError::Unavailable(
            "no write in time (the database is locked or busy)".into(),
        )),
    }
}
