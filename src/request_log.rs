//! One structured summary line per chat request, written when the request
//! really ends (for streams: when the last byte is sent or the client leaves).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::api::types::{ChatCompletion, Usage};
use crate::error::GatewayError;
use crate::ledger::{Ledger, Settlement};
use crate::limits::Reservation;
use crate::pricing::Cost;
use crate::providers::ProviderId;
use crate::traces::{Span, provider_name};
use opentelemetry::KeyValue;

static EMF: AtomicBool = AtomicBool::new(false);

/// Samples of gateway overhead kept for percentiles.
const OVERHEAD_SAMPLES: usize = 2048;

/// Gateway overhead per request — its time minus the time spent waiting on
/// providers — over the most recent requests, for `/metrics`.
#[derive(Debug, Default)]
pub struct Overhead {
    samples: std::sync::Mutex<std::collections::VecDeque<f32>>,
    count: std::sync::atomic::AtomicU64,
}

impl Overhead {
    fn record(&self, overhead: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
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
            "requests": self.count.load(Ordering::Relaxed),
            "window": sorted.len(),
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "max": sorted.last().copied().map_or(0.0, f64::from),
        })
    }
}

/// Also writes each request as a CloudWatch Embedded Metric Format line
/// (namespace `LlmGateway`, dimension `Service`: `Requests`,
/// `ServerErrors`, `LatencyMs`), which the SAM template's alarms use.
pub fn enable_emf() {
    EMF.store(true, Ordering::Relaxed);
}

fn emit_emf(status: u16, latency_ms: f64) {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": "LlmGateway",
                "Dimensions": [["Service"]],
                "Metrics": [
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "ServerErrors", "Unit": "Count"},
                    {"Name": "LatencyMs", "Unit": "Milliseconds"},
                ],
            }],
        },
        "Service": "llm-gateway",
        "Requests": 1,
        "ServerErrors": u8::from(status >= 500),
        "LatencyMs": latency_ms,
    });
    println!("{line}");
}

/// Counts a request refused before it reached a handler (a missing or
/// wrong client key) in the EMF metrics, so `Requests` includes it.
pub fn refused(status: u16, latency: Duration) {
    if EMF.load(Ordering::Relaxed) {
        emit_emf(status, latency.as_secs_f64() * 1000.0);
    }
}

/// What the cache did for a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache is configured.
    #[default]
    Off,
    /// Answered from the cache.
    Hit,
    /// Looked up, not found (the answer is stored).
    Miss,
    /// Skipped: not cacheable, or the client asked so.
    Bypass,
}

impl CacheStatus {
    /// `off`, `hit`, `miss`, `bypass`: the log line's and span's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }

    /// The `x-cache` header's value, when the cache took part.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Off => None,
            Self::Hit => Some("HIT"),
            Self::Miss => Some("MISS"),
            Self::Bypass => Some("BYPASS"),
        }
    }
}

/// What a request did, filled in along the pipeline.
pub struct RequestLog {
    request_id: String,
    tenant: String,
    requested_model: String,
    started: Instant,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The provider that served (or failed) the request.
    pub provider: Option<ProviderId>,
    /// The upstream model name.
    pub model: Option<String>,
    /// Token usage reported by the upstream.
    pub usage: Option<Usage>,
    /// Time until the first content chunk was sent (streams).
    pub first_token: Option<Duration>,
    /// Upstream attempts, retries and failovers included.
    pub attempts: usize,
    /// What the cache did.
    pub cache: CacheStatus,
    /// Why each choice ended.
    pub finish_reasons: Vec<&'static str>,
    /// The request's trace span, ended with the summary line.
    pub trace: Span,
    /// Whether prompt and completion text go in the line (`LOG_PROMPTS`).
    pub log_prompts: bool,
    /// The request's messages as JSON (only with `log_prompts`).
    pub prompt: Option<String>,
    /// The answer's text (only with `log_prompts`).
    pub completion: Option<String>,
    /// Size of the request body, for a prompt estimate.
    pub request_bytes: u64,
    /// Whether a provider answered (a stream started).
    pub answered_upstream: bool,
    /// Characters of generated text relayed to the client.
    relayed_chars: u64,
    /// Usage was estimated: the stream ended before the provider's count.
    usage_estimated: bool,
    ledger: Arc<Ledger>,
    overhead: Arc<Overhead>,
    upstream: Duration,
    reservations: Vec<Reservation>,
    settlement_taken: bool,
    cost: Option<Cost>,
    saved: Option<Cost>,
    settled: bool,
    done: bool,
}

