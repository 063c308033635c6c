//! The OpenAI chat-completions wire format: the gateway's internal language.
//!
//! Every provider adapter translates to and from these types. Fields the
//! gateway does not model are kept in `extra` and passed on unchanged to
//! OpenAI-format upstreams.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Unmodelled fields, kept verbatim.
pub type Extra = Map<String, Value>;

/// `POST /v1/chat/completions` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopSequences>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatCompletionRequest {
    /// Whether the client asked for an SSE stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the client asked for the final usage chunk of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The output-token limit, whichever of the two spellings the client used.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

/// `stream_options`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `stop`: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StopSequences {
    One(String),
    Many(Vec<String>),
}

impl StopSequences {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text of the content, parts joined; non-text parts are skipped.
    pub fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Text(_) => false,
            Self::Parts(parts) => parts.is_empty(),
        }
    }
}

/// A typed content part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
        #[serde(flatten)]
        extra: Extra,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    InputAudio {
        input_audio: Value,
    },
    File {
        file: Value,
    },
    Refusal {
        refusal: String,
    },
}

/// `image_url` of an image part: an `https:` URL or a `data:` URI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub r#type: ToolType,
    pub function: FunctionDefinition,
}

/// The only tool type the chat API defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ToolType {
    #[default]
    Function,
}

/// A function's name, description and JSON-Schema parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: a mode or a named function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    Mode(ToolChoiceMode),
    Named(NamedToolChoice),
}

/// `none`, `auto` or `required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    None,
    Auto,
    Required,
}

/// `{"type":"function","function":{"name":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedToolChoice {
    pub r#type: ToolType,
    pub function: FunctionName,
}

/// A function referenced by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionName {
    pub name: String,
}

/// A complete tool call made by the assistant. `extra` carries provider
/// data that must round-trip, e.g. Gemini's
/// `extra_content.google.thought_signature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(default)]
    pub r#type: ToolType,
    pub function: FunctionCall,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The function and its JSON-encoded arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: Value },
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    FunctionCall,
}

impl FinishReason {
    /// The OpenAI wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::FunctionCall => "function_call",
        }
    }
}

/// Token counts, OpenAI semantics (`prompt_tokens` includes cached tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Cached part of the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PromptTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Reasoning part of the completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CompletionTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A non-streaming `chat.completion` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatCompletion {
    /// Why each choice ended.
    pub fn finish_reasons(&self) -> Vec<&'static str> {
        self.choices
            .iter()
            .filter_map(|c| c.finish_reason.map(FinishReason::as_str))
            .collect()
    }
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<FinishReason>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The assistant's message in a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    pub role: Role,
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AssistantMessage {
    /// An assistant answer: `content` is null only when there are tool calls
    /// and no text; reasoning, when any, goes in `reasoning_content`.
    pub fn new(text: String, tool_calls: Vec<ToolCall>, reasoning: String) -> Self {
        let mut message = Self {
            role: Role::Assistant,
            content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            extra: Extra::new(),
        };
        if !reasoning.is_empty() {
            message
                .extra
                .insert("reasoning_content".into(), reasoning.into());
        }
        message
    }
}

/// One `chat.completion.chunk` of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatCompletionChunk {
    /// Why the choices of this chunk ended, if any did.
    pub fn finish_reasons(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.choices
            .iter()
            .filter_map(|c| c.finish_reason.map(FinishReason::as_str))
    }

    /// Characters of generated text in this chunk: content and tool-call
    /// names and arguments.
    pub fn generated_chars(&self) -> u64 {
        self.choices
            .iter()
            .map(|c| {
                let content = c.delta.content.as_deref().map_or(0, str::len);
                let calls: usize = c
                    .delta
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|t| {
                        t.function.as_ref().map_or(0, |f| {
                            f.name.as_deref().map_or(0, str::len)
                                + f.arguments.as_deref().map_or(0, str::len)
                        })
                    })
                    .sum();
                (content + calls) as u64
            })
            .sum()
    }

    /// The usage-only chunk sent last when `include_usage` is on.
    pub fn is_usage_only(&self) -> bool {
        self.choices.is_empty() && self.usage.is_some()
    }
}

/// One choice's delta in a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The incremental part of a streamed message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A piece of a streamed tool call; `index` is dense across the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<ToolType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Name (first piece) and argument fragments of a streamed tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// `GET /v1/models` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelObject {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: String,
}

/// `GET /v1/models` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

