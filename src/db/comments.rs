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

/// Where a page of comments starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The newest comments.
    Newest,
    /// The comments just older than comment `id`.
    Before(i64),
    /// The comments just newer than comment `id`.
    After(i64),
}

/// Up to `limit` comments from `cursor`, newest first, and whether more lie beyond them in
/// the cursor's direction. A keyset query on the primary key: a deep page costs what the
/// first one does.
///
/// # Errors
/// Any database failure.
pub fn page(
    conn: &mut Connection,
    cursor: Cursor,
    limit: i64,
) -> Result<(Vec<CommentWithAuthor>, bool), DbError> {
    let query = comments::table
        .left_join(members::table)
        .select((
            comments::id,
            comments::body,
            comments::created_at,
            members::username.nullable(),
            comments::by_former_member,
        ))
        // One more than shown says whether there is more.
        .limit(limit + 1)
        .into_boxed();
    let mut rows: Vec<CommentWithAuthor> = match cursor {
        Cursor::Newest => query.order(comments::id.desc()).load(conn)?,
        Cursor::Before(id) => query
            .filter(comments::id.lt(id))
            .order(comments::id.desc())
            .load(conn)?,
        Cursor::After(id) => query
            .filter(comments::id.gt(id))
            .order(comments::id.asc())
            .load(conn)?,
    };
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    if let Cursor::After(_) = cursor {
        rows.reverse();
    }
    Ok((rows, more))
}
