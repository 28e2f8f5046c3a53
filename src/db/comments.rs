//! Queries on `comments`.

use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
};

use time::PrimitiveDateTime;

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
    /// The member posting it already has a comment, left from another browser or device
    /// (`comments_one_per_member`).
    MemberAlreadyCommented,
}

/// The unique index that keeps members to one comment (migration `one_comment_per_member`).
const ONE_PER_MEMBER: &str = "comments_one_per_member";

/// Stores `comment` unless its visitor, or the member posting it, already has one; unique
/// indexes decide, so two concurrent requests of one session, or of one member in two
/// browsers, cannot both succeed.
///
/// # Errors
/// Any database failure other than the existing comment.
pub fn insert(conn: &mut Connection, comment: &NewComment<'_>) -> Result<InsertOutcome, DbError> {
    match diesel::insert_into(comments::table)
        .values(comment)
        .execute(conn)
    {
        Ok(_) => Ok(InsertOutcome::Stored),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
            // PostgreSQL names the index; SQLite names the column ("UNIQUE constraint failed:
            // comments.member_id").
            let by_member = info.constraint_name() == Some(ONE_PER_MEMBER)
                || info.message().contains("comments.member_id");
            Ok(if by_member {
                InsertOutcome::MemberAlreadyCommented
            } else {
                InsertOutcome::AlreadyCommented
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// The comment a visitor or a member has left, whatever became of it since.
#[derive(Clone, Debug, PartialEq, Eq, Queryable)]
pub struct LeftComment {
    pub id: i64,
    pub created_at: PrimitiveDateTime,
    /// The visitor who posted it (a member may have posted it from another browser).
    pub visitor_id: String,
    /// A staff member hid it.
    pub hidden: bool,
    /// Its author (or staff) deleted it: the row stays, without its text.
    pub deleted: bool,
}

/// The comment the visitor `visitor_id` posted, or else the one the member `member_id` posted
/// from any browser: two lookups by unique index.
///
/// # Errors
/// Any database failure.
pub fn find_left(
    conn: &mut Connection,
    visitor_id: Option<&str>,
    member_id: Option<i64>,
) -> Result<Option<LeftComment>, DbError> {
    let columns = (
        comments::id,
        comments::created_at,
        comments::visitor_id,
        comments::hidden_at.is_not_null(),
        comments::deleted_at.is_not_null(),
    );
    if let Some(visitor_id) = visitor_id {
        let found = comments::table
            .filter(comments::visitor_id.eq(visitor_id))
            .select(columns)
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let Some(member_id) = member_id else {
        return Ok(None);
    };
    // The index's own condition, spelled as it is, so the planner uses it.
    Ok(comments::table
        .filter(comments::member_id.eq(member_id))
        .filter(diesel::dsl::not(comments::predates_one_per_member))
        .select(columns)
        .first(conn)
        .optional()?)
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

/// Who a page of comments is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Everyone: the comments shown (neither hidden nor deleted).
    Everyone,
    /// Staff: hidden comments too.
    Staff,
}

/// Up to `limit` comments from `cursor` for `audience`, newest first, and whether more lie
/// beyond them in the cursor's direction. A keyset query on the primary key: a deep page costs
/// what the first one does.
///
/// # Errors
/// Any database failure.
pub fn page(
    conn: &mut Connection,
    cursor: Cursor,
    limit: i64,
    audience: Audience,
) -> Result<(Vec<CommentWithAuthor>, bool), DbError> {
    let mut query = comments::table
        .left_join(members::table)
        .select((
            comments::id,
            comments::body,
            comments::created_at,
            members::username.nullable(),
            comments::by_former_member,
            comments::visitor_id,
            comments::edited_at.is_not_null(),
            comments::hidden_at.is_not_null(),
        ))
        .filter(comments::deleted_at.is_null())
        // One more than shown says whether there is more.
        .limit(limit + 1)
        .into_boxed();
    if audience == Audience::Everyone {
        query = query.filter(comments::hidden_at.is_null());
    }
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

/// What became of an author's edit or deletion of their comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnOutcome {
    Done,
    /// No such comment (or it was deleted).
    NotFound,
    /// Someone else posted it.
    NotYours,
    /// The edit window closed.
    TooLate,
    /// A staff member hid it: its author can delete it, not change it.
    Hidden,
    /// It changed between the write and the look at why the write did nothing (a moderator
    /// showed it again just then): nothing was done, and trying again may succeed.
    ChangedMeanwhile,
}

/// A comment as its author may change it.
#[derive(Clone, Debug, Queryable)]
pub struct OwnComment {
    pub id: i64,
    pub body: String,
    pub visitor_id: String,
    pub created_at: PrimitiveDateTime,
    pub hidden: bool,
}

impl OwnComment {
    /// Whether `visitor_id` may change it now, the edit window having opened at
    /// `window_opened`.
    pub fn may_change(&self, visitor_id: &str, window_opened: PrimitiveDateTime) -> OwnOutcome {
        if self.visitor_id != visitor_id {
            OwnOutcome::NotYours
        } else if self.created_at < window_opened {
            OwnOutcome::TooLate
        } else if self.hidden {
            OwnOutcome::Hidden
        } else {
            OwnOutcome::Done
        }
    }
}

/// Whether `visitor_id` has commented (a deleted comment counts: its row keeps the id taken).
///
/// # Errors
/// Any database failure.
pub fn visitor_has_commented(conn: &mut Connection, visitor_id: &str) -> Result<bool, DbError> {
    let theirs = comments::table.filter(comments::visitor_id.eq(visitor_id));
    Ok(diesel::select(diesel::dsl::exists(theirs)).get_result(conn)?)
}

/// Comment `id` unless deleted, as its author may change it.
///
/// # Errors
/// Any database failure.
pub fn find_own(conn: &mut Connection, id: i64) -> Result<Option<OwnComment>, DbError> {
    Ok(comments::table
        .find(id)
        .filter(comments::deleted_at.is_null())
        .select((
            comments::id,
            comments::body,
            comments::visitor_id,
            comments::created_at,
            comments::hidden_at.is_not_null(),
        ))
        .first(conn)
        .optional()?)
}

/// The author's change to comment `id`: the conditions are part of the `UPDATE` (posted by
/// `visitor_id`, at or after `window_opened`, not deleted; for edits, not hidden), so no race
/// lets a change through that a check would refuse. When nothing was changed, says why.
fn change_own(
    conn: &mut Connection,
    id: i64,
    visitor_id: &str,
    window_opened: PrimitiveDateTime,
    change: impl FnOnce(&mut Connection, OwnTarget<'_>) -> Result<usize, DieselError>,
) -> Result<OwnOutcome, DbError> {
    let target = comments::table
        .find(id)
        .filter(comments::visitor_id.eq(visitor_id))
        .filter(comments::created_at.ge(window_opened))
        .filter(comments::deleted_at.is_null());
    if change(conn, target)? == 1 {
        return Ok(OwnOutcome::Done);
    }
    let why = find_own(conn, id)?.map_or(OwnOutcome::NotFound, |comment| {
        comment.may_change(visitor_id, window_opened)
    });
    // Only the UPDATE says it was done.
    Ok(match why {
        OwnOutcome::Done => OwnOutcome::ChangedMeanwhile,
        refusal => refusal,
    })
}

/// The author's own comment `id`, as [`change_own`] finds it.
type OwnTarget<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Find<comments::table, i64>,
            diesel::dsl::Eq<comments::visitor_id, &'a str>,
        >,
        diesel::dsl::GtEq<comments::created_at, PrimitiveDateTime>,
    >,
    diesel::dsl::IsNull<comments::deleted_at>,
>;

/// The author replaces the text of their comment `id` (see [`change_own`]).
///
/// # Errors
/// Any database failure.
pub fn edit_own(
    conn: &mut Connection,
    id: i64,
    visitor_id: &str,
    window_opened: PrimitiveDateTime,
    body: &str,
    now: PrimitiveDateTime,
) -> Result<OwnOutcome, DbError> {
    change_own(conn, id, visitor_id, window_opened, |conn, target| {
        diesel::update(target.filter(comments::hidden_at.is_null()))
            .set((comments::body.eq(body), comments::edited_at.eq(now)))
            .execute(conn)
    })
}

/// The author deletes their comment `id` (see [`change_own`]); hidden or not.
///
/// # Errors
/// Any database failure.
pub fn delete_own(
    conn: &mut Connection,
    id: i64,
    visitor_id: &str,
    window_opened: PrimitiveDateTime,
    now: PrimitiveDateTime,
) -> Result<OwnOutcome, DbError> {
    change_own(conn, id, visitor_id, window_opened, |conn, target| {
        diesel::update(target).set(tombstone(now)).execute(conn)
    })
}

/// What deleting a comment leaves: the row without its text, keeping its visitor id taken.
fn tombstone(
    now: PrimitiveDateTime,
) -> (
    diesel::dsl::Eq<comments::body, &'static str>,
    diesel::dsl::Eq<comments::deleted_at, PrimitiveDateTime>,
) {
    (comments::body.eq(""), comments::deleted_at.eq(now))
}

/// What a moderation action found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moderated {
    Done,
    /// It already was as asked (hidden, shown).
    Already,
    NotFound,
}

/// Hides comment `id` from everyone but staff (`hidden`), or shows it again.
///
/// # Errors
/// Any database failure.
pub fn set_hidden(
    conn: &mut Connection,
    id: i64,
    hidden: bool,
    now: PrimitiveDateTime,
) -> Result<Moderated, DbError> {
    let live = comments::table
        .find(id)
        .filter(comments::deleted_at.is_null());
    let changed = if hidden {
        diesel::update(live.filter(comments::hidden_at.is_null()))
            .set(comments::hidden_at.eq(now))
            .execute(conn)?
    } else {
        diesel::update(live.filter(comments::hidden_at.is_not_null()))
            .set(comments::hidden_at.eq(None::<PrimitiveDateTime>))
            .execute(conn)?
    };
    if changed == 1 {
        return Ok(Moderated::Done);
    }
    Ok(match find_own(conn, id)? {
        Some(_) => Moderated::Already,
        None => Moderated::NotFound,
    })
}

/// Deletes comment `id` for good (leaving its tombstone), whoever posted it.
///
/// # Errors
/// Any database failure.
pub fn delete(
    conn: &mut Connection,
    id: i64,
    now: PrimitiveDateTime,
) -> Result<Moderated, DbError> {
    let deleted = diesel::update(
        comments::table
            .find(id)
            .filter(comments::deleted_at.is_null()),
    )
    .set(tombstone(now))
    .execute(conn)?;
    Ok(if deleted == 1 {
        Moderated::Done
    } else {
        Moderated::NotFound
    })
}

/// A comment as the moderation list shows it.
#[derive(Clone, Debug, Queryable)]
pub struct ListedComment {
    pub id: i64,
    pub body: String,
    pub author: Option<String>,
    pub by_former_member: bool,
    pub visitor_id: String,
    pub created_at: PrimitiveDateTime,
    pub edited: bool,
    pub hidden: bool,
}

/// The newest `limit` comments not deleted (only the hidden ones with `hidden_only`).
///
/// # Errors
/// Any database failure.
pub fn list(
    conn: &mut Connection,
    hidden_only: bool,
    limit: i64,
) -> Result<Vec<ListedComment>, DbError> {
    let mut query = comments::table
        .left_join(members::table)
        .filter(comments::deleted_at.is_null())
        .select((
            comments::id,
            comments::body,
            members::username.nullable(),
            comments::by_former_member,
            comments::visitor_id,
            comments::created_at,
            comments::edited_at.is_not_null(),
            comments::hidden_at.is_not_null(),
        ))
        .order(comments::id.desc())
        .limit(limit)
        .into_boxed();
    if hidden_only {
        query = query.filter(comments::hidden_at.is_not_null());
    }
    Ok(query.load(conn)?)
}
