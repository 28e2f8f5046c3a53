//! A cache that stopped answering, as one of its users sees it: while it is down the user
//! works without it and tries it again at most once per [`RETRY_EVERY`] (a dead Redis costs
//! each request nothing, not a timeout), logs the outage once when it starts and once when it
//! ends, and tells the [`Observer`](crate::observe::Observer) (the application's
//! `cache_outage{user}` gauge).

use std::{
    fmt::Display,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::observe::observer;

/// How often, during an outage, a user tries the cache again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// One user's view of whether its cache answers.
pub struct Outage {
    /// Who works without the cache (`cached_db`, `throttle`): the log's and the gauge's name.
    user: &'static str,
    /// While an outage lasts: when the cache was last tried.
    last_try: Mutex<Option<Instant>>,
}

impl Outage {
    /// A view for `user`, with the cache taken to answer.
    pub fn new(user: &'static str) -> Self {
        Self {
            user,
            last_try: Mutex::new(None),
        }
    }

    /// Whether to use the cache now: always while it answers; during an outage once per
    /// [`RETRY_EVERY`] (the caller that gets `true` is the one that tries).
    pub fn should_try(&self) -> bool {
        let mut last_try = self.lock();
        match *last_try {
            None => true,
            Some(at) if at.elapsed() >= RETRY_EVERY => {
                *last_try = Some(Instant::now());
                true
            }
            Some(_) => false,
        }
    }

    /// Whether an outage is under way (for tests).
    #[doc(hidden)]
    pub fn is_active(&self) -> bool {
        self.lock().is_some()
    }

    /// The cache failed: starts an outage (logged, and shown in the gauge) unless one is under
    /// way.
    pub fn failed(&self, error: &dyn Display) {
        let mut last_try = self.lock();
        if last_try.is_none() {
            tracing::warn!(user = self.user, error = %error, "cache unavailable: working without it until it answers");
            observer().cache_outage(self.user, true);
        }
        *last_try = Some(Instant::now());
    }

    /// The cache answered: ends the outage, if one was under way.
    pub fn answered(&self) {
        let mut last_try = self.lock();
        if last_try.take().is_some() {
            tracing::info!(user = self.user, "cache answers again: using it again");
            observer().cache_outage(self.user, false);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_try.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_tried_again_once_per_interval_and_ends_when_the_cache_answers() {
        let outage = Outage::new("test");
        assert!(outage.should_try() && outage.should_try(), "no outage");

        outage.failed(&"down");
        let during = (outage.is_active(), outage.should_try());
        *outage.lock() = Some(Instant::now() - RETRY_EVERY);
        let after_the_interval = (outage.should_try(), outage.should_try());
        outage.answered();

        assert_eq!(during, (true, false));
        assert_eq!(after_the_interval, (true, false), "one caller tries");
        assert!(!outage.is_active() && outage.should_try());
    }
}
