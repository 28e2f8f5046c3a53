//! Rows as Rust types: a `Model` to read and a `NewModel` to insert, per table.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::{comments, members};

/// A registered member.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = members)]
pub struct Member {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub created_at: PrimitiveDateTime,
    /// Bumped by every password change and "log out everywhere".
    pub session_generation: i64,
    /// The session auth hash from before the last rehash, still accepted.
    pub carried_session_hash: Option<String>,
    /// Staff see every comment and may hide or show any.
    pub is_staff: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = members)]
pub struct NewMember<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub created_at: PrimitiveDateTime,
    pub is_staff: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = comments)]
pub struct NewComment<'a> {
    pub body: &'a str,
    pub member_id: Option<i64>,
    pub visitor_id: &'a str,
    pub created_at: PrimitiveDateTime,
}

/// A comment as the pages show it: its author's name resolved.
#[derive(Clone, Debug, Queryable)]
pub struct CommentWithAuthor {
    pub id: i64,
    pub body: String,
    pub created_at: PrimitiveDateTime,
    pub author: Option<String>,
    /// The author deleted their account.
    pub by_former_member: bool,
    /// The visitor who posted it: never shown, compared with the viewer's to offer the
    /// author Edit and Delete.
    pub visitor_id: String,
    /// The author changed the text after posting.
    pub edited: bool,
    /// A staff member hid it (only staff pages hold hidden comments).
    pub hidden: bool,
}

/// The current time in UTC, as stored in `TIMESTAMP` columns.
pub fn now_utc() -> PrimitiveDateTime {
    let now = time::OffsetDateTime::now_utc();
    PrimitiveDateTime::new(now.date(), now.time())
}
