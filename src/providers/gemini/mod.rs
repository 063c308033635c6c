//! Google Gemini API (`v1beta`): `generateContent` and
//! `streamGenerateContent?alt=sse`, key in the `x-goog-api-key` header.

pub mod request;
pub mod response;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use super::http::{Answer, Upstream, sensitive_header};
use super::stream::translate;
use super::{ChunkStream, Embedded, Provider, ProviderId};
use crate::config::ProviderConfig;
use crate::error::GatewayError;
use crate::openai::embeddings::{self, EmbeddingsRequest};
use crate::openai::{ChatCompletion, ChatCompletionRequest};
use request::to_gemini;
use response::{GeminiStream, GenerateContentResponse, to_completion};
use serde_json::{Value, json};

/// The Gemini provider.
pub struct Gemini {
    upstream: Upstream,
    models_url: String,
    key_header: HeaderValue,
}

impl Gemini {
    /// Builds the adapter on the shared upstream settings.
    pub fn new(upstream: Upstream, config: &ProviderConfig) -> Result<Self, GatewayError> {
        Ok(Self {
            key_header: sensitive_header(config.required_key()?)?,
            models_url: format!("{}/v1beta/models", config.base_url),
            upstream,
        })
    }

    async fn send(
        &self,
        request: &ChatCompletionRequest,
        stream: bool,
    ) -> Result<Answer, GatewayError> {
        let model = path_model(&request.model)?;
        let url = if stream {
            format!("{}/{model}:streamGenerateContent?alt=sse", self.models_url)
        } else {
            format!("{}/{model}:generateContent", self.models_url)
        };
        let body = serde_json::to_vec(&to_gemini(request)?)
            .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))?;
        let builder = self
            .upstream
            .http
            .post(url)
            .header("x-goog-api-key", self.key_header.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.upstream.send(builder, stream).await
    }
}

/// The model as a path segment: anything that could change the URL is
/// refused.
fn path_model(model: &str) -> Result<&str, GatewayError> {
    super::path_segment(model.strip_prefix("models/").unwrap_or(model), "Gemini")
}

#[async_trait]
impl Provider for Gemini {
    fn id(&self) -> ProviderId {
        ProviderId::GEMINI
    }

    async fn chat(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, GatewayError> {
        let response = self.send(request, false).await?;
        let parsed: GenerateContentResponse = self.upstream.read_json(response).await?;
        Ok(to_completion(parsed, &request.model))
    }

    async fn chat_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError> {
        let response = self.send(request, true).await?;
        let translator = GeminiStream::new(self.upstream.clone(), &request.model);
        Ok(translate(&self.upstream, response, translator))
    }

    /// `batchEmbedContents`, one request per input; Gemini reports no
    /// token counts, so they are estimated (~4 characters a token).
    async fn embed(&self, request: &EmbeddingsRequest) -> Result<Embedded, GatewayError> {
        let model = path_model(&request.model)?;
        let Some(texts) = request.texts() else {
            return Err(GatewayError::invalid(
                "token-id inputs are only accepted by OpenAI models; send text",
                Some("input".to_owned()),
            ));
        };
        let requests: Vec<Value> = texts
            .iter()
            .map(|text| {
                let mut one = json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
                if let Some(dimensions) = request.dimensions {
                    one["outputDimensionality"] = json!(dimensions);
                }
                one
            })
            .collect();
        let body = serde_json::to_vec(&json!({"requests": requests}))
            .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))?;
        let builder = self
            .upstream
            .http
            .post(format!("{}/{model}:batchEmbedContents", self.models_url))
            .header("x-goog-api-key", self.key_header.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let answer = self.upstream.send(builder, false).await?;
        let parsed: Value = self.upstream.read_json(answer).await?;
        let vectors: Vec<Vec<f32>> = parsed["embeddings"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|e| {
                        e["values"]
                            .as_array()
                            .map(|v| {
                                v.iter()
                                    .filter_map(Value::as_f64)
                                    .map(|x| x as f32)
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if vectors.len() != texts.len() || vectors.iter().any(Vec::is_empty) {
            return Err(self.upstream.protocol(format!(
                "{} embeddings for {} inputs",
                vectors.len(),
                texts.len()
            )));
        }
        let prompt_tokens = request.chars().div_ceil(4);
        Ok(Embedded {
            body: embeddings::response(model, &vectors, request.encoding_format, prompt_tokens),
            prompt_tokens,
        })
    }
}
