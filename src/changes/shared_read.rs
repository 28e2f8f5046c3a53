//! One database read shared by every request that arrives while it waits its turn.
//!
//! Each request needs a value that is at least as new as the request itself: it must see every
//! write committed before it arrived, on any instance. A read already under way may have
//! started before that write, so a request never joins it; it waits for the *next* read, which
//! starts once the current one ends and serves everyone who arrived in between. A read about
//! to start first lets the requests already waiting on this thread run up to it and join
//! (it has not started, so it is new enough for them). Under load that is one read per
//! database round trip however many requests there are, and each request still waits for at
//! most two reads.

use std::{
    future::Future,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::db::DbError;

/// A read whose result requests share, as the module explains.
pub struct SharedRead<T> {
    state: Mutex<State>,
    finished: watch::Sender<Finished<T>>,
}

struct State {
    /// Reads claimed so far; the next one gets `started + 1`.
    started: u64,
    /// Read `started` is claimed and not finished.
    in_flight: bool,
    /// Read `started` has sent its query: a request arriving now needs the next one.
    begun: bool,
}

/// The latest finished read: its number, when its query went out and what it gave.
#[derive(Clone)]
struct Finished<T> {
    number: u64,
    started: Option<Instant>,
    outcome: Result<T, String>,
}

impl<T: Clone> Default for SharedRead<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                started: 0,
                in_flight: false,
                begun: false,
            }),
            finished: watch::Sender::new(Finished {
                number: 0,
                started: None,
                outcome: Err("not read yet".into()),
            }),
        }
    }
}

impl<T: Clone> SharedRead<T> {
    /// The value as of a read that started after this call: `read` runs only when no read
    /// that qualifies is under way.
    ///
    /// # Errors
    /// The failure of the read this call waited for, as [`DbError::Unavailable`].
    pub async fn get<F, Fut>(&self, read: F) -> Result<T, DbError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let mut finished = self.finished.subscribe();
        // The first read to start from now on qualifies: the claimed one, if it has not begun.
        let wanted = {
            let state = self.lock();
            if state.in_flight && !state.begun {
                state.started
            } else {
                state.started + 1
            }
        };
        loop {
            let number = {
                let mut state = self.lock();
                let latest = finished.borrow_and_update();
                if latest.number >= wanted {
                    return latest.outcome.clone().map_err(DbError::Unavailable);
                }
                drop(latest);
                if state.in_flight {
                    None
                } else {
                    state.in_flight = true;
                    state.begun = false;
                    state.started += 1;
                    Some(state.started)
                }
            };
            match number {
                Some(number) => {
                    // Cancelled midway (the client left), the guard lets the next waiter read.
                    let guard = InFlight { shared: self };
                    // Requests ready on this thread get to join before the query goes out.
                    tokio::task::yield_now().await;
                    self.lock().begun = true;
                    let started = Instant::now();
                    let outcome = read().await.map_err(reason);
                    guard.finish(number, started, outcome.clone());
                    return outcome.map_err(DbError::Unavailable);
                }
                None => {
                    if finished.changed().await.is_err() {
                        return Err(DbError::Unavailable("shared read closed".into()));
                    }
                }
            }
        }
    }

    /// The value as of a read that started at most `max_age` before this call: the latest
    /// successful one if it is that recent (no query at all), else as [`SharedRead::get`].
    ///
    /// # Errors
    /// As [`SharedRead::get`].
    pub async fn get_recent<F, Fut>(&self, max_age: Duration, read: F) -> Result<T, DbError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        {
            let latest = self.finished.borrow();
            if let (Ok(value), Some(started)) = (&latest.outcome, latest.started)
                && started.elapsed() <= max_age
            {
                return Ok(value.clone());
            }
        }
        self.get(read).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a failed read says, kept for its waiters (who get it back as
/// [`DbError::Unavailable`], without a second "database unavailable" in front).
fn reason(err: DbError) -> String {
    match err {
        DbError::Unavailable(reason) => reason,
        DbError::Query(err) => err.to_string(),
    }
}

/// The read under way: publishes its outcome, or, dropped before that, frees the slot and
/// wakes the waiters so one of them reads instead.
struct InFlight<'a, T: Clone> {
    shared: &'a SharedRead<T>,
}

