//! Comments: what a valid comment is, posting one (one per visitor), and who may change it.
//!
//! A visitor leaves one comment; the database decides (the unique visitor id), so two
//! requests of one session cannot both post. Its author, recognised by the session's visitor
//! id (anonymous visitors and members alike), may edit or delete it for the edit window after
//! posting; a comment a moderator hid may be deleted, not edited. The rules are part of the
//! database write itself (see [`comments::edit_own`]), so a request racing the window, a
//! moderator or another tab cannot slip through.

use std::time::Duration;

use time::PrimitiveDateTime;

use super::DomainError;
use crate::changes::LeftComments;
pub use crate::db::comments::{InsertOutcome, LeftComment, OwnComment};
use crate::db::{
    Database,
    comments::{self, OwnOutcome},
    models::{NewComment, now_utc},
};

/// The longest comment, in Unicode scalar values.
pub const MAX_COMMENT_CHARS: usize = 2000;
pub const ALREADY_COMMENTED: &str =
    "You have already left your comment: each visitor leaves one, so this one was not posted.";
pub const MEMBER_ALREADY_COMMENTED: &str = "You have already left your comment as a member, from \
    another browser or device: each member leaves one, so this one was not posted.";
pub const EMPTY_COMMENT: &str = "Your comment is empty.";
pub const TOO_LONG_COMMENT: &str = "Your comment is too long: 2,000 characters at most.";
pub const CONTROL_CHARACTER: &str =
    "The comment contains a control character: only text, tabs and line breaks.";

pub const NOT_YOURS: &str =
    "This comment is not yours: only the visitor who posted it can change it.";
pub const TOO_LATE: &str = "This comment can no longer be changed: a comment can be edited or deleted only for a while after it is posted.";
pub const HIDDEN_BY_STAFF: &str = "A moderator has hidden this comment, so it cannot be edited.";
pub const CHANGED_MEANWHILE: &str = "The comment changed while this was being saved, so nothing was done. Reload the page and try again.";

/// The comment as stored: line breaks normalised to `\n`, trimmed.
///
/// # Errors
/// Why the comment cannot be stored: empty, over [`MAX_COMMENT_CHARS`], or holding control
/// characters other than tabs and line breaks.
pub fn normalise_comment(raw: &str) -> Result<String, &'static str> {
    let body = raw.replace("\r\n", "\n").replace('\r', "\n");
    let body = body.trim();
    if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        Err(CONTROL_CHARACTER)
    } else if body.is_empty() {
        Err(EMPTY_COMMENT)
    } else if body.chars().count() > MAX_COMMENT_CHARS {
        Err(TOO_LONG_COMMENT)
    } else {
        Ok(body.to_owned())
    }
}

/// What became of the comment a visitor (or the member logged in) left, as the home page
/// tells them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YourComment {
    pub id: i64,
    pub state: LeftState,
    /// Posted from this browser (the session's visitor id): its Edit and Delete are here. A
    /// member's comment posted from another browser is changed from there.
    pub from_this_browser: bool,
    /// Until when its author may still change it from here (edit, or for a hidden comment
    /// delete); `None` once the window has closed, or when it cannot be changed from here.
    pub changeable_until: Option<PrimitiveDateTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftState {
    /// On the pages for everyone.
    Shown,
    /// A moderator hid it: only staff see it.
    Hidden,
    /// Deleted: its row stays, without its text, so no second comment.
    Deleted,
}

/// What the author is about to do to their comment: a hidden comment may be deleted, not
/// edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Edit,
    Delete,
}

/// Why the author may not change their comment, or could not.
#[derive(Debug, thiserror::Error)]
pub enum OwnCommentError {
    /// No such comment (or it was deleted).
    #[error("no such comment")]
    NotFound,
    #[error("{}", NOT_YOURS)]
    NotYours,
    #[error("{}", TOO_LATE)]
    TooLate,
    #[error("{}", HIDDEN_BY_STAFF)]
    HiddenByStaff,
    /// It changed under the write (a moderator showed it again just then): nothing was done,
    /// and trying again may succeed.
    #[error("{}", CHANGED_MEANWHILE)]
    ChangedMeanwhile,
    #[error(transparent)]
    Failed(#[from] DomainError),
}

impl From<crate::db::DbError> for OwnCommentError {
    fn from(err: crate::db::DbError) -> Self {
        Self::Failed(err.into())
    }
}

/// Posting comments and their authors' changes; cheap to clone.
#[derive(Clone)]
pub struct Comments {
    db: Database,
    /// Whose comment is whose, kept while the comments stand.
    left: LeftComments,
    /// `COMMENT_EDIT_WINDOW`: how long after posting the author may change a comment.
    edit_window: Duration,
}

impl Comments {
    pub fn new(db: Database, left: LeftComments, edit_window: Duration) -> Self {
        Self {
            db,
            left,
            edit_window,
        }
    }

    /// Until when `comment` may be changed by its author.
    pub fn editable_until(&self, comment: &OwnComment) -> PrimitiveDateTime {
        comment.created_at + self.edit_window
    }

    /// Stores `body` (already [`normalise_comment`]ed) as the comment of `visitor_id`,
    /// attributed to `member_id` when a member posts it, unless that visitor has commented
    /// already ([`InsertOutcome::AlreadyCommented`]).
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn post(
        &self,
        visitor_id: String,
        member_id: Option<i64>,
        body: String,
    ) -> Result<InsertOutcome, DomainError> {
        Ok(self
            .db
            .write_batched(move |conn| {
                let comment = NewComment {
                    body: &body,
                    member_id,
                    visitor_id: &visitor_id,
                    created_at: now_utc(),
                };
                comments::insert(conn, &comment)
            })
            .await?)
    }

