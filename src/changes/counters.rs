//! The change counters as of each request.

use std::{sync::Arc, time::Duration};

use actix_session_engines::stores::cached_db::{CacheEpoch, EpochFuture};

use super::shared_read::SharedRead;
use crate::db::{
    Database, DbError,
    changes::{self, Versions},
};

/// The change counters as of each request; cheap to clone.
#[derive(Clone)]
pub struct Changes {
    db: Database,
    reads: Arc<SharedRead<Versions>>,
}

impl Changes {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            reads: Arc::new(SharedRead::default()),
        }
    }

    /// The counters as of a read that started after this call.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn current(&self) -> Result<Versions, DbError> {
        self.reads.get(|| changes::read_versions(&self.db)).await
    }

    /// The counters as of a read that started at most `max_age` ago: no query at all while
    /// the requests of a busy instance keep reading them.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn recent(&self, max_age: Duration) -> Result<Versions, DbError> {
        self.reads
            .get_recent(max_age, || changes::read_versions(&self.db))
            .await
    }

    /// Moves the cache epoch on (a cache could not follow a change); the new epoch.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn bump_cache_epoch(&self) -> Result<i64, DbError> {
        self.db.write(changes::bump_cache_epoch).await
    }

    pub fn db(&self) -> &Database {
        &self.db
    }
}

/// `cached_db`'s cache epoch is a row among the change counters: every page reads them anyway,
/// so relying on the epoch costs a busy instance no query of its own.
impl CacheEpoch for Changes {
    fn recent(&self, max_age: Duration) -> EpochFuture<'_, i64> {
        Box::pin(async move { Ok(Changes::recent(self, max_age).await?.cache_epoch) })
    }

    fn advance(&self) -> EpochFuture<'_, ()> {
        Box::pin(async move {
            self.bump_cache_epoch().await?;
            Ok(())
        })
    }
}
