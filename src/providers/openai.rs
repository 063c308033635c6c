//! OpenAI chat completions: a pass-through that still checks what it relays.

use std::collections::VecDeque;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use serde::Deserialize;

use super::http::{Answer, Upstream, sensitive_header};
use super::sse::SseEvent;
use super::stream::{Flow, StreamTranslator, translate};
use super::{ChunkStream, Embedded, Provider, ProviderId};
use crate::config::{AzureSettings, MaxTokensField, ProviderConfig, ProviderKind, Quirks, Secret};
use crate::error::GatewayError;
use crate::openai::embeddings::EmbeddingsRequest;
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use serde_json::Value;

/// The OpenAI provider, any server speaking its chat-completions format,
/// and Azure OpenAI (the same format at other URLs, authenticated by an
/// `api-key` header).
pub struct OpenAi {
    id: ProviderId,
    upstream: Upstream,
    target: Target,
    auth: Option<(HeaderName, HeaderValue)>,
    quirks: Quirks,
}

/// Where calls go.
enum Target {
    /// `{base}/chat/completions` and `{base}/embeddings`.
    Base(String),
    /// Azure deployments: `{endpoint}/openai/deployments/{deployment}/…?api-version=…`.
    Deployments {
        endpoint: String,
        api_version: String,
        azure: AzureSettings,
    },
    /// Azure's v1 surface: `{endpoint}/openai/v1/…`, the deployment as `model`.
    AzureV1 { base: String, azure: AzureSettings },
}

impl OpenAi {
    /// Builds the adapter on the shared upstream settings.
    pub fn new(upstream: Upstream, config: &ProviderConfig) -> Result<Self, GatewayError> {
        let key = config.api_key.as_ref().map(Secret::expose);
        let (target, auth) = match (config.kind, &config.azure) {
            (ProviderKind::Azure, Some(azure)) => {
                let target = match &azure.api_version {
                    Some(version) => Target::Deployments {
                        endpoint: config.base_url.clone(),
                        api_version: version.clone(),
                        azure: azure.clone(),
                    },
                    None => Target::AzureV1 {
                        base: format!("{}/openai/v1", config.base_url),
                        azure: azure.clone(),
                    },
                };
                let auth = key
                    .map(|k| Ok((HeaderName::from_static("api-key"), sensitive_header(k)?)))
                    .transpose()?;
                (target, auth)
            }
            _ => {
                let auth = key
                    .map(|k| Ok((AUTHORIZATION, sensitive_header(&format!("Bearer {k}"))?)))
                    .transpose()?;
                (Target::Base(config.base_url.clone()), auth)
            }
        };
        Ok(Self {
            id: upstream.id,
            upstream,
            target,
            auth,
            quirks: config.quirks,
        })
    }

    /// The URL of `endpoint` (`chat/completions`, `embeddings`) for
    /// `model`, and the model name the body carries. An Azure deployment
    /// name is a path segment, checked as one.
    fn url<'a>(
        &'a self,
        endpoint: &str,
        model: &'a str,
    ) -> Result<(String, &'a str), GatewayError> {
        Ok(match &self.target {
            Target::Base(base) => (format!("{base}/{endpoint}"), model),
            Target::Deployments {
                endpoint: host,
                api_version,
                azure,
            } => {
                let deployment = super::path_segment(azure.deployment(model), "Azure")?;
                (
                    format!(
                        "{host}/openai/deployments/{deployment}/{endpoint}?api-version={api_version}"
                    ),
                    deployment,
                )
            }
            Target::AzureV1 { base, azure } => {
                (format!("{base}/{endpoint}"), azure.deployment(model))
            }
        })
    }

    fn post(&self, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let builder = self
            .upstream
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        match &self.auth {
            Some((name, value)) => builder.header(name.clone(), value.clone()),
            None => builder,
        }
    }

    async fn send(
        &self,
        request: &ChatCompletionRequest,
        stream: bool,
    ) -> Result<Answer, GatewayError> {
        let (url, model) = self.url("chat/completions", &request.model)?;
        let body = self.body(request, model)?;
        self.upstream.send(self.post(&url, body), stream).await
    }

    /// The request as this server wants it: the model (or deployment)
    /// name, and the quirks applied.
    fn body(&self, request: &ChatCompletionRequest, model: &str) -> Result<Vec<u8>, GatewayError> {
        let adjusted;
        let request = if model != request.model
            || !self.quirks.stream_options && request.stream_options.is_some()
            || self.quirks.max_tokens != MaxTokensField::AsSent
        {
            let mut r = request.clone();
            model.clone_into(&mut r.model);
            if !self.quirks.stream_options {
                r.stream_options = None;
            }
            let limit = r.max_completion_tokens.or(r.max_tokens);
            match self.quirks.max_tokens {
                MaxTokensField::AsSent => {}
                MaxTokensField::MaxTokens => {
                    r.max_tokens = limit;
                    r.max_completion_tokens = None;
                }
                MaxTokensField::MaxCompletionTokens => {
                    r.max_completion_tokens = limit;
                    r.max_tokens = None;
                }
            }
            adjusted = r;
            &adjusted
        } else {
            request
        };
        serde_json::to_vec(request)
            .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn id(&self) -> ProviderId {
        self.id
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

    async fn list_models(&self) -> Result<Vec<String>, GatewayError> {
        let url = match &self.target {
            Target::Base(base) => format!("{base}/models"),
            Target::AzureV1 { base, .. } => format!("{base}/models"),
            Target::Deployments { .. } => return Ok(Vec::new()),
        };
        let builder = self.upstream.http.get(&url);
        let builder = match &self.auth {
            Some((name, value)) => builder.header(name.clone(), value.clone()),
            None => builder,
        };
        let answer = self.upstream.send(builder, false).await?;
        let body: ModelList = self
            .upstream
            .read_json_capped(answer, super::MAX_MODELS_BODY_BYTES)
            .await?;
        Ok(body
            .data
            .into_iter()
            .map(|m| m.id)
            .filter(|id| !id.is_empty() && id.len() <= 256)
            .take(crate::routing::routes::MAX_LISTED_MODELS)
            .collect())
    }

    /// A pass-through that checks one vector came back per input.
    async fn embed(&self, request: &EmbeddingsRequest) -> Result<Embedded, GatewayError> {
        let (url, model) = self.url("embeddings", &request.model)?;
        let body = if model == request.model {
            serde_json::to_vec(request)
        } else {
            let mut r = request.clone();
            model.clone_into(&mut r.model);
            serde_json::to_vec(&r)
        }
        .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))?;
        let answer = self.upstream.send(self.post(&url, body), false).await?;
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

/// `GET /models`.
#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ListedModel>,
}

#[derive(Deserialize)]
struct ListedModel {
    id: String,
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
            upstream: Upstream::for_tests(ProviderId::OPENAI, "sk-secret-0123456789"),
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