    /// The comment the visitor `visitor_id` left, or else the one the member `member_id`
    /// left from any browser, and what became of it.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn left_by(
        &self,
        visitor_id: Option<String>,
        member_id: Option<i64>,
    ) -> Result<Option<YourComment>, DomainError> {
        if visitor_id.is_none() && member_id.is_none() {
            return Ok(None);
        }
        let this_visitor = visitor_id.clone();
        let found = self.left.find(visitor_id, member_id).await?;
        let window_opened = self.window_opened();
        Ok(found.map(|left| {
            let from_this_browser = this_visitor.as_deref() == Some(left.visitor_id.as_str());
            let state = if left.deleted {
                LeftState::Deleted
            } else if left.hidden {
                LeftState::Hidden
            } else {
                LeftState::Shown
            };
            let open = from_this_browser
                && state != LeftState::Deleted
                && left.created_at >= window_opened;
            YourComment {
                id: left.id,
                state,
                from_this_browser,
                changeable_until: open.then(|| left.created_at + self.edit_window),
            }
        }))
    }

    /// Comment `id`, when the visitor `author` (the visitor id their session posted with) may
    /// make `change` to it now.
    ///
    /// # Errors
    /// The rule that refuses it, or a database failure.
    pub async fn own_comment(
        &self,
        id: i64,
        author: &str,
        change: Change,
    ) -> Result<OwnComment, OwnCommentError> {
        let comment = self
            .db
            .read(move |conn| comments::find_own(conn, id))
            .await?
            .ok_or(OwnCommentError::NotFound)?;
        allowed(comment.may_change(author, self.window_opened()), change)?;
        Ok(comment)
    }

    /// The author `author` replaces the text of their comment `id` with `body` (already
    /// [`normalise_comment`]ed).
    ///
    /// # Errors
    /// The rule that refuses it, or a database failure.
    pub async fn edit_own(
        &self,
        id: i64,
        author: String,
        body: String,
    ) -> Result<(), OwnCommentError> {
        let window_opened = self.window_opened();
        let outcome = self
            .db
            .write(move |conn| {
                comments::edit_own(conn, id, &author, window_opened, &body, now_utc())
            })
            .await?;
        allowed(outcome, Change::Edit)?;
        tracing::info!(comment = id, "comment edited by its author");
        Ok(())
    }

    /// The author `author` deletes their comment `id`: its text goes, the row stays, so the
    /// visitor still cannot comment again.
    ///
    /// # Errors
    /// The rule that refuses it, or a database failure.
    pub async fn delete_own(&self, id: i64, author: String) -> Result<(), OwnCommentError> {
        let window_opened = self.window_opened();
        let outcome = self
            .db
            .write(move |conn| comments::delete_own(conn, id, &author, window_opened, now_utc()))
            .await?;
        allowed(outcome, Change::Delete)?;
        tracing::info!(comment = id, "comment deleted by its author");
        Ok(())
    }

    /// Comments posted since then may still be changed by their author.
    fn window_opened(&self) -> PrimitiveDateTime {
        now_utc() - self.edit_window
    }
}

/// The refusal for `outcome` of `change`, if it is one.
fn allowed(outcome: OwnOutcome, change: Change) -> Result<(), OwnCommentError> {
    match outcome {
        OwnOutcome::Done => Ok(()),
        OwnOutcome::Hidden if change == Change::Delete => Ok(()),
        OwnOutcome::Hidden => Err(OwnCommentError::HiddenByStaff),
        OwnOutcome::NotFound => Err(OwnCommentError::NotFound),
        OwnOutcome::NotYours => Err(OwnCommentError::NotYours),
        OwnOutcome::TooLate => Err(OwnCommentError::TooLate),
        OwnOutcome::ChangedMeanwhile => Err(OwnCommentError::ChangedMeanwhile),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_trimmed_and_line_breaks_normalised() {
        assert_eq!(
            normalise_comment("  hi\r\nthere\rfriend \n").unwrap(),
            "hi\nthere\nfriend"
        );
        assert_eq!(normalise_comment(" \r\n\t "), Err(EMPTY_COMMENT));
        assert_eq!(normalise_comment(""), Err(EMPTY_COMMENT));
    }

    #[test]
    fn control_characters_other_than_tabs_and_line_breaks_are_refused() {
        assert_eq!(normalise_comment("a\0b"), Err(CONTROL_CHARACTER));
        assert_eq!(normalise_comment("bell\u{7}"), Err(CONTROL_CHARACTER));
        assert_eq!(normalise_comment("c1\u{85}here"), Err(CONTROL_CHARACTER));
        assert_eq!(
            normalise_comment("tab\there\r\nnext").unwrap(),
            "tab\there\nnext"
        );
    }

    #[test]
    fn length_is_counted_in_unicode_scalar_values_after_trimming() {
        let exactly = "é".repeat(MAX_COMMENT_CHARS);
        assert_eq!(
            normalise_comment(&format!("  {exactly}  ")).unwrap(),
            exactly
        );
        assert_eq!(
            normalise_comment(&"é".repeat(MAX_COMMENT_CHARS + 1)),
            Err(TOO_LONG_COMMENT)
        );
    }

    proptest::proptest! {
        #[test]
        fn a_stored_comment_is_never_empty_long_or_full_of_control_characters(raw: String) {
            if let Ok(body) = normalise_comment(&raw) {
                proptest::prop_assert!(!body.is_empty());
                proptest::prop_assert!(body.chars().count() <= MAX_COMMENT_CHARS);
                proptest::prop_assert!(
                    body.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\t'))
                );
            }
        }
    }
}
