//! `SESSION_ENGINE=db`: one row per session in the `sessions` table. Survives restarts and is
//! shared by every instance that uses the same database.

use std::time::Duration;

use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
};
use time::PrimitiveDateTime;

use crate::{
    backend::{ClearOutcome, ClearRun, Loaded, SessionBackend, StoreError},
    database::{Database, DbError, now_utc, schema::sessions},
};

/// The `db` engine: sessions in the `sessions` table of `db`.
#[derive(Clone)]
pub struct DbSessions {
    db: Database,
}

impl DbSessions {
    /// Sessions in `db`'s `sessions` table.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database the sessions are in.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// [`DbSessions::load`] on PostgreSQL's pipelined lane: the same read as its Diesel query.
const LOAD: &str = "SELECT session_data, expire_date FROM sessions WHERE session_key = $1";

fn expiry(ttl: Duration) -> PrimitiveDateTime {
    now_utc() + ttl
}

impl SessionBackend for DbSessions {
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError> {
        let owned = key.to_owned();
        let row = self
            .db
            .read_pipelined(
                async |pipe| {
                    let row = pipe.query_opt(LOAD, &[&key]).await?;
                    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                        .transpose()
                },
                move |conn| {
                    // By primary key, with no `LIMIT`; expiry is checked below.
                    Ok(sessions::table
                        .find(owned)
                        .select((sessions::session_data, sessions::expire_date))
                        .get_result::<(Vec<u8>, PrimitiveDateTime)>(conn)
                        .optional()?)
                },
            )
            .await?;
        let now = now_utc();
        Ok(row
            .filter(|(_, expire_date)| *expire_date > now)
            .map(|(data, expire_date)| Loaded {
                data,
                expires_in: (expire_date - now).try_into().ok(),
            }))
    }

    async fn create(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (key, data) = (key.to_owned(), data.to_vec());
        let inserted = self
            .db
            .write_batched(move |conn| {
                let row = (
                    sessions::session_key.eq(&key),
                    sessions::session_data.eq(&data),
                    sessions::expire_date.eq(expiry(ttl)),
                    sessions::user_id.eq(user),
                );
                match diesel::insert_into(sessions::table)
                    .values(row)
                    .execute(conn)
                {
                    Ok(_) => Ok(true),
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        Ok(false)
                    }
                    Err(err) => Err(DbError::from(err)),
                }
            })
            .await?;
        Ok(inserted)
    }

    async fn update(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (key, data) = (key.to_owned(), data.to_vec());
        let updated = self
            .db
            .write_batched(move |conn| {
                // Only a live row: an expired one is never brought back.
                let live = sessions::table
                    .find(&key)
                    .filter(sessions::expire_date.gt(now_utc()));
                Ok(diesel::update(live)
                    .set((
                        sessions::session_data.eq(&data),
                        sessions::expire_date.eq(expiry(ttl)),
                        sessions::user_id.eq(user),
                    ))
                    .execute(conn)?)
            })
            .await?;
        Ok(updated > 0)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.db
            .write(move |conn| {
                let live = sessions::table
                    .find(key)
                    .filter(sessions::expire_date.gt(now_utc()));
                diesel::update(live)
                    .set(sessions::expire_date.eq(expiry(ttl)))
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
                diesel::delete(sessions::table.find(key)).execute(conn)?;
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
                        // Diesel's DSL has no DELETE ... LIMIT; a keyed sub-select does the
                        // same job on every backend.
                        Ok(diesel::sql_query(
                            "DELETE FROM sessions WHERE session_key IN \
                             (SELECT session_key FROM sessions WHERE expire_date <= $1 LIMIT $2)",
                        )
                        .bind::<diesel::sql_types::Timestamp, _>(now_utc())
                        .bind::<diesel::sql_types::BigInt, _>(batch_size)
                        .execute(conn)?)
                    })
                    .await?;
                Ok(removed)
            })
            .await?;
        Ok(ClearOutcome::Removed(removed))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let rows = self
            .db
            .read(|conn| Ok(sessions::table.count().get_result::<i64>(conn)?))
            .await?;
        Ok(rows as u64)
    }

    async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError> {
        let keys = self
            .db
            .read(move |conn| {
                Ok(sessions::table
                    .filter(sessions::user_id.eq(user))
                    .filter(sessions::expire_date.gt(now_utc()))
                    .select(sessions::session_key)
                    .load::<String>(conn)?)
            })
            .await?;
        Ok(keys)
    }

    async fn forget(&self, _user: i64, _keys: &[String]) -> Result<(), StoreError> {
        // The row is the index: a rotated, logged-out or deleted session is no longer there.
        Ok(())
    }
}
