//! `SESSION_ENGINE=db` with `DJANGO_COMPAT`: Django's own table, `django_session`, as Django's
//! migrations made it (`session_key` up to 40 characters, `session_data` text, `expire_date`),
//! shared row for row with a Django site on the same database.
//!
//! Django's table has no user column, so the index from user to sessions ("your sessions")
//! is a table of its own beside it, `session_user_index`, kept for the sessions this side
//! writes. A session logged in on the Django site is not in it until this side saves it; it is
//! ended all the same by a password change on either side (the session auth hash), and by a
//! logout, which deletes its row.
//!
//! Expiry times are written and compared as Unix seconds converted by the database
//! (`datetime(?, 'unixepoch')` on SQLite, `to_timestamp(?)` on PostgreSQL), so they read the
//! same to Django whatever the column's type on each backend.

use std::time::Duration;

use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
    sql_types::{BigInt, Text},
};

use crate::{
    backend::{ClearOutcome, ClearRun, Loaded, SessionBackend, StoreError},
    database::{Connection, Database, DbError},
    serializer::unix_now,
};

/// The `db` engine on Django's `django_session` table.
#[derive(Clone)]
pub struct DjangoDbSessions {
    db: Database,
}

impl DjangoDbSessions {
    /// Sessions in `db`'s `django_session` table (made by Django's `migrate`), indexed by user
    /// in `session_user_index`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// The statement for the connection's backend, SQLite's or PostgreSQL's, where their date
/// functions differ (elsewhere one statement with `$n` parameters serves both).
fn sql(conn: &Connection, sqlite: &'static str, postgres: &'static str) -> &'static str {
    match conn {
        Connection::Sqlite(_) => sqlite,
        Connection::Postgresql(_) => postgres,
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    session_data: String,
    #[diesel(sql_type = BigInt)]
    expires_at: i64,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    session_key: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

fn expires_at(ttl: Duration) -> i64 {
    unix_now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2))
}

/// Records that session `key` is `user`'s, or, with no user, that it is nobody's.
fn index(conn: &mut Connection, key: &str, user: Option<i64>) -> QueryResult<()> {
    match user {
        Some(user) => diesel::sql_query(
            "INSERT INTO session_user_index (session_key, user_id) VALUES ($1, $2) \
             ON CONFLICT (session_key) DO UPDATE SET user_id = excluded.user_id",
        )
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(user)
        .execute(conn)?,
        None => diesel::sql_query("DELETE FROM session_user_index WHERE session_key = $1")
            .bind::<Text, _>(key)
            .execute(conn)?,
    };
    Ok(())
}

