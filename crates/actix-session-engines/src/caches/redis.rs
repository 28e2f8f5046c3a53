//! `redis://`: a cache shared by every instance and kept across restarts (as Redis is
//! configured to keep it). One multiplexed connection that reconnects by itself; made on
//! first use, so the site starts while Redis is down. `rediss://` speaks TLS (OpenSSL, through
//! native-tls), verified against `CACHE_TLS_CA_FILE` or else the system's roots.

use std::time::Duration;

use std::sync::LazyLock;

use redis::{
    AsyncCommands, Client, ExistenceCheck, RedisResult, Script, SetExpiry, SetOptions,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::OnceCell;

use super::settings::CaCertificates;

/// `SET key value PX ttl` only if the key holds `expected`, atomically (a script runs alone).
static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then \
             redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 \
         else return 0 end",
    )
});

/// `SET key value PX ttl XX`, unless the value there starts with a marker, which is deleted
/// instead (Lua strings are binary-safe).
static REPLACE_OR_CLEAR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local v = redis.call('GET', KEYS[1]) \
         if not v then return 0 end \
         if string.sub(v, 1, string.len(ARGV[3])) == ARGV[3] then \
             redis.call('DEL', KEYS[1]) return 0 \
         end \
         redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1",
    )
});

/// `INCR key`, starting its time to live on the first hit; the count and the milliseconds
/// left.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local n = redis.call('INCR', KEYS[1]) \
         if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
         return {n, redis.call('PTTL', KEYS[1])}",
    )
});

/// `DECR key` if it is above zero (a refunded hit), keeping its time to live; a counter back
/// at zero is deleted, so a hit given back leaves nothing behind.
static UNHIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
         if n > 1 then return redis.call('DECR', KEYS[1]) end \
         redis.call('DEL', KEYS[1]) return 0",
    )
});

/// A counter's count and the milliseconds left in its window, without changing it.
static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local n = redis.call('GET', KEYS[1]) \
         if not n then return {0, 0} end \
         return {tonumber(n), redis.call('PTTL', KEYS[1])}",
    )
});

/// `DEL key` only if the key holds `expected`, atomically.
static COMPARE_AND_DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then \
             return redis.call('DEL', KEYS[1]) \
         else return 0 end",
    )
});

/// `SADD key member`, then `PEXPIRE key ttl` only if that is longer than the time the set has
/// left (a longer one is kept), atomically.
static SET_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('SADD', KEYS[1], ARGV[1]) \
         local t = redis.call('PTTL', KEYS[1]) \
         if t < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end",
    )
});

/// How long one command may take before the cache counts as unavailable.
const TIMEOUT: Duration = Duration::from_millis(1000);

/// A cache in Redis; used through `Cache`.
#[derive(Clone)]
pub struct RedisCache {
    /// Boxed: with TLS parameters the client is some hundred bytes, and caches are moved
    /// around inside enums.
    client: Box<Client>,
    connection: std::sync::Arc<OnceCell<ConnectionManager>>,
    prefix: String,
}

