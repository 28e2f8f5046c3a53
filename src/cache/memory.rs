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
        self.entries
            .insert(
                self.full_key(key),
                Entry {
                    value: value.into(),
                    ttl,
                },
            )
            .await;
    }

    /// Writes only if the key's presence is `present`; atomic per key.
    pub async fn put_if(&self, key: &str, value: &[u8], ttl: Duration, present: bool) -> bool {
        let entry = Entry {
            value: value.into(),
            ttl,
        };
        let mut wrote = false;
        self.entries
            .entry(self.full_key(key))
            .and_compute_with(|existing| {
                let op = if existing.is_some() == present {
                    wrote = true;
                    Op::Put(entry)
                } else {
                    Op::Nop
                };
                std::future::ready(op)
            })
            .await;
        wrote
    }

    pub async fn touch(&self, key: &str, ttl: Duration) {
        let key = self.full_key(key);
        if let Some(entry) = self.entries.get(&key).await {
            self.entries.insert(key, Entry { ttl, ..entry }).await;
        }
    }

    pub async fn delete(&self, key: &str) {
        self.entries.invalidate(&self.full_key(key)).await;
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
            self.entries.invalidate(key.as_str()).await;
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
