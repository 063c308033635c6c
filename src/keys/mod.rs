//! Virtual keys: resolved from the store and cached briefly in memory, so a
//! request costs no store round trip once its key is warm; their budgets,
//! checked against the key's spend (cached the same way, and moved forward
//! by this instance's own cost writes).

pub mod record;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::unix_seconds;
pub use record::{Budgets, KeyRecord};
use record::{Refusal, digest, id_of};

use crate::error::GatewayError;
use crate::limits::FailMode;
use crate::pricing::Cost;
use crate::store::{Store, periods};

/// Most key records (and spend entries) cached; ids in presented keys are
/// the client's choice, so the map must not grow past this.
const MAX_CACHED: usize = 10_000;

/// Store lookups of keys not in memory, per second and instance: ids are
/// the client's choice, so unknown ones must not cost a read each.
const NEW_LOOKUPS_PER_SECOND: u32 = 100;

/// A cached lookup: the record, or its absence.
struct Cached {
    record: Option<Arc<KeyRecord>>,
    at: Instant,
}

/// A key's spend: all time, this month, today (picodollars), for `day`.
#[derive(Clone)]
struct Spend {
    day: String,
    values: [u64; 3],
    at: Instant,
}

/// Key resolution and budget checks over the store.
pub struct Keys {
    store: Arc<dyn Store>,
    ttl: Duration,
    fail: FailMode,
    records: Mutex<HashMap<String, Cached>>,
    spend: Mutex<HashMap<String, Spend>>,
    /// The current second's start and its lookups of uncached ids.
    lookups: Mutex<(Instant, u32)>,
}

/// Inserts into a bounded cache: when full, expired entries go first, and
/// if none has expired the new entry is not kept.
fn bounded_insert<V>(
    map: &mut HashMap<String, V>,
    key: &str,
    value: V,
    fresh: impl Fn(&V) -> bool,
) {
    if map.len() >= MAX_CACHED && !map.contains_key(key) {
        map.retain(|_, v| fresh(v));
        if map.len() >= MAX_CACHED {
            return;
        }
    }
    map.insert(key.to_owned(), value);
}

impl Keys {
    /// Keys in `store`, cached for `ttl`; budgets follow `fail` when the
    /// store cannot be read.
    pub fn new(store: Arc<dyn Store>, ttl: Duration, fail: FailMode) -> Self {
        Self {
            store,
            ttl,
            fail,
            records: Mutex::new(HashMap::new()),
            spend: Mutex::new(HashMap::new()),
            lookups: Mutex::new((Instant::now(), 0)),
        }
    }

    /// How long a key (and a revocation) may be served from memory.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The store behind the keys.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Whether `presented` has the shape of a virtual key.
    pub fn is_virtual(presented: &str) -> bool {
        id_of(presented).is_some()
    }

    /// The record of a presented virtual key, if the key is valid now.
    pub async fn resolve(&self, presented: &str) -> Result<Arc<KeyRecord>, GatewayError> {
        let id = id_of(presented).ok_or(GatewayError::Unauthorized)?;
        let record = self.record(id).await?.ok_or(GatewayError::Unauthorized)?;
        match record.admit(&digest(presented), unix_seconds()) {
            Ok(()) => Ok(record),
            Err(Refusal::Wrong) => Err(GatewayError::Unauthorized),
            Err(Refusal::Revoked) => Err(GatewayError::KeyRefused {
                reason: "has been revoked",
            }),
            Err(Refusal::Expired) => Err(GatewayError::KeyRefused {
                reason: "has expired",
            }),
        }
    }

    /// A record from memory while fresh, else from the store; a store that
    /// cannot answer is covered by a stale record when there is one.
    async fn record(&self, id: &str) -> Result<Option<Arc<KeyRecord>>, GatewayError> {
        let cached = self
            .records
            .lock()
            .ok()
            .and_then(|m| m.get(id).map(|c| (c.record.clone(), c.at.elapsed())));
        if let Some((record, age)) = &cached
            && *age < self.ttl
        {
            return Ok(record.clone());
        }
        if cached.is_none() && !self.may_look_up() {
            return Err(GatewayError::RateLimited {
                scope: "lookups of new API keys".into(),
                retry_after: 1,
            });
        }
        match self.store.get_key(id).await {
            Ok(found) => {
                let record = found.map(Arc::new);
                self.remember(id, record.clone());
                Ok(record)
            }
            Err(e) => match cached {
                Some((Some(stale), _)) => {
                    tracing::warn!(error = %e, key = id, "key store unavailable; using the cached key");
                    Ok(Some(stale))
                }
                _ => Err(GatewayError::StoreUnavailable {
                    what: "the key store",
                    detail: e.to_string(),
                }),
            },
        }
    }

