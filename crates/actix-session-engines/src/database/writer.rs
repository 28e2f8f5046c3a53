//! SQLite's write lane: every write runs on one connection, on a thread of its own, and the
//! writes waiting together share one transaction.
//!
//! SQLite takes one writer at a time; in WAL mode readers never wait for it. Keeping writes
//! off the threads that serve reads means a write waiting for the lock (another process holds
//! it, a checkpoint runs) never holds up a page that only reads. Each write waits for the lock
//! at most until its request's deadline, and a write whose requester has stopped waiting is
//! not started.
//!
//! Group commit: the writes queued when the writer turns to them (`batches.rs`) run in one
//! transaction, each in a savepoint of its own, so one that fails leaves nothing and the others
//! are kept. A commit, not a statement, is what a write costs SQLite most (a new visitor's
//! comment is two writes: the comment and the session), so under load one commit serves many
//! requests. No requester is told its write is done before the commit that holds it is: a
//! batch whose commit fails answers every write in it with an error.

use std::{sync::mpsc::SyncSender, time::Instant};

use diesel::{Connection as _, connection::SimpleConnection};
use tokio::sync::oneshot;

use super::{
    batches,
    connection::{DbConnection as Connection, sqlite_pragmas},
    error::DbError,
};

/// A write, run inside its batch's transaction; it gives back what tells its requester once
/// the batch's fate is known.
type Job = Box<dyn FnOnce(&mut Connection) -> Answer + Send>;

/// Tells a write's requester its outcome, given whether its batch committed.
type Answer = Box<dyn FnOnce(bool) + Send>;

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
        let jobs = batches::start("sqlite-writer", move |batch| run_batch(&mut conn, batch))?;
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
                return Box::new(|_| {});
            }
            // Wait for the write lock no longer than the request waits for us.
            let _ = conn.batch_execute(&format!("PRAGMA busy_timeout = {}", left.as_millis()));
            // A savepoint: a write that fails leaves nothing, and the batch goes on.
            let outcome = conn.transaction(query);
            Box::new(move |committed| {
                let _ = done.send(match outcome {
                    Ok(_) if !committed => Err(DbError::Unavailable(
                        "the write's transaction did not commit".into(),
                    )),
                    outcome => outcome,
                });
            })
        });
        batches::submit(&self.jobs, job, result, deadline).await
    }
}

/// Runs `batch` in one transaction and then answers each write: committed, or not.
fn run_batch(conn: &mut Connection, batch: Vec<Job>) {
    let mut answers = Vec::with_capacity(batch.len());
    let committed = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            answers.extend(batch.into_iter().map(|job| job(conn)));
            Ok(())
        })
        .inspect_err(|err| tracing::warn!(error = %err, "a batch of writes did not commit"))
        .is_ok();
    for answer in answers {
        answer(committed);
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc as std_mpsc, time::Duration};

    use diesel::{RunQueryDsl, sql_types::BigInt};

    use super::*;

    /// A writer on a fresh SQLite file with `schema` applied, and the folder holding it.
    fn writer_with(schema: &str) -> (Writer, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3").to_string_lossy().into_owned();
        let mut conn = Connection::establish(&path).unwrap();
        conn.batch_execute(schema).unwrap();
        (Writer::start(&path).unwrap(), path, dir)
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn ids(path: &str, table: &str) -> Vec<i64> {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = BigInt)]
            id: i64,
        }
        let mut conn = Connection::establish(path).unwrap();
        diesel::sql_query(format!("SELECT id FROM {table} ORDER BY id"))
            .load::<Id>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|row| row.id)
            .collect()
    }

    fn insert(table: &'static str, id: i64) -> impl FnOnce(&mut Connection) -> Result<(), DbError> {
        move |conn| {
            conn.batch_execute(&format!("INSERT INTO {table} (id) VALUES ({id})"))?;
            Ok(())
        }
    }

    /// Runs `writes` (each queued on its first poll) as one batch: the writer is first held
    /// inside a batch of its own, `writes` are queued meanwhile, then it is let go.
    async fn as_one_batch<F: std::future::Future>(writer: &Writer, writes: F) -> F::Output {
        let (started, has_started) = oneshot::channel();
        let (release, released) = std_mpsc::channel::<()>();
        let held = writer.run(deadline(), move |_| {
            let _ = started.send(());
            released.recv().unwrap();
            Ok(())
        });
        let queued_then_released = async {
            has_started.await.unwrap();
            let (outcomes, ()) = tokio::join!(writes, async { release.send(()).unwrap() });
            outcomes
        };
        let (held, outcomes) = tokio::join!(held, queued_then_released);
        held.unwrap();
        outcomes
    }

    #[tokio::test]
    async fn a_write_that_fails_leaves_nothing_and_the_others_of_its_batch_are_kept() {
        let (writer, path, _dir) = writer_with("CREATE TABLE t (id INTEGER PRIMARY KEY);");
        let (first, failing, third) = as_one_batch(&writer, async {
            tokio::join!(
                writer.run(deadline(), insert("t", 1)),
                writer.run(deadline(), |conn| {
                    insert("t", 2)(conn)?;
                    Err::<(), _>(DbError::Unavailable("refused after writing".into()))
                }),
                writer.run(deadline(), insert("t", 3)),
            )
        })
        .await;

        assert!(first.is_ok() && third.is_ok());
        assert!(matches!(failing, Err(DbError::Unavailable(_))));
        assert_eq!(
            ids(&path, "t"),
            [1, 3],
            "the failed write's row is rolled back alone"
        );
    }

    #[tokio::test]
    async fn no_write_is_reported_done_when_its_batch_does_not_commit() {
        // A deferred foreign key is checked at COMMIT: the second write makes its batch's
        // commit fail after both writes succeeded.
        let (writer, path, _dir) = writer_with(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                 parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TABLE t (id INTEGER PRIMARY KEY);",
        );
        let (kept_alone, orphan) = as_one_batch(&writer, async {
            tokio::join!(
                writer.run(deadline(), insert("t", 1)),
                writer.run(deadline(), |conn| {
                    conn.batch_execute("INSERT INTO child (id, parent_id) VALUES (1, 42)")?;
                    Ok(())
                }),
            )
        })
        .await;

        assert!(
            matches!(kept_alone, Err(DbError::Unavailable(_))),
            "a write in a batch that did not commit is told so: {kept_alone:?}"
        );
        assert!(orphan.is_err());
        assert!(
            ids(&path, "t").is_empty(),
            "both writes shared the transaction"
        );
        assert!(ids(&path, "child").is_empty());
    }
}
