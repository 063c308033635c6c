//! The in-memory store: exact for one instance, the embedded default.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Cell, CostRecord, Running, Store, StoreError, Take, Totals, take_all};

/// Buckets, totals and alert flags behind one lock each.
#[derive(Debug, Default)]
pub struct MemoryStore {
    buckets: Mutex<HashMap<String, Vec<Option<u64>>>>,
    overall: Mutex<Totals>,
    days: Mutex<BTreeMap<String, Totals>>,
    alerts: Mutex<BTreeSet<(String, u64)>>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError("memory store lock poisoned".into())
}

fn add(totals: &mut Totals, record: &CostRecord) {
    totals.picodollars = totals.picodollars.saturating_add(record.picodollars);
    totals.requests += 1;
    *totals
        .by_provider
        .entry(record.provider.clone())
        .or_default() += record.picodollars;
    *totals.by_model.entry(record.model.clone()).or_default() += record.picodollars;
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn take(&self, key: &str, cells: &[Cell], now_us: u64) -> Result<Take, StoreError> {
        let mut buckets = self.buckets.lock().map_err(poisoned)?;
        let state = buckets
            .entry(key.to_owned())
            .or_insert_with(|| vec![None; cells.len()]);
        state.resize(cells.len().max(state.len()), None);
        let next = match take_all(cells, state, now_us) {
            Ok(next) => next,
            Err(denied) => return Ok(denied),
        };
        for (slot, t) in state.iter_mut().zip(next) {
            *slot = Some(t);
        }
        Ok(Take::Granted)
    }

    async fn adjust(
        &self,
        key: &str,
        cell: usize,
        capacity: u64,
        units: i64,
    ) -> Result<(), StoreError> {
        let mut buckets = self.buckets.lock().map_err(poisoned)?;
        if let Some(Some(tat)) = buckets.get_mut(key).and_then(|s| s.get_mut(cell)) {
            let step = Cell {
                capacity,
                take: units.unsigned_abs(),
            }
            .increment();
            *tat = if units >= 0 {
                tat.saturating_add(step)
            } else {
                tat.saturating_sub(step)
            };
        }
        Ok(())
    }

    async fn add_cost(&self, record: &mut CostRecord) -> Result<Running, StoreError> {
        let mut overall = self.overall.lock().map_err(poisoned)?;
        let mut days = self.days.lock().map_err(poisoned)?;
        if record.written.overall.is_none() {
            add(&mut overall, record);
            record.written.overall = Some(overall.picodollars);
        }
        if record.written.day.is_none() {
            let day = days.entry(record.day.clone()).or_default();
            add(day, record);
            record.written.day = Some(day.picodollars);
        }
        Ok(Running {
            overall: record.written.overall.unwrap_or(overall.picodollars),
            day: record.written.day.unwrap_or_default(),
        })
    }

    async fn claim_alert(&self, scope: &str, tier_usd: u64) -> Result<bool, StoreError> {
        Ok(self
            .alerts
            .lock()
            .map_err(poisoned)?
            .insert((scope.to_owned(), tier_usd)))
    }

    async fn totals(&self, days: &[String]) -> Result<(Totals, Vec<(String, Totals)>), StoreError> {
        let overall = self.overall.lock().map_err(poisoned)?.clone();
        let stored = self.days.lock().map_err(poisoned)?;
        let days = days
            .iter()
            .filter_map(|d| stored.get(d).map(|t| (d.clone(), t.clone())))
            .collect();
        Ok((overall, days))
    }
}
