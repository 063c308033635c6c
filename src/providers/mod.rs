//! Upstream providers. Each adapter is a pair of pure translations (OpenAI
//! request out, provider response or stream in) plus a thin HTTP call.

pub mod anthropic;
pub mod clients;
pub mod gemini;
pub mod http;
pub mod media;
pub mod openai;
pub mod sse;
pub mod stream;
pub mod traced;

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use futures_util::Stream;

use crate::error::GatewayError;
use crate::openai::embeddings::EmbeddingsRequest;
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};

/// The providers the gateway speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderId {
    OpenAi,
    Anthropic,
    Gemini,
}

impl ProviderId {
    /// Every provider, in a stable order.
    pub const ALL: [ProviderId; 3] = [Self::OpenAi, Self::Anthropic, Self::Gemini];

    /// The lowercase name used in headers, logs and `provider/model` prefixes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "google",
        }
    }

    /// The environment variable that holds this provider's API key, as
    /// named in messages.
    pub fn key_env_var(self) -> &'static str {
        match self {
            Self::OpenAi => "OPENAI_API_KEY",
            Self::Anthropic => "ANTHROPIC_API_KEY",
            Self::Gemini => "GOOGLE_API_KEY (or GEMINI_API_KEY)",
        }
    }

    /// Variables read for the key, first found wins.
    pub fn key_vars(self) -> &'static [&'static str] {
        match self {
            Self::OpenAi => &["OPENAI_API_KEY"],
            Self::Anthropic => &["ANTHROPIC_API_KEY"],
            Self::Gemini => &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
        }
    }

    /// The variable overriding the base URL, and its default.
    pub fn base_url_var(self) -> (&'static str, &'static str) {
        match self {
            Self::OpenAi => ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            Self::Anthropic => ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
            Self::Gemini => (
                "GEMINI_BASE_URL",
                "https://generativelanguage.googleapis.com",
            ),
        }
    }

    /// Parses a `provider/` prefix.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "openai" => Some(Self::OpenAi),
            "anthropic" => Some(Self::Anthropic),
            "google" | "gemini" => Some(Self::Gemini),
            _ => None,
        }
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream of OpenAI-format chunks from one upstream call. An `Err` item
/// means the upstream failed mid-stream; the stream ends after it.
pub type ChunkStream =
    Pin<Box<dyn Stream<Item = Result<ChatCompletionChunk, GatewayError>> + Send>>;

/// One upstream provider, speaking the OpenAI format on the gateway side.
///
/// `request.model` is already the provider's own model name.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Which provider this is.
    fn id(&self) -> ProviderId;

    /// A complete (non-streaming) completion.
    async fn chat(&self, request: &ChatCompletionRequest) -> Result<ChatCompletion, GatewayError>;

    /// A streamed completion. Resolves once the upstream has accepted the
    /// request (status 200), so errors before the first byte are plain errors.
    /// The stream always carries a final usage chunk when the upstream reports
    /// usage, whether or not the client asked for it.
    async fn chat_stream(
        &self,
        request: &ChatCompletionRequest,
    ) -> Result<ChunkStream, GatewayError>;

    /// Embeds the request's input with its model: the OpenAI-format body
    /// (vectors in the requested encoding) and the tokens billed.
    async fn embed(&self, request: &EmbeddingsRequest) -> Result<Embedded, GatewayError> {
        let _ = request;
        Err(GatewayError::invalid(
            format!("{} has no embeddings API", self.id()),
            Some("model".to_owned()),
        ))
    }
}

/// An embeddings answer.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The OpenAI-format response body.
    pub body: serde_json::Value,
    /// Input tokens, as the provider counted them or estimated.
    pub prompt_tokens: u64,
}

/// A 400 naming the OpenAI field a translation cannot express.
pub(crate) fn invalid_field(param: String, message: &str) -> GatewayError {
    GatewayError::invalid(format!("'{param}' {message}"), Some(param))
}

/// Tool-call arguments as a JSON object (`""` counts as `{}`); `None` when
/// they are not an object, which neither Anthropic nor Gemini accept.
pub(crate) fn arguments_object(arguments: &str) -> Option<serde_json::Value> {
    if arguments.trim().is_empty() {
        return Some(serde_json::Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<serde_json::Value>(arguments).ok()? {
        v @ serde_json::Value::Object(_) => Some(v),
        _ => None,
    }
}

/// Removes every occurrence of `secret` from `text` (provider messages can
/// echo parts of a key).
pub fn redact(text: &str, secret: &str) -> String {
    if secret.len() < 4 {
        return text.to_owned();
    }
    let mut out = text.replace(secret, "[redacted]");
    // Providers often echo a key's prefix and suffix ("sk-abc***wxyz").
    if let Some(tail) = secret.get(secret.len() - 4..)
        && secret.len() >= 12
        && out.contains(tail)
    {
        out = out.replace(tail, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_key_and_its_tail() {
        let key = "sk-test-0123456789abcdef";
        assert_eq!(
            redact("bad key sk-test-0123456789abcdef", key),
            "bad key [redacted]"
        );
        assert_eq!(
            redact("Incorrect API key provided: sk-tes****cdef.", key),
            "Incorrect API key provided: sk-tes****[redacted]."
        );
    }

    #[test]
    fn prefixes_parse() {
        assert_eq!(ProviderId::from_prefix("openai"), Some(ProviderId::OpenAi));
        assert_eq!(ProviderId::from_prefix("google"), Some(ProviderId::Gemini));
        assert_eq!(ProviderId::from_prefix("nope"), None);
    }
}
