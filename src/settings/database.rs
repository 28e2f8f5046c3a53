//! `DATABASE_*` and `BLOCKING_THREADS_PER_WORKER`: where the data lives and how it is reached.

use std::time::Duration;

use actix_session_engines::database::{DatabaseSettings, is_postgres_url};

use super::vars::{SettingsError, Vars};

/// The `DATABASE_*` settings and `BLOCKING_THREADS_PER_WORKER`.
pub(super) fn parse(vars: &Vars) -> Result<DatabaseSettings, SettingsError> {
    let url = vars
        .get("DATABASE_URL")
        .unwrap_or_else(|| "db.sqlite3".into());
    let pool_size = vars.ranged("DATABASE_POOL_SIZE", 8, 1, 1000)? as u32;
    let pool_timeout = vars.ranged("DATABASE_POOL_TIMEOUT", 5, 1, 3600)? as u64;
    let blocking_threads_per_worker = match vars.get("BLOCKING_THREADS_PER_WORKER") {
        Some(_) => vars.ranged("BLOCKING_THREADS_PER_WORKER", 1, 1, 512)? as usize,
        // SQLite answers from memory, one writer at a time: one thread per worker is
        // fastest. PostgreSQL calls wait on the network: let every pooled connection be
        // busy at once.
        None if is_postgres_url(&url) => pool_size as usize,
        None => 1,
    };
    Ok(DatabaseSettings {
        url,
        pool_size,
        pool_timeout: Duration::from_secs(pool_timeout),
        blocking_threads_per_worker,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;

    #[test]
    fn the_database_url_picks_the_backend_and_its_pool() {
        let sqlite = settings(&[("DATABASE_URL", "sqlite://data/site.db")]).unwrap();
        assert!(!sqlite.database.is_postgres());
        assert_eq!(sqlite.database.sqlite_path().to_str(), Some("data/site.db"));
        assert_eq!(sqlite.database.blocking_threads_per_worker, 1);

        let pg = settings(&[
            ("DATABASE_URL", "postgres://app:hunter2@db/site"),
            ("DATABASE_POOL_SIZE", "12"),
        ])
        .unwrap();
        assert!(pg.database.is_postgres());
        assert_eq!(
            pg.database.blocking_threads_per_worker, 12,
            "one thread per pooled connection"
        );
        assert_eq!(pg.database.redacted_url(), "postgres://app:***@db/site");
    }
}
