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

    /// The time this entry has left at `now`: zero once it has expired.
    fn remaining(&self, now: Instant) -> Duration {
        self.ttl
            .saturating_sub(now.saturating_duration_since(self.written))
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

/// A set: its members joined with `\n` in the value (no member contains one), its time to
/// live the entry's.
struct Set;

impl Set {
    /// An entry holding `members` that expires `ttl` after `now`.
    fn entry(members: &[&[u8]], ttl: Duration, now: Instant) -> Entry {
        Entry {
            value: members.join(&b'\n').into(),
            ttl,
            written: now,
        }
    }

    /// The members of a set entry.
    fn members(entry: &Entry) -> impl Iterator<Item = &[u8]> {
        entry
            .value
            .split(|&byte| byte == b'\n')
            .filter(|member| !member.is_empty())
    }

    /// `existing` if it has not expired at `now` (moka may still hold an entry for a moment).
    fn live(existing: Option<&Entry>, now: Instant) -> Option<&Entry> {
        existing.filter(|entry| !entry.remaining(now).is_zero())
    }
}

/// A cache in this process (moka), bounded by entries; used through `Cache`.
#[derive(Clone)]
pub struct MemoryCache {
    entries: Moka<String, Entry>,
    prefix: String,
}

impl MemoryCache {
    /// At most `max_entries` entries, every key under `prefix`.
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

    /// The time the entry under `key` has left, as Redis' `PTTL` tells it (for operators and
    /// tests); `None` when there is none.
    pub async fn time_to_live(&self, key: &str) -> Option<Duration> {
        let entry = self.entries.get(&self.full_key(key)).await?;
        Some(entry.remaining(Instant::now()))
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries
            .get(&self.full_key(key))
            .await
            .map(|entry| entry.value.to_vec())
    }

    pub(crate) async fn set(&self, key: &str, value: &[u8], ttl: Duration) {
        let entry = Entry::new(value, ttl);
        self.compute(self.full_key(key), |_| Op::Put(entry)).await;
    }

    /// Writes only if the key's presence is `present`; whether it did.
    pub(crate) async fn put_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        present: bool,
    ) -> bool {
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

    /// Replaces the value if there is one, unless it starts with `marker`, in which case it
    /// removes it; whether it replaced.
    pub(crate) async fn replace_or_clear(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        marker: &[u8],
    ) -> bool {
        let entry = Entry::new(value, ttl);
        let mut replaced = false;
        self.compute(self.full_key(key), |existing| match existing {
            Some(current) if current.value.starts_with(marker) => Op::Remove,
            Some(_) => {
                replaced = true;
                Op::Put(entry)
            }
            None => Op::Nop,
        })
        .await;
        replaced
    }

    /// Replaces the value only if it is `expected`; whether it did.
    pub(crate) async fn compare_and_set(
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
    pub(crate) async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> bool {
        self.compute(self.full_key(key), |existing| match existing {
            Some(current) if *current.value == *expected => Op::Remove,
            _ => Op::Nop,
        })
        .await
    }

    /// Counts a hit on `key` in a window of `window` from its first hit; the count so far and
    /// the time left in the window.
    pub(crate) async fn hit(&self, key: &str, window: Duration) -> (u64, Duration) {
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

    /// The count of `key` so far and the time left in its window (zero when there is none).
    pub(crate) async fn count(&self, key: &str) -> (u64, Duration) {
        let now = Instant::now();
        self.entries
            .get(&self.full_key(key))
            .await
            .as_ref()
            .and_then(Counter::read)
            .map_or((0, Duration::ZERO), |(count, ends)| {
                (count, ends.saturating_duration_since(now))
            })
    }

    /// Takes one hit back from `key`; a counter back at zero is removed.
    pub(crate) async fn unhit(&self, key: &str) {
        let now = Instant::now();
        self.compute(self.full_key(key), |existing| {
            match existing.and_then(Counter::read) {
                Some((count, ends)) if count > 1 => Op::Put(Counter::entry(count - 1, ends, now)),
                Some(_) => Op::Remove,
                None => Op::Nop,
            }
        })
        .await;
    }

    pub(crate) async fn touch(&self, key: &str, ttl: Duration) {
        self.compute(self.full_key(key), |existing| match existing {
            Some(current) => Op::Put(Entry {
                value: Arc::clone(&current.value),
                ..Entry::new(&[], ttl)
            }),
            None => Op::Nop,
        })
        .await;
    }

    pub(crate) async fn delete(&self, key: &str) {
        self.compute(self.full_key(key), |_| Op::Remove).await;
    }

    /// Adds `member` to the set under `key`; the set keeps the later of its expiry and `ttl`
    /// from now.
    pub(crate) async fn set_add(&self, key: &str, member: &str, ttl: Duration) {
        let now = Instant::now();
        let member = member.as_bytes();
        self.compute(self.full_key(key), |existing| {
            let existing = Set::live(existing, now);
            let mut members: Vec<&[u8]> = existing.into_iter().flat_map(Set::members).collect();
            if !members.contains(&member) {
                members.push(member);
            }
            let ttl = existing.map_or(ttl, |entry| entry.remaining(now).max(ttl));
            Op::Put(Set::entry(&members, ttl, now))
        })
        .await;
    }

    /// The members of the set under `key`; none when there is no set.
    pub(crate) async fn set_members(&self, key: &str) -> Vec<String> {
        let Some(entry) = self.entries.get(&self.full_key(key)).await else {
            return Vec::new();
        };
        Set::live(Some(&entry), Instant::now())
            .into_iter()
            .flat_map(Set::members)
            .map(|member| String::from_utf8_lossy(member).into_owned())
            .collect()
    }

    /// Removes `members` from the set under `key`, keeping its expiry; removes a set left
    /// empty.
    pub(crate) async fn set_remove(&self, key: &str, members: &[String]) {
        let now = Instant::now();
        self.compute(self.full_key(key), |existing| {
            let Some(entry) = Set::live(existing, now) else {
                return Op::Nop;
            };
            let mut removed = false;
            let kept: Vec<&[u8]> = Set::members(entry)
                .filter(|member| {
                    let doomed = members.iter().any(|gone| gone.as_bytes() == *member);
                    removed |= doomed;
                    !doomed
                })
                .collect();
            if kept.is_empty() {
                Op::Remove
            } else if removed {
                Op::Put(Set::entry(&kept, entry.remaining(now), now))
            } else {
                Op::Nop
            }
        })
        .await;
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

    pub(crate) async fn delete_prefixed(&self, key_prefix: &str) -> u64 {
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

    pub(crate) async fn count_prefixed(&self, key_prefix: &str) -> u64 {
        self.entries.run_pending_tasks().await;
        let full = self.full_key(key_prefix);
        self.entries
            .iter()
            .filter(|(key, _)| key.starts_with(&full))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn cache() -> MemoryCache {
        MemoryCache::new(100, "test:".to_owned())
    }

    fn strings(members: &[&str]) -> Vec<String> {
        members.iter().map(|&member| member.to_owned()).collect()
    }

    async fn sorted_members(cache: &MemoryCache, key: &str) -> Vec<String> {
        let mut members = cache.set_members(key).await;
        members.sort();
        members
    }

    /// When the entry under `key` expires, by its own bookkeeping.
    async fn expires(cache: &MemoryCache, key: &str) -> Instant {
        cache
            .entries
            .get(&cache.full_key(key))
            .await
            .expect("the set is present")
            .expires()
    }

    #[tokio::test]
    async fn replace_or_clear_replaces_a_value_removes_a_marker_and_creates_nothing() {
        let cache = cache();
        cache.set("value", b"old", TTL).await;
        cache.set("marked", b"\0reserved:123", TTL).await;

        assert!(
            cache
                .replace_or_clear("value", b"new", TTL, b"\0reserved:")
                .await
        );
        assert!(
            !cache
                .replace_or_clear("marked", b"new", TTL, b"\0reserved:")
                .await
        );
        assert!(
            !cache
                .replace_or_clear("absent", b"new", TTL, b"\0reserved:")
                .await
        );

        assert_eq!(cache.get("value").await.as_deref(), Some(&b"new"[..]));
        assert_eq!(cache.get("marked").await, None, "the marker is removed");
        assert_eq!(cache.get("absent").await, None);
    }

    #[tokio::test]
    async fn set_add_members_and_remove() {
        let cache = cache();
        assert!(cache.set_members("s").await.is_empty());

        cache.set_add("s", "a", TTL).await;
        cache.set_add("s", "b", TTL).await;
        cache.set_add("s", "c", TTL).await;
        assert_eq!(sorted_members(&cache, "s").await, strings(&["a", "b", "c"]));
        // Under the cache's prefix, and only under its own key.
        assert!(cache.entries.contains_key("test:s"));
        assert!(cache.set_members("t").await.is_empty());

        cache.set_remove("s", &strings(&["b", "absent"])).await;
        assert_eq!(sorted_members(&cache, "s").await, strings(&["a", "c"]));

        // Removing nothing, or members that are not there, changes nothing.
        cache.set_remove("s", &[]).await;
        cache.set_remove("s", &strings(&["x"])).await;
        assert_eq!(sorted_members(&cache, "s").await, strings(&["a", "c"]));

        // Removing from no set is no error and makes none.
        cache.set_remove("t", &strings(&["a"])).await;
        assert!(cache.entries.get("test:t").await.is_none());
    }

    #[tokio::test]
    async fn set_add_does_not_duplicate() {
        let cache = cache();
        cache.set_add("s", "a", TTL).await;
        cache.set_add("s", "a", TTL).await;
        cache.set_add("s", "b", TTL).await;
        cache.set_add("s", "a", TTL).await;
        assert_eq!(sorted_members(&cache, "s").await, strings(&["a", "b"]));

        cache.set_remove("s", &strings(&["a"])).await;
        assert_eq!(cache.set_members("s").await, strings(&["b"]));
    }

    #[tokio::test]
    async fn set_left_empty_is_removed() {
        let cache = cache();
        cache.set_add("s", "a", TTL).await;
        cache.set_add("s", "b", TTL).await;
        cache.set_remove("s", &strings(&["a"])).await;
        cache.set_remove("s", &strings(&["b"])).await;
        assert!(cache.set_members("s").await.is_empty());
        assert!(cache.entries.get("test:s").await.is_none());

        // All at once too.
        cache.set_add("s", "a", TTL).await;
        cache.set_add("s", "b", TTL).await;
        cache.set_remove("s", &strings(&["b", "a"])).await;
        assert!(cache.entries.get("test:s").await.is_none());

        // A set made again after that starts afresh.
        cache.set_add("s", "c", TTL).await;
        assert_eq!(cache.set_members("s").await, strings(&["c"]));
    }

    #[tokio::test]
    async fn set_ttl_is_extended_never_shortened() {
        let cache = cache();
        let before = Instant::now();
        cache.set_add("s", "a", Duration::from_secs(10)).await;
        let first = expires(&cache, "s").await;
        assert!(first >= before + Duration::from_secs(10));

        // A longer ttl extends it.
        cache.set_add("s", "b", Duration::from_secs(100)).await;
        let extended = expires(&cache, "s").await;
        assert!(extended >= before + Duration::from_secs(100));

        // A shorter one keeps the longer expiry, and so does a removal.
        cache.set_add("s", "c", Duration::from_secs(1)).await;
        assert_eq!(expires(&cache, "s").await, extended);
        cache.set_remove("s", &strings(&["a"])).await;
        assert_eq!(expires(&cache, "s").await, extended);
        assert_eq!(sorted_members(&cache, "s").await, strings(&["b", "c"]));
    }

    /// moka's clock cannot be moved from here (its mock clock is for moka's own tests), so what
    /// moka keeps is probed with a time to live of zero, which it expires at once (an entry
    /// whose expiry is not after now is gone), beside times to live no test outlives.
    #[tokio::test]
    async fn set_expiry_is_kept_by_moka() {
        let cache = cache();
        let before = Instant::now();

        // A set added to with a shorter ttl, even none, keeps its longer one, in moka too.
        cache.set_add("kept", "a", TTL).await;
        cache.set_add("kept", "b", Duration::ZERO).await;
        // A set added to with a longer ttl takes it, and keeps it when added to with none.
        cache.set_add("extended", "a", TTL / 2).await;
        cache.set_add("extended", "b", TTL).await;
        cache.set_add("extended", "c", Duration::ZERO).await;
        // A set that is only given no time is gone at once.
        cache.set_add("expired", "a", Duration::ZERO).await;

        assert_eq!(sorted_members(&cache, "kept").await, strings(&["a", "b"]));
        assert!(
            cache.entries.get("test:kept").await.is_some(),
            "moka kept it"
        );
        assert_eq!(
            sorted_members(&cache, "extended").await,
            strings(&["a", "b", "c"])
        );
        assert!(expires(&cache, "extended").await >= before + TTL);
        assert!(cache.set_members("expired").await.is_empty());
        assert!(
            cache.entries.get("test:expired").await.is_none(),
            "moka expired it"
        );

        // An expired set counts as absent: adding to it starts a new one, with the new ttl.
        let added = Instant::now();
        cache.set_add("expired", "b", TTL).await;
        assert_eq!(cache.set_members("expired").await, strings(&["b"]));
        assert!(expires(&cache, "expired").await >= added + TTL);
    }
}
