//! One structured summary line per chat request, written when the request
//! really ends (for streams: when the last byte is sent or the client leaves).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::account::Bill;
use crate::metrics::{Metrics, Observation};
use crate::openai::{ChatCompletion, ChatCompletionChunk};
use crate::providers::ProviderId;
use crate::traces::{Span, provider_name};
use opentelemetry::KeyValue;

/// What a request did, filled in along the pipeline. It only observes:
/// money, limits and cache writes belong to the request's
/// [`Account`](crate::account::Account), whose [`Bill`] the line reports.
pub struct RequestLog {
    request_id: String,
    tenant: String,
    requested_model: String,
    started: Instant,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The provider that served (or failed) the request.
    pub provider: Option<ProviderId>,
    /// The upstream model name (the stored answer's, for a cache hit).
    pub model: Option<String>,
    /// Time until the first content chunk was sent (streams).
    pub first_token: Option<Duration>,
    /// Upstream attempts, retries and failovers included.
    pub attempts: usize,
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
    metrics: Arc<Metrics>,
    upstream: Duration,
}

impl RequestLog {
    /// Starts the record of a request.
    pub fn start(request_id: &str, tenant: &str, started: Instant, metrics: Arc<Metrics>) -> Self {
        Self {
            request_id: request_id.to_owned(),
            tenant: tenant.to_owned(),
            requested_model: String::new(),
            started,
            stream: false,
            provider: None,
            model: None,
            first_token: None,
            attempts: 0,
            finish_reasons: Vec::new(),
            trace: Span::default(),
            log_prompts: false,
            prompt: None,
            completion: None,
            metrics,
            upstream: Duration::ZERO,
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

    /// Records a relayed stream chunk: why choices ended, its first
    /// content, and with `LOG_PROMPTS` its text.
    pub fn relayed(&mut self, chunk: &ChatCompletionChunk) {
        self.finish_reasons.extend(chunk.finish_reasons());
        if self.log_prompts
            && let Some(text) = chunk
                .choices
                .iter()
                .find(|c| c.index == 0)
                .and_then(|c| c.delta.content.as_deref())
        {
            self.completion
                .get_or_insert_with(String::new)
                .push_str(text);
        }
        if self.first_token.is_none()
            && chunk
                .choices
                .iter()
                .any(|c| c.delta.content.is_some() || c.delta.tool_calls.is_some())
        {
            self.first_token = Some(self.started.elapsed());
        }
    }

    /// Adds time spent waiting on a provider (a call, a backoff, the next
    /// chunk of a stream): what is not the gateway's own overhead.
    pub fn add_upstream(&mut self, waited: Duration) {
        self.upstream += waited;
    }

    /// Records the model the client asked for.
    pub fn requested(&mut self, model: &str) {
        model.clone_into(&mut self.requested_model);
    }

    /// Writes the summary line (and metrics, and ends the span).
    pub fn finish(&self, status: u16, error: Option<&str>, bill: &Bill<'_>) {
        let cost = bill.cost.map(|c| c.to_string());
        let latency = self.started.elapsed();
        let overhead = latency.saturating_sub(self.upstream);
        self.metrics.observe(&Observation {
            status,
            provider: self.provider.map(ProviderId::as_str),
            model: self.model.as_deref(),
            latency,
            overhead,
            ttft: self.first_token,
            input_tokens: bill.usage.map_or(0, |u| u.prompt_tokens),
            output_tokens: bill.usage.map_or(0, |u| u.completion_tokens),
            cost: bill.cost,
            cache: bill.cache,
        });
        let saved = bill.saved.map(|c| c.to_string());
        self.end_span(status, error, bill, cost.as_deref(), overhead);
        let (prompt, completion) = bill
            .usage
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
            cache = bill.cache.as_str(),
            status,
            prompt_tokens = prompt,
            completion_tokens = completion,
            usage_estimated = bill.estimated,
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
    fn end_span(
        &self,
        status: u16,
        error: Option<&str>,
        bill: &Bill<'_>,
        cost: Option<&str>,
        overhead: Duration,
    ) {
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
            KeyValue::new("gateway.cache.status", bill.cache.as_str()),
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
            bill.usage,
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
