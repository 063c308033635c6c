//! What every request did, as metrics: counters and histograms for
//! Prometheus (`/metrics`, OpenMetrics text) and, on Lambda, one CloudWatch
//! Embedded Metric Format line per request ([`emf`]).

pub mod emf;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::account::CacheStatus;
use crate::pricing::Cost;

/// Models named apart in labels and dimensions beyond the priced ones
/// (client-chosen names must not grow the series without bound); past
/// this they are `other`.
const MAX_UNPRICED_MODELS: usize = 20;

/// One finished request, as the metrics see it.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    /// The HTTP status sent (499 when the client left).
    pub status: u16,
    /// The provider that served or failed it, if one was chosen.
    pub provider: Option<&'a str>,
    /// The upstream model, or the stored answer's model for a cache hit.
    pub model: Option<&'a str>,
    /// From the first byte in to the last byte out.
    pub latency: Duration,
    /// The gateway's own time: latency less the time spent on providers.
    pub overhead: Duration,
    /// Time to the first content chunk (streams).
    pub ttft: Option<Duration>,
    /// Prompt tokens billed.
    pub input_tokens: u64,
    /// Completion tokens billed.
    pub output_tokens: u64,
    /// What it cost.
    pub cost: Option<Cost>,
    /// What the cache did.
    pub cache: CacheStatus,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: String,
    model: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    model: String,
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

/// Seconds, from 5 ms to ~10 min: LLM calls span that.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
        600.0,
    ])
}

/// Seconds, from 50 µs to 1 s: the gateway's own time per request.
fn overhead_histogram() -> Histogram {
    Histogram::new([
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        1.0,
    ])
}

/// Samples of gateway overhead kept for percentiles.
const OVERHEAD_SAMPLES: usize = 2048;

/// Gateway overhead per request — its time minus the time spent waiting on
/// providers — over the most recent requests, for `/metrics?format=json`.
#[derive(Debug, Default)]
pub struct Overhead {
    samples: std::sync::Mutex<std::collections::VecDeque<f32>>,
    count: std::sync::atomic::AtomicU64,
}

impl Overhead {
    fn record(&self, overhead: Duration) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut samples) = self.samples.lock() {
            if samples.len() == OVERHEAD_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(overhead.as_secs_f32() * 1000.0);
        }
    }

    /// p50 / p95 / p99 / max in ms over the recent requests.
    pub fn metrics(&self) -> serde_json::Value {
        let mut sorted: Vec<f32> = self
            .samples
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        sorted.sort_by(f32::total_cmp);
        let pct = |p: f64| {
            let i = ((sorted.len().max(1) as f64 - 1.0) * p).round() as usize;
            sorted.get(i).copied().map_or(0.0, f64::from)
        };
        serde_json::json!({
            "requests": self.count.load(std::sync::atomic::Ordering::Relaxed),
            "window": sorted.len(),
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "max": sorted.last().copied().map_or(0.0, f64::from),
        })
    }
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ProviderLabels, Histogram>,
    ttft: Family<ProviderLabels, Histogram>,
    overhead: Histogram,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<RouteLabels, Counter<f64, AtomicU64>>,
    cache: Family<CacheLabels, Counter>,
    /// Gauges refreshed from the ledger, limits and breakers at each scrape.
    pub gauges: Gauges,
    /// Models with a price: always named.
    priced: HashSet<String>,
    /// Unpriced models seen and named, at most [`MAX_UNPRICED_MODELS`].
    unpriced: Mutex<HashSet<String>>,
    /// The `Stack` dimension of the EMF lines, when they are written.
    emf_stack: Option<String>,
    /// Recent overhead samples, for percentiles.
    pub overhead_samples: Overhead,
}

/// Point-in-time values, set just before they are rendered.
#[derive(Default)]
pub struct Gauges {
    /// Cost records waiting for the store.
    pub pending_cost_records: Gauge,
    /// Writes (cost, limits, cache) still running after their responses.
    pub writes_in_flight: Gauge,
    /// Alert tiers this instance raised.
    pub alerts_raised: Gauge,
    /// Requests refused by the gateway's own rate limits.
    pub rate_limited: Gauge,
    /// Circuit state per route: 1 open, 0 closed or half-open.
    pub circuit_open: Family<RouteLabels, Gauge>,
}

/// Provider and model labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
}

