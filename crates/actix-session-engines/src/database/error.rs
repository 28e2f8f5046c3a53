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
            // PostgreSQL broke a deadlock by failing this statement, or gave up waiting for a
            // lock or an answer (`statement_timeout`, `lock_timeout`): try again later.
            DieselError::DatabaseError(_, info)
                if info.message().contains("deadlock detected")
                    || info.message().contains("canceling statement due to") =>
            {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database's error as Diesel reports it: only the message matters here.
    struct Reported(&'static str);

    impl diesel::result::DatabaseErrorInformation for Reported {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn reported(kind: DatabaseErrorKind, message: &'static str) -> DbError {
        DieselError::DatabaseError(kind, Box::new(Reported(message))).into()
    }

    #[test]
    fn what_passes_with_time_is_unavailable_and_a_bad_query_is_not() {
        // PostgreSQL's words when it fails one statement to end a deadlock.
        let deadlock = reported(DatabaseErrorKind::Unknown, "deadlock detected");
        let locked = reported(DatabaseErrorKind::Unknown, "database is locked");
        let stalled = reported(
            DatabaseErrorKind::Unknown,
            "canceling statement due to statement timeout",
        );
        let waited = reported(
            DatabaseErrorKind::Unknown,
            "canceling statement due to lock timeout",
        );
        let gone = reported(
            DatabaseErrorKind::ClosedConnection,
            "server closed the connection",
        );
        let taken = reported(
            DatabaseErrorKind::UniqueViolation,
            "duplicate key value violates unique constraint",
        );

        for error in [deadlock, locked, stalled, waited, gone] {
            assert!(matches!(error, DbError::Unavailable(_)), "{error}");
        }
        assert!(matches!(taken, DbError::Query(_)), "{taken}");
    }

    #[test]
    fn a_connection_found_gone_is_dropped_by_the_pool() {
        // The flag starts clear on this test's own thread.
        super::super::connection::connection_lost_taken();

        let _ = reported(
            DatabaseErrorKind::UnableToSendCommand,
            "no connection to the server",
        );

        assert!(
            super::super::connection::connection_lost_taken(),
            "marked for the pool"
        );
        assert!(
            !super::super::connection::connection_lost_taken(),
            "and cleared once read"
        );
    }
}
