//! Where the database is and how it is reached (Django's `DATABASES`, in URL form).

use std::{path::PathBuf, time::Duration};

/// Where the database lives and how many connections reach it.
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
    /// The SQLite file at `path`, with a pool of 8 connections that a request waits for at
    /// most 5 seconds.
    pub fn sqlite(path: impl Into<String>) -> Self {
        Self {
            url: path.into(),
            pool_size: 8,
            pool_timeout: Duration::from_secs(5),
            blocking_threads_per_worker: 1,
        }
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

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with its password hidden, in the user part (`user:***@`) and in query parameters
/// whose name says password (`?password=***`), for messages and logs.
pub fn redact_url(url: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match base[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    let Some(query) = query else {
        return base;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db/site"),
            "postgres://app:***@db/site"
        );
        assert_eq!(
            redact_url("postgres://db/site?user=app&password=hunter2&sslmode=require"),
            "postgres://db/site?user=app&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(redact_url("db.sqlite3"), "db.sqlite3");
    }
}
