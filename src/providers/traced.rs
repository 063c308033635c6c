//! A provider whose every call is a client span with the OpenTelemetry
//! GenAI attributes (applied to every provider when tracing is on): one
//! span per attempt, ended when the answer is complete — for streams, when
//! the stream ends (or is dropped).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_util::{Stream, StreamExt};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::{ChunkStream, Embedded, Provider, ProviderId};
use crate::error::GatewayError;
use crate::openai::embeddings::EmbeddingsRequest;
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Usage};
use crate::traces::{Span, provider_name, strings};

/// Wraps a provider: one span per call, named `chat {model}` (or
/// `embeddings {model}`), a child of the request's span.
pub struct TracedProvider(pub Arc<dyn Provider>);

impl TracedProvider {
    fn span(&self, operation: &'static str, model: &str) -> Span {
        let span = Span::child(format!("{operation} {model}"), SpanKind::Client);
        span.set_all(vec![
            KeyValue::new("gen_ai.operation.name", operation),
            KeyValue::new("gen_ai.provider.name", provider_name(self.0.id())),
            KeyValue::new("gen_ai.request.model", model.to_owned()),
        ]);
        span
    }
}

#[async_trait]
impl Provider for TracedProvider {
    fn id(&self) -> ProviderId {
        self.0.id()
    }

    async fn chat(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, GatewayError> {
        let span = self.span("chat", &request.model);
        let cut = Unfinished(Some(span.clone()));
        let result = span.run(self.0.chat(request)).await;
        cut.defuse();
        match &result {
            Ok(completion) => answered(&span, completion),
            Err(error) => failed(&span, error),
        }
        result
    }

    async fn chat_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError> {
        let span = self.span("chat", &request.model);
        let cut = Unfinished(Some(span.clone()));
        let result = span.run(self.0.chat_stream(request)).await;
        cut.defuse();
        match result {
            Ok(chunks) => Ok(stream(chunks, span)),
            Err(error) => {
                failed(&span, &error);
                Err(error)
            }
        }
    }

    async fn embed(&self, request: &EmbeddingsRequest) -> Result<Embedded, GatewayError> {
        let span = self.span("embeddings", &request.model);
        let cut = Unfinished(Some(span.clone()));
        let result = span.run(self.0.embed(request)).await;
        cut.defuse();
        match &result {
            Ok(embedded) => span.set(
                "gen_ai.usage.input_tokens",
                i64::try_from(embedded.prompt_tokens).unwrap_or(i64::MAX),
            ),
            Err(error) => failed(&span, error),
        }
        result
    }

    async fn list_models(&self) -> Result<Vec<String>, GatewayError> {
        self.0.list_models().await
    }
}

/// A call's span while the call runs: dropped before [`Self::defuse`], the
/// call was cut (the request's deadline, the client leaving), and says so.
struct Unfinished(Option<Span>);

impl Unfinished {
    fn defuse(mut self) {
        self.0 = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            span.fail("cancelled", "the call was cut before it finished");
        }
    }
}

/// Records a failed call and ends its span.
fn failed(span: &Span, error: &GatewayError) {
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
fn answered(span: &Span, completion: &ChatCompletion) {
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
fn stream(chunks: ChunkStream, span: Span) -> ChunkStream {
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
