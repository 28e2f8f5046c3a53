//! The seam every server-side engine implements: bytes under a session key, with a time to
//! live. Key generation, serialization and actix-session's trait live above it, once (in
//! `engine.rs`); the engines are one file each.

use std::time::Duration;

use crate::{caches::CacheError, database::DbError};

/// Why a session store call failed. Every variant means "the storage did not answer": the
/// request gets a `503`, the session is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database did not answer, or refused the query.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The cache did not answer.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A session file could not be read or written.
    #[error("session file storage failed: {0}")]
    File(#[from] std::io::Error),
}

/// A stored session as loaded.
#[derive(Debug)]
pub struct Loaded {
    /// The session's bytes, as the serializer wrote them.
    pub data: Vec<u8>,
    /// How long the session has left, where the storage knows it cheaply.
    pub expires_in: Option<Duration>,
}

/// How `clearsessions` goes about it.
#[derive(Clone, Copy)]
pub struct ClearRun<'a> {
    /// At most this many sessions removed per statement, so a large table is never locked for
    /// long (where the storage works in batches).
    pub batch_size: u64,
    /// Told the running total after each batch.
    pub progress: &'a dyn Fn(u64),
}

impl ClearRun<'_> {
    /// Runs `delete_batch(batch_size)` until a batch removes less than a full batch, telling
    /// `progress` the running total after each; how many were removed in all.
    ///
    /// # Errors
    /// The first batch's failure (the batches before it stay removed).
    pub async fn in_batches<Batch>(
        &self,
        mut delete_batch: impl FnMut(i64) -> Batch,
    ) -> Result<u64, StoreError>
    where
        Batch: Future<Output = Result<usize, StoreError>>,
    {
        let batch_size = i64::try_from(self.batch_size).unwrap_or(i64::MAX).max(1);
        let mut removed = 0;
        loop {
            let batch = delete_batch(batch_size).await?;
            removed += batch as u64;
            (self.progress)(removed);
            if (batch as i64) < batch_size {
                return Ok(removed);
            }
        }
    }
}

impl ClearRun<'static> {
    /// Batches of 1,000, nobody told.
    pub const DEFAULT: Self = Self {
        batch_size: 1_000,
        progress: &ignore_progress,
    };
}

fn ignore_progress(_: u64) {}

/// What `clearsessions` did.
#[derive(Debug, PartialEq, Eq)]
pub enum ClearOutcome {
    /// This many expired sessions were removed.
    Removed(u64),
    /// This engine keeps nothing that could expire unseen; the reason says why.
    NothingToClear(&'static str),
}

/// Storage for one server-side session engine. Contracts every engine keeps (checked against
/// each of them by the store-level suite in `tests/stores.rs`):
///
/// - `load` never returns an expired session (and may remove it);
/// - `create` never overwrites: it answers `false` when the key is taken, also when two
///   creates of one key race;
/// - `update` and `touch` never resurrect: when the session is gone (logged out in another
///   tab, cleared, expired) they write nothing, and `update` answers `false`;
/// - `update` and `touch` restart the time to live;
/// - `clear_expired` removes what has expired and nothing else;
/// - `keys_of` finds every live session stored with that user (it may also name sessions
///   that have ended or changed hands since: callers load each one and check).
#[allow(async_fn_in_trait)]
pub trait SessionBackend {
    /// The stored bytes of session `key`, unless it is missing or expired.
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn load(&self, key: &str) -> Result<Option<Loaded>, StoreError>;

    /// Stores a new session under `key` for `ttl`, indexed under `user` when one is logged
    /// in; `false` when `key` is taken.
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn create(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Replaces session `key` (now `user`'s, if any) and restarts its `ttl`; `false`,
    /// writing nothing, when it no longer exists.
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn update(
        &self,
        key: &str,
        data: &[u8],
        user: Option<i64>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Restarts the `ttl` of session `key`, if it exists.
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn touch(&self, key: &str, ttl: Duration) -> Result<(), StoreError>;

    /// Deletes session `key`, if it exists.
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Removes expired sessions the storage would otherwise keep.
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn clear_expired(&self, run: ClearRun<'_>) -> Result<ClearOutcome, StoreError>;

    /// How many sessions the storage holds, counting expired ones it has not removed yet
    /// (for operators and tests; it may scan everything).
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn count(&self) -> Result<u64, StoreError>;

    /// The keys of the sessions stored with `user` logged in; may include some that ended
    /// or changed hands since (not every storage can keep its index exact).
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn keys_of(&self, user: i64) -> Result<Vec<String>, StoreError>;

    /// Drops `keys` from `user`'s index (they ended or changed hands); nothing to do where
    /// the session itself is the index.
    ///
    /// # Errors
    /// When the storage does not answer.
    async fn forget(&self, user: i64, keys: &[String]) -> Result<(), StoreError>;
}

/// A backend that can also serve as the cache in front of another (the `cached_db` engine).
///
/// A refill after a miss reads the database and then writes the cache; a delete in between
/// must win. So a refill first [`reserve`](Self::reserve)s the key (a marker written only if
/// nothing is cached), reads, and [`fill`](Self::fill)s only if its marker is still there: a
/// delete (or a newer write) removes or replaces the marker, and the late refill writes
/// nothing.
#[allow(async_fn_in_trait)]
pub trait SessionCache: SessionBackend {
    /// Stores `data` under `key` whatever was there (a new session's write-through).
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn put(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Follows a database update of session `key`: replaces the cached entry if there is
    /// one; removes a reservation if there is one instead (so the refill holding it writes
    /// nothing, and the next load reads the database); writes nothing on a miss.
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn follow_update(&self, key: &str, data: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Removes the entry under `key` only if it still holds `expected` (an entry found stale,
    /// unless something newer replaced it meanwhile).
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn discard(&self, key: &str, expected: &[u8]) -> Result<(), StoreError>;

    /// Removes every session entry.
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn delete_all(&self) -> Result<u64, StoreError>;

    /// Reserves `key` for a refill; `None` when something is already cached under it (a value,
    /// or another refill's reservation). Loads see a reserved key as a miss.
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn reserve(&self, key: &str) -> Result<Option<Reservation>, StoreError>;

    /// Stores `data` under a key `reservation` holds; `false`, writing nothing, when the
    /// reservation is gone (deleted, overwritten or expired meanwhile).
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn fill(
        &self,
        key: &str,
        reservation: &Reservation,
        data: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives a reservation back, if it still stands (there was nothing to refill).
    ///
    /// # Errors
    /// When the cache does not answer.
    async fn release(&self, key: &str, reservation: &Reservation) -> Result<(), StoreError>;
}

/// A claim on a cache key for one refill: the marker value written under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation(pub Vec<u8>);
