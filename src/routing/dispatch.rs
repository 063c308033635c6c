//! What the failover loop may touch: the providers and their settings,
//! circuit breakers, health statistics and provider rate limits — and
//! nothing else of the application.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Route;
use super::breaker::{Admission, Breakers};
use super::shared::SharedHealth;
use super::stats::Stats;
use crate::config::{ProviderConfig, RetryPolicy};
use crate::limits::{Denied, Limits, Reservation};
use crate::providers::{Provider, ProviderId};

/// The failover loop's view of the gateway, borrowed for one request.
pub struct Dispatcher<'a> {
    /// Configured providers by id.
    pub providers: &'a BTreeMap<ProviderId, Arc<dyn Provider>>,
    /// Their settings (key, timeouts, retries).
    pub settings: &'a BTreeMap<ProviderId, ProviderConfig>,
    /// Backoff and deadline policy.
    pub retry: &'a RetryPolicy,
    /// Circuit breakers per route.
    pub breakers: &'a Breakers,
    /// Latency and error statistics per route.
    pub stats: &'a Stats,
    /// Health shared across instances, when Redis is configured.
    pub shared: Option<&'a Arc<SharedHealth>>,
    /// Provider rate limits.
    pub limits: &'a Limits,
}

impl Dispatcher<'_> {
    /// The adapter and settings of a route's provider, if configured.
    pub fn candidate(&self, route: &Route) -> Option<(&Arc<dyn Provider>, &ProviderConfig)> {
        Some((
            self.providers.get(&route.provider)?,
            self.settings.get(&route.provider)?,
        ))
    }

    /// Starts tracking a route's health; `false` past the bound on tracked
    /// routes (such a route is called without health state).
    pub fn track(&self, route: &Route) -> bool {
        self.stats.track(route)
    }

    /// Whether a tracked route's circuit (shared or local) refuses a call now.
    pub fn circuit_open(&self, route: &Route) -> bool {
        self.shared.is_some_and(|s| s.is_open(route))
            || self.breakers.admit(route, Instant::now()) == Admission::Rejected
    }

    /// Takes one request and `tokens()` from the provider's buckets.
    pub async fn reserve(
        &self,
        route: &Route,
        tokens: impl FnOnce() -> u64,
    ) -> Result<Option<Reservation>, Denied> {
        self.limits.provider(route.provider, tokens).await
    }

    /// Records a call that answered, in `elapsed` (first content at `ttft`).
    pub fn succeeded(&self, route: &Route, elapsed: Duration, ttft: Option<Duration>) {
        self.breakers.record(route, true, Instant::now());
        self.stats.success(route, elapsed, ttft);
        if let Some(shared) = self.shared {
            shared.record(route, true, false, Some(elapsed), ttft);
        }
    }

    /// Records a call that failed; `health_failure` when the failure says
    /// the provider is unwell (it counts towards opening the circuit).
    pub fn failed(&self, route: &Route, health_failure: bool) {
        if health_failure {
            self.breakers.record(route, false, Instant::now());
        }
        self.stats.failure(route);
        if let Some(shared) = self.shared {
            shared.record(route, false, health_failure, None, None);
        }
    }
}
