//! A seam for race tests: a point in a code path where a test lines concurrent requests up,
//! so it pins the interleaving it claims to test instead of hoping the scheduler finds it.
//! Costs one uncontended lock per pass, and holds nothing unless a test asked.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// A point requests pass through; a test may [hold](HoldPoint::hold) it.
#[derive(Clone, Default)]
pub struct HoldPoint(Arc<Mutex<Option<Arc<Held>>>>);

struct Held {
    /// How many requests have reached the point since it was held.
    arrived: watch::Sender<usize>,
    open: watch::Sender<bool>,
}

/// The point held: every request that reaches it waits until this is released (or dropped).
pub struct Hold {
    point: HoldPoint,
    held: Arc<Held>,
}

impl HoldPoint {
    /// Where the code path passes: waits here while a test holds the point.
    pub async fn pass(&self) {
        let held = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(held) = held else { return };
        let mut open = held.open.subscribe();
        held.arrived.send_modify(|arrived| *arrived += 1);
        // Never closed: `held` keeps the sender alive.
        let _ = open.wait_for(|open| *open).await;
    }

    /// Holds every request that reaches the point from now until the hold is released.
    pub fn hold(&self) -> Hold {
        let held = Arc::new(Held {
            arrived: watch::Sender::new(0),
            open: watch::Sender::new(false),
        });
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&held));
        Hold {
            point: self.clone(),
            held,
        }
    }
}

impl Hold {
    /// Waits until `count` requests are waiting at the point.
    pub async fn reached_by(&self, count: usize) {
        let mut arrived = self.held.arrived.subscribe();
        let _ = arrived.wait_for(|arrived| *arrived >= count).await;
    }

    /// Lets every waiting request go on, and the point pass freely again.
    pub fn release(self) {}
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.point
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.held.open.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_wait_at_a_held_point_until_it_is_released() {
        let point = HoldPoint::default();
        point.pass().await; // Not held: passes at once.
        let hold = point.hold();
        let (first, second) = (point.clone(), point.clone());
        let first = tokio::spawn(async move { first.pass().await });
        let second = tokio::spawn(async move { second.pass().await });

        hold.reached_by(2).await;
        assert!(!first.is_finished() && !second.is_finished());
        hold.release();

        first.await.unwrap();
        second.await.unwrap();
        point.pass().await;
    }
}