impl RequestLog {
    /// Starts the record of a request.
    pub fn start(
        request_id: &str,
        tenant: &str,
        started: Instant,
        ledger: Arc<Ledger>,
        overhead: Arc<Overhead>,
    ) -> Self {
        Self {
            request_id: request_id.to_owned(),
            tenant: tenant.to_owned(),
            requested_model: String::new(),
            started,
            stream: false,
            provider: None,
            model: None,
            usage: None,
            first_token: None,
            attempts: 0,
            cache: CacheStatus::Off,
            finish_reasons: Vec::new(),
            trace: Span::default(),
            log_prompts: false,
            prompt: None,
            completion: None,
            request_bytes: 0,
            answered_upstream: false,
            relayed_chars: 0,
            usage_estimated: false,
            ledger,
            overhead,
            upstream: Duration::ZERO,
            reservations: Vec::new(),
            settlement_taken: false,
            cost: None,
            saved: None,
            settled: false,
            done: false,
        }
    }

    /// Records what a complete answer says: why it ended and, with
    /// `LOG_PROMPTS`, its text.
    pub fn answered(&mut self, completion: &ChatCompletion) {
        self.finish_reasons = completion.finish_reasons();
        if self.log_prompts {
            self.completion = completion
                .choices
                .first()
                .and_then(|c| c.message.content.clone());
        }
    }

    /// Records a cache hit: the stored answer's model, and what answering
    /// from the cache saved (its usage at that model's prices).
    pub fn cache_hit(&mut self, stored: &ChatCompletion) {
        self.cache = CacheStatus::Hit;
        self.answered(stored);
        self.model = Some(stored.model.clone());
        self.saved = stored
            .usage
            .as_ref()
            .and_then(|u| self.ledger.record_saved(&stored.model, u));
    }

    /// Adds time spent waiting on a provider (a call, a backoff, the next
    /// chunk of a stream): what is not the gateway's own overhead.
    pub fn add_upstream(&mut self, waited: Duration) {
        self.upstream += waited;
    }

    /// The ledger the request is priced in.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Keeps a rate-limit reservation to settle when the request ends.
    pub fn reserve(&mut self, reservation: Option<Reservation>) {
        self.reservations.extend(reservation);
    }

    /// The writes left once the answer is complete (cost totals, alert
    /// tiers, rate-limit settlement); the caller awaits it before the
    /// response ends. Taken once; later calls return an empty one.
    pub fn settlement(&mut self) -> Settlement {
        if self.settlement_taken {
            return Settlement::default();
        }
        self.settlement_taken = true;
        let cost = self.settle();
        let priced = match (self.provider, &self.model, cost) {
            (Some(provider), Some(model), Some(cost)) if self.cache != CacheStatus::Hit => {
                Some((provider.as_str(), model.as_str(), cost))
            }
            _ => None,
        };
        self.ledger.settlement(
            &self.request_id,
            &self.tenant,
            priced,
            self.usage.as_ref().map(|u| (u, self.usage_estimated)),
            std::mem::take(&mut self.reservations),
        )
    }

    /// Counts the generated text of a relayed chunk.
    pub fn relayed(&mut self, chunk: &crate::api::types::ChatCompletionChunk) {
        self.relayed_chars += chunk.generated_chars();
    }

