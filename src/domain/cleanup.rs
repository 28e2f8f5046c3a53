//! The expired-session cleanup inside the server (`CLEARSESSIONS_INTERVAL`): what
//! `guestbook clearsessions` does, run by one instance at a time among those sharing the
//! database. The database decides which: each run is claimed by a conditional `UPDATE`.

use std::time::Duration;

use super::DomainError;
use crate::{
    db::{
        Database,
        models::now_utc,
        scheduled_runs::{self, CLEARSESSIONS},
    },
    sessions::{ClearOutcome, ClearRun, SessionEngine},
};

/// Sessions deleted per statement, as `guestbook clearsessions` does by default: a large
/// backlog never holds the database's locks for long.
const BATCH_SIZE: u64 = 1000;

/// What one tick of the cleanup did.
#[derive(Debug)]
pub enum CleanupRun {
    /// This instance ran it.
    Ran(ClearOutcome),
    /// Another instance ran it less than an interval ago.
    NotDue,
}

/// The cleanup; cheap to clone.
#[derive(Clone)]
pub struct SessionCleanup {
    db: Database,
    sessions: SessionEngine,
}

impl SessionCleanup {
    pub fn new(db: Database, sessions: SessionEngine) -> Self {
        Self { db, sessions }
    }

    /// Runs the cleanup when no instance has in the last `interval`.
    ///
    /// # Errors
    /// When the database or the session storage fails (the batches before stay deleted; the
    /// next run, an interval later, carries on).
    pub async fn run_if_due(&self, interval: Duration) -> Result<CleanupRun, DomainError> {
        let now = now_utc().assume_utc().unix_timestamp();
        let interval = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
        let claimed = self
            .db
            .write(move |conn| scheduled_runs::claim(conn, CLEARSESSIONS, now, interval))
            .await?;
        if !claimed {
            return Ok(CleanupRun::NotDue);
        }
        let run = ClearRun {
            batch_size: BATCH_SIZE,
            progress: &|_| {},
        };
        Ok(CleanupRun::Ran(self.sessions.clear_expired(run).await?))
    }
}