impl SessionBackend for DjangoDbSessions {
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        let key = key.to_owned();
        let row = self
            .db
            .read(move |conn| {
                let query = sql(
                    conn,
                    "SELECT session_data, CAST(strftime('%s', expire_date) AS BIGINT) AS expires_at \
                     FROM django_session WHERE session_key = ?",
                    "SELECT session_data, CAST(EXTRACT(EPOCH FROM expire_date) AS BIGINT) AS expires_at \
                     FROM django_session WHERE session_key = $1",
                );
                Ok(diesel::sql_query(query)
                    .bind::<Text, _>(key)
                    .get_result::<Row>(conn)
                    .optional()?)
            })
            .await?;
        let now = unix_now();
        Ok(row.filter(|row| row.expires_at > now).map(|row| Loaded {
            data: row.session_data.into_bytes(),
            expires_in: Some(Duration::from_secs((row.expires_at - now).unsigned_abs())),
        }))
    }

    async fn create(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // Django's column is text; the Django codec writes ASCII.
        let (key, data) = (key.to_owned(), String::from_utf8_lossy(data).into_owned());
        let created = self
            .db
            .write(move |conn| {
                let inserted = diesel::sql_query(sql(
                    conn,
                    "INSERT INTO django_session (session_key, session_data, expire_date) \
                     VALUES (?, ?, datetime(?, 'unixepoch'))",
                    "INSERT INTO django_session (session_key, session_data, expire_date) \
                     VALUES ($1, $2, to_timestamp($3))",
                ))
                .bind::<Text, _>(&key)
                .bind::<Text, _>(&data)
                .bind::<BigInt, _>(expires_at(ttl))
                .execute(conn);
                match inserted {
                    Ok(_) => {}
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        return Ok(false);
                    }
                    Err(err) => return Err(DbError::from(err)),
                }
                index(conn, &key, user)?;
                Ok(true)
            })
            .await?;
        Ok(created)
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // Django's column is text; the Django codec writes ASCII.
        let (key, data) = (key.to_owned(), String::from_utf8_lossy(data).into_owned());
        let updated = self
            .db
            .write(move |conn| {
                // Only a live row: one that expired, or that a logout on either site deleted,
                // is never brought back.
                let updated = diesel::sql_query(sql(
                    conn,
                    "UPDATE django_session SET session_data = ?, \
                     expire_date = datetime(?, 'unixepoch') \
                     WHERE session_key = ? AND expire_date > datetime(?, 'unixepoch')",
                    "UPDATE django_session SET session_data = $1, expire_date = to_timestamp($2) \
                     WHERE session_key = $3 AND expire_date > to_timestamp($4)",
                ))
                .bind::<Text, _>(&data)
                .bind::<BigInt, _>(expires_at(ttl))
                .bind::<Text, _>(&key)
                .bind::<BigInt, _>(unix_now())
                .execute(conn)?;
                if updated > 0 {
                    index(conn, &key, user)?;
                }
                Ok(updated > 0)
            })
            .await?;
        Ok(updated)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.db
            .write(move |conn| {
                diesel::sql_query(sql(
                    conn,
                    "UPDATE django_session SET expire_date = datetime(?, 'unixepoch') \
                     WHERE session_key = ? AND expire_date > datetime(?, 'unixepoch')",
                    "UPDATE django_session SET expire_date = to_timestamp($1) \
                     WHERE session_key = $2 AND expire_date > to_timestamp($3)",
                ))
                .bind::<BigInt, _>(expires_at(ttl))
                .bind::<Text, _>(&key)
                .bind::<BigInt, _>(unix_now())
                .execute(conn)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.db
            .write(move |conn| {
                diesel::sql_query("DELETE FROM django_session WHERE session_key = $1")
                    .bind::<Text, _>(&key)
                    .execute(conn)?;
                index(conn, &key, None)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError> {
        let removed = run
            .in_batches(|batch_size| async move {
                let removed = self
                    .db
                    .write(move |conn| {
                        Ok(diesel::sql_query(sql(
                            conn,
                            "DELETE FROM django_session WHERE session_key IN \
                             (SELECT session_key FROM django_session \
                              WHERE expire_date <= datetime(?, 'unixepoch') LIMIT ?)",
                            "DELETE FROM django_session WHERE session_key IN \
                             (SELECT session_key FROM django_session \
                              WHERE expire_date <= to_timestamp($1) LIMIT $2)",
                        ))
                        .bind::<BigInt, _>(unix_now())
                        .bind::<BigInt, _>(batch_size)
                        .execute(conn)?)
                    })
                    .await?;
                Ok(removed)
            })
            .await?;
        // The index entries of sessions gone by any route (expired, or deleted by Django).
        self.db
            .write(|conn| {
                diesel::sql_query(
                    "DELETE FROM session_user_index WHERE session_key NOT IN \
                     (SELECT session_key FROM django_session)",
                )
                .execute(conn)?;
                Ok(())
            })
            .await?;
        Ok(ClearOutcome::Removed(removed))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let rows = self
            .db
            .read(|conn| {
                Ok(
                    diesel::sql_query("SELECT COUNT(*) AS count FROM django_session")
                        .get_result::<Count>(conn)?
                        .count,
                )
            })
            .await?;
        Ok(rows.unsigned_abs())
    }

    async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError> {
        let keys = self
            .db
            .read(move |conn| {
                let query = sql(
                    conn,
                    "SELECT i.session_key AS session_key FROM session_user_index i \
                     JOIN django_session s ON s.session_key = i.session_key \
                     WHERE i.user_id = ? AND s.expire_date > datetime(?, 'unixepoch')",
                    "SELECT i.session_key AS session_key FROM session_user_index i \
                     JOIN django_session s ON s.session_key = i.session_key \
                     WHERE i.user_id = $1 AND s.expire_date > to_timestamp($2)",
                );
                Ok(diesel::sql_query(query)
                    .bind::<BigInt, _>(user)
                    .bind::<BigInt, _>(unix_now())
                    .load::<Key>(conn)?)
            })
            .await?;
        Ok(keys.into_iter().map(|key| key.session_key).collect())
    }

    async fn forget(&self, user: i64, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys = keys.to_vec();
        self.db
            .write(move |conn| {
                for key in &keys {
                    diesel::sql_query(
                        "DELETE FROM session_user_index WHERE session_key = $1 AND user_id = $2",
                    )
                    .bind::<Text, _>(key)
                    .bind::<BigInt, _>(user)
                    .execute(conn)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }
}