impl Metrics {
    /// Metrics naming every model in `priced` (and a few others); with
    /// `emf_stack`, each request is also written as an EMF line with that
    /// `Stack` dimension.
    pub fn new(priced: HashSet<String>, emf_stack: Option<String>) -> Self {
        let mut registry = Registry::with_prefix("llm_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by provider, model and HTTP status",
            requests.clone(),
        );
        let duration = Family::<ProviderLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        registry.register_with_unit(
            "request_duration",
            "Time from request to the last byte of the response",
            Unit::Seconds,
            duration.clone(),
        );
        let ttft = Family::<ProviderLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        registry.register_with_unit(
            "time_to_first_token",
            "Time to the first content chunk of a stream",
            Unit::Seconds,
            ttft.clone(),
        );
        let overhead = overhead_histogram();
        registry.register_with_unit(
            "overhead",
            "The gateway's own time per request (latency less time waiting on providers)",
            Unit::Seconds,
            overhead.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens billed, by provider, model and type (input or output)",
            tokens.clone(),
        );
        let cost = Family::<RouteLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "cost_usd",
            "Spend in USD at list prices, by provider and model",
            cost.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_requests",
            "Cache lookups by result (hit, miss, bypass)",
            cache.clone(),
        );
        let gauges = Gauges::default();
        registry.register(
            "cost_records_pending",
            "Cost records waiting for the store",
            gauges.pending_cost_records.clone(),
        );
        registry.register(
            "writes_in_flight",
            "Writes still running after their responses",
            gauges.writes_in_flight.clone(),
        );
        registry.register(
            "cost_alerts_raised",
            "Cost alert tiers this instance raised",
            gauges.alerts_raised.clone(),
        );
        registry.register(
            "rate_limited_requests",
            "Requests refused by the gateway's own rate limits",
            gauges.rate_limited.clone(),
        );
        registry.register(
            "circuit_open",
            "1 while a route's circuit breaker is open",
            gauges.circuit_open.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            ttft,
            overhead,
            tokens,
            cost,
            cache,
            gauges,
            priced,
            unpriced: Mutex::new(HashSet::new()),
            emf_stack,
            overhead_samples: Overhead::default(),
        }
    }

    /// The model's name in labels: itself when priced or among the first
    /// few others, else `other`; `none` without one.
    fn model_label(&self, model: Option<&str>) -> String {
        let Some(model) = model.filter(|m| !m.is_empty()) else {
            return "none".to_owned();
        };
        if self.priced.contains(model) {
            return model.to_owned();
        }
        let Ok(mut seen) = self.unpriced.lock() else {
            return "other".to_owned();
        };
        if seen.contains(model) || seen.len() < MAX_UNPRICED_MODELS && seen.insert(model.to_owned())
        {
            model.chars().take(100).collect()
        } else {
            "other".to_owned()
        }
    }

    /// Counts a finished request (and writes its EMF line when enabled).
    pub fn observe(&self, o: &Observation<'_>) {
        let provider = o.provider.unwrap_or("none").to_owned();
        let model = self.model_label(o.model);
        self.requests
            .get_or_create(&RequestLabels {
                provider: provider.clone(),
                model: model.clone(),
                status: o.status.to_string(),
            })
            .inc();
        let by_provider = ProviderLabels {
            provider: provider.clone(),
        };
        self.duration
            .get_or_create(&by_provider)
            .observe(o.latency.as_secs_f64());
        if let Some(ttft) = o.ttft {
            self.ttft
                .get_or_create(&by_provider)
                .observe(ttft.as_secs_f64());
        }
        self.overhead.observe(o.overhead.as_secs_f64());
        self.overhead_samples.record(o.overhead);
        for (kind, count) in [("input", o.input_tokens), ("output", o.output_tokens)] {
            if count > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        provider: provider.clone(),
                        model: model.clone(),
                        r#type: kind,
                    })
                    .inc_by(count);
            }
        }
        if let Some(cost) = o.cost.filter(|c| c.0 > 0) {
            self.cost
                .get_or_create(&RouteLabels {
                    provider: provider.clone(),
                    model: model.clone(),
                })
                .inc_by(cost.usd());
        }
        if o.cache != CacheStatus::Off {
            let result = o.cache.as_str();
            self.cache.get_or_create(&CacheLabels { result }).inc();
        }
        if let Some(stack) = &self.emf_stack {
            println!("{}", emf::request_line(stack, &provider, &model, o));
        }
    }

    /// Counts a request refused before it reached a handler (a missing or
    /// wrong client key), so request counts include it.
    pub fn refused(&self, status: u16, latency: Duration) {
        self.observe(&Observation {
            status,
            provider: None,
            model: None,
            latency,
            overhead: latency,
            ttft: None,
            input_tokens: 0,
            output_tokens: 0,
            cost: None,
            cache: CacheStatus::Off,
        });
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
