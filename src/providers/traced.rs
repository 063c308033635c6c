//! Spans of upstream calls with the OpenTelemetry GenAI attributes: one per
//! attempt, ended when the answer is complete — for streams, when the
//! stream ends (or is dropped).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::{ChunkStream, ProviderId};
use crate::error::GatewayError;
use crate::openai::{ChatCompletion, ChatCompletionChunk, Usage};
use crate::traces::{Span, provider_name, strings};

/// Starts the span of one call of `model` at `provider` (the current span's child).
pub fn attempt_span(provider: ProviderId, model: &str, retry: u32) -> Span {
    if !crate::traces::enabled() {
        return Span::default();
    }
    let span = Span::child(format!("chat {model}"), SpanKind::Client);
    span.set_all(vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", provider_name(provider)),
        KeyValue::new("gen_ai.request.model", model.to_owned()),
        KeyValue::new("gateway.retry", i64::from(retry)),
    ]);
    span
}

/// Records a failed call and ends its span.
pub fn failed(span: &Span, error: &GatewayError) {
    if span.is_recording() {
        let status = error.status().as_u16();
        let kind = match error {
            GatewayError::UpstreamTimeout { .. } => "timeout".to_owned(),
            GatewayError::Upstream { status, .. } => status.to_string(),
            other => other.status().as_u16().to_string(),
        };
        span.set("http.response.status_code", i64::from(status));
        span.fail(kind, error.to_string());
    }
    span.end();
}

/// Records a complete answer and ends its span.
pub fn answered(span: &Span, completion: &ChatCompletion) {
    if span.is_recording() {
        response(
            span,
            &completion.id,
            &completion.model,
            completion.usage.as_ref(),
            &completion.finish_reasons(),
        );
    }
    span.end();
}

/// The response attributes shared by JSON answers and streams.
pub fn response(
    span: &Span,
    id: &str,
    model: &str,
    usage: Option<&Usage>,
    reasons: &[&'static str],
) {
    let mut attributes = Vec::with_capacity(5);
    if !id.is_empty() {
        attributes.push(KeyValue::new("gen_ai.response.id", id.to_owned()));
    }
    if !model.is_empty() {
        attributes.push(KeyValue::new("gen_ai.response.model", model.to_owned()));
    }
    if let Some(usage) = usage {
        attributes.push(KeyValue::new(
            "gen_ai.usage.input_tokens",
            usage.prompt_tokens as i64,
        ));
        attributes.push(KeyValue::new(
            "gen_ai.usage.output_tokens",
            usage.completion_tokens as i64,
        ));
    }
    if !reasons.is_empty() {
        attributes.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            strings(reasons),
        ));
    }
    span.set_all(attributes);
}

/// A stream whose span ends with it: at its last chunk, at an error, or
/// when the client leaves and the stream is dropped.
pub fn stream(chunks: ChunkStream, span: Span) -> ChunkStream {
    if !span.is_recording() {
        return chunks;
    }
    Box::pin(Traced {
        chunks,
        span,
        id: String::new(),
        model: String::new(),
        usage: None,
        reasons: Vec::new(),
        ended: false,
    })
}

struct Traced {
    chunks: ChunkStream,
    span: Span,
    id: String,
    model: String,
    usage: Option<Usage>,
    reasons: Vec<&'static str>,
    ended: bool,
}

impl Traced {
    fn observe(&mut self, chunk: &ChatCompletionChunk) {
        if self.id.is_empty() {
            chunk.id.clone_into(&mut self.id);
        }
        if self.model.is_empty() {
            chunk.model.clone_into(&mut self.model);
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        self.reasons.extend(chunk.finish_reasons());
    }

    /// Records what the stream said and ends the span, once; with the
    /// error that cut it, if any.
    fn finish(&mut self, error: Option<&GatewayError>) {
        if !self.ended {
            self.ended = true;
            response(
                &self.span,
                &self.id,
                &self.model,
                self.usage.as_ref(),
                &self.reasons,
            );
            match error {
                Some(error) => failed(&self.span, error),
                None => self.span.end(),
            }
        }
    }
}

impl Stream for Traced {
    type Item = Result<ChatCompletionChunk, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = this.chunks.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => this.observe(chunk),
            Poll::Ready(Some(Err(error))) => this.finish(Some(error)),
            Poll::Ready(None) => this.finish(None),
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if !self.ended {
            self.span.set("gateway.stream.cancelled", true);
            self.finish(None);
        }
    }
}
