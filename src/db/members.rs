//! Queries on `members`.

use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
};

use super::{
    Connection, DbError,
    models::{Member, NewMember, now_utc},
    schema::members,
};

diesel::define_sql_function! {
    /// SQL `lower()`: usernames are matched case-insensitively through the unique index on it.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The member whose username matches `username` in any case.
///
/// # Errors
/// Any database failure.
pub fn find_by_username(conn: &mut Connection, username: &str) -> Result<Option<Member>, DbError> {
    Ok(members::table
        .filter(lower(members::username).eq(username.to_ascii_lowercase()))
        .select(Member::as_select())
        .first(conn)
        .optional()?)
}

/// The username of member `id`, if the member still exists.
///
/// # Errors
/// Any database failure.
pub fn username_of(conn: &mut Connection, id: i64) -> Result<Option<String>, DbError> {
    Ok(members::table
        .find(id)
        .select(members::username)
        .first(conn)
        .optional()?)
}

/// Creates a member; `Ok(None)` when the username is taken (in any case).
///
/// # Errors
/// Any other database failure.
pub fn create(
    conn: &mut Connection,
    username: &str,
    password_hash: &str,
) -> Result<Option<Member>, DbError> {
    let new_member = NewMember {
        username,
        password_hash,
        created_at: now_utc(),
    };
    // Insert, then read back by the unique name (RETURNING is not portable across Diesel's
    // MultiConnection).
    match diesel::insert_into(members::table)
        .values(&new_member)
        .execute(conn)
    {
        Ok(_) => find_by_username(conn, username),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(err) => Err(err.into()),
    }
}
