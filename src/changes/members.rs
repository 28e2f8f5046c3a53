//! Members' rows from memory while the `members` counter stands: every request that acts as a
//! member checks the session against the member's current credentials, and most of them need
//! no query of their own for it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use diesel::Connection as _;

use super::counters::Changes;
use crate::db::{DbError, changes, members, models::Member};

/// At most this many rows are kept; past it the copy starts again empty.
const MAX_KEPT: usize = 10_000;

/// Members' rows as of each request; cheap to clone (clones share the copy).
#[derive(Clone)]
pub struct CurrentMembers {
    changes: Changes,
    kept: Arc<Mutex<Kept>>,
}

/// Rows (or their absence) read when the `members` counter was `version`.
#[derive(Default)]
struct Kept {
    version: i64,
    rows: HashMap<i64, Option<Member>>,
}

impl CurrentMembers {
    pub fn new(changes: Changes) -> Self {
        Self {
            changes,
            kept: Arc::new(Mutex::new(Kept::default())),
        }
    }

    /// Member `id` as of this call (`None`: there is no such member).
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn find(&self, id: i64) -> Result<Option<Member>, DbError> {
        let current = self.changes.current().await?.members;
        if let Some(row) = self.kept_row(id, current) {
            return Ok(row);
        }
        let (version, row) = self
            .changes
            .db()
            .read(move |conn| {
                // The counter first, then the row: the row is at least as new as the counter
                // (one snapshot on SQLite; on PostgreSQL possibly newer, never older).
                conn.transaction(|conn| {
                    let version = changes::versions(conn)?.members;
                    Ok::<_, DbError>((version, members::find(conn, id)?))
                })
            })
            .await?;
        self.keep(id, version, row.clone());
        Ok(row)
    }

    fn kept_row(&self, id: i64, current: i64) -> Option<Option<Member>> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.version == current {
            kept.rows.get(&id).cloned()
        } else {
            None
        }
    }

    fn keep(&self, id: i64, version: i64, row: Option<Member>) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if version > kept.version {
            kept.rows.clear();
            kept.version = version;
        } else if kept.rows.len() >= MAX_KEPT {
            kept.rows.clear();
        }
        if version == kept.version {
            kept.rows.insert(id, row);
        }
    }
}
