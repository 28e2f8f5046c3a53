//! What a database call can fail with.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Why a database call failed: the database could not be reached in time (a `503`), or the
/// query itself failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection, a lock held past the deadline, no answer in time: try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The query failed.
    #[error(transparent)]
    Query(DieselError),
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                super::connection::connection_lost();
                Self::Unavailable(err.to_string())
            }
            // PostgreSQL broke a deadlock by failing this statement: try again later.
            DieselError::DatabaseError(_, info) if info.message().contains("deadlock detected") => {
                Self::Unavailable(err.to_string())
            }
            // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: a lock, not a bad query.
            DieselError::DatabaseError(_, info)
                if info.message().contains("locked") || info.message().contains("busy") =>
            {
                Self::Unavailable(err.to_string())
            }
            _ => Self::Query(err),
        }
    }
}
