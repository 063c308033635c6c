//! Rate limits: token buckets of requests and tokens per minute, per
//! provider and optionally per gateway API key, kept in the [`Store`] so
//! every instance sees the same buckets. A call reserves an estimate (the
//! prompt's size plus `max_tokens` or a default) before it is made and
//! settles the real usage after.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::openai::ChatCompletionRequest;
use crate::providers::ProviderId;
use crate::store::{Cell, Store, Take};

/// `[limits.<provider>]` or `[limits.per_key]` in the config file.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitFile {
    /// Requests per minute (and burst).
    pub requests_per_minute: Option<u64>,
    /// Prompt + completion tokens per minute (and burst).
    pub tokens_per_minute: Option<u64>,
}

/// What happens when the store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Let the request through (logged and counted).
    Open,
    /// Refuse it as rate limited.
    Closed,
}

/// Completion tokens assumed when a request sets no `max_tokens`.
pub const DEFAULT_COMPLETION_ESTIMATE: u64 = 1024;

/// Units taken from one key's buckets, to settle once usage is known.
#[derive(Debug, Clone)]
pub struct Reservation {
    key: String,
    /// Index and capacity of the tokens bucket, when the key limits tokens.
    tokens_cell: Option<(usize, u64)>,
    estimate: u64,
}

/// Refusal: how long until a request could pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// Time until the bucket has room.
    pub retry_after: Duration,
}

/// The configured limits over a store.
pub struct Limits {
    store: Arc<dyn Store>,
    providers: BTreeMap<ProviderId, LimitFile>,
    per_key: Option<LimitFile>,
    enabled: bool,
    fail: FailMode,
    denied: AtomicU64,
    store_errors: AtomicU64,
}

/// A request's token estimate: its serialized messages and tools at ~4
/// bytes per token, plus the completion budget.
pub fn estimate(request: &ChatCompletionRequest) -> u64 {
    let prompt = serde_json::to_vec(&request.messages).map_or(0, |b| b.len() as u64)
        + request
            .tools
            .as_ref()
            .and_then(|t| serde_json::to_vec(t).ok())
            .map_or(0, |b| b.len() as u64);
    let completion = request
        .max_completion_tokens
        .or(request.max_tokens)
        .map_or(DEFAULT_COMPLETION_ESTIMATE, u64::from);
    prompt.div_ceil(4) + completion
}

impl Limits {
    /// Limits from the config; `enabled = false` limits nothing.
    pub fn new(
        store: Arc<dyn Store>,
        providers: BTreeMap<ProviderId, LimitFile>,
        per_key: Option<LimitFile>,
        fail: FailMode,
        enabled: bool,
    ) -> Self {
        let (providers, per_key) = if enabled {
            (providers, per_key)
        } else {
            (BTreeMap::new(), None)
        };
        Self {
            store,
            providers,
            per_key,
            enabled,
            fail,
            denied: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
        }
    }

    /// The store behind the limits.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Takes one request and `tokens()` from a provider's buckets; the
    /// estimate is only computed when the provider limits tokens.
    pub async fn provider(
        &self,
        provider: ProviderId,
        tokens: impl FnOnce() -> u64,
    ) -> Result<Option<Reservation>, Denied> {
        match self.providers.get(&provider) {
            Some(limit) => {
                self.take(&format!("provider#{}", provider.as_str()), *limit, tokens)
                    .await
            }
            None => Ok(None),
        }
    }

    /// Takes one request and `tokens()` from a client key's buckets: the
    /// key's own limits (`own`, a virtual key's) or else `[limits.per_key]`.
    pub async fn tenant(
        &self,
        tenant: &str,
        own: Option<LimitFile>,
        tokens: impl FnOnce() -> u64,
    ) -> Result<Option<Reservation>, Denied> {
        if !self.enabled {
            return Ok(None);
        }
        match own.or(self.per_key) {
            Some(limit) if !tenant.is_empty() => {
                self.take(&format!("key#{tenant}"), limit, tokens).await
            }
            _ => Ok(None),
        }
    }

