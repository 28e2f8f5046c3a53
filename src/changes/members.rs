//! Members' rows from memory while the `members` counter stands: every request that acts as a
//! member checks the session against the member's current credentials, and most of them need
//! no query of their own for it.
//!
//! Only rows are kept, never an absence: the counter moves on updates and deletions, not on
//! inserts (a new member changes no row anyone holds), so "no member N" kept in memory would
//! outlive the sign-up that creates member N. Looking up a member who is not there (a copy of a
//! deleted member's signed cookie) costs a query each time, as it would without this copy.

use std::sync::Arc;

use diesel::Connection as _;

use super::{counters::Changes, kept::Kept};
use crate::db::{DbError, changes, members, models::Member};

/// Members' rows as of each request; cheap to clone (clones share the copy).
#[derive(Clone)]
pub struct CurrentMembers {
    changes: Changes,
    kept: Arc<Kept<i64, Member>>,
}

impl CurrentMembers {
    pub fn new(changes: Changes) -> Self {
        Self {
            changes,
            kept: Arc::default(),
        }
    }

    /// Member `id` as of this call (`None`: there is no such member).
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn find(&self, id: i64) -> Result<Option<Member>, DbError> {
        let current = self.changes.current().await?.members;
        if let Some(row) = self.kept.get(&id, current) {
            return Ok(Some(row));
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
        if let Some(row) = &row {
            self.kept.keep(version, id, row.clone());
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Database, Migrations};

    fn database(dir: &tempfile::TempDir) -> Database {
        let db = Database::sqlite_in(dir.path());
        db.migrate().unwrap();
        db
    }

    /// A member created after a lookup found nobody under their id is found at once: the
    /// insert moves no counter, so an absence kept from before would hide them.
    #[actix_web::test]
    async fn a_member_created_after_a_lookup_found_nobody_is_found_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir);
        let current = CurrentMembers::new(Changes::new(db.clone()));
        // The id the next member gets: AUTOINCREMENT on a fresh table starts at 1.
        let next_id = 1;
        assert!(current.find(next_id).await.unwrap().is_none(), "nobody yet");
        let versions_before = db.read(changes::versions).await.unwrap();

        let created = db
            .write(|conn| members::create(conn, "ada", "hash", false))
            .await
            .unwrap()
            .expect("a new member");
        let found = current.find(next_id).await.unwrap();

        assert_eq!(created.id, next_id);
        assert_eq!(
            db.read(changes::versions).await.unwrap(),
            versions_before,
            "a sign-up moves no counter, so nothing else tells the copy"
        );
        assert_eq!(found.map(|member| member.username), Some("ada".into()));
    }

    /// A member's row is read once while the counter stands, and read again once it moved.
    #[actix_web::test]
    async fn rows_are_kept_while_the_counter_stands_and_read_again_after_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir);
        let current = CurrentMembers::new(Changes::new(db.clone()));
        let ada = db
            .write(|conn| members::create(conn, "ada", "hash", false))
            .await
            .unwrap()
            .unwrap();
        assert!(current.find(ada.id).await.unwrap().is_some());

        // Behind the copy's back, without moving the counter: the kept row is served.
        db.write(|conn| {
            use diesel::connection::SimpleConnection as _;
            conn.batch_execute(
                "DROP TRIGGER members_updated; UPDATE members SET username = 'bea';",
            )?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
        let kept = current.find(ada.id).await.unwrap().unwrap();
        db.write(|conn| {
            use diesel::connection::SimpleConnection as _;
            conn.batch_execute("UPDATE change_counters SET version = version + 1")?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
        let reread = current.find(ada.id).await.unwrap().unwrap();

        assert_eq!(kept.username, "ada", "kept while the counter stood");
        assert_eq!(reread.username, "bea", "read again once it moved");
    }
}
