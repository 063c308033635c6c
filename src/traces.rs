//! OpenTelemetry traces, exported over OTLP/HTTP when `OTEL_ENABLED=true`.
//!
//! The exporter honours the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`; others fall back to it),
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_BSP_*`,
//! `OTEL_TRACES_SAMPLER`). Spans are batched on a background thread; on
//! Lambda [`flush`] runs before each invocation ends. When tracing is off,
//! every [`Span`] is empty and costs nothing.

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;

use opentelemetry::context::FutureExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};

/// The tracer's instrumentation scope.
const SCOPE: &str = "llm-gateway";

/// Spans per export unless configured.
const EXPORT_BATCH: usize = 64;

static TRACING: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry: {0}")]
pub struct TraceError(String);

/// Starts the OTLP exporter (once per process). Later calls do nothing.
pub fn init() -> Result<(), TraceError> {
    if TRACING.get().is_some() {
        return Ok(());
    }
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        Ok("http/protobuf") | Err(_) => Protocol::HttpBinary,
        Ok(other) => {
            tracing::warn!(
                protocol = other,
                "OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is built in (the smallest binary); using it"
            );
            Protocol::HttpBinary
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|e| TraceError(format!("cannot build the OTLP exporter: {e}")))?;
    // Small batches (unless OTEL_BSP_MAX_EXPORT_BATCH_SIZE says otherwise):
    // each export then holds a core for a fraction of a millisecond instead
    // of several, which is what request latency feels on small machines.
    let mut batch = BatchConfigBuilder::default();
    if std::env::var_os("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
        batch = batch.with_max_export_batch_size(EXPORT_BATCH);
    }
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch.build())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource())
        .build();
    let tracer = provider.tracer(SCOPE);
    let _ = TRACING.set((provider, tracer));
    Ok(())
}

/// `service.name` (`OTEL_SERVICE_NAME`, else `llm-gateway`), the version
/// and, on Lambda, the function.
fn resource() -> Resource {
    let mut builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.with_service_name(SCOPE);
    }
    if let Ok(function) = std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
        builder = builder.with_attributes([
            KeyValue::new("cloud.provider", "aws"),
            KeyValue::new("cloud.platform", "aws_lambda"),
            KeyValue::new("faas.name", function),
        ]);
        if let Ok(region) = std::env::var("AWS_REGION") {
            builder = builder.with_attribute(KeyValue::new("cloud.region", region));
        }
    }
    builder.build()
}

/// Whether spans are being recorded and exported.
pub fn enabled() -> bool {
    TRACING.get().is_some()
}

/// Exports every finished span now (on Lambda, before an invocation ends:
/// the process may be frozen right after).
pub async fn flush() {
    if let Some((provider, _)) = TRACING.get() {
        let provider = provider.clone();
        let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "could not export spans");
        }
    }
}

/// Exports what is left and stops the exporter (graceful shutdown).
pub async fn shutdown() {
    if let Some((provider, _)) = TRACING.get() {
        let provider = provider.clone();
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}

/// Adds the current span's W3C `traceparent` to an upstream request.
pub fn inject(headers: &mut http::HeaderMap) {
    if enabled() {
        TraceContextPropagator::new()
            .inject_context(&Context::current(), &mut HeaderInjector(headers));
    }
}

/// Adds an event naming a route and why to the current span (e.g. a
/// candidate skipped by failover).
pub fn event(name: &'static str, route: &impl std::fmt::Display, reason: &'static str) {
    if enabled() {
        Context::current().span().add_event(
            name,
            vec![
                KeyValue::new("gateway.route", route.to_string()),
                KeyValue::new("gateway.reason", reason),
            ],
        );
    }
}

/// A span and its context, or nothing when tracing is off. Clones share the
/// span; it ends at [`Span::end`] or when the last clone is dropped.
#[derive(Clone, Default)]
pub struct Span(Option<Context>);

impl Span {
    /// The span of an incoming request, a child of the client's
    /// `traceparent` when it sent one.
    pub fn server(headers: &http::HeaderMap, name: &'static str) -> Self {
        let Some((_, tracer)) = TRACING.get() else {
            return Self(None);
        };
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        Self(Some(parent.with_span(span)))
    }

    /// A child of the span current in this task (see [`Span::run`]).
    pub fn child(name: impl Into<Cow<'static, str>>, kind: SpanKind) -> Self {
        let Some((_, tracer)) = TRACING.get() else {
            return Self(None);
        };
        let parent = Context::current();
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .start_with_context(tracer, &parent);
        Self(Some(parent.with_span(span)))
    }

    /// Whether attributes set on this span are recorded.
    pub fn is_recording(&self) -> bool {
        self.0.is_some()
    }

    /// Sets an attribute.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Sets several attributes at once.
    pub fn set_all(&self, attributes: Vec<KeyValue>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attributes(attributes);
        }
    }

    /// Records a failure: `error.type` and an error status.
    pub fn fail(&self, error_type: impl Into<Value>, message: impl Into<Cow<'static, str>>) {
        if let Some(cx) = &self.0 {
            let span = cx.span();
            span.set_attribute(KeyValue::new("error.type", error_type));
            span.set_status(Status::error(message));
        }
    }

    /// Ends the span now.
    pub fn end(&self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }

    /// Runs `future` with this span current, so spans started inside it
    /// (and upstream `traceparent` headers) are its children.
    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        match &self.0 {
            Some(cx) => future.with_context(cx.clone()).await,
            None => future.await,
        }
    }

    /// Runs a call as this span's work: current while it runs, marked
    /// failed (`error_type` and the error's text) when it fails, ended when
    /// it returns. How every traced dependency call is written.
    pub async fn within<T, E: std::fmt::Display>(
        self,
        error_type: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let result = self.run(call).await;
        if let Err(e) = &result {
            self.fail(error_type, e.to_string());
        }
        self.end();
        result
    }

    /// Like [`Span::run`], for a future that must be `'static` (a task).
    pub async fn run_owned<F: Future>(self, future: F) -> F::Output {
        self.run(future).await
    }

    /// The span's trace id, as hex (for tests and logs).
    pub fn trace_id(&self) -> Option<String> {
        self.0
            .as_ref()
            .map(|cx| cx.span().span_context().trace_id().to_string())
    }
}

/// A string-array attribute value.
pub fn strings(values: &[&'static str]) -> Value {
    let array: Vec<StringValue> = values.iter().map(|&v| v.into()).collect();
    Value::Array(Array::String(array))
}

/// `gen_ai.provider.name` for a provider.
pub fn provider_name(provider: crate::providers::ProviderId) -> &'static str {
    match provider {
        crate::providers::ProviderId::GEMINI => "gcp.gemini",
        other => other.as_str(),
    }
}