    /// Tokens of a stream that ended before the provider's usage chunk
    /// (the client left, or the provider cut it): the prompt from the
    /// request's size, the completion from the text relayed, at ~4 bytes
    /// a token. The provider bills them all the same.
    fn estimated_usage(&self) -> Usage {
        let prompt_tokens = self.request_bytes.div_ceil(4);
        let completion_tokens = self.relayed_chars.div_ceil(4);
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Usage::default()
        }
    }

    /// Prices the request once, adding it to the ledger, and returns its
    /// cost: zero for a cache hit, `None` without usage or a known price.
    /// A stream that a provider started but that ended without its usage
    /// is priced on an estimate, marked as such.
    pub fn settle(&mut self) -> Option<Cost> {
        if !self.settled {
            self.settled = true;
            if self.usage.is_none()
                && self.stream
                && self.answered_upstream
                && self.cache != CacheStatus::Hit
            {
                self.usage = Some(self.estimated_usage());
                self.usage_estimated = true;
            }
            self.cost = if self.cache == CacheStatus::Hit {
                Some(Cost(0))
            } else {
                match (self.provider, &self.model, &self.usage) {
                    (Some(provider), Some(model), Some(usage)) => {
                        self.ledger.record(provider.as_str(), model, usage)
                    }
                    _ => None,
                }
            };
        }
        self.cost
    }

    /// Records the model the client asked for.
    pub fn requested(&mut self, model: &str) {
        model.clone_into(&mut self.requested_model);
    }

    /// Marks the first content sent, once.
    pub fn mark_first_token(&mut self) {
        if self.first_token.is_none() {
            self.first_token = Some(self.started.elapsed());
        }
    }

    /// Writes the summary line.
    pub fn finish(mut self, status: u16, error: Option<&GatewayError>) {
        self.emit(status, error.map(ToString::to_string).as_deref());
    }

    fn emit(&mut self, status: u16, error: Option<&str>) {
        self.done = true;
        // Whatever was not settled with the response (errors, a client
        // that left) is settled in the background.
        let leftover = self.settlement();
        if let (false, Ok(runtime)) = (leftover.is_empty(), tokio::runtime::Handle::try_current()) {
            let guard = self.ledger.track();
            runtime.spawn(self.trace.clone().run_owned(async move {
                leftover.run().await;
                drop(guard);
            }));
        }
        let cost = self.settle().map(|c| c.to_string());
        let latency = self.started.elapsed();
        let overhead = latency.saturating_sub(self.upstream);
        self.overhead.record(overhead);
        if EMF.load(Ordering::Relaxed) {
            emit_emf(status, latency.as_secs_f64() * 1000.0);
        }
        let saved = self.saved.map(|c| c.to_string());
        self.end_span(status, error, cost.as_deref(), overhead);
        let (prompt, completion) = self
            .usage
            .as_ref()
            .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
        tracing::info!(
            target: "gateway::request",
            request_id = %self.request_id,
            tenant = %self.tenant,
            requested_model = %self.requested_model,
            provider = self.provider.map(ProviderId::as_str),
            model = self.model.as_deref(),
            stream = self.stream,
            attempts = self.attempts,
            cache = self.cache.as_str(),
            status,
            prompt_tokens = prompt,
            completion_tokens = completion,
            usage_estimated = self.usage_estimated,
            cost_usd = cost.as_deref(),
            saved_usd = saved.as_deref(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            upstream_ms = self.upstream.as_secs_f64() * 1000.0,
            overhead_ms = overhead.as_secs_f64() * 1000.0,
            ttft_ms = self.first_token.map(|d| d.as_secs_f64() * 1000.0),
            finish_reasons = (!self.finish_reasons.is_empty())
                .then(|| self.finish_reasons.join(",")),
            trace_id = self.trace.trace_id(),
            prompt = self.prompt.as_deref(),
            completion = self.completion.as_deref(),
            error,
            "request"
        );
    }

    /// Sets the request span's final attributes (GenAI semantic conventions
    /// plus the gateway's own) and ends it.
    fn end_span(&self, status: u16, error: Option<&str>, cost: Option<&str>, overhead: Duration) {
        let span = &self.trace;
        if !span.is_recording() {
            return;
        }
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.request.model", self.requested_model.clone()),
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("gateway.request_id", self.request_id.clone()),
            KeyValue::new("gateway.stream", self.stream),
            KeyValue::new("gateway.cache.status", self.cache.as_str()),
            KeyValue::new("gateway.attempts", self.attempts as i64),
            KeyValue::new("gateway.overhead_ms", overhead.as_secs_f64() * 1000.0),
        ];
        if let Some(provider) = self.provider {
            attributes.push(KeyValue::new(
                "gen_ai.provider.name",
                provider_name(provider),
            ));
        }
        if let Some(cost) = cost {
            attributes.push(KeyValue::new("gateway.cost_usd", cost.to_owned()));
        }
        if let Some(ttft) = self.first_token {
            attributes.push(KeyValue::new(
                "gateway.ttft_ms",
                ttft.as_secs_f64() * 1000.0,
            ));
        }
        span.set_all(attributes);
        crate::providers::traced::response(
            span,
            "",
            self.model.as_deref().unwrap_or_default(),
            self.usage.as_ref(),
            &self.finish_reasons,
        );
        if status >= 500 || status == 499 {
            span.fail(status.to_string(), error.unwrap_or_default().to_owned());
        } else if status >= 400 {
            // A client error is not the server's failure: typed, no error status.
            span.set("error.type", status.to_string());
        }
        span.end();
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        if !self.done {
            // The client went away before the response ended (HTTP 499 by convention).
            self.emit(499, Some("client disconnected"));
        }
    }
}
