//! `memory://`: a bounded in-process cache (moka) with a time to live per entry. Fast, but
//! private to this process and gone at restart.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, future::Cache as Moka, ops::compute::Op};

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
    written: Instant,
}

impl Entry {
    fn new(value: &[u8], ttl: Duration) -> Self {
        Self {
            value: value.into(),
            ttl,
            written: Instant::now(),
        }
    }

    /// When this entry expires.
    fn expires(&self) -> Instant {
        self.written + self.ttl
    }
}

/// Each entry expires after its own time to live, renewed by every write.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A hit counter: its count in the value, its window's end where the entry expires.
struct Counter;

impl Counter {
    fn entry(count: u64, window_ends: Instant, now: Instant) -> Entry {
        Entry::new(
            &count.to_be_bytes(),
            window_ends.saturating_duration_since(now),
        )
    }

    /// The count and window end of a counter entry.
    fn read(entry: &Entry) -> Option<(u64, Instant)> {
        let count = u64::from_be_bytes(entry.value.get(..8)?.try_into().ok()?);
        Some((count, entry.expires()))
    }
}

#[derive(Clone)]
pub struct MemoryCache {
    entries: Moka<String, Entry>,
    prefix: String,
}

impl MemoryCache {
    pub fn new(max_entries: u64, prefix: String) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_entries)
            .expire_after(PerEntryTtl)
            .build();
        Self { entries, prefix }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries
            .get(&self.full_key(key))
            .await
            .map(|entry| entry.value.to_vec())
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) {
        let entry = Entry::new(value, ttl);
        self.compute(self.full_key(key), |_| Op::Put(entry)).await;
    }

    /// Writes only if the key's presence is `present`; whether it did.
    pub async fn put_if(&self, key: &str, value: &[u8], ttl: Duration, present: bool) -> bool {
        let entry = Entry::new(value, ttl);
        self.compute(self.full_key(key), |existing| {
            if existing.is_some() == present {
                Op::Put(entry)
            } else {
                Op::Nop
            }
        })
        .await
    }

    /// Replaces the value only if it is `expected`; whether it did.
    pub async fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> bool {
        let entry = Entry::new(value, ttl);
        self.compute(self.full_key(key), |existing| match existing {
            Some(current) if *current.value == *expected => Op::Put(entry),
            _ => Op::Nop,
        })
        .await
    }

    /// Removes the key only if its value is `expected`; whether it did.
    pub async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> bool {
        self.compute(self.full_key(key), |existing| match existing {
            Some(current) if *current.value == *expected => Op::Remove,
            _ => Op::Nop,
        })
        .await
    }

    /// Counts a hit on `key` in a window of `window` from its first hit; the count so far and
    /// the time left in the window.
    pub async fn hit(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let mut counted = (1, window);
        self.compute(self.full_key(key), |existing| {
            let (count, ends) = existing
                .and_then(Counter::read)
                .map_or((1, now + window), |(count, ends)| (count + 1, ends));
            counted = (count, ends.saturating_duration_since(now));
            Op::Put(Counter::entry(count, ends, now))
        })
        .await;
        counted
    }

    /// Takes one hit back from `key`.
    pub async fn unhit(&self, key: &str) {
        let now = Instant::now();
        self.compute(self.full_key(key), |existing| {
            match existing.and_then(Counter::read) {
                Some((count, ends)) if count > 0 => Op::Put(Counter::entry(count - 1, ends, now)),
                _ => Op::Nop,
            }
        })
        .await;
    }

    pub async fn touch(&self, key: &str, ttl: Duration) {
        self.compute(self.full_key(key), |existing| match existing {
            Some(current) => Op::Put(Entry {
                value: Arc::clone(&current.value),
                ..Entry::new(&[], ttl)
            }),
            None => Op::Nop,
        })
        .await;
    }

    pub async fn delete(&self, key: &str) {
        self.compute(self.full_key(key), |_| Op::Remove).await;
    }

    /// Every change goes through here: moka runs one computation per key at a time, so a
    /// read-then-write (`put_if`, `touch`, a compare) never interleaves with another change
    /// of the same key. (Its plain `insert` and `invalidate` do not take that turn.) Whether
    /// `decide` changed anything.
    async fn compute(
        &self,
        full_key: String,
        decide: impl FnOnce(Option<&Entry>) -> Op<Entry>,
    ) -> bool {
        let mut changed = false;
        self.entries
            .entry(full_key)
            .and_compute_with(|existing| {
                let op = decide(existing.as_ref().map(|entry| entry.value()));
                changed = !matches!(op, Op::Nop);
                std::future::ready(op)
            })
            .await;
        changed
    }

    pub async fn delete_prefixed(&self, key_prefix: &str) -> u64 {
        let full = self.full_key(key_prefix);
        let doomed: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(key, _)| key.starts_with(&full))
            .map(|(key, _)| key)
            .collect();
        for key in &doomed {
            self.compute(key.to_string(), |_| Op::Remove).await;
        }
        doomed.len() as u64
    }

    pub async fn count_prefixed(&self, key_prefix: &str) -> u64 {
        self.entries.run_pending_tasks().await;
        let full = self.full_key(key_prefix);
        self.entries
            .iter()
            .filter(|(key, _)| key.starts_with(&full))
            .count() as u64
    }
}