    /// Whether an id not in memory may be looked up now.
    fn may_look_up(&self) -> bool {
        let Ok(mut window) = self.lookups.lock() else {
            return false;
        };
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        window.1 <= NEW_LOOKUPS_PER_SECOND
    }

    fn remember(&self, id: &str, record: Option<Arc<KeyRecord>>) {
        let ttl = self.ttl;
        if let Ok(mut map) = self.records.lock() {
            let entry = Cached {
                record,
                at: Instant::now(),
            };
            bounded_insert(&mut map, id, entry, |c| c.at.elapsed() < ttl);
        }
    }

    /// Replaces this instance's copy of a key after the operator changed it
    /// here: the change applies at once on this instance, within the TTL on
    /// the others.
    pub fn updated(&self, record: &KeyRecord) {
        self.remember(&record.id, Some(Arc::new(record.clone())));
    }

    /// Refuses the request when one of the key's budgets is spent.
    pub async fn check_budget(&self, key: &KeyRecord) -> Result<(), GatewayError> {
        let budgets = key.budgets;
        if !budgets.any() {
            return Ok(());
        }
        let today = crate::clock::today();
        let Some(spent) = self.spend(&key.tenant(), &today).await? else {
            return Ok(());
        };
        let now = unix_seconds();
        let checks = [
            ("total", budgets.total, spent[0], None),
            ("monthly", budgets.monthly, spent[1], Some(next_month(now))),
            ("daily", budgets.daily, spent[2], Some(next_day(now))),
        ];
        for (period, budget, spent, ends) in checks {
            if let Some(budget) = budget
                && spent >= budget
            {
                return Err(GatewayError::BudgetExceeded {
                    period,
                    budget: Cost(budget).to_string(),
                    retry_after: ends.map(|t| t.saturating_sub(now).max(1)),
                });
            }
        }
        Ok(())
    }

    /// A tenant's spend (all time, month, today) from memory while fresh,
    /// else from the store; `None` when the store cannot answer and budgets
    /// fail open.
    async fn spend(&self, tenant: &str, today: &str) -> Result<Option<[u64; 3]>, GatewayError> {
        let cached = self.spend.lock().ok().and_then(|m| m.get(tenant).cloned());
        if let Some(s) = &cached
            && s.day == today
            && s.at.elapsed() < self.ttl
        {
            return Ok(Some(s.values));
        }
        let wanted = periods(today);
        match self.store.tenant_totals(tenant, &wanted).await {
            Ok(found) => {
                let mut values = [0u64; 3];
                for (period, totals) in found {
                    if let Some(i) = wanted.iter().position(|p| *p == period) {
                        values[i] = totals.picodollars;
                    }
                }
                let ttl = self.ttl;
                if let Ok(mut map) = self.spend.lock() {
                    let entry = Spend {
                        day: today.to_owned(),
                        values,
                        at: Instant::now(),
                    };
                    bounded_insert(&mut map, tenant, entry, |s| s.at.elapsed() < ttl);
                }
                Ok(Some(values))
            }
            Err(e) => {
                if let Some(s) = cached.filter(|s| s.day == today) {
                    return Ok(Some(s.values));
                }
                match self.fail {
                    FailMode::Open => {
                        tracing::warn!(error = %e, tenant, "spend unavailable; budget not checked");
                        Ok(None)
                    }
                    FailMode::Closed => Err(GatewayError::StoreUnavailable {
                        what: "the key's spend",
                        detail: e.to_string(),
                    }),
                }
            }
        }
    }

    /// Moves a cached spend forward after this instance added a cost:
    /// `running` is the tenant's totals after the add (all time, month,
    /// day) on `day`. Totals only grow, so the larger value wins.
    pub fn spent(&self, tenant: &str, day: &str, running: [u64; 3]) {
        if let Ok(mut map) = self.spend.lock()
            && let Some(s) = map.get_mut(tenant)
            && s.day == day
        {
            for (have, new) in s.values.iter_mut().zip(running) {
                *have = (*have).max(new);
            }
        }
    }
}

