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
        self.get_recent_as_of(Instant::now(), max_age, read).await
    }

    /// [`SharedRead::get_recent`] with the time of the call given: `now`.
    async fn get_recent_as_of<F, Fut>(
        &self,
        now: Instant,
        max_age: Duration,
        read: F,
    ) -> Result<T, DbError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        {
            let latest = self.finished.borrow();
            if let (Ok(value), Some(started)) = (&latest.outcome, latest.started)
                && now.saturating_duration_since(started) <= max_age
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
    use std::sync::atomic::{AtomicU64, Ordering};

    use futures_util::FutureExt as _;
    use tokio::sync::Semaphore;

    use super::*;

    /// Awaits `future`, which every gate it needs has been opened for. The clock is paused: it
    /// moves only when nothing can run, so the limit passes only if `future` is stuck.
    async fn finishes<F: Future>(future: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(3600), future)
            .await
            .expect("stuck: waiting for something that never comes")
    }

    /// Reads that each hold, once started, until the test lets one through.
    struct Reads {
        started: AtomicU64,
        gate: Semaphore,
    }

    impl Reads {
        fn new() -> Self {
            Self {
                started: AtomicU64::new(0),
                gate: Semaphore::new(0),
            }
        }

        /// Read number `n` (from 1): `value(n)`, once the gate lets it through.
        async fn read(&self, value: impl Fn(u64) -> u64) -> Result<u64, DbError> {
            let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
            self.gate.acquire().await.unwrap().forget();
            Ok(value(n))
        }

        fn started(&self) -> u64 {
            self.started.load(Ordering::SeqCst)
        }

        fn let_through(&self, reads: usize) {
            self.gate.add_permits(reads);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_arrive_together_share_one_read_and_later_ones_the_next() {
        let shared = SharedRead::<u64>::default();
        let reads = Reads::new();
        let read = || reads.read(|n| n);

        let mut together = std::pin::pin!(futures_util::future::join_all(
            (0..20).map(|_| shared.get(read))
        ));
        // The first claims a read and lets the others join it before it starts...
        assert!(together.as_mut().now_or_never().is_none());
        assert_eq!(reads.started(), 0, "claimed, not started");
        // ...then starts it, the only one.
        assert!(together.as_mut().now_or_never().is_none());
        assert_eq!(reads.started(), 1);
        // These arrive while it is under way.
        let mut later = std::pin::pin!(futures_util::future::join_all(
            (0..10).map(|_| shared.get(read))
        ));
        assert!(later.as_mut().now_or_never().is_none());
        assert_eq!(
            reads.started(),
            1,
            "a read under way is waited out, not joined"
        );
        reads.let_through(2);
        let (together, later) = finishes(async { tokio::join!(together, later) }).await;

        assert_eq!(reads.started(), 2);
        assert!(together.into_iter().all(|v| v.unwrap() == 1));
        assert!(later.into_iter().all(|v| v.unwrap() == 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_never_takes_a_read_that_started_before_it() {
        let shared = SharedRead::<u64>::default();
        let counter = AtomicU64::new(0);
        let reads = Reads::new();
        let read = || {
            let seen = counter.load(Ordering::SeqCst);
            reads.read(move |_| seen)
        };

        let mut early = std::pin::pin!(shared.get(read));
        assert!(early.as_mut().now_or_never().is_none());
        assert!(early.as_mut().now_or_never().is_none());
        assert_eq!(reads.started(), 1, "the first read is under way");
        // A write lands while it is; the request after it must see it.
        counter.store(7, Ordering::SeqCst);
        let late = shared.get(read);
        reads.let_through(2);
        let (early, late) = finishes(async { tokio::join!(early, late) }).await;

        assert_eq!(early.unwrap(), 0);
        assert_eq!(late.unwrap(), 7);
        assert_eq!(reads.started(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_read_lets_a_waiter_read_instead() {
        let shared = SharedRead::<u64>::default();
        let reads = Reads::new();
        let read = || reads.read(|_| 3);

        let mut abandoned = Box::pin(shared.get(read));
        assert!(abandoned.as_mut().now_or_never().is_none());
        assert!(abandoned.as_mut().now_or_never().is_none());
        assert_eq!(reads.started(), 1, "its read is under way");
        let mut waiter = std::pin::pin!(shared.get(read));
        assert!(waiter.as_mut().now_or_never().is_none());
        // The first request gives up (its client left) while its read is under way.
        drop(abandoned);
        assert!(waiter.as_mut().now_or_never().is_none());
        assert!(waiter.as_mut().now_or_never().is_none());
        assert_eq!(reads.started(), 2, "the waiter reads instead");
        reads.let_through(1);

        assert_eq!(finishes(waiter).await.unwrap(), 3);
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
        let max_age = Duration::from_secs(60);

        let first = shared.get_recent(max_age, read).await;
        let started = shared.finished.borrow().started.expect("a read finished");
        let just_recent = shared
            .get_recent_as_of(started + max_age, max_age, read)
            .await;
        let just_too_old = shared
            .get_recent_as_of(started + max_age + Duration::from_nanos(1), max_age, read)
            .await;

        assert_eq!(first.unwrap(), 1, "nothing read yet: a read");
        assert_eq!(
            just_recent.unwrap(),
            1,
            "exactly max_age old: no second read"
        );
        assert_eq!(just_too_old.unwrap(), 2, "older: a new read");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
