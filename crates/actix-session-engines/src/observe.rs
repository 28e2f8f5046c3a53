//! Hooks for metrics. The framework counts nothing itself: an application that exports
//! metrics registers one [`Observer`] at start-up ([`set_observer`]) and is told of each event
//! that matters to an operator. Without one, events are only logged where they are worth a log
//! line.

use std::sync::OnceLock;

/// What an application is told about the session layer at work. Every method does nothing
/// unless overridden; each is called on the request's own thread, so it must be quick.
pub trait Observer: Send + Sync {
    /// A session store call finished: `engine` is the `SESSION_ENGINE` name, `operation` one
    /// of `load`, `save`, `update`, `touch` and `delete`.
    fn store_call(&self, engine: &'static str, operation: &'static str, ok: bool) {
        let _ = (engine, operation, ok);
    }

    /// `user` (`cached_db`, or an application's own user of a cache) started (`true`) or
    /// stopped (`false`) working without its failed cache.
    fn cache_outage(&self, user: &'static str, active: bool) {
        let _ = (user, active);
    }

    /// The `cached_db` cache epoch moved: a session change the cache could not follow.
    fn cache_epoch_moved(&self) {}

    /// A `cached_db` cache entry from an older epoch was checked against the database.
    fn stale_cache_entry(&self) {}
}

/// The observer that is told nothing.
struct Unobserved;

impl Observer for Unobserved {}

static OBSERVER: OnceLock<Box<dyn Observer>> = OnceLock::new();

/// Registers the process's observer; the first registration wins (several applications in one
/// process, as in tests, share it).
pub fn set_observer(observer: impl Observer + 'static) {
    let _ = OBSERVER.set(Box::new(observer));
}

/// The registered observer, or one that ignores everything.
pub(crate) fn observer() -> &'static dyn Observer {
    OBSERVER.get().map_or(&Unobserved, |observer| &**observer)
}
