//! This instance's spend: every finished request is priced once and added
//! up per provider and model, with what cache hits saved.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::api::types::Usage;
use crate::pricing::{Cost, Pricing};

/// Prices requests and keeps running totals.
#[derive(Debug)]
pub struct Ledger {
    pricing: Pricing,
    spent: AtomicU64,
    saved: AtomicU64,
    unpriced: AtomicU64,
    by_model: Mutex<BTreeMap<(String, String), ModelSpend>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ModelSpend {
    requests: u64,
    cost: u64,
}

impl Ledger {
    /// An empty ledger over `pricing`.
    pub fn new(pricing: Pricing) -> Self {
        Self {
            pricing,
            spent: AtomicU64::new(0),
            saved: AtomicU64::new(0),
            unpriced: AtomicU64::new(0),
            by_model: Mutex::new(BTreeMap::new()),
        }
    }

    /// The pricing table.
    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    /// Adds what a served request cost; returns the cost (`None` when the
    /// model has no price, which is counted).
    pub fn record(&self, provider: &str, model: &str, usage: &Usage) -> Option<Cost> {
        let Some(cost) = self.pricing.cost(model, usage) else {
            self.unpriced.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        self.spent.fetch_add(cost.0, Ordering::Relaxed);
        if let Ok(mut by_model) = self.by_model.lock() {
            let entry = by_model
                .entry((provider.to_owned(), model.to_owned()))
                .or_default();
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
            "by_model": by_model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_exactly() {
        let ledger = Ledger::new(Pricing::new(&BTreeMap::new()).expect("prices"));
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
        assert!(ledger.record("openai", "unknown", &usage).is_none());
        let m = ledger.metrics();
        // (7 × 0.15 + 3 × 0.60) / 10⁶ × 1000 = 0.00285
        assert_eq!(m["spent_usd"], "0.00285");
        assert_eq!(m["saved_by_cache_usd"], "0.00000285");
        assert_eq!(m["unpriced_requests"], 1);
        assert_eq!(m["by_model"][0]["requests"], 1000);
    }
}
