//! Work `serve` does on its own, beside the requests: the expired-session cleanup every
//! `CLEARSESSIONS_INTERVAL`, which one instance at a time runs (see `domain::cleanup`).

use std::time::Duration;

use actix_web::rt::{
    task::JoinHandle,
    time::{Instant, interval_at},
};

use crate::{
    domain::cleanup::{CleanupRun, SessionCleanup},
    sessions::ClearOutcome,
};

/// The running background work, stopped when dropped (the server stopped).
pub struct Background {
    cleanup: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the cleanup when `interval` is set; its first run is one interval after start,
    /// so instances restarting together do not all try at once.
    pub fn start(interval: Option<Duration>, cleanup: SessionCleanup) -> Self {
        Self {
            cleanup: interval
                .map(|interval| actix_web::rt::spawn(clear_sessions_every(interval, cleanup))),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(task) = self.cleanup.take() {
            task.abort();
        }
    }
}

async fn clear_sessions_every(interval: Duration, cleanup: SessionCleanup) {
    let mut ticks = interval_at(Instant::now() + interval, interval);
    loop {
        ticks.tick().await;
        match cleanup.run_if_due(interval).await {
            Ok(CleanupRun::Ran(ClearOutcome::Removed(removed))) => {
                tracing::info!(removed, "expired sessions deleted");
            }
            Ok(CleanupRun::Ran(ClearOutcome::NothingToClear(why))) => {
                tracing::debug!(why, "no expired sessions to delete");
            }
            Ok(CleanupRun::NotDue) => {
                tracing::debug!("expired sessions: another instance ran the cleanup");
            }
            Err(err) => tracing::warn!(
                error = %err,
                "deleting expired sessions failed; the next interval tries again"
            ),
        }
    }
}
