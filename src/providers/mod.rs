//! Upstream providers. Each adapter is a pair of pure translations (OpenAI
//! request out, provider response or stream in) plus a thin HTTP call.

pub mod anthropic;
pub mod bedrock;
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

/// A provider's name: one of the built-in three, or one declared in the
/// configuration file (`[providers.NAME]`). Cheap to copy; names are
/// interned when the configuration is read, so their number is bounded by
/// the configuration, never by requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProviderId(&'static str);

/// Names declared in configuration files, interned once each.
static DECLARED: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());

impl ProviderId {
    /// OpenAI (`OPENAI_API_KEY`).
    pub const OPENAI: Self = Self("openai");
    /// Anthropic (`ANTHROPIC_API_KEY`).
    pub const ANTHROPIC: Self = Self("anthropic");
    /// Google Gemini (`GOOGLE_API_KEY`).
    pub const GEMINI: Self = Self("google");

    /// The built-in providers, in a stable order.
    pub const BUILTIN: [ProviderId; 3] = [Self::OPENAI, Self::ANTHROPIC, Self::GEMINI];

    /// The lowercase name used in headers, logs and `provider/model` prefixes.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether this is one of the built-in three.
    pub fn is_builtin(self) -> bool {
        Self::BUILTIN.contains(&self)
    }

    /// The environment variable that holds a built-in provider's API key,
    /// as named in messages (declared providers name theirs in config).
    pub fn key_env_var(self) -> &'static str {
        match self {
            Self::OPENAI => "OPENAI_API_KEY",
            Self::ANTHROPIC => "ANTHROPIC_API_KEY",
            Self::GEMINI => "GOOGLE_API_KEY (or GEMINI_API_KEY)",
            _ => "its [providers] table in GATEWAY_CONFIG",
        }
    }

    /// Variables read for a built-in provider's key, first found wins.
    pub fn key_vars(self) -> &'static [&'static str] {
        match self {
            Self::OPENAI => &["OPENAI_API_KEY"],
            Self::ANTHROPIC => &["ANTHROPIC_API_KEY"],
            Self::GEMINI => &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
            _ => &[],
        }
    }

    /// The variable overriding a built-in provider's base URL, and its default.
    pub fn base_url_var(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::OPENAI => Some(("OPENAI_BASE_URL", "https://api.openai.com/v1")),
            Self::ANTHROPIC => Some(("ANTHROPIC_BASE_URL", "https://api.anthropic.com")),
            Self::GEMINI => Some((
                "GEMINI_BASE_URL",
                "https://generativelanguage.googleapis.com",
            )),
            _ => None,
        }
    }

    /// Parses a `provider/` prefix: a built-in name (`gemini` too) or a
    /// declared one. Never interns a new name.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix {
            "openai" => Some(Self::OPENAI),
            "anthropic" => Some(Self::ANTHROPIC),
            "google" | "gemini" => Some(Self::GEMINI),
            _ => DECLARED
                .read()
                .ok()?
                .iter()
                .find(|n| **n == prefix)
                .map(|n| Self(n)),
        }
    }

    /// The id of a provider declared in configuration, interning its name
    /// on first use. `name` must already be validated.
    pub fn declare(name: &str) -> Self {
        if let Some(id) = Self::from_prefix(name) {
            return id;
        }
        let mut names = match DECLARED.write() {
            Ok(names) => names,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(n) = names.iter().find(|n| **n == name) {
            return Self(n);
        }
        let interned: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.push(interned);
        Self(interned)
    }

    /// Built-ins first in their fixed order, then declared names by name.
    fn rank(self) -> (usize, &'static str) {
        let builtin = Self::BUILTIN.iter().position(|b| *b == self);
        (builtin.unwrap_or(Self::BUILTIN.len()), self.0)
    }
}

impl PartialOrd for ProviderId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ProviderId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
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

    /// The model ids the server offers (`GET /models`), for providers
    /// declared without a model list.
    async fn list_models(&self) -> Result<Vec<String>, GatewayError> {
        Ok(Vec::new())
    }
}

/// Most of a `/models` answer read.
pub const MAX_MODELS_BODY_BYTES: usize = 1024 * 1024;

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

/// A model (or deployment) name that goes into a URL path: `A-Z a-z 0-9
/// . _ -`, not empty and not a dot segment, so a client's model name can
/// never reach another path of the provider with the gateway's key.
pub(crate) fn path_segment<'a>(name: &'a str, provider: &str) -> Result<&'a str, GatewayError> {
    let valid = !name.is_empty()
        && name.bytes().any(|b| b != b'.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if valid {
        Ok(name)
    } else {
        let shown: String = name.chars().take(100).collect();
        Err(GatewayError::invalid(
            format!("'model' '{shown}' is not a valid {provider} model name"),
            Some("model".to_owned()),
        ))
    }
}

/// The 400 for a message with the deprecated `function` role.
pub(crate) fn function_role(i: usize) -> GatewayError {
    invalid_field(
        format!("messages[{i}].role"),
        "'function' is deprecated; use 'tool'",
    )
}

/// Refuses what a provider without `n` and JSON mode cannot express:
/// `n > 1` and a JSON `response_format`, naming the field.
pub(crate) fn refuse_n_and_json_mode(
    request: &ChatCompletionRequest,
    models: &str,
) -> Result<(), GatewayError> {
    if request.n.is_some_and(|n| n > 1) {
        return Err(invalid_field(
            "n".into(),
            &format!("must be 1 for {models}"),
        ));
    }
    if matches!(
        request.response_format,
        Some(
            crate::openai::ResponseFormat::JsonObject
                | crate::openai::ResponseFormat::JsonSchema { .. }
        )
    ) {
        return Err(invalid_field(
            "response_format".into(),
            &format!("JSON mode is not supported by {models}; use an openai or gemini model"),
        ));
    }
    Ok(())
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
    fn path_segments_are_names_never_paths() {
        assert_eq!(
            path_segment("gpt-4o_prod.v2", "azure").ok(),
            Some("gpt-4o_prod.v2")
        );
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "x?api-version=1",
            "a b",
            "x%2F",
        ] {
            assert!(path_segment(bad, "azure").is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_parse() {
        assert_eq!(ProviderId::from_prefix("openai"), Some(ProviderId::OPENAI));
        assert_eq!(ProviderId::from_prefix("google"), Some(ProviderId::GEMINI));
        assert_eq!(ProviderId::from_prefix("nope"), None);
        let declared = ProviderId::declare("prefix-test-provider");
        assert_eq!(
            ProviderId::from_prefix("prefix-test-provider"),
            Some(declared)
        );
        assert_eq!(ProviderId::declare("prefix-test-provider"), declared);
        assert!(ProviderId::GEMINI < declared && !declared.is_builtin());
    }
}
