//! Queries on `comments`.

use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
};

use super::{
    Connection, DbError,
    models::{CommentWithAuthor, NewComment},
    schema::{comments, members},
};

/// What became of an attempt to store a visitor's comment.
#[derive(Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Stored,
    /// This visitor already has a comment (the `visitor_id` is taken).
    AlreadyCommented,
}

/// Stores `comment` unless its visitor already has one; the unique `visitor_id` decides, so two
/// concurrent requests of one session cannot both succeed.
///
/// # Errors
/// Any database failure other than the visitor's existing comment.
pub fn insert(conn: &mut Connection, comment: &NewComment<'_>) -> Result<InsertOutcome, DbError> {
    match diesel::insert_into(comments::table)
        .values(comment)
        .execute(conn)
    {
        Ok(_) => Ok(InsertOutcome::Stored),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(InsertOutcome::AlreadyCommented)
        }
        Err(err) => Err(err.into()),
    }
}

/// One page of comments, newest first, with `limit + 1` asked for so the caller knows whether
/// an older page exists.
///
/// # Errors
/// Any database failure.
pub fn newest_first(
    conn: &mut Connection,
    limit: i64,
    offset: i64,
) -> Result<Vec<CommentWithAuthor>, DbError> {
    Ok(comments::table
        .left_join(members::table)
        .select((
            comments::id,
            comments::body,
            comments::created_at,
            members::username.nullable(),
            comments::by_former_member,
        ))
        .order(comments::id.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?)
}
