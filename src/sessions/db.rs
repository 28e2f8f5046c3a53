//! The database engine (`SESSION_ENGINE=db`): one row per session in `sessions`.

use actix_session::storage::{LoadError, SaveError, SessionKey, UpdateError};
use actix_web::cookie::time::Duration;
use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
};
use time::PrimitiveDateTime;

use super::{
    keys,
    serializer::{SessionSerializer, SessionState},
};
use crate::db::{Database, DbError, models::now_utc, schema::sessions};

/// How many expired rows one `clear_expired` statement deletes, so a large table is never
/// locked for long.
const CLEAR_BATCH: i64 = 1_000;

/// Sessions in the `sessions` table.
#[derive(Clone)]
pub struct DbSessionStore {
    db: Database,
    serializer: SessionSerializer,
}

impl DbSessionStore {
    pub fn new(db: Database, serializer: SessionSerializer) -> Self {
        Self { db, serializer }
    }

    /// The state stored under `key`, unless it is missing, expired or unreadable.
    pub async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        if !keys::is_well_formed(key.as_ref()) {
            return Ok(None);
        }
        let key = key.as_ref().to_owned();
        let row = self
            .db
            .run(move |conn| {
                Ok(sessions::table
                    .find(key)
                    .select((sessions::session_data, sessions::expire_date))
                    .get_result::<(Vec<u8>, PrimitiveDateTime)>(conn)
                    .optional()?)
            })
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        let data = row
            .filter(|(_, expire_date)| *expire_date > now_utc())
            .map(|(data, _)| data);
        data.map(|bytes| self.serializer.decode(&bytes))
            .transpose()
            .map_err(LoadError::Deserialization)
    }

    /// Stores `state` under a new random key.
    pub async fn save(&self, state: SessionState, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let data = self
            .serializer
            .encode(&state)
            .map_err(SaveError::Serialization)?;
        let expire_date = expiry(ttl);
        self.db
            .run(move |conn| {
                // A collision of 381-bit random keys will not happen; if it ever did, the
                // primary key refuses it and we draw again rather than overwrite a session.
                loop {
                    let key = keys::generate();
                    let inserted = diesel::insert_into(sessions::table)
                        .values((
                            sessions::session_key.eq(key.as_ref()),
                            sessions::session_data.eq(&data),
                            sessions::expire_date.eq(expire_date),
                        ))
                        .execute(conn);
                    match inserted {
                        Ok(_) => return Ok(key),
                        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                            continue;
                        }
                        Err(err) => return Err(DbError::from(err)),
                    }
                }
            })
            .await
            .map_err(|e| SaveError::Other(e.into()))
    }

    /// Replaces the state stored under `key`. If the row is gone (the session was logged out
    /// or cleared while this request ran) nothing is written: a deleted session is never
    /// brought back, and the visitor simply has no session on the next request.
    pub async fn update(
        &self,
        key: SessionKey,
        state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let data = self
            .serializer
            .encode(&state)
            .map_err(UpdateError::Serialization)?;
        let expire_date = expiry(ttl);
        let row_key = key.as_ref().to_owned();
        let updated = self
            .db
            .run(move |conn| {
                Ok(diesel::update(sessions::table.find(row_key))
                    .set((
                        sessions::session_data.eq(data),
                        sessions::expire_date.eq(expire_date),
                    ))
                    .execute(conn)?)
            })
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if updated == 0 {
            tracing::info!("session ended while the request ran; its changes are dropped");
        }
        Ok(key)
    }

    /// Moves the expiry of `key` to `ttl` from now.
    pub async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        let key = key.as_ref().to_owned();
        let expire_date = expiry(ttl);
        self.db
            .run(move |conn| {
                diesel::update(sessions::table.find(key))
                    .set(sessions::expire_date.eq(expire_date))
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Deletes the session stored under `key`, if any.
    pub async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let key = key.as_ref().to_owned();
        self.db
            .run(move |conn| {
                diesel::delete(sessions::table.find(key)).execute(conn)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Deletes expired sessions in batches and returns how many went.
    ///
    /// # Errors
    /// When the database fails; batches already deleted stay deleted.
    pub async fn clear_expired(&self) -> Result<u64, DbError> {
        let mut removed = 0;
        loop {
            let batch = self
                .db
                .run(|conn| {
                    // Diesel's DSL has no DELETE ... LIMIT; a keyed sub-select does the same job
                    // on every backend.
                    Ok(diesel::sql_query(
                        "DELETE FROM sessions WHERE session_key IN \
                         (SELECT session_key FROM sessions WHERE expire_date <= $1 LIMIT $2)",
                    )
                    .bind::<diesel::sql_types::Timestamp, _>(now_utc())
                    .bind::<diesel::sql_types::BigInt, _>(CLEAR_BATCH)
                    .execute(conn)?)
                })
                .await?;
            removed += batch as u64;
            if (batch as i64) < CLEAR_BATCH {
                return Ok(removed);
            }
        }
    }
}

fn expiry(ttl: &Duration) -> PrimitiveDateTime {
    now_utc() + *ttl
}