/// Limits on the shape of a request, beyond what the schema says.
pub mod limits {
    /// Most messages accepted in one request.
    pub const MAX_MESSAGES: usize = 4096;
    /// Most tools accepted in one request.
    pub const MAX_TOOLS: usize = 512;
    /// Most choices (`n`) accepted.
    pub const MAX_N: u32 = 16;
    /// Longest accepted model name.
    pub const MAX_MODEL_LEN: usize = 256;
}

impl ChatCompletionRequest {
    /// Checks what the schema alone cannot; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |param: String, msg: &str| Err((param, msg.to_owned()));
        if self.model.trim().is_empty() {
            return fail("model".into(), "must not be empty");
        }
        if self.model.len() > limits::MAX_MODEL_LEN {
            return fail("model".into(), "is too long");
        }
        if self.messages.is_empty() {
            return fail("messages".into(), "must contain at least one message");
        }
        if self.messages.len() > limits::MAX_MESSAGES {
            return fail("messages".into(), "has too many messages");
        }
        if let Some(n) = self.n
            && !(1..=limits::MAX_N).contains(&n)
        {
            return fail("n".into(), "must be between 1 and 16");
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return fail("temperature".into(), "must be between 0 and 2");
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return fail("top_p".into(), "must be between 0 and 1");
        }
        if let Some(tools) = &self.tools {
            if tools.len() > limits::MAX_TOOLS {
                return fail("tools".into(), "has too many tools");
            }
            for (i, tool) in tools.iter().enumerate() {
                if tool.function.name.is_empty() {
                    return fail(format!("tools[{i}].function.name"), "must not be empty");
                }
            }
        }
        if self.stream_options.is_some() && !self.is_stream() {
            return fail(
                "stream_options".into(),
                "is only allowed when stream is true",
            );
        }
        for (i, m) in self.messages.iter().enumerate() {
            let empty = m.content.as_ref().is_none_or(MessageContent::is_empty);
            match m.role {
                Role::Tool if m.tool_call_id.is_none() => {
                    return fail(
                        format!("messages[{i}].tool_call_id"),
                        "is required for tool messages",
                    );
                }
                Role::Assistant if empty && m.tool_calls.is_none() => {
                    return fail(
                        format!("messages[{i}].content"),
                        "is required unless tool_calls is set",
                    );
                }
                Role::System | Role::Developer | Role::User | Role::Tool | Role::Function
                    if empty =>
                {
                    return fail(format!("messages[{i}].content"), "is required");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_round_trips_with_unknown_fields() {
        let raw = json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}
            ],
            "seed": 7,
            "logit_bias": {"50256": -100},
            "reasoning_effort": "low",
            "service_tier": "auto",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
            "stop": ["a", "b"],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "max_tokens": 10
        });
        let req: ChatCompletionRequest = serde_json::from_value(raw.clone()).expect("parses");
        assert_eq!(req.extra["seed"], 7);
        assert_eq!(req.max_output_tokens(), Some(10));
        assert!(matches!(req.tool_choice, Some(ToolChoice::Named(_))));
        let back = serde_json::to_value(&req).expect("serializes");
        // Everything comes back except the explicit null content, which is dropped.
        let mut expected = raw;
        expected["messages"][2]
            .as_object_mut()
            .expect("object")
            .remove("content");
        assert_eq!(back, expected);
        assert!(req.validate().is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        let mut req: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "x"}]
        }))
        .expect("parses");
        assert_eq!(req.validate().unwrap_err().0, "messages[1].tool_call_id");
        req.messages.clear();
        assert_eq!(req.validate().unwrap_err().0, "messages");
    }

    #[test]
    fn unknown_role_is_rejected() {
        let err = serde_json::from_value::<ChatCompletionRequest>(json!({
            "model": "gpt-4o", "messages": [{"role": "wizard", "content": "hi"}]
        }))
        .unwrap_err();
        assert!(err.to_string().contains("wizard"));
    }

    #[test]
    fn stream_chunk_keeps_unknown_fields() {
        let raw = json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "system_fingerprint": "fp", "obfuscation": "abc",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null, "logprobs": null}]
        });
        let chunk: ChatCompletionChunk = serde_json::from_value(raw.clone()).expect("parses");
        assert!(!chunk.is_usage_only());
        assert_eq!(serde_json::to_value(&chunk).expect("serializes"), raw);
    }

    #[test]
    fn usage_only_chunk_is_recognised() {
        let chunk: ChatCompletionChunk = serde_json::from_value(json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        }))
        .expect("parses");
        assert!(chunk.is_usage_only());
    }
}
