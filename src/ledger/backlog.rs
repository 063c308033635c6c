//! Cost records the store refused, kept and written again in order once it
//! answers; at shutdown, or past the bound, logged in full for
//! reconciliation.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{BACKLOG_MAX, BACKLOG_RETRY, Ledger};
use crate::store::CostRecord;

impl Ledger {
    /// Retries the backlog every second in the background, for as long as
    /// the ledger lives (needs a Tokio runtime).
    pub fn start_retries(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let ledger = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(BACKLOG_RETRY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(ledger) = ledger.upgrade() else {
                    return;
                };
                ledger.drain().await;
            }
        });
    }

    /// Cost records waiting for the store.
    pub fn pending(&self) -> usize {
        self.backlog.lock().map_or(0, |b| b.len())
    }

    /// Writes the backlog in order until it is empty or the store fails
    /// again; one drain at a time.
    pub async fn drain(&self) {
        if self.pending() == 0 || self.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        let _guard = self.track();
        loop {
            // The record leaves the backlog only once written: a drain cut
            // short (at shutdown) still finds it there, to log it.
            let next = self.backlog.lock().ok().and_then(|b| b.front().cloned());
            let Some(record) = next else {
                break;
            };
            match self.store.add_cost(&record).await {
                Ok(running) => {
                    if let Ok(mut b) = self.backlog.lock()
                        && b.front().is_some_and(|r| r.record_id == record.record_id)
                    {
                        b.pop_front();
                    }
                    self.written(&record, running).await;
                }
                Err(_) => break,
            }
        }
        self.draining.store(false, Ordering::Release);
    }

    /// At shutdown: one last try, then every record still waiting is
    /// logged in full for reconciliation.
    pub async fn flush_backlog(&self) {
        self.drain().await;
        self.log_backlog();
    }

    /// [`Ledger::flush_backlog`] within `limit`: what the store has not
    /// taken by then is logged.
    pub async fn flush_backlog_within(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.drain()).await;
        self.log_backlog();
    }

    /// Logs every record still waiting, in full, for reconciliation.
    fn log_backlog(&self) {
        let left: Vec<CostRecord> = self
            .backlog
            .lock()
            .map(|mut b| b.drain(..).collect())
            .unwrap_or_default();
        for record in left {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                target: "gateway::cost",
                record = %serde_json::to_string(&record).unwrap_or_default(),
                "cost record not persisted at shutdown; reconcile from this line"
            );
        }
    }

    /// Keeps a record the store refused, for [`Ledger::drain`].
    pub(super) fn defer(&self, record: CostRecord, error: &str) {
        let request_id = record.request_id.clone();
        let (pending, dropped) = self.backlog.lock().map_or((0, None), |mut b| {
            b.push_back(record);
            let dropped = (b.len() > BACKLOG_MAX).then(|| b.pop_front()).flatten();
            (b.len(), dropped)
        });
        tracing::warn!(
            target: "gateway::cost",
            error,
            request_id = %request_id,
            pending,
            "cost record not written; kept to retry"
        );
        if let Some(dropped) = dropped {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                target: "gateway::cost",
                record = %serde_json::to_string(&dropped).unwrap_or_default(),
                "cost backlog full: record dropped; reconcile from this line"
            );
        }
    }
}
