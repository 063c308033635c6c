//! Spend: every finished request is priced once, added to this instance's
//! counters and to the global totals in the store (overall and per day,
//! per provider and model), and checked against the alert tiers. Records
//! the store refuses wait in the backlog (`backlog.rs`); tiers are claimed
//! once across instances (`alerts.rs`); writes still running after their
//! responses are counted (`in_flight.rs`).

mod alerts;
mod backlog;
mod in_flight;

pub use in_flight::{InFlight, WriteGuard};

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::{civil_day, today};
use crate::keys::Keys;
use crate::limits::{Limits, Reservation};
use crate::openai::Usage;
use crate::pricing::{Cost, Pricing};
use crate::store::{CostRecord, Running, Store};

/// Prices requests, keeps running totals, persists and settles them.
pub struct Ledger {
    pricing: Pricing,
    spent: AtomicU64,
    saved: AtomicU64,
    unpriced: AtomicU64,
    by_model: Mutex<BTreeMap<(String, String), ModelSpend>>,
    store: Arc<dyn Store>,
    limits: Arc<Limits>,
    tiers: Vec<u64>,
    persisted: AtomicU64,
    lost: AtomicU64,
    alerts: AtomicU64,
    in_flight: Arc<InFlight>,
    /// Records the store refused, written again once it answers.
    backlog: Mutex<VecDeque<CostRecord>>,
    draining: AtomicBool,
    /// Budget checks, told of each tenant's totals after a write.
    keys: Option<Arc<Keys>>,
    /// Alert tiers this instance knows are claimed (by anyone), so each is
    /// claimed in the store at most once per instance.
    claimed: Mutex<std::collections::HashSet<(String, u64)>>,
    /// The `Stack` dimension of alert metrics.
    stack: String,
}

/// Most (provider, model) pairs counted apart in `/metrics`: model names
/// can be chosen by clients; past this they count as `other`.
const MAX_MODELS: usize = 1_000;

/// Most cost records kept for a store that is down (about 150 bytes each);
/// past it the oldest are logged for reconciliation and dropped.
const BACKLOG_MAX: usize = 100_000;

/// How often a backlog is retried when no request writes first.
const BACKLOG_RETRY: Duration = Duration::from_secs(1);

/// Alert tiers in USD, per day and overall, unless configured.
pub const DEFAULT_TIERS: &[u64] = &[10, 50, 100, 500];

/// What is written once an answer is complete: the cost record and the
/// rate-limit reservations to settle against the real usage.
#[derive(Default)]
pub struct Settlement {
    work: Option<Work>,
}

struct Work {
    ledger: Arc<Ledger>,
    record: Option<CostRecord>,
    reservations: Vec<Reservation>,
    tokens: Option<u64>,
}

