//! `POST /v1/chat/completions`: the chat wire format around the pipeline.

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use serde_json::error::Category;

use crate::api::pipeline::{self, Format, error_event};
use crate::app::AppState;
use crate::error::GatewayError;
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use crate::providers::sse::{DONE_EVENT, data_event};

/// The handler.
pub async fn completions(State(state): State<AppState>, request: Request) -> Response {
    pipeline::handle(state, request, ChatFormat::default()).await
}

/// Chat completions as OpenAI defines them: the answer as is, streams as
/// `data:` chunks ending in `[DONE]`, the usage chunk only when asked for.
#[derive(Default)]
pub struct ChatFormat {
    /// The client asked for the stream usage chunk.
    wants_usage: bool,
}

impl Format for ChatFormat {
    fn route(&self) -> &'static str {
        "POST /v1/chat/completions"
    }

    async fn parse(
        &mut self,
        _state: &AppState,
        _tenant: &str,
        body: &[u8],
    ) -> Result<ChatCompletionRequest, GatewayError> {
        let request = parse_request(body)?;
        self.wants_usage = request.wants_stream_usage();
        Ok(request)
    }

    fn json(&mut self, completion: &ChatCompletion) -> Result<Vec<u8>, GatewayError> {
        serde_json::to_vec(completion).map_err(|e| GatewayError::Internal(e.to_string()))
    }

    fn events(&mut self, mut chunk: ChatCompletionChunk) -> Vec<Bytes> {
        if !self.wants_usage {
            if chunk.is_usage_only() {
                return Vec::new();
            }
            chunk.usage = None;
        }
        vec![match serde_json::to_vec(&chunk) {
            Ok(json) => data_event(&json),
            Err(e) => error_event(&GatewayError::Internal(e.to_string())),
        }]
    }

    fn finish(&mut self) -> Vec<Bytes> {
        vec![Bytes::from_static(DONE_EVENT)]
    }

    /// An error event the OpenAI SDKs raise.
    fn failure(&mut self, error: &GatewayError) -> Vec<Bytes> {
        vec![error_event(error)]
    }
}

/// Parses and validates the body; errors name the offending field.
pub fn parse_request(bytes: &[u8]) -> Result<ChatCompletionRequest, GatewayError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let request: ChatCompletionRequest =
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                Category::Syntax | Category::Eof | Category::Io => GatewayError::invalid(
                    format!("the request body is not valid JSON: {inner}"),
                    None,
                ),
                Category::Data if path == "." => {
                    GatewayError::invalid(format!("invalid request body: {inner}"), None)
                }
                Category::Data => GatewayError::invalid(
                    format!("invalid value for '{path}': {inner}"),
                    Some(path),
                ),
            }
        })?;
    request.validate().map_err(|(param, message)| {
        GatewayError::invalid(format!("'{param}' {message}"), Some(param))
    })?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_field() {
        let err = parse_request(br#"{"model":"gpt-4o","messages":[{"role":"user","content":5}]}"#)
            .expect_err("bad content");
        match err {
            GatewayError::InvalidRequest { param, message } => {
                assert_eq!(param.as_deref(), Some("messages[0].content"));
                assert!(message.contains("messages[0].content"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = parse_request(
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
        )
        .expect_err("bad type");
        assert!(
            matches!(err, GatewayError::InvalidRequest { param: Some(p), .. } if p == "temperature")
        );
        let err = parse_request(br#"{"messages":[]}"#).expect_err("missing model");
        assert!(err.to_string().contains("model"), "{err}");
        let err = parse_request(b"{not json").expect_err("syntax");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = parse_request(br#"{"model":"gpt-4o","messages":[]}"#).expect_err("empty");
        assert!(
            matches!(err, GatewayError::InvalidRequest { param: Some(p), .. } if p == "messages")
        );
    }
}
