//! Queries on a Django site's users (`DJANGO_COMPAT`): `auth_user`, as Django's migrations made
//! it, is where members' accounts live; Django's migrations own it, this site only reads and
//! writes rows.
//!
//! Comments point at members' ids in the guestbook's own `members` table, so every Django user
//! who logs in or posts here is *mirrored* there under the same id (username, password hash and
//! staff status copied, kept in step whenever they differ). The mirror is never the authority:
//! logins, the per-request check and staff status read `auth_user`.

use diesel::{
    Connection as _,
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
    sql_types::{BigInt, Bool, Nullable, Text, Timestamp},
};
use time::PrimitiveDateTime;

use super::{
    Connection, DbError,
    models::{Member, now_utc},
};

/// A row of `auth_user` as this site reads it, with its mirror in `members` if there is one.
#[derive(Clone, Debug, QueryableByName)]
struct UserRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Bool)]
    is_staff: bool,
    #[diesel(sql_type = Bool)]
    is_active: bool,
    #[diesel(sql_type = Nullable<Timestamp>)]
    mirrored_at: Option<PrimitiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    mirrored_username: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    mirrored_password: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    mirrored_staff: Option<bool>,
    #[diesel(sql_type = Nullable<BigInt>)]
    session_generation: Option<i64>,
}

impl UserRow {
    /// Whether the mirror is missing or differs from `auth_user`.
    fn mirror_is_stale(&self) -> bool {
        self.mirrored_username.as_deref() != Some(&self.username)
            || self.mirrored_password.as_deref() != Some(&self.password)
            || self.mirrored_staff != Some(self.is_staff)
    }

    fn member(self) -> Member {
        Member {
            id: self.id,
            username: self.username,
            password_hash: self.password,
            created_at: self.mirrored_at.unwrap_or_else(now_utc),
            session_generation: self.session_generation.unwrap_or(0),
            carried_session_hash: None,
            is_staff: self.is_staff,
        }
    }
}

const SELECT_USER: &str = "\
    SELECT CAST(u.id AS BIGINT) AS id, u.username AS username, u.password AS password, \
           u.is_staff AS is_staff, u.is_active AS is_active, m.created_at AS mirrored_at, \
           m.username AS mirrored_username, m.password_hash AS mirrored_password, \
           m.is_staff AS mirrored_staff, m.session_generation AS session_generation \
    FROM auth_user u LEFT JOIN members m ON m.id = u.id";

/// What became of a login's lookup: the user may log in, or is there but inactive (as
/// Django's `ModelBackend`, an inactive user's password is still checked, so both cost the
/// same, and then refused).
#[derive(Debug)]
pub enum Found {
    Active(Member),
    Inactive(Member),
}

impl Found {
    fn of(row: UserRow) -> Self {
        if row.is_active {
            Self::Active(row.member())
        } else {
            Self::Inactive(row.member())
        }
    }
}

/// The user called exactly `username` (Django's lookup is case-sensitive), active or not.
///
/// # Errors
/// Any database failure.
pub fn find_by_username(conn: &mut Connection, username: &str) -> Result<Option<Found>, DbError> {
    let row = diesel::sql_query(format!("{SELECT_USER} WHERE u.username = $1"))
        .bind::<Text, _>(username)
        .get_result::<UserRow>(conn)
        .optional()?;
    Ok(row.map(Found::of))
}

/// Active user `id` (an inactive one cannot be logged in, as Django's `get_user` says), and
/// whether their mirror is missing or differs (then [`mirror`] them).
///
/// # Errors
/// Any database failure.
pub fn find_active(conn: &mut Connection, id: i64) -> Result<Option<(Member, bool)>, DbError> {
    let row = diesel::sql_query(format!("{SELECT_USER} WHERE u.id = $1"))
        .bind::<BigInt, _>(id)
        .get_result::<UserRow>(conn)
        .optional()?;
    Ok(row
        .filter(|row| row.is_active)
        .map(|row| (row.mirror_is_stale(), row))
        .map(|(stale, row)| (row.member(), stale)))
}