impl Settlement {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.work.is_none()
    }

    /// Writes it: reservations settled and the cost persisted, concurrently.
    pub async fn run(self) {
        let Some(Work {
            ledger,
            record,
            reservations,
            tokens,
        }) = self.work
        else {
            return;
        };
        let settle = async {
            for r in &reservations {
                ledger.limits.settle(r, tokens).await;
            }
        };
        let persist = async {
            if let Some(record) = record {
                ledger.persist(record).await;
            }
        };
        tokio::join!(settle, persist);
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct ModelSpend {
    requests: u64,
    cost: u64,
}

impl Ledger {
    /// An empty ledger over `pricing`, persisting to `store`, settling
    /// `limits`, alerting at `tiers` (USD).
    pub fn new(
        pricing: Pricing,
        store: Arc<dyn Store>,
        limits: Arc<Limits>,
        tiers: Vec<u64>,
    ) -> Self {
        Self {
            pricing,
            spent: AtomicU64::new(0),
            saved: AtomicU64::new(0),
            unpriced: AtomicU64::new(0),
            by_model: Mutex::new(BTreeMap::new()),
            store,
            limits,
            tiers,
            persisted: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            in_flight: Arc::new(InFlight::default()),
            backlog: Mutex::new(VecDeque::new()),
            draining: AtomicBool::new(false),
            keys: None,
            claimed: Mutex::new(std::collections::HashSet::new()),
            stack: "gateway".to_owned(),
        }
    }

    /// Names the deployment in alert metrics (the `Stack` dimension).
    #[must_use]
    pub fn with_stack(mut self, stack: &str) -> Self {
        stack.clone_into(&mut self.stack);
        self
    }

    /// Tells `keys` of every tenant's totals after each write, so budget
    /// checks on this instance see its own spend at once.
    #[must_use]
    pub fn with_keys(mut self, keys: Arc<Keys>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// A record is in the totals: alert tiers and budgets learn of it.
    async fn written(&self, record: &CostRecord, running: Running) {
        self.persisted.fetch_add(1, Ordering::Relaxed);
        if let Some(keys) = &self.keys
            && !record.tenant.is_empty()
        {
            keys.spent(&record.tenant, &record.day, running.tenant);
        }
        self.check_tiers(record, running).await;
    }

    /// Counts a write that runs after its response.
    pub fn track(&self) -> WriteGuard {
        WriteGuard::new(self.in_flight.clone())
    }

    /// The writes still running.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        &self.in_flight
    }

    /// The rate limits settled by this ledger.
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    /// The store holding the totals.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The work left once a request is over: `priced` is the provider,
    /// model and cost of an answered request, `usage` its tokens (and
    /// whether they are estimated), `tenant` the client key it is billed to.
    pub fn settlement(
        self: &Arc<Self>,
        request_id: &str,
        tenant: &str,
        priced: Option<(&str, &str, Cost)>,
        usage: Option<(&Usage, bool)>,
        reservations: Vec<Reservation>,
    ) -> Settlement {
        let estimated = usage.is_some_and(|(_, e)| e);
        let usage = usage.map(|(u, _)| u);
        let tokens = usage.map(|u| u.total_tokens);
        let record = priced
            .filter(|(_, _, cost)| cost.0 > 0)
            .map(|(provider, model, cost)| CostRecord {
                provider: provider.to_owned(),
                model: model.to_owned(),
                day: today(),
                picodollars: cost.0,
                request_id: request_id.to_owned(),
                record_id: uuid::Uuid::new_v4().simple().to_string(),
                tenant: tenant.to_owned(),
                prompt_tokens: usage.map_or(0, |u| u.prompt_tokens),
                completion_tokens: usage.map_or(0, |u| u.completion_tokens),
                estimated,
            });
        if record.is_none() && reservations.is_empty() {
            return Settlement::default();
        }
        Settlement {
            work: Some(Work {
                ledger: self.clone(),
                record,
                reservations,
                tokens,
            }),
        }
    }

    /// Adds a cost record to the store's totals, retrying twice (a retry
    /// of a write that landed adds nothing); a record that still cannot be
    /// written joins the backlog, retried every second in the background
    /// (and logged in full if the backlog overflows or the process stops
    /// before the store comes back).
    pub async fn persist(&self, record: CostRecord) {
        let mut last = None;
        for wait in [0u64, 50, 250] {
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            match self.store.add_cost(&record).await {
                Ok(running) => {
                    self.written(&record, running).await;
                    return;
                }
                Err(e) => last = Some(e),
            }
        }
        self.defer(record, &last.map(|e| e.to_string()).unwrap_or_default());
    }

    /// Global totals from the store: overall and the last `days` days.
    pub async fn global_totals(&self, days: u32) -> Result<Value, String> {
        let today = crate::clock::unix_day();
        let names: Vec<String> = (0..i64::from(days)).map(|d| civil_day(today - d)).collect();
        let (overall, by_day) = self.store.totals(&names).await.map_err(|e| e.to_string())?;
        let usd = |m: &BTreeMap<String, u64>| -> BTreeMap<String, String> {
            m.iter()
                .map(|(k, v)| (k.clone(), Cost(*v).to_string()))
                .collect()
        };
        let scope = |t: &crate::store::Totals| {
            json!({
                "cost_usd": Cost(t.picodollars).to_string(),
                "requests": t.requests,
                "estimated_requests": t.estimated_requests,
                "by_provider": usd(&t.by_provider),
                "by_model": usd(&t.by_model),
            })
        };
        Ok(json!({
            "store": self.store.kind(),
            "overall": scope(&overall),
            "days": by_day.iter().map(|(d, t)| {
                let mut v = scope(t);
                v["day"] = json!(d);
                v
            }).collect::<Vec<_>>(),
            "alert_tiers_usd": self.tiers,
        }))
    }

    /// Alert tiers this instance raised.
    pub fn alerts_raised(&self) -> u64 {
        self.alerts.load(Ordering::Relaxed)
    }

    /// The pricing table.
    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    /// Adds what a served request cost; returns the cost. A model without
    /// a table price is counted, and charged per the unpriced policy.
    pub fn record(&self, provider: &str, model: &str, usage: &Usage) -> Option<Cost> {
        if self.pricing.price_at(provider, model).is_none() {
            self.unpriced.fetch_add(1, Ordering::Relaxed);
        }
        let cost = self.pricing.cost_at(provider, model, usage)?;
        self.spent.fetch_add(cost.0, Ordering::Relaxed);
        if let Ok(mut by_model) = self.by_model.lock() {
            let mut name = (provider.to_owned(), model.to_owned());
            if by_model.len() >= MAX_MODELS && !by_model.contains_key(&name) {
                name = ("other".to_owned(), "other".to_owned());
            }
            let entry = by_model.entry(name).or_default();
            entry.requests += 1;
            entry.cost = entry.cost.saturating_add(cost.0);
        }
        Some(cost)
    }

    /// Adds what a cache hit saved: the stored answer's usage at its
    /// model's prices.
    pub fn record_saved(&self, model: &str, usage: &Usage) -> Option<Cost> {
        let cost = self.pricing.cost(model, usage)?;
        self.saved.fetch_add(cost.0, Ordering::Relaxed);
        Some(cost)
    }

    /// Totals for `/metrics` (USD as exact decimal strings).
    pub fn metrics(&self) -> Value {
        let by_model: Vec<Value> = self
            .by_model
            .lock()
            .map(|m| {
                m.iter()
                    .map(|((provider, model), s)| {
                        json!({
                            "provider": provider,
                            "model": model,
                            "requests": s.requests,
                            "cost_usd": Cost(s.cost).to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "spent_usd": Cost(self.spent.load(Ordering::Relaxed)).to_string(),
            "saved_by_cache_usd": Cost(self.saved.load(Ordering::Relaxed)).to_string(),
            "unpriced_requests": self.unpriced.load(Ordering::Relaxed),
            "records_persisted": self.persisted.load(Ordering::Relaxed),
            "records_pending": self.pending(),
            "records_not_persisted": self.lost.load(Ordering::Relaxed),
            "alerts_raised": self.alerts.load(Ordering::Relaxed),
            "writes_in_flight": self.in_flight.count(),
            "by_model": by_model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_exactly() {
        let store: Arc<dyn Store> = Arc::new(crate::store::memory::MemoryStore::default());
        let limits = Arc::new(Limits::new(
            store.clone(),
            BTreeMap::new(),
            None,
            crate::limits::FailMode::Open,
            true,
        ));
        let ledger = Ledger::new(
            Pricing::new(&BTreeMap::new()).expect("prices"),
            store,
            limits,
            DEFAULT_TIERS.to_vec(),
        );
        let usage = Usage {
            prompt_tokens: 7,
            completion_tokens: 3,
            total_tokens: 10,
            ..Usage::default()
        };
        for _ in 0..1000 {
            ledger.record("openai", "gpt-4o-mini", &usage);
        }
        ledger.record_saved("gpt-4o-mini", &usage);
        // Unpriced: charged at the list's highest, (7 × 5 + 3 × 30) / 10⁶.
        assert_eq!(
            ledger
                .record("openai", "unknown", &usage)
                .map(|c| c.to_string()),
            Some("0.000125".to_owned())
        );
        let m = ledger.metrics();
        // (7 × 0.15 + 3 × 0.60) / 10⁶ × 1000 = 0.00285, + 0.000125
        assert_eq!(m["spent_usd"], "0.002975");
        assert_eq!(m["saved_by_cache_usd"], "0.00000285");
        assert_eq!(m["unpriced_requests"], 1);
        assert_eq!(m["by_model"][0]["requests"], 1000);
    }
}
