//! Staff moderation: listing, hiding, showing and deleting any comment, from the site or the
//! command line. Every action is logged with who took it.

use std::fmt;

use sha2::{Digest, Sha256};

use super::DomainError;
pub use crate::db::comments::{ListedComment, Moderated};
use crate::db::{Database, comments, models::now_utc};

/// Who took a moderation action.
#[derive(Clone, Copy, Debug)]
pub enum Moderator<'a> {
    /// A staff member, on the site.
    Staff { username: &'a str, member_id: i64 },
    /// An operator, with `guestbook comments`, as the system names them (`$USER`).
    CommandLine { user: Option<&'a str> },
}

impl fmt::Display for Moderator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Staff {
                username,
                member_id,
            } => write!(f, "staff member {username} (id {member_id})"),
            Self::CommandLine { user: Some(user) } => write!(f, "the command line (user {user})"),
            Self::CommandLine { user: None } => f.write_str("the command line"),
        }
    }
}

/// What a moderator does to a comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep it from everyone but staff.
    Hide,
    /// Show it to everyone again.
    Unhide,
    /// Remove its text for good (its visitor id stays taken).
    Delete,
}

impl Action {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hide => "hide",
            Self::Unhide => "unhide",
            Self::Delete => "delete",
        }
    }
}

/// Moderation of every comment; cheap to clone. Who may moderate is the caller's to check
/// (staff on the site, the operator on the command line); this says who did.
#[derive(Clone)]
pub struct Moderation {
    db: Database,
}

impl Moderation {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Takes `action` on comment `id` for `by`, and logs it.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn moderate(
        &self,
        id: i64,
        action: Action,
        by: Moderator<'_>,
    ) -> Result<Moderated, DomainError> {
        let outcome = self
            .db
            .write(move |conn| match action {
                Action::Hide => comments::set_hidden(conn, id, true, now_utc()),
                Action::Unhide => comments::set_hidden(conn, id, false, now_utc()),
                Action::Delete => comments::delete(conn, id, now_utc()),
            })
            .await?;
        let outcome_name = match outcome {
            Moderated::Done => "done",
            Moderated::Already => "already so",
            Moderated::NotFound => "no such comment",
        };
        tracing::info!(
            comment = id,
            action = action.name(),
            by = %by,
            outcome = outcome_name,
            "comment moderated"
        );
        Ok(outcome)
    }

    /// The newest `limit` comments not deleted, hidden ones included (only those with
    /// `hidden_only`), as the moderation list shows them.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list(
        &self,
        hidden_only: bool,
        limit: u32,
    ) -> Result<Vec<ListedComment>, DomainError> {
        Ok(self
            .db
            .read(move |conn| comments::list(conn, hidden_only, i64::from(limit)))
            .await?)
    }
}

/// A short, stable tag for a visitor id, for the moderation list: enough to see that two
/// comments came from one visitor, without printing the id itself.
pub fn visitor_tag(visitor_id: &str) -> String {
    let hash = Sha256::digest(visitor_id.as_bytes());
    hash[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_tags_are_short_stable_and_distinct() {
        assert_eq!(visitor_tag("a"), visitor_tag("a"));
        assert_ne!(visitor_tag("a"), visitor_tag("b"));
        assert_eq!(visitor_tag("a").len(), 8);
    }

    #[test]
    fn moderators_say_who_they_are() {
        let staff = Moderator::Staff {
            username: "alice",
            member_id: 3,
        };
        assert_eq!(staff.to_string(), "staff member alice (id 3)");
        let operator = Moderator::CommandLine { user: Some("ops") };
        assert_eq!(operator.to_string(), "the command line (user ops)");
        let unnamed = Moderator::CommandLine { user: None };
        assert_eq!(unnamed.to_string(), "the command line");
    }
}
