//! Queries on `members`.

use diesel::{
    Connection as _,
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

/// Creates a member (staff with `is_staff`); `Ok(None)` when the username is taken (in any
/// case).
///
/// # Errors
/// Any other database failure.
pub fn create(
    conn: &mut Connection,
    username: &str,
    password_hash: &str,
    is_staff: bool,
) -> Result<Option<Member>, DbError> {
    let new_member = NewMember {
        username,
        password_hash,
        created_at: now_utc(),
        is_staff,
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

/// Makes the member named `username` (any case) staff, or not; the member as they are now,
/// `None` when there is no such member.
///
/// # Errors
/// Any database failure.
pub fn set_staff(
    conn: &mut Connection,
    username: &str,
    is_staff: bool,
) -> Result<Option<Member>, DbError> {
    diesel::update(
        members::table.filter(lower(members::username).eq(username.to_ascii_lowercase())),
    )
    .set(members::is_staff.eq(is_staff))
    .execute(conn)?;
    find_by_username(conn, username)
}

/// Member `id`, if they still exist.
///
/// # Errors
/// Any database failure.
pub fn find(conn: &mut Connection, id: i64) -> Result<Option<Member>, DbError> {
    Ok(members::table
        .find(id)
        .select(Member::as_select())
        .first(conn)
        .optional()?)
}

/// What a change to a member's credentials expects to find, so that of two concurrent
/// changes exactly one applies: the password hash and session generation read before it.
#[derive(Clone, Debug)]
pub struct Expected {
    pub password_hash: String,
    pub session_generation: i64,
}

impl From<&Member> for Expected {
    fn from(member: &Member) -> Self {
        Self {
            password_hash: member.password_hash.clone(),
            session_generation: member.session_generation,
        }
    }
}

/// Member `id`'s row, only while it still has the credentials `expected` holds.
type Unchanged = diesel::dsl::Filter<
    diesel::dsl::Find<members::table, i64>,
    diesel::dsl::And<
        diesel::dsl::Eq<members::password_hash, String>,
        diesel::dsl::Eq<members::session_generation, i64>,
    >,
>;

fn unchanged(id: i64, expected: &Expected) -> Unchanged {
    members::table.find(id).filter(
        members::password_hash
            .eq(expected.password_hash.clone())
            .and(members::session_generation.eq(expected.session_generation)),
    )
}

/// A new password: the hash replaced and the session generation bumped (every other session
/// stops matching), only if nothing changed since `expected` was read; whether it applied.
///
/// # Errors
/// Any database failure.
pub fn change_password(
    conn: &mut Connection,
    id: i64,
    expected: &Expected,
    new_hash: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(unchanged(id, expected))
        .set((
            members::password_hash.eq(new_hash),
            members::session_generation.eq(members::session_generation + 1),
            members::carried_session_hash.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(updated > 0)
}

/// "Log out everywhere": the session generation bumped, only if nothing changed since
/// `expected` was read; whether it applied.
///
/// # Errors
/// Any database failure.
pub fn bump_session_generation(
    conn: &mut Connection,
    id: i64,
    expected: &Expected,
) -> Result<bool, DbError> {
    let updated = diesel::update(unchanged(id, expected))
        .set((
            members::session_generation.eq(members::session_generation + 1),
            members::carried_session_hash.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(updated > 0)
}

/// The same password hashed with new costs: sessions keep working through `carried` (the
/// session hash from before). Only if nothing changed since `expected`; whether it applied.
///
/// # Errors
/// Any database failure.
pub fn rehash_password(
    conn: &mut Connection,
    id: i64,
    expected: &Expected,
    new_hash: &str,
    carried: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(unchanged(id, expected))
        .set((
            members::password_hash.eq(new_hash),
            members::carried_session_hash.eq(carried),
        ))
        .execute(conn)?;
    Ok(updated > 0)
}

/// Deletes member `id`'s row with `delete_row` (in the caller's transaction), their comments
/// kept: marked as by a former member first (the foreign key then sets `member_id` to NULL),
/// pointing at nobody after. Whether `delete_row` deleted the row.
fn delete_keeping_comments(
    conn: &mut Connection,
    id: i64,
    delete_row: impl FnOnce(&mut Connection) -> QueryResult<usize>,
) -> QueryResult<bool> {
    use super::schema::comments;
    diesel::update(comments::table.filter(comments::member_id.eq(id)))
        .set(comments::by_former_member.eq(true))
        .execute(conn)?;
    if delete_row(conn)? == 0 {
        return Ok(false);
    }
    diesel::update(comments::table.filter(comments::member_id.eq(id)))
        .set(comments::member_id.eq(None::<i64>))
        .execute(conn)?;
    Ok(true)
}

/// What remains of member `id` once they are gone (a Django user deleted: their mirror): their
/// comments stay, marked as by a former member, and their row goes.
///
/// # Errors
/// Any database failure.
pub fn retire(conn: &mut Connection, id: i64) -> QueryResult<()> {
    delete_keeping_comments(conn, id, |conn| {
        diesel::delete(members::table.find(id)).execute(conn)
    })?;
    Ok(())
}

/// Deletes member `id` (only if nothing changed since `expected`), in one transaction: their
/// comments stay, marked as by a former member, and the session rows that name them go.
/// The keys of the session rows that went (a cache in front may still hold them), or `None`
/// when the member changed meanwhile and nothing was deleted.
///
/// # Errors
/// Any database failure.
pub fn delete(
    conn: &mut Connection,
    id: i64,
    expected: &Expected,
) -> Result<Option<Vec<String>>, DbError> {
    use super::schema::sessions;
    let outcome = conn.transaction(|conn| {
        let deleted = delete_keeping_comments(conn, id, |conn| {
            diesel::delete(unchanged(id, expected)).execute(conn)
        })?;
        if !deleted {
            // Changed or gone meanwhile: undo the marking.
            return Err(DieselError::RollbackTransaction);
        }
        let theirs = sessions::table.filter(sessions::user_id.eq(id));
        let keys = theirs.select(sessions::session_key).load(conn)?;
        diesel::delete(theirs).execute(conn)?;
        Ok(keys)
    });
    match outcome {
        Ok(keys) => Ok(Some(keys)),
        Err(DieselError::RollbackTransaction) => Ok(None),
        Err(err) => Err(err.into()),
    }
}