/// Copies `member` (read from `auth_user`) into `members` under the same id, so comments can
/// point at it; the mirror as it is now.
///
/// # Errors
/// Any database failure; a different mirrored member holding the same name in another case
/// (renamed on the Django site since) is renamed out of the way first.
pub fn mirror(conn: &mut Connection, member: Member) -> Result<Member, DbError> {
    conn.transaction(|conn| {
        // A mirror of another id with this name in any case: a user renamed on Django since.
        diesel::sql_query(
            "UPDATE members SET username = username || '~' || CAST(id AS TEXT) \
             WHERE lower(username) = lower($1) AND id <> $2",
        )
        .bind::<Text, _>(&member.username)
        .bind::<BigInt, _>(member.id)
        .execute(conn)?;
        upsert_mirror(conn, &member)
    })?;
    Ok(member)
}

/// Writes `member`'s mirror under its id, marked as a Django user's.
fn upsert_mirror(conn: &mut Connection, member: &Member) -> QueryResult<()> {
    // The mirror takes Django's id: PostgreSQL's identity column must be told to.
    let overriding = match conn {
        Connection::Sqlite(_) => "",
        Connection::Postgresql(_) => "OVERRIDING SYSTEM VALUE",
    };
    // A stale read may write an older copy over a newer one: the copy is never trusted, and
    // the next request that reads `auth_user` puts it right.
    diesel::sql_query(format!(
        "INSERT INTO members \
         (id, username, password_hash, created_at, is_staff, mirrors_django_user) \
         {overriding} VALUES ($1, $2, $3, $4, $5, TRUE) \
         ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
         password_hash = excluded.password_hash, is_staff = excluded.is_staff"
    ))
    .bind::<BigInt, _>(member.id)
    .bind::<Text, _>(&member.username)
    .bind::<Text, _>(&member.password_hash)
    .bind::<Timestamp, _>(member.created_at)
    .bind::<Bool, _>(member.is_staff)
    .execute(conn)?;
    Ok(())
}