impl RedisCache {
    /// A cache at `url`; a `rediss://` one trusts `tls_ca` alone when given.
    ///
    /// # Errors
    /// When `url` is not a Redis URL, or the certificates cannot be parsed.
    pub fn new(url: &str, tls_ca: Option<&CaCertificates>, prefix: String) -> anyhow::Result<Self> {
        let client = match tls_ca {
            Some(ca) => ca.client(url).map_err(anyhow::Error::msg)?,
            None => Client::open(url)?,
        };
        Ok(Self {
            client: Box::new(client),
            connection: Default::default(),
            prefix,
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn connection(&self) -> RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let client = Client::clone(&self.client);
        let manager = self
            .connection
            .get_or_try_init(
                || async move { ConnectionManager::new_with_config(client, config).await },
            )
            .await?;
        Ok(manager.clone())
    }

    pub(crate) async fn ping(&self) -> RedisResult<()> {
        let mut connection = self.connection().await?;
        redis::cmd("PING").query_async::<()>(&mut connection).await
    }

    pub(crate) async fn get(&self, key: &str) -> RedisResult<Option<Vec<u8>>> {
        self.connection().await?.get(self.full_key(key)).await
    }

    /// `SET key value PX ttl [NX|XX]`; whether it wrote.
    pub(super) async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        condition: Condition,
    ) -> RedisResult<bool> {
        let mut options = SetOptions::default().with_expiration(SetExpiry::PX(millis(ttl)));
        options = match condition {
            Condition::Always => options,
            Condition::IfAbsent => options.conditional_set(ExistenceCheck::NX),
            Condition::IfPresent => options.conditional_set(ExistenceCheck::XX),
        };
        let reply: Option<String> = self
            .connection()
            .await?
            .set_options(self.full_key(key), value, options)
            .await?;
        Ok(reply.is_some())
    }

    pub(crate) async fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> RedisResult<bool> {
        let mut connection = self.connection().await?;
        let replaced: i64 = COMPARE_AND_SET
            .key(self.full_key(key))
            .arg(expected)
            .arg(value)
            .arg(millis(ttl))
            .invoke_async(&mut connection)
            .await?;
        Ok(replaced == 1)
    }

    pub(crate) async fn replace_or_clear(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        marker: &[u8],
    ) -> RedisResult<bool> {
        let mut connection = self.connection().await?;
        let replaced: i64 = REPLACE_OR_CLEAR
            .key(self.full_key(key))
            .arg(value)
            .arg(millis(ttl))
            .arg(marker)
            .invoke_async(&mut connection)
            .await?;
        Ok(replaced == 1)
    }

    pub(crate) async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> RedisResult<bool> {
        let mut connection = self.connection().await?;
        let deleted: i64 = COMPARE_AND_DELETE
            .key(self.full_key(key))
            .arg(expected)
            .invoke_async(&mut connection)
            .await?;
        Ok(deleted == 1)
    }

    /// Counts a hit on `key` in a window of `window` from its first hit; the count so far and
    /// the time left in the window.
    pub(crate) async fn hit(&self, key: &str, window: Duration) -> RedisResult<(u64, Duration)> {
        let mut connection = self.connection().await?;
        let (count, millis_left): (u64, i64) = HIT
            .key(self.full_key(key))
            .arg(millis(window))
            .invoke_async(&mut connection)
            .await?;
        Ok((count, Duration::from_millis(millis_left.max(0) as u64)))
    }

    /// The count of `key` so far and the time left in its window (zero when there is none).
    pub(crate) async fn count(&self, key: &str) -> RedisResult<(u64, Duration)> {
        let mut connection = self.connection().await?;
        let (count, millis_left): (u64, i64) = COUNT
            .key(self.full_key(key))
            .invoke_async(&mut connection)
            .await?;
        Ok((count, Duration::from_millis(millis_left.max(0) as u64)))
    }

    /// Takes one hit back from `key`.
    pub(crate) async fn unhit(&self, key: &str) -> RedisResult<()> {
        let mut connection = self.connection().await?;
        let _: i64 = UNHIT
            .key(self.full_key(key))
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    pub(crate) async fn touch(&self, key: &str, ttl: Duration) -> RedisResult<()> {
        let _: bool = self
            .connection()
            .await?
            .pexpire(self.full_key(key), millis(ttl) as i64)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete(&self, key: &str) -> RedisResult<()> {
        let _: u64 = self.connection().await?.del(self.full_key(key)).await?;
        Ok(())
    }

    /// Adds `member` to the set under `key`, giving it a time to live of at least `ttl`.
    pub(crate) async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> RedisResult<()> {
        let mut connection = self.connection().await?;
        SET_ADD
            .key(self.full_key(key))
            .arg(member)
            .arg(millis(ttl))
            .invoke_async::<()>(&mut connection)
            .await
    }

    /// `SMEMBERS key` (empty when there is no set).
    pub(crate) async fn set_members(&self, key: &str) -> RedisResult<Vec<String>> {
        self.connection().await?.smembers(self.full_key(key)).await
    }

    /// `SREM key members...` (Redis removes a set left empty).
    pub(crate) async fn set_remove(&self, key: &str, members: &[String]) -> RedisResult<()> {
        if members.is_empty() {
            // `SREM` with no member is a syntax error, and there is nothing to do.
            return Ok(());
        }
        let _: u64 = self
            .connection()
            .await?
            .srem(self.full_key(key), members)
            .await?;
        Ok(())
    }

    async fn keys_prefixed(&self, key_prefix: &str) -> RedisResult<Vec<String>> {
        let pattern = format!("{}*", escape_glob(&self.full_key(key_prefix)));
        let mut connection = self.connection().await?;
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut connection)
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    pub(crate) async fn delete_prefixed(&self, key_prefix: &str) -> RedisResult<u64> {
        let keys = self.keys_prefixed(key_prefix).await?;
        let mut connection = self.connection().await?;
        for chunk in keys.chunks(500) {
            let _: u64 = connection.del(chunk).await?;
        }
        Ok(keys.len() as u64)
    }

    pub(crate) async fn count_prefixed(&self, key_prefix: &str) -> RedisResult<u64> {
        Ok(self.keys_prefixed(key_prefix).await?.len() as u64)
    }
}

/// When a Redis `SET` writes.
#[derive(Clone, Copy)]
pub(super) enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

/// A time to live in Redis' milliseconds; at least 1 (0 would be an error, not "expired").
fn millis(ttl: Duration) -> u64 {
    ttl.as_millis().clamp(1, u128::from(u64::MAX >> 1)) as u64
}

/// `prefix` with Redis glob characters escaped, for `SCAN MATCH`.
fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
