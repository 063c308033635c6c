//! Shared state that must be exact across instances: rate-limit buckets,
//! cost totals (overall and per client key), alert-tier flags and virtual
//! keys. DynamoDB when `DYNAMODB_TABLE` is set
//! ([`dynamodb`]), else in memory ([`memory`], one instance only).

pub mod dynamodb;
pub mod memory;
pub mod traced;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::keys::KeyRecord;

/// The store could not be reached or refused the call.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// The length of a bucket's refill window: capacities are per minute.
pub const WINDOW_US: u64 = 60_000_000;

/// One token bucket of a limit key, as GCRA: the bucket holds `capacity`
/// units and refills completely in a minute; its state is one timestamp
/// (the "theoretical arrival time"), so taking is one conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Units per minute (and burst size).
    pub capacity: u64,
    /// Units to take now.
    pub take: u64,
}

impl Cell {
    /// How far one take pushes the arrival time, in microseconds.
    pub fn increment(self) -> u64 {
        let per_unit = u128::from(WINDOW_US) * u128::from(self.take);
        u64::try_from(per_unit / u128::from(self.capacity.max(1))).unwrap_or(u64::MAX)
    }

    /// The cell's state after taking at `now` from state `tat`, or `None`
    /// when the bucket lacks the units.
    pub fn after(self, tat: Option<u64>, now: u64) -> Option<u64> {
        let start = tat.map_or(now, |t| t.max(now));
        let next = start.saturating_add(self.increment());
        (next <= now.saturating_add(WINDOW_US)).then_some(next)
    }

    /// When taking could succeed again, from state `tat`.
    pub fn retry_after(self, tat: Option<u64>, now: u64) -> Duration {
        let start = tat.map_or(now, |t| t.max(now));
        let next = start.saturating_add(self.increment());
        Duration::from_micros(next.saturating_sub(now.saturating_add(WINDOW_US)))
    }
}

/// Takes from every cell of a key whose state is `tats`: the new states,
/// or the denial (when the fullest bucket could take again) if any lacks
/// the units.
pub fn take_all(cells: &[Cell], tats: &[Option<u64>], now: u64) -> Result<Vec<u64>, Take> {
    let next: Option<Vec<u64>> = cells
        .iter()
        .zip(tats)
        .map(|(cell, tat)| cell.after(*tat, now))
        .collect();
    next.ok_or_else(|| Take::Denied {
        retry_after: cells
            .iter()
            .zip(tats)
            .map(|(c, t)| c.retry_after(*t, now))
            .max()
            .unwrap_or_default(),
    })
}

/// The result of taking from a limit key's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Every bucket had the units; they are taken.
    Granted,
    /// A bucket lacked them; nothing was taken.
    Denied {
        /// When the request could be granted.
        retry_after: Duration,
    },
}

/// One request's cost, to be added to the totals.
#[derive(Debug, Clone, Serialize)]
pub struct CostRecord {
    /// Provider name.
    pub provider: String,
    /// Upstream model.
    pub model: String,
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Picodollars.
    pub picodollars: u64,
    /// The request, for reconciliation when the write fails.
    pub request_id: String,
    /// Unique to this record (made by the gateway, never the client's
    /// request id): the idempotency key of its write.
    pub record_id: String,
    /// The client key (tenant id) whose spend this is; empty for none.
    pub tenant: String,
    /// Prompt tokens of the request.
    pub prompt_tokens: u64,
    /// Completion tokens of the request.
    pub completion_tokens: u64,
    /// The tokens are the gateway's estimate (a stream that ended before
    /// the provider's usage).
    pub estimated: bool,
}

impl CostRecord {
    /// The periods of the tenant's totals this record adds to: all time,
    /// its month and its day.
    pub fn tenant_periods(&self) -> [String; 3] {
        periods(&self.day)
    }
}

/// The tenant-total periods of a UTC day `YYYY-MM-DD`: `TOTAL`,
/// `MONTH#YYYY-MM`, `DAY#YYYY-MM-DD`.
pub fn periods(day: &str) -> [String; 3] {
    [
        "TOTAL".to_owned(),
        format!("MONTH#{}", day.get(..7).unwrap_or(day)),
        format!("DAY#{day}"),
    ]
}

/// Totals after an add (and any that ran alongside it), in picodollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Running {
    /// All-time total.
    pub overall: u64,
    /// The day's total.
    pub day: u64,
    /// The tenant's all-time, month and day totals (zero without a tenant).
    pub tenant: [u64; 3],
}

/// Totals of one scope (overall or one day).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Picodollars.
    pub picodollars: u64,
    /// Requests priced.
    pub requests: u64,
    /// Picodollars per provider.
    pub by_provider: BTreeMap<String, u64>,
    /// Picodollars per model.
    pub by_model: BTreeMap<String, u64>,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Prompt + completion tokens per model.
    pub tokens_by_model: BTreeMap<String, u64>,
    /// Requests priced on estimated tokens.
    pub estimated_requests: u64,
}

