//! `guestbook clearsessions`: expired sessions deleted, as Django's command does.

use std::io::IsTerminal;

use crate::{
    sessions::{ClearOutcome, ClearRun},
    state::AppState,
};

/// Deletes expired sessions `batch_size` at a time and says how many went (a line per batch
/// on a terminal).
///
/// # Errors
/// When the session storage fails.
pub async fn clear_sessions(state: &AppState, batch_size: u64) -> anyhow::Result<()> {
    let on_terminal = std::io::stdout().is_terminal();
    let progress = |total: u64| {
        if on_terminal {
            println!("... {total} deleted so far");
        }
    };
    let run = ClearRun {
        batch_size,
        progress: &progress,
    };
    match state.sessions.clear_expired(run).await? {
        ClearOutcome::Removed(removed) => println!("Deleted {removed} expired session(s)."),
        ClearOutcome::NothingToClear(why) => println!("Nothing to clear: {why}."),
    }
    Ok(())
}
