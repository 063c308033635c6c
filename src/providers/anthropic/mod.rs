//! Anthropic Messages API (`POST /v1/messages`, `anthropic-version: 2023-06-01`).

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
use request::to_anthropic;
use response::{AnthropicStream, MessagesResponse, to_completion};

/// The API version the translation follows.
pub const API_VERSION: &str = "2023-06-01";

/// The Anthropic provider.
pub struct Anthropic {
    upstream: Upstream,
    url: String,
    key_header: HeaderValue,
}

impl Anthropic {
    /// Builds the adapter on the shared upstream settings.
    pub fn new(upstream: Upstream, config: &ProviderConfig) -> Result<Self, GatewayError> {
        Ok(Self {
            key_header: sensitive_header(config.required_key()?)?,
            url: format!("{}/v1/messages", config.base_url),
            upstream,
        })
    }

    async fn send(
        &self,
        request: &ChatCompletionRequest,
        stream: bool,
    ) -> Result<Answer, GatewayError> {
        let body = to_anthropic(request, stream)?;
        let body = serde_json::to_vec(&body)
            .map_err(|e| GatewayError::Internal(format!("encoding request: {e}")))?;
        let builder = self
            .upstream
            .http
            .post(&self.url)
            .header("x-api-key", self.key_header.clone())
            .header("anthropic-version", API_VERSION)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.upstream.send(builder, stream).await
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn id(&self) -> ProviderId {
        ProviderId::ANTHROPIC
    }

    async fn chat(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, GatewayError> {
        let response = self.send(request, false).await?;
        let parsed: MessagesResponse = self.upstream.read_json(response).await?;
        Ok(to_completion(parsed))
    }

    async fn chat_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError> {
        let response = self.send(request, true).await?;
        Ok(translate(
            &self.upstream,
            response,
            AnthropicStream::new(self.upstream.clone()),
        ))
    }
}
