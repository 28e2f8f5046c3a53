//! What the crate's integration tests share: the real services (PostgreSQL from
//! `TEST_DATABASE_URL`, Redis from `REDIS_URL`), each test with a schema, a key prefix and a
//! folder of its own, removed when the test ends.
#![allow(dead_code)]

use std::time::Duration;

use diesel::{Connection as _, connection::SimpleConnection};
use rand::{Rng, distr::Alphanumeric};

pub mod skips;

// Not every test file uses every one.
#[allow(unused_imports)]
pub use skips::{postgres_available, postgres_url, redis_available, redis_url};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum TestDatabase {
    Sqlite,
    Postgres,
}

pub fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// What a test made outside its process, removed when it ends, passed or not.
pub struct TestResources {
    postgres_schema: Option<(String, String)>,
    redis_prefixes: Vec<String>,
    dir: tempfile::TempDir,
}

impl TestResources {
    pub fn new() -> Self {
        Self {
            postgres_schema: None,
            redis_prefixes: Vec::new(),
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// A fresh, empty database: a SQLite file in the test's folder, or a PostgreSQL schema of
    /// its own (libpq's `options` sets the connections' `search_path`).
    pub fn database_url(&mut self, database: TestDatabase) -> String {
        match database {
            TestDatabase::Sqlite => self
                .dir
                .path()
                .join("db.sqlite3")
                .to_string_lossy()
                .into_owned(),
            TestDatabase::Postgres => {
                let admin_url = postgres_url().expect("checked by postgres_available");
                let name = format!("sessions_test_{}", random_string(16).to_ascii_lowercase());
                diesel::PgConnection::establish(&admin_url)
                    .expect("TEST_DATABASE_URL answers")
                    .batch_execute(&format!("CREATE SCHEMA {name}"))
                    .unwrap();
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                self.postgres_schema = Some((admin_url.clone(), name.clone()));
                format!("{admin_url}{separator}options=-csearch_path%3D{name}")
            }
        }
    }

    /// The settings of a fresh, empty database ([`TestResources::database_url`]) with a small
    /// pool.
    pub fn database_settings(
        &mut self,
        database: TestDatabase,
    ) -> actix_session_engines::database::DatabaseSettings {
        actix_session_engines::database::DatabaseSettings {
            url: self.database_url(database),
            pool_size: 4,
            pool_timeout: Duration::from_secs(5),
            blocking_threads_per_worker: 1,
        }
    }

    /// An empty folder of the test's own.
    pub fn folder(&self, name: &str) -> std::path::PathBuf {
        let folder = self.dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    /// A Redis key prefix of the test's own, its keys deleted when the test ends.
    pub fn redis_key_prefix(&mut self) -> String {
        let prefix = format!("sessions-test-{}:", random_string(12));
        self.redis_prefixes.push(prefix.clone());
        prefix
    }
}

impl Drop for TestResources {
    fn drop(&mut self) {
        // Best effort: a failing test should report its own failure, not this one.
        if let Some((admin_url, name)) = &self.postgres_schema
            && let Ok(mut admin) = diesel::PgConnection::establish(admin_url)
        {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
        }
        if let Some(url) = redis_url() {
            for prefix in &self.redis_prefixes {
                let _ = delete_redis_keys(&url, prefix);
            }
        }
    }
}

fn delete_redis_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    let mut conn = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(1))?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut conn)?;
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).exec(&mut conn)?;
    }
    Ok(())
}

/// `django_session` as Django 5.2's `migrate` makes it on SQLite (`sqlmigrate sessions 0001`).
pub const DJANGO_SESSION_SQLITE: &str = "\
    CREATE TABLE \"django_session\" (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, \
    \"session_data\" text NOT NULL, \"expire_date\" datetime NOT NULL); \
    CREATE INDEX \"django_session_expire_date_a5c62663\" ON \"django_session\" (\"expire_date\");";

/// `django_session` as Django 5.2's `migrate` makes it on PostgreSQL.
pub const DJANGO_SESSION_POSTGRES: &str = "\
    CREATE TABLE \"django_session\" (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, \
    \"session_data\" text NOT NULL, \"expire_date\" timestamp with time zone NOT NULL); \
    CREATE INDEX \"django_session_expire_date_a5c62663\" ON \"django_session\" (\"expire_date\");";
