//! One connection type for the whole application: query code is written once and runs on
//! SQLite or PostgreSQL (Diesel's `MultiConnection`, in a module of its own because the
//! derive brings many names into scope).

use diesel::{PgConnection, SqliteConnection};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}
