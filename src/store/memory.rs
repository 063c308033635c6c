//! The in-memory store: exact for one instance, the embedded default.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Cell, CostRecord, Running, Store, StoreError, Take, Totals, take_all};
use crate::keys::KeyRecord;

/// Buckets, totals, alert flags and keys behind one lock each.
#[derive(Debug, Default)]
pub struct MemoryStore {
    buckets: Mutex<HashMap<String, Vec<Option<u64>>>>,
    overall: Mutex<Totals>,
    days: Mutex<BTreeMap<String, Totals>>,
    /// Per tenant, per period (`TOTAL`, `MONTH#…`, `DAY#…`).
    tenants: Mutex<HashMap<String, BTreeMap<String, Totals>>>,
    /// Claimed alert tiers and who claimed them.
    alerts: Mutex<BTreeMap<(String, u64), String>>,
    keys: Mutex<BTreeMap<String, KeyRecord>>,
    /// Record ids applied, newest last (at most [`APPLIED_MAX`]).
    applied: Mutex<(HashSet<String>, VecDeque<String>)>,
    /// Stored responses by (tenant, id): document and expiry, oldest first
    /// out past [`RESPONSES_MAX`].
    responses: Mutex<StoredResponses>,
}

/// Stored responses by (tenant, id) with their expiry, and their order.
type StoredResponses = (
    HashMap<(String, String), (String, u64)>,
    VecDeque<(String, String)>,
);

/// Stored responses kept in memory; past it the oldest are forgotten.
const RESPONSES_MAX: usize = 10_000;

/// Record ids remembered for idempotency; a retry comes within seconds.
const APPLIED_MAX: usize = 100_000;

fn poisoned<T>(_: T) -> StoreError {
    StoreError("memory store lock poisoned".into())
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

    async fn add_cost(&self, record: &CostRecord) -> Result<Running, StoreError> {
        // Every total under its locks at once: a record is applied whole,
        // and once per record id.
        let mut overall = self.overall.lock().map_err(poisoned)?;
        let mut days = self.days.lock().map_err(poisoned)?;
        let mut tenants = self.tenants.lock().map_err(poisoned)?;
        let mut applied = self.applied.lock().map_err(poisoned)?;
        let fresh = applied.0.insert(record.record_id.clone());
        if fresh {
            applied.1.push_back(record.record_id.clone());
            if applied.1.len() > APPLIED_MAX
                && let Some(old) = applied.1.pop_front()
            {
                applied.0.remove(&old);
            }
        } else {
            // Applied before: report the totals, add nothing.
            let day = days.get(&record.day).map_or(0, |d| d.picodollars);
            let mut tenant = [0; 3];
            if let Some(periods) = tenants.get(&record.tenant) {
                for (slot, period) in tenant.iter_mut().zip(record.tenant_periods()) {
                    *slot = periods.get(&period).map_or(0, |t| t.picodollars);
                }
            }
            return Ok(Running {
                overall: overall.picodollars,
                day,
                tenant,
            });
        }
        overall.add(record);
        let day = days.entry(record.day.clone()).or_default();
        day.add(record);
        let mut tenant = [0; 3];
        if !record.tenant.is_empty() {
            let periods = tenants.entry(record.tenant.clone()).or_default();
            for (slot, period) in tenant.iter_mut().zip(record.tenant_periods()) {
                let totals = periods.entry(period).or_default();
                totals.add(record);
                *slot = totals.picodollars;
            }
        }
        Ok(Running {
            overall: overall.picodollars,
            day: day.picodollars,
            tenant,
        })
    }

    async fn tenant_totals(
        &self,
        tenant: &str,
        periods: &[String],
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        let tenants = self.tenants.lock().map_err(poisoned)?;
        let Some(stored) = tenants.get(tenant) else {
            return Ok(Vec::new());
        };
        Ok(periods
            .iter()
            .filter_map(|p| stored.get(p).map(|t| (p.clone(), t.clone())))
            .collect())
    }

    async fn put_key(&self, key: &KeyRecord, create: bool) -> Result<bool, StoreError> {
        let mut keys = self.keys.lock().map_err(poisoned)?;
        if keys.contains_key(&key.id) == create {
            return Ok(false);
        }
        keys.insert(key.id.clone(), key.clone());
        Ok(true)
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.keys.lock().map_err(poisoned)?.get(id).cloned())
    }

    async fn put_response(
        &self,
        tenant: &str,
        id: &str,
        doc: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let mut guard = self.responses.lock().map_err(poisoned)?;
        let (map, order) = &mut *guard;
        let key = (tenant.to_owned(), id.to_owned());
        if map
            .insert(key.clone(), (doc.to_owned(), expires_at))
            .is_none()
        {
            order.push_back(key);
        }
        while map.len() > RESPONSES_MAX {
            let Some(oldest) = order.pop_front() else {
                break;
            };
            map.remove(&oldest);
        }
        Ok(())
    }

    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        let guard = self.responses.lock().map_err(poisoned)?;
        Ok(guard
            .0
            .get(&(tenant.to_owned(), id.to_owned()))
            .filter(|(_, expires_at)| *expires_at > crate::clock::unix_seconds())
            .map(|(doc, _)| doc.clone()))
    }

    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let mut guard = self.responses.lock().map_err(poisoned)?;
        let key = (tenant.to_owned(), id.to_owned());
        let existed = guard
            .0
            .remove(&key)
            .is_some_and(|(_, expires_at)| expires_at > crate::clock::unix_seconds());
        guard.1.retain(|k| k != &key);
        Ok(existed)
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self
            .keys
            .lock()
            .map_err(poisoned)?
            .values()
            .cloned()
            .collect())
    }

    async fn claim_alert(
        &self,
        scope: &str,
        tier_usd: u64,
        claimant: &str,
    ) -> Result<bool, StoreError> {
        let mut alerts = self.alerts.lock().map_err(poisoned)?;
        let holder = alerts
            .entry((scope.to_owned(), tier_usd))
            .or_insert_with(|| claimant.to_owned());
        Ok(holder == claimant)
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
