//! The change counters as of each request.

use std::sync::Arc;

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
        self.reads.get(|| self.db.read(changes::versions)).await
    }

    pub fn db(&self) -> &Database {
        &self.db
    }
}
