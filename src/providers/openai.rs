//! OpenAI chat completions: a pass-through that still checks what it relays.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;

use super::sse::{SseError, SseEvent, SseStream};
use super::{ChunkStream, Provider, ProviderId, redact};
use crate::api::types::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use crate::config::{ProviderConfig, Secret};
use crate::error::GatewayError;

const ID: ProviderId = ProviderId::OpenAi;

/// The OpenAI provider (or any server speaking its chat-completions format).
pub struct OpenAi {
    http: reqwest::Client,
    url: String,
    api_key: Secret,
    auth_header: HeaderValue,
    timeout: Duration,
}

impl OpenAi {
    /// Builds the adapter on the process-wide HTTP client. `timeout` bounds a
    /// whole non-streaming call, and each silence within a stream.
    pub fn new(
        http: reqwest::Client,
        config: &ProviderConfig,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        let mut auth_header = HeaderValue::from_str(&format!("Bearer {}", config.api_key.expose()))
            .map_err(|_| GatewayError::Internal("OpenAI key is not a valid header value".into()))?;
        auth_header.set_sensitive(true);
        Ok(Self {
            http,
            url: format!("{}/chat/completions", config.base_url),
            api_key: config.api_key.clone(),
            auth_header,
            timeout,
        })
    }

    async fn send(&self, body: Vec<u8>, stream: bool) -> Result<reqwest::Response, GatewayError> {
        let mut builder = self
            .http
            .post(&self.url)
            .header(AUTHORIZATION, self.auth_header.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if !stream {
            builder = builder.timeout(self.timeout);
        }
        let response = tokio::time::timeout(self.timeout, builder.send())
            .await
            .map_err(|_| GatewayError::UpstreamTimeout { provider: ID })?
            .map_err(transport_error)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Err(error_from_response(
            status,
            &headers,
            &body,
            self.api_key.expose(),
        ))
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn id(&self) -> ProviderId {
        ID
    }

    async fn chat(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, GatewayError> {
        let body = encode_request(request)?;
        let response = self.send(body, false).await?;
        let bytes = response.bytes().await.map_err(transport_error)?;
        parse_completion(&bytes)
    }

    async fn chat_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError> {
        let body = encode_request(request)?;
        let response = self.send(body, true).await?;
        let events = SseStream::new(response.bytes_stream());
        let idle = self.timeout;
        let key = self.api_key.clone();
        let stream = futures_util::stream::unfold(Some(events), move |state| {
            let key = key.clone();
            async move {
                let mut events = state?;
                loop {
                    let item = match tokio::time::timeout(idle, events.next()).await {
                        Err(_) => Err(GatewayError::UpstreamTimeout { provider: ID }),
                        Ok(None) => Err(protocol("the stream ended before [DONE]")),
                        Ok(Some(Err(SseError::Transport(e)))) => Err(transport_error(e)),
                        Ok(Some(Err(SseError::Malformed(m)))) => Err(protocol(m)),
                        Ok(Some(Ok(event))) => match parse_stream_event(&event, key.expose()) {
                            Ok(StreamEvent::Chunk(chunk)) => {
                                return Some((Ok(*chunk), Some(events)));
                            }
                            Ok(StreamEvent::Done) => return None,
                            Ok(StreamEvent::Skip) => continue,
                            Err(e) => Err(e),
                        },
                    };
                    return Some((item, None));
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

/// The body sent upstream: the request as the client sent it (unknown
/// fields included), with the model already rewritten by routing.
pub fn encode_request(request: &ChatCompletionRequest) -> Result<Vec<u8>, GatewayError> {
    serde_json::to_vec(request)
        .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))
}

/// Parses a non-streaming response body.
pub fn parse_completion(bytes: &[u8]) -> Result<ChatCompletion, GatewayError> {
    serde_json::from_slice(bytes).map_err(|e| protocol(format!("unexpected completion body: {e}")))
}

/// What one upstream SSE event means.
#[derive(Debug)]
pub enum StreamEvent {
    /// A chunk to relay.
    Chunk(Box<ChatCompletionChunk>),
    /// `data: [DONE]`: the stream is complete.
    Done,
    /// Nothing to relay (an empty keep-alive event).
    Skip,
}

/// Interprets one upstream SSE event; `{"error":…}` events become errors.
pub fn parse_stream_event(event: &SseEvent, api_key: &str) -> Result<StreamEvent, GatewayError> {
    let data = event.data.trim();
    if data == "[DONE]" {
        return Ok(StreamEvent::Done);
    }
    if data.is_empty() {
        return Ok(StreamEvent::Skip);
    }
    match serde_json::from_str::<ChatCompletionChunk>(data) {
        Ok(chunk) => Ok(StreamEvent::Chunk(Box::new(chunk))),
        Err(parse_error) => match serde_json::from_str::<ErrorEnvelope>(data) {
            Ok(envelope) => Err(GatewayError::Upstream {
                provider: ID,
                status: 500,
                message: redact(&envelope.error.message, api_key),
                retry_after: None,
            }),
            Err(_) => Err(protocol(format!("unexpected stream event: {parse_error}"))),
        },
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

/// Maps an error status and body to a gateway error, keeping the provider's
/// message (redacted) and its `Retry-After`.
pub fn error_from_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    api_key: &str,
) -> GatewayError {
    let message = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) if !envelope.error.message.is_empty() => envelope.error.message,
        _ => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            if text.trim().is_empty() {
                format!("HTTP {status} with no error body")
            } else {
                text
            }
        }
    };
    GatewayError::Upstream {
        provider: ID,
        status,
        message: redact(&message, api_key),
        retry_after: retry_after(headers),
    }
}

/// `Retry-After` in seconds (or OpenAI's `retry-after-ms`), rounded up.
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some((ms / 1000.0).ceil().max(0.0) as u64);
    }
    get(RETRY_AFTER.as_str()).and_then(|v| v.trim().parse::<u64>().ok())
}

fn protocol(detail: impl Into<String>) -> GatewayError {
    GatewayError::UpstreamProtocol {
        provider: ID,
        detail: detail.into(),
    }
}

fn transport_error(e: reqwest::Error) -> GatewayError {
    if e.is_timeout() {
        GatewayError::UpstreamTimeout { provider: ID }
    } else {
        let detail = if e.is_connect() {
            "connection failed".to_owned()
        } else if e.is_body() || e.is_decode() {
            "the connection was lost while reading the response".to_owned()
        } else {
            e.without_url().to_string()
        };
        GatewayError::UpstreamUnavailable {
            provider: ID,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_body_is_parsed_and_redacted() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-live-abcdefghijkl","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let err = error_from_response(401, &headers, body, "sk-live-abcdefghijkl");
        match err {
            GatewayError::Upstream {
                status,
                message,
                retry_after,
                ..
            } => {
                assert_eq!(status, 401);
                assert_eq!(message, "Incorrect API key provided: [redacted]");
                assert_eq!(retry_after, Some(3));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn retry_after_ms_wins_and_rounds_up() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        headers.insert("retry-after", HeaderValue::from_static("9"));
        assert_eq!(retry_after(&headers), Some(2));
    }

    #[test]
    fn non_json_error_body_is_kept_short() {
        let body = "x".repeat(1000);
        let err = error_from_response(502, &HeaderMap::new(), body.as_bytes(), "k");
        assert!(matches!(err, GatewayError::Upstream { message, .. } if message.len() == 200));
    }

    #[test]
    fn stream_events() {
        let ev = |data: &str| SseEvent {
            event: None,
            data: data.to_owned(),
        };
        assert!(matches!(
            parse_stream_event(&ev("[DONE]"), "k"),
            Ok(StreamEvent::Done)
        ));
        let chunk = json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
            "choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]});
        assert!(matches!(
            parse_stream_event(&ev(&chunk.to_string()), "k"),
            Ok(StreamEvent::Chunk(_))
        ));
        let err = parse_stream_event(&ev(r#"{"error":{"message":"server overloaded"}}"#), "k");
        assert!(
            matches!(err, Err(GatewayError::Upstream { message, .. }) if message == "server overloaded")
        );
        assert!(matches!(
            parse_stream_event(&ev("{not json"), "k"),
            Err(GatewayError::UpstreamProtocol { .. })
        ));
    }

    #[test]
    fn completion_body_must_match_the_schema() {
        assert!(parse_completion(b"{\"id\":1}").is_err());
        let ok = json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",
            "choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"finish_reason":"stop","logprobs":null}],
            "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"system_fingerprint":"fp"});
        let parsed = parse_completion(ok.to_string().as_bytes()).expect("valid");
        assert_eq!(serde_json::to_value(&parsed).expect("serializes"), ok);
    }
}
