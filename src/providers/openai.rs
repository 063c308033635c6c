//! OpenAI chat completions: a pass-through that still checks what it relays.

use std::collections::VecDeque;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;

use super::http::{Answer, Upstream, sensitive_header};
use super::sse::SseEvent;
use super::stream::{Flow, StreamTranslator, translate};
use super::{ChunkStream, Embedded, Provider, ProviderId};
use crate::config::ProviderConfig;
use crate::error::GatewayError;
use crate::openai::embeddings::EmbeddingsRequest;
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use serde_json::Value;

/// The OpenAI provider (or any server speaking its chat-completions format).
pub struct OpenAi {
    upstream: Upstream,
    url: String,
    embeddings_url: String,
    auth_header: HeaderValue,
}

impl OpenAi {
    /// Builds the adapter on the shared upstream settings.
    pub fn new(upstream: Upstream, config: &ProviderConfig) -> Result<Self, GatewayError> {
        Ok(Self {
            auth_header: sensitive_header(&format!("Bearer {}", config.api_key.expose()))?,
            url: format!("{}/chat/completions", config.base_url),
            embeddings_url: format!("{}/embeddings", config.base_url),
            upstream,
        })
    }

    async fn send(
        &self,
        request: &ChatCompletionRequest,
        stream: bool,
    ) -> Result<Answer, GatewayError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))?;
        let builder = self
            .upstream
            .http
            .post(&self.url)
            .header(AUTHORIZATION, self.auth_header.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.upstream.send(builder, stream).await
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn id(&self) -> ProviderId {
        ProviderId::OpenAi
    }

    async fn chat(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, GatewayError> {
        let response = self.send(request, false).await?;
        self.upstream.read_json(response).await
    }

    async fn chat_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError> {
        let response = self.send(request, true).await?;
        let translator = OpenAiStream {
            upstream: self.upstream.clone(),
        };
        Ok(translate(&self.upstream, response, translator))
    }

    /// A pass-through that checks one vector came back per input.
    async fn embed(&self, request: &EmbeddingsRequest) -> Result<Embedded, GatewayError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))?;
        let builder = self
            .upstream
            .http
            .post(&self.embeddings_url)
            .header(AUTHORIZATION, self.auth_header.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let answer = self.upstream.send(builder, false).await?;
        let body: Value = self.upstream.read_json(answer).await?;
        let vectors = body["data"].as_array().map_or(0, Vec::len);
        if vectors != request.count() {
            return Err(self.upstream.protocol(format!(
                "{vectors} embeddings for {} inputs",
                request.count()
            )));
        }
        let prompt_tokens = body["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
        Ok(Embedded {
            body,
            prompt_tokens,
        })
    }
}

/// OpenAI chunks need no translation, only checking: `[DONE]` ends the
/// stream, `{"error":…}` events become errors, a body that ends without
/// `[DONE]` was cut.
pub struct OpenAiStream {
    upstream: Upstream,
}

impl OpenAiStream {
    /// The translator of one stream from `upstream`.
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorMessage,
}

#[derive(Deserialize)]
struct ErrorMessage {
    #[serde(default)]
    message: String,
}

impl StreamTranslator for OpenAiStream {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut VecDeque<ChatCompletionChunk>,
    ) -> Result<Flow, GatewayError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        match serde_json::from_str::<ChatCompletionChunk>(data) {
            Ok(chunk) => {
                out.push_back(chunk);
                Ok(Flow::Continue)
            }
            Err(parse_error) => match serde_json::from_str::<ErrorEnvelope>(data) {
                Ok(envelope) => Err(self.upstream.stream_error(500, &envelope.error.message)),
                Err(_) => Err(self
                    .upstream
                    .protocol(format!("unexpected stream event: {parse_error}"))),
            },
        }
    }

    fn on_end(&mut self, _out: &mut VecDeque<ChatCompletionChunk>) -> Result<(), GatewayError> {
        Err(self.upstream.protocol("the stream ended before [DONE]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn translator() -> OpenAiStream {
        OpenAiStream {
            upstream: Upstream::for_tests(ProviderId::OpenAi, "sk-secret-0123456789"),
        }
    }

    fn ev(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_owned(),
        }
    }

    #[test]
    fn stream_events() {
        let mut t = translator();
        let mut out = VecDeque::new();
        assert_eq!(t.on_event(ev("[DONE]"), &mut out).ok(), Some(Flow::Done));
        let chunk = json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
            "choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]});
        assert_eq!(
            t.on_event(ev(&chunk.to_string()), &mut out).ok(),
            Some(Flow::Continue)
        );
        assert_eq!(out.len(), 1);
        let err = t.on_event(
            ev(r#"{"error":{"message":"overloaded sk-secret-0123456789"}}"#),
            &mut out,
        );
        assert!(
            matches!(err, Err(GatewayError::Upstream { message, .. }) if message == "overloaded [redacted]")
        );
        assert!(matches!(
            t.on_event(ev("{not json"), &mut out),
            Err(GatewayError::UpstreamProtocol { .. })
        ));
        assert!(
            t.on_end(&mut out).is_err(),
            "no [DONE] means the stream was cut"
        );
    }
}