impl<T: Clone> InFlight<'_, T> {
    fn finish(self, number: u64, started: Instant, outcome: Result<T, String>) {
        let mut state = self.shared.lock();
        state.in_flight = false;
        self.shared.finished.send_replace(Finished {
            number,
            started: Some(started),
            outcome,
        });
        drop(state);
        std::mem::forget(self);
    }
}

impl<T: Clone> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.in_flight = false;
        // Wakes the waiters without a new outcome: the first to look starts a read.
        self.shared.finished.send_modify(|_| {});
        drop(state);
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicU64, Ordering},
        time::Duration,
    };

    use super::*;

    #[tokio::test]
    async fn requests_that_arrive_together_share_one_read_and_later_ones_the_next() {
        let shared = SharedRead::<u64>::default();
        let reads = AtomicU64::new(0);
        let read = || async {
            let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(n)
        };
        let together = futures_util::future::join_all((0..50).map(|_| shared.get(read)));
        let later = async {
            // Arrive while the first read is under way.
            tokio::time::sleep(Duration::from_millis(5)).await;
            futures_util::future::join_all((0..20).map(|_| shared.get(read))).await
        };
        let (together, later) = tokio::join!(together, later);

        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert!(together.into_iter().all(|v| v.unwrap() == 1));
        assert!(later.into_iter().all(|v| v.unwrap() == 2));
    }

    #[tokio::test]
    async fn a_request_never_takes_a_read_that_started_before_it() {
        let shared = SharedRead::<u64>::default();
        let counter = AtomicU64::new(0);
        let read = || async {
            let seen = counter.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(seen)
        };
        let early = shared.get(read);
        let late = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            // A write lands while the first read is under way; the request after it must
            // see it.
            counter.store(7, Ordering::SeqCst);
            shared.get(read).await
        };
        let (early, late) = tokio::join!(early, late);
        assert_eq!(early.unwrap(), 0);
        assert_eq!(late.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_cancelled_read_lets_a_waiter_read_instead() {
        let shared = SharedRead::<u64>::default();
        let read = || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(3)
        };
        // The first request gives up while its read is under way.
        let abandoned = tokio::time::timeout(Duration::from_millis(5), shared.get(read));
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            shared.get(read).await
        };
        let (abandoned, waiter) = tokio::join!(abandoned, waiter);
        assert!(abandoned.is_err());
        assert_eq!(waiter.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_failed_read_fails_its_waiters_and_the_next_request_reads_again() {
        let shared = SharedRead::<u64>::default();
        let fail = AtomicU64::new(1);
        let read = || async {
            if fail.load(Ordering::SeqCst) == 1 {
                Err(DbError::Unavailable("down".into()))
            } else {
                Ok(5)
            }
        };
        let failed = shared.get(read).await.unwrap_err();
        assert_eq!(failed.to_string(), "database unavailable: down");
        fail.store(0, Ordering::SeqCst);
        assert_eq!(shared.get(read).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn a_recent_enough_read_is_used_as_it_is_and_an_older_one_is_not() {
        let shared = SharedRead::<u64>::default();
        let reads = AtomicU64::new(0);
        let read = || async { Ok(reads.fetch_add(1, Ordering::SeqCst) + 1) };

        let first = shared.get_recent(Duration::from_secs(3600), read).await;
        let recent = shared.get_recent(Duration::from_secs(3600), read).await;
        let too_old = shared.get_recent(Duration::ZERO, read).await;

        assert_eq!(first.unwrap(), 1, "nothing read yet: a read");
        assert_eq!(recent.unwrap(), 1, "no second read");
        assert_eq!(too_old.unwrap(), 2);
    }
}
