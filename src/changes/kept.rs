//! What a copy keeps: answers read when a change counter stood at one version, used while it
//! still stands and dropped when it moves on.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, PoisonError},
};

/// At most this many answers are kept; past it the copy starts again empty.
const MAX_KEPT: usize = 10_000;

/// Answers by key, as of one version of a change counter.
pub struct Kept<K, V> {
    inner: Mutex<Answers<K, V>>,
}

struct Answers<K, V> {
    version: i64,
    by_key: HashMap<K, V>,
}

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Answers {
                version: 0,
                by_key: HashMap::new(),
            }),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    /// The answer for `key`, if it was read while the counter stood at `current`.
    pub fn get(&self, key: &K, current: i64) -> Option<V> {
        let answers = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if answers.version == current {
            answers.by_key.get(key).cloned()
        } else {
            None
        }
    }

    /// Keeps `value` for `key`, read when the counter stood at `version`, unless newer
    /// answers are kept already.
    pub fn keep(&self, version: i64, key: K, value: V) {
        let mut answers = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if version > answers.version {
            answers.by_key.clear();
            answers.version = version;
        } else if answers.by_key.len() >= MAX_KEPT {
            answers.by_key.clear();
        }
        if version == answers.version {
            answers.by_key.insert(key, value);
        }
    }
}