/// Creates an active user as Django's `create_user` does (no email, no names; staff with
/// `is_staff`, never superuser), mirrored; `None` when the username is taken in any case
/// (Django's `UserCreationForm` refuses those too).
///
/// # Errors
/// Any other database failure.
pub fn create(
    conn: &mut Connection,
    username: &str,
    password_hash: &str,
    is_staff: bool,
) -> Result<Option<Member>, DbError> {
    let now = match conn {
        Connection::Sqlite(_) => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        Connection::Postgresql(_) => "now()",
    };
    // One transaction with the mirror, whose unique index on the name in any case refuses a
    // second "Alice" signing up beside "alice" at the same moment (Django's table has no such
    // index, and is not this site's to change).
    let outcome = conn.transaction(|conn| {
        let taken = diesel::sql_query(format!("{SELECT_USER} WHERE lower(u.username) = lower($1)"))
            .bind::<Text, _>(username)
            .get_result::<UserRow>(conn)
            .optional()?;
        if taken.is_some() {
            return Err(DieselError::RollbackTransaction);
        }
        diesel::sql_query(format!(
            "INSERT INTO auth_user (password, last_login, is_superuser, username, first_name, \
             last_name, email, is_staff, is_active, date_joined) \
             VALUES ($1, NULL, FALSE, $2, '', '', '', $3, TRUE, {now})"
        ))
        .bind::<Text, _>(password_hash)
        .bind::<Text, _>(username)
        .bind::<Bool, _>(is_staff)
        .execute(conn)?;
        let member = diesel::sql_query(format!("{SELECT_USER} WHERE u.username = $1"))
            .bind::<Text, _>(username)
            .get_result::<UserRow>(conn)?
            .member();
        upsert_mirror(conn, &member)?;
        Ok(member)
    });
    match outcome {
        Ok(member) => Ok(Some(member)),
        Err(
            DieselError::RollbackTransaction
            | DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _),
        ) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Sets `password_hash` of user `id` only while it is still `expected` (of two concurrent
/// changes exactly one applies); whether it applied. The mirror follows.
///
/// # Errors
/// Any database failure.
pub fn set_password(
    conn: &mut Connection,
    id: i64,
    expected: &str,
    password_hash: &str,
) -> Result<bool, DbError> {
    let updated =
        diesel::sql_query("UPDATE auth_user SET password = $1 WHERE id = $2 AND password = $3")
            .bind::<Text, _>(password_hash)
            .bind::<BigInt, _>(id)
            .bind::<Text, _>(expected)
            .execute(conn)?;
    if updated > 0 {
        diesel::sql_query("UPDATE members SET password_hash = $1 WHERE id = $2")
            .bind::<Text, _>(password_hash)
            .bind::<BigInt, _>(id)
            .execute(conn)?;
    }
    Ok(updated > 0)
}

/// Makes user `id` staff, or not (Django's `is_staff`); the mirror follows.
///
/// # Errors
/// Any database failure.
pub fn set_staff(conn: &mut Connection, id: i64, is_staff: bool) -> Result<(), DbError> {
    for table in ["auth_user", "members"] {
        diesel::sql_query(format!("UPDATE {table} SET is_staff = $1 WHERE id = $2"))
            .bind::<Bool, _>(is_staff)
            .bind::<BigInt, _>(id)
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes user `id` (only while their password hash is still `expected`) as Django's
/// `user.delete()` does: their group and permission rows, and their admin log entries where
/// the admin is installed, go with them. Their comments stay, marked as by a former member.
/// The keys of their sessions this site indexed, now deleted too; `None` when the user
/// changed meanwhile and nothing was deleted.
///
/// # Errors
/// Any database failure.
pub fn delete(
    conn: &mut Connection,
    id: i64,
    expected: &str,
) -> Result<Option<Vec<String>>, DbError> {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Text)]
        session_key: String,
    }
    let admin_log = table_exists(conn, "django_admin_log")?;
    let outcome = conn.transaction(|conn| {
        let mut related = vec!["auth_user_groups", "auth_user_user_permissions"];
        if admin_log {
            related.push("django_admin_log");
        }
        for table in related {
            diesel::sql_query(format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind::<BigInt, _>(id)
                .execute(conn)?;
        }
        let deleted = diesel::sql_query("DELETE FROM auth_user WHERE id = $1 AND password = $2")
            .bind::<BigInt, _>(id)
            .bind::<Text, _>(expected)
            .execute(conn)?;
        if deleted == 0 {
            // Changed or gone meanwhile: the related rows come back with the rollback.
            return Err(DieselError::RollbackTransaction);
        }
        super::members::retire(conn, id)?;
        let keys: Vec<Key> =
            diesel::sql_query("SELECT session_key FROM session_user_index WHERE user_id = $1")
                .bind::<BigInt, _>(id)
                .load(conn)?;
        for key in &keys {
            for table in ["django_session", "session_user_index"] {
                diesel::sql_query(format!("DELETE FROM {table} WHERE session_key = $1"))
                    .bind::<Text, _>(&key.session_key)
                    .execute(conn)?;
            }
        }
        Ok(keys.into_iter().map(|key| key.session_key).collect())
    });
    match outcome {
        Ok(keys) => Ok(Some(keys)),
        Err(DieselError::RollbackTransaction) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The tables of Django's that `DJANGO_COMPAT` uses: the users, the groups and permissions a
/// deleted user's rows are removed from, and, for the `db` engine, the sessions.
pub fn django_tables(db_sessions: bool) -> Vec<&'static str> {
    let mut tables = vec![
        "auth_user",
        "auth_user_groups",
        "auth_user_user_permissions",
    ];
    if db_sessions {
        tables.push("django_session");
    }
    tables
}

/// Which of [`django_tables`] the database lacks (Django's `migrate` has not run on it).
///
/// # Errors
/// Any database failure.
pub fn missing_django_tables(
    conn: &mut Connection,
    db_sessions: bool,
) -> Result<Vec<&'static str>, DbError> {
    let mut missing = Vec::new();
    for table in django_tables(db_sessions) {
        if !table_exists(conn, table)? {
            missing.push(table);
        }
    }
    Ok(missing)
}

/// How many rows of `members` are this site's own members, not Django users' mirrors: with
/// `DJANGO_COMPAT` their ids would be taken for Django users' (and their comments with them).
///
/// # Errors
/// Any database failure.
pub fn own_members(conn: &mut Connection) -> Result<i64, DbError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    let found: Count =
        diesel::sql_query("SELECT COUNT(*) AS count FROM members WHERE NOT mirrors_django_user")
            .get_result(conn)?;
    Ok(found.count)
}

/// Whether the database has a table called `name`.
///
/// # Errors
/// Any database failure.
pub fn table_exists(conn: &mut Connection, name: &str) -> Result<bool, DbError> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        found: i64,
    }
    let query = match conn {
        Connection::Sqlite(_) => {
            "SELECT COUNT(*) AS found FROM sqlite_master WHERE type = 'table' AND name = $1"
        }
        Connection::Postgresql(_) => {
            "SELECT COUNT(*) AS found FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let found: Found = diesel::sql_query(query)
        .bind::<Text, _>(name)
        .get_result(conn)?;
    Ok(found.found > 0)
}