    async fn take(
        &self,
        key: &str,
        limit: LimitFile,
        tokens: impl FnOnce() -> u64,
    ) -> Result<Option<Reservation>, Denied> {
        let tokens = if limit.tokens_per_minute.is_some() {
            tokens()
        } else {
            0
        };
        let mut cells = Vec::new();
        if let Some(capacity) = limit.requests_per_minute {
            cells.push(Cell { capacity, take: 1 });
        }
        let tokens_cell = limit.tokens_per_minute.map(|capacity| {
            cells.push(Cell {
                capacity,
                // A request larger than the whole bucket could never pass;
                // it takes the whole bucket instead.
                take: tokens.min(capacity),
            });
            (cells.len() - 1, capacity)
        });
        if cells.is_empty() {
            return Ok(None);
        }
        match self
            .store
            .take(key, &cells, crate::clock::unix_micros())
            .await
        {
            Ok(Take::Granted) => Ok(Some(Reservation {
                key: key.to_owned(),
                tokens_cell,
                estimate: tokens_cell.map_or(0, |(_, cap)| tokens.min(cap)),
            })),
            Ok(Take::Denied { retry_after }) => {
                self.denied.fetch_add(1, Ordering::Relaxed);
                Err(Denied { retry_after })
            }
            Err(e) => {
                self.store_errors.fetch_add(1, Ordering::Relaxed);
                match self.fail {
                    FailMode::Open => {
                        tracing::warn!(error = %e, key, "rate limit store unavailable; letting the request through");
                        Ok(None)
                    }
                    FailMode::Closed => {
                        tracing::warn!(error = %e, key, "rate limit store unavailable; refusing the request");
                        Err(Denied {
                            retry_after: Duration::from_secs(1),
                        })
                    }
                }
            }
        }
    }

    /// Settles a reservation: the tokens bucket is charged the real usage
    /// instead of the estimate (`None`: the call failed, all is given back).
    pub async fn settle(&self, reservation: &Reservation, actual_tokens: Option<u64>) {
        let Some((cell, capacity)) = reservation.tokens_cell else {
            return;
        };
        let actual = actual_tokens.unwrap_or(0);
        let delta = i64::try_from(actual).unwrap_or(i64::MAX)
            - i64::try_from(reservation.estimate).unwrap_or(i64::MAX);
        if delta == 0 {
            return;
        }
        if let Err(e) = self
            .store
            .adjust(&reservation.key, cell, capacity, delta)
            .await
        {
            self.store_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, key = %reservation.key, delta, "rate limit settlement failed");
        }
    }

    /// Requests refused by these limits.
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }

    /// Counters for `/metrics?format=json`.
    pub fn metrics(&self) -> Value {
        json!({
            "store": self.store.kind(),
            "providers_limited": self.providers.keys().map(|p| p.as_str()).collect::<Vec<_>>(),
            "per_key": self.per_key.is_some(),
            "denied": self.denied.load(Ordering::Relaxed),
            "store_errors": self.store_errors.load(Ordering::Relaxed),
            "fail_mode": match self.fail { FailMode::Open => "open", FailMode::Closed => "closed" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn limits(rpm: u64, tpm: u64) -> Limits {
        Limits::new(
            Arc::new(MemoryStore::default()),
            BTreeMap::from([(
                ProviderId::OPENAI,
                LimitFile {
                    requests_per_minute: Some(rpm),
                    tokens_per_minute: Some(tpm),
                },
            )]),
            None,
            FailMode::Open,
            true,
        )
    }

    #[tokio::test]
    async fn requests_per_minute_then_denied_with_retry_after() {
        let l = limits(3, 1_000_000);
        for _ in 0..3 {
            assert!(l.provider(ProviderId::OPENAI, || 10).await.is_ok());
        }
        let denied = l
            .provider(ProviderId::OPENAI, || 10)
            .await
            .expect_err("4th");
        assert!(denied.retry_after > Duration::from_secs(15));
        assert!(denied.retry_after <= Duration::from_secs(20));
        assert!(
            l.provider(ProviderId::ANTHROPIC, || 10).await.is_ok(),
            "unlimited"
        );
    }

    #[tokio::test]
    async fn settling_gives_back_unused_tokens() {
        let l = limits(1000, 1000);
        let r = l
            .provider(ProviderId::OPENAI, || 900)
            .await
            .expect("granted")
            .expect("reserved");
        assert!(l.provider(ProviderId::OPENAI, || 200).await.is_err());
        l.settle(&r, Some(100)).await;
        assert!(l.provider(ProviderId::OPENAI, || 200).await.is_ok());
    }
}