/// Unix seconds of the next UTC midnight.
fn next_day(now: u64) -> u64 {
    (now / 86_400 + 1) * 86_400
}

/// Unix seconds of the first second of the next UTC month.
fn next_month(now: u64) -> u64 {
    let today = crate::clock::civil_day((now / 86_400) as i64);
    let year: i64 = today.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1970);
    let month: u32 = today.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first = format!("{year:04}-{month:02}-01");
    record::parse_time(&serde_json::Value::String(first)).unwrap_or(next_day(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn record(key: &str, budgets: Budgets) -> KeyRecord {
        KeyRecord {
            id: id_of(key).expect("shape").to_owned(),
            name: Some("t".into()),
            secret_sha256: digest(key),
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            models: None,
            rpm: None,
            tpm: None,
            budgets,
        }
    }

    #[tokio::test]
    async fn keys_resolve_from_the_store_and_revocation_reaches_other_instances_within_the_ttl() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let id = record::new_id();
        let key = record::new_secret(&id);
        let mut rec = record(&key, Budgets::default());
        assert!(store.put_key(&rec, true).await.expect("put"));
        let ttl = Duration::from_millis(200);
        let here = Keys::new(store.clone(), ttl, FailMode::Open);
        let there = Keys::new(store.clone(), ttl, FailMode::Open);
        assert_eq!(here.resolve(&key).await.expect("valid").id, id);
        assert_eq!(there.resolve(&key).await.expect("valid").id, id);
        let wrong = record::new_secret(&id);
        assert!(matches!(
            here.resolve(&wrong).await,
            Err(GatewayError::Unauthorized)
        ));
        rec.revoked_at = Some(unix_seconds());
        assert!(store.put_key(&rec, false).await.expect("put"));
        here.updated(&rec);
        assert!(matches!(
            here.resolve(&key).await,
            Err(GatewayError::KeyRefused { .. })
        ));
        assert!(there.resolve(&key).await.is_ok(), "cached until the TTL");
        tokio::time::sleep(ttl).await;
        assert!(there.resolve(&key).await.is_err(), "refused after the TTL");
    }

    #[tokio::test]
    async fn unknown_ids_cannot_cost_a_store_read_each() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let keys = Keys::new(store.clone(), Duration::from_secs(60), FailMode::Open);
        let id = record::new_id();
        let key = record::new_secret(&id);
        assert!(
            store
                .put_key(&record(&key, Budgets::default()), true)
                .await
                .expect("put")
        );
        assert!(keys.resolve(&key).await.is_ok());
        let mut limited = 0;
        for _ in 0..(NEW_LOOKUPS_PER_SECOND + 50) {
            let random = record::new_secret(&record::new_id());
            if let Err(GatewayError::RateLimited { .. }) = keys.resolve(&random).await {
                limited += 1;
            }
        }
        assert!(limited >= 49, "{limited}");
        assert!(
            keys.resolve(&key).await.is_ok(),
            "known keys are unaffected"
        );
    }

    #[tokio::test]
    async fn budgets_refuse_once_spent_with_the_period_named() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let keys = Keys::new(store.clone(), Duration::from_secs(60), FailMode::Open);
        let id = record::new_id();
        let key = record::new_secret(&id);
        let rec = record(
            &key,
            Budgets {
                daily: Some(1000),
                monthly: None,
                total: Some(5000),
            },
        );
        assert!(keys.check_budget(&rec).await.is_ok());
        // This instance's own writes move the cached spend at once.
        keys.spent(&rec.tenant(), &crate::clock::today(), [999, 999, 999]);
        assert!(keys.check_budget(&rec).await.is_ok());
        keys.spent(&rec.tenant(), &crate::clock::today(), [1000, 1000, 1000]);
        match keys.check_budget(&rec).await {
            Err(GatewayError::BudgetExceeded {
                period: "daily",
                retry_after: Some(s),
                ..
            }) => assert!((1..=86_400).contains(&s)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn period_ends() {
        // 2026-11-30T12:00:00Z → 2026-12-01T00:00:00Z for both.
        let now = 20_787 * 86_400 + 43_200;
        assert_eq!(next_day(now), 20_788 * 86_400);
        assert_eq!(next_month(now), 20_788 * 86_400);
        // 2026-12-15 → 2027-01-01.
        assert_eq!(next_month(20_802 * 86_400), 20_819 * 86_400);
    }
}
