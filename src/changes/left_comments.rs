//! Whose comment is whose, from memory while the `comments` counter stands: the home page asks
//! on every visit of a member and of a visitor who has commented, and most visits need no query
//! of their own for it.
//!
//! Unlike members' rows, an absence may be kept ("this member has no comment"): the counter
//! moves on every insert into `comments` too, so a comment posted since is never hidden by it.

use std::sync::Arc;

use diesel::Connection as _;

use super::{counters::Changes, kept::Kept};
use crate::db::{
    DbError, changes,
    comments::{self, LeftComment},
};

/// Who asks: a visitor id, a member id, or both.
type Asker = (Option<String>, Option<i64>);

/// The comments visitors and members left, as of each request; cheap to clone (clones share
/// the copy).
#[derive(Clone)]
pub struct LeftComments {
    changes: Changes,
    kept: Arc<Kept<Asker, Option<LeftComment>>>,
}

impl LeftComments {
    pub fn new(changes: Changes) -> Self {
        Self {
            changes,
            kept: Arc::default(),
        }
    }

    /// [`comments::find_left`] as of this call: the comment `visitor_id` left, or else the one
    /// `member_id` left from any browser.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn find(
        &self,
        visitor_id: Option<String>,
        member_id: Option<i64>,
    ) -> Result<Option<LeftComment>, DbError> {
        let asker = (visitor_id, member_id);
        let current = self.changes.current().await?.comments;
        if let Some(answer) = self.kept.get(&asker, current) {
            return Ok(answer);
        }
        let question = asker.clone();
        let (version, answer) = self
            .changes
            .db()
            .read(move |conn| {
                // The counter first, then the rows: the rows are at least as new as the counter
                // (one snapshot on SQLite; on PostgreSQL possibly newer, never older).
                conn.transaction(|conn| {
                    let version = changes::versions(conn)?.comments;
                    let found = comments::find_left(conn, question.0.as_deref(), question.1)?;
                    Ok::<_, DbError>((version, found))
                })
            })
            .await?;
        self.kept.keep(version, asker, answer.clone());
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::db::{Database, Migrations};

    /// A comment posted after "no comment" was kept is found at once: the insert moves the
    /// counter, so the kept absence is not used.
    #[actix_web::test]
    async fn a_comment_posted_after_an_absence_was_kept_is_found_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::sqlite_in(dir.path());
        db.migrate().unwrap();
        let left = LeftComments::new(Changes::new(db.clone()));
        let visitor = Some("visitor-1".to_owned());
        assert_eq!(left.find(visitor.clone(), None).await.unwrap(), None);

        db.get()
            .unwrap()
            .batch_execute(
                "INSERT INTO comments (body, visitor_id, created_at) \
                 VALUES ('hi', 'visitor-1', '2026-01-01 00:00:00')",
            )
            .unwrap();

        let found = left.find(visitor.clone(), None).await.unwrap();
        assert_eq!(found.map(|c| c.visitor_id), visitor);
    }
}
