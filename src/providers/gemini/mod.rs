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
use super::{ChunkStream, Provider, ProviderId};
use crate::config::ProviderConfig;
use crate::error::GatewayError;
use crate::openai::{ChatCompletion, ChatCompletionRequest};
use request::to_gemini;
use response::{GeminiStream, GenerateContentResponse, to_completion};

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
            key_header: sensitive_header(config.api_key.expose())?,
            models_url: format!("{}/v1beta/models", config.base_url),
            upstream,
        })
    }

    async fn send(
        &self,
        request: &ChatCompletionRequest,
        stream: bool,
    ) -> Result<Answer, GatewayError> {
        // The model is a path segment: refuse anything that could change the URL.
        let model = request
            .model
            .strip_prefix("models/")
            .unwrap_or(&request.model);
        if model.is_empty()
            || !model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(GatewayError::invalid(
                format!("'model' '{model}' is not a valid Gemini model name"),
                Some("model".to_owned()),
            ));
        }
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

#[async_trait]
impl Provider for Gemini {
    fn id(&self) -> ProviderId {
        ProviderId::Gemini
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
}
