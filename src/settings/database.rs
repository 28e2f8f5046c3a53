//! `DATABASE_*` and `BLOCKING_THREADS_PER_WORKER`: where the data lives and how it is reached.

use std::{path::PathBuf, time::Duration};

use super::vars::{SettingsError, Vars, redact_url};

#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: `postgres://` or `postgresql://` for PostgreSQL; anything else is a
    /// SQLite file path (`sqlite://` prefix optional).
    pub url: String,
    /// `DATABASE_POOL_SIZE`: connections in the pool.
    pub pool_size: u32,
    /// `DATABASE_POOL_TIMEOUT`: how long a request waits for a pooled connection before it
    /// is a `503`.
    pub pool_timeout: Duration,
    /// `BLOCKING_THREADS_PER_WORKER`: threads each async worker hands database calls (and
    /// static file reads) to.
    pub blocking_threads_per_worker: usize,
}

impl DatabaseSettings {
    pub(super) fn parse(vars: &Vars) -> Result<Self, SettingsError> {
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
        Ok(Self {
            url,
            pool_size,
            pool_timeout: Duration::from_secs(pool_timeout),
            blocking_threads_per_worker,
        })
    }

    /// Whether the URL names a PostgreSQL database; anything else is a SQLite file.
    pub fn is_postgres(&self) -> bool {
        is_postgres_url(&self.url)
    }

    /// The URL as a SQLite file path (`sqlite://` and `sqlite:` prefixes are dropped).
    pub fn sqlite_path(&self) -> PathBuf {
        let path = self
            .url
            .strip_prefix("sqlite://")
            .or_else(|| self.url.strip_prefix("sqlite:"))
            .unwrap_or(&self.url);
        PathBuf::from(path)
    }

    /// The URL without its password, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
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