impl Totals {
    /// Adds one record.
    pub fn add(&mut self, record: &CostRecord) {
        let tokens = record
            .prompt_tokens
            .saturating_add(record.completion_tokens);
        self.picodollars = self.picodollars.saturating_add(record.picodollars);
        self.requests += 1;
        self.estimated_requests += u64::from(record.estimated);
        self.prompt_tokens = self.prompt_tokens.saturating_add(record.prompt_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(record.completion_tokens);
        let add = |map: &mut BTreeMap<String, u64>, name: &str, v: u64| {
            let slot = map.entry(name.to_owned()).or_default();
            *slot = slot.saturating_add(v);
        };
        add(&mut self.by_provider, &record.provider, record.picodollars);
        add(&mut self.by_model, &record.model, record.picodollars);
        add(&mut self.tokens_by_model, &record.model, tokens);
    }
}

/// Limits, totals and alert flags.
#[async_trait]
pub trait Store: Send + Sync {
    /// `dynamodb` or `memory`.
    fn kind(&self) -> &'static str;

    /// Takes from all of `key`'s buckets at once, or from none.
    async fn take(&self, key: &str, cells: &[Cell], now_us: u64) -> Result<Take, StoreError>;

    /// Gives back (`units` < 0) or charges more (`units` > 0) to one bucket
    /// of `key` once the real usage is known; never refused.
    async fn adjust(
        &self,
        key: &str,
        cell: usize,
        capacity: u64,
        units: i64,
    ) -> Result<(), StoreError>;

    /// Adds a cost to the overall and the day's totals (per provider and
    /// model too) and, with a tenant, to its all-time, month and day
    /// totals, all at once and exactly once per `record_id`: a retry of a
    /// record that was applied (its reply lost) adds nothing. Returns the
    /// totals after the add.
    async fn add_cost(&self, record: &CostRecord) -> Result<Running, StoreError>;

    /// A tenant's totals for the given periods (see [`periods`]); periods
    /// without spend are left out.
    async fn tenant_totals(
        &self,
        tenant: &str,
        periods: &[String],
    ) -> Result<Vec<(String, Totals)>, StoreError>;

    /// Writes a virtual key: a new one (`create`, refused with `false` if
    /// the id exists) or an update of an existing one (`false` if absent).
    async fn put_key(&self, key: &KeyRecord, create: bool) -> Result<bool, StoreError>;

    /// One virtual key by id.
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Every virtual key, revoked ones included.
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;

    /// Marks an alert tier as raised by `claimant`; `true` for the first
    /// claimant only (and for its own retries), so a tier alerts once.
    async fn claim_alert(
        &self,
        scope: &str,
        tier_usd: u64,
        claimant: &str,
    ) -> Result<bool, StoreError>;

    /// The overall totals and those of the given days.
    async fn totals(&self, days: &[String]) -> Result<(Totals, Vec<(String, Totals)>), StoreError>;

    /// Keeps a stored response (its JSON document) of `tenant` until
    /// `expires_at` (Unix seconds).
    async fn put_response(
        &self,
        tenant: &str,
        id: &str,
        doc: &str,
        expires_at: u64,
    ) -> Result<(), StoreError>;

    /// A stored response of `tenant`, unless it expired.
    async fn get_response(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError>;

    /// Deletes a stored response of `tenant`; whether there was one.
    async fn delete_response(&self, tenant: &str, id: &str) -> Result<bool, StoreError>;
}

/// Attribute-safe form of a provider or model name.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '/') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_minute_and_refills_evenly() {
        let cell = Cell {
            capacity: 60,
            take: 1,
        };
        let now = 1_000_000_000;
        let mut tat = None;
        for _ in 0..60 {
            tat = Some(cell.after(tat, now).expect("within capacity"));
        }
        assert!(cell.after(tat, now).is_none(), "the 61st is refused");
        assert_eq!(cell.retry_after(tat, now), Duration::from_secs(1));
        // One second later exactly one more unit has refilled.
        let later = now + 1_000_000;
        let tat = Some(cell.after(tat, later).expect("refilled one"));
        assert!(cell.after(tat, later).is_none());
        // Idle for long: the bucket is full again, not fuller.
        let much_later = later + 3_600_000_000;
        let mut tat = tat;
        for _ in 0..60 {
            tat = Some(cell.after(tat, much_later).expect("full again"));
        }
        assert!(cell.after(tat, much_later).is_none());
    }

    #[test]
    fn a_take_larger_than_the_bucket_never_fits() {
        let cell = Cell {
            capacity: 1000,
            take: 1001,
        };
        assert!(cell.after(None, 5).is_none());
        let fits = Cell {
            capacity: 1000,
            take: 1000,
        };
        assert!(fits.after(None, 5).is_some());
    }
}
