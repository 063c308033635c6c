//! Writes still running after their responses, counted so `/metrics` and
//! a graceful shutdown can wait for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Writes still running after their response: counted so `/metrics` and
/// a graceful shutdown can wait for them.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicU64,
    idle: tokio::sync::Notify,
}

/// Holds one in-flight write; dropping it marks the write done.
pub struct WriteGuard(Arc<InFlight>);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl WriteGuard {
    /// Counts one more write running until the guard is dropped.
    pub(super) fn new(in_flight: Arc<InFlight>) -> Self {
        in_flight.count.fetch_add(1, Ordering::AcqRel);
        Self(in_flight)
    }
}

impl InFlight {
    /// Writes running now.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until no write is running (or `limit` passes).
    pub async fn wait_idle(&self, limit: Duration) {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                if self.count() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}
