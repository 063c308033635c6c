//! Anthropic Messages response and stream → OpenAI completion and chunks (pure).

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::Value;

use crate::clock::unix_seconds;
use crate::error::GatewayError;
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, Choice, Delta, FinishReason,
    FunctionCall, PromptTokensDetails, Role, ToolCall, ToolType, Usage,
};
use crate::providers::http::Upstream;
use crate::providers::sse::SseEvent;
use crate::providers::stream::{ChunkBuilder, Flow, StreamTranslator, content_delta, tool_delta};

/// A non-streaming Messages response.
#[derive(Debug, Deserialize)]
pub struct MessagesResponse {
    pub id: String,
    pub model: String,
    pub content: Vec<ResponseBlock>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: AnthropicUsage,
}

/// A content block of a response.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    Thinking {
        thinking: String,
    },
    #[serde(other)]
    Other,
}

/// Anthropic token counts; input excludes the cached parts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Later reports override earlier ones field by field.
    fn merge(&mut self, later: &AnthropicUsage) {
        let take = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        take(&mut self.input_tokens, later.input_tokens);
        take(&mut self.output_tokens, later.output_tokens);
        take(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        take(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
    }

    /// OpenAI semantics: `prompt_tokens` counts cache writes and reads too;
    /// the cached part is in `prompt_tokens_details.cached_tokens` and cache
    /// writes in `cache_creation_input_tokens`, so cost can price each once.
    pub fn to_openai(&self) -> Usage {
        let cache_write = self.cache_creation_input_tokens.unwrap_or(0);
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0) + cache_write + cache_read;
        let completion = self.output_tokens.unwrap_or(0);
        let mut usage = Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(cache_read),
                extra: Default::default(),
            }),
            ..Usage::default()
        };
        if cache_write > 0 {
            usage
                .extra
                .insert("cache_creation_input_tokens".into(), cache_write.into());
        }
        usage
    }
}

/// Anthropic stop reason → OpenAI finish reason.
pub fn finish_reason(stop_reason: Option<&str>) -> FinishReason {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// HTTP-like status of an in-stream `error` event, by its type.
pub fn error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// The whole response as an OpenAI completion.
pub fn to_completion(response: MessagesResponse) -> ChatCompletion {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut tool_calls = Vec::new();
    for block in response.content {
        match block {
            ResponseBlock::Text { text: t } => text.push_str(&t),
            ResponseBlock::Thinking { thinking: t } => thinking.push_str(&t),
            ResponseBlock::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                r#type: ToolType::Function,
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
                extra: Default::default(),
            }),
            ResponseBlock::Other => {}
        }
    }
    let message = AssistantMessage::new(text, tool_calls, thinking);
    ChatCompletion {
        id: response.id,
        object: "chat.completion".into(),
        created: unix_seconds(),
        model: response.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason(response.stop_reason.as_deref())),
            extra: Default::default(),
        }],
        usage: Some(response.usage.to_openai()),
        extra: Default::default(),
    }
}

/// One Messages stream event.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {},
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: AnthropicUsage,
    },
    MessageStop {},
    Ping {},
    Error {
        error: StreamErrorBody,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct StartMessage {
    id: String,
    model: String,
    #[serde(default)]
    usage: AnthropicUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StreamErrorBody {
    #[serde(default)]
    r#type: String,
    #[serde(default)]
    message: String,
}

/// Translates a Messages event stream into OpenAI chunks. Tool calls get a
/// dense 0..n `index`, independent of Anthropic's content-block index.
pub struct AnthropicStream {
    upstream: Upstream,
    builder: Option<ChunkBuilder>,
    usage: AnthropicUsage,
    /// (content-block index, tool-call index) of tool_use blocks.
    tool_blocks: Vec<(u32, u32)>,
}

impl AnthropicStream {
    /// A translator for one stream.
    pub fn new(upstream: Upstream) -> Self {
        Self {
            upstream,
            builder: None,
            usage: AnthropicUsage::default(),
            tool_blocks: Vec::new(),
        }
    }

    fn builder(&self) -> Result<&ChunkBuilder, GatewayError> {
        self.builder
            .as_ref()
            .ok_or_else(|| self.upstream.protocol("content before message_start"))
    }

    fn tool_index(&self, block: u32) -> Option<u32> {
        self.tool_blocks
            .iter()
            .find(|(b, _)| *b == block)
            .map(|(_, t)| *t)
    }
}

impl StreamTranslator for AnthropicStream {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut VecDeque<ChatCompletionChunk>,
    ) -> Result<Flow, GatewayError> {
        if event.data.is_empty() {
            return Ok(Flow::Continue);
        }
        let parsed: StreamEvent = serde_json::from_str(&event.data).map_err(|e| {
            self.upstream
                .protocol(format!("unexpected stream event: {e}"))
        })?;
        match parsed {
            StreamEvent::MessageStart { message } => {
                self.usage.merge(&message.usage);
                let builder = ChunkBuilder {
                    id: message.id,
                    model: message.model,
                    created: unix_seconds(),
                };
                let delta = Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                    ..Delta::default()
                };
                out.push_back(builder.chunk(0, delta, None));
                self.builder = Some(builder);
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                StartBlock::Text { text } if !text.is_empty() => {
                    out.push_back(self.builder()?.chunk(0, content_delta(text), None));
                }
                StartBlock::ToolUse { id, name } => {
                    let tool_index = self.tool_blocks.len() as u32;
                    self.tool_blocks.push((index, tool_index));
                    let delta = tool_delta(tool_index, Some(id), Some(name), String::new());
                    out.push_back(self.builder()?.chunk(0, delta, None));
                }
                _ => {}
            },
            StreamEvent::ContentBlockDelta { index, delta } => {
                let delta = match delta {
                    BlockDelta::TextDelta { text } => content_delta(text),
                    BlockDelta::InputJsonDelta { partial_json } => {
                        if partial_json.is_empty() {
                            return Ok(Flow::Continue);
                        }
                        let tool_index = self.tool_index(index).ok_or_else(|| {
                            self.upstream
                                .protocol("input_json_delta outside a tool_use block")
                        })?;
                        tool_delta(tool_index, None, None, partial_json)
                    }
                    BlockDelta::ThinkingDelta { thinking } => {
                        let mut delta = Delta::default();
                        delta
                            .extra
                            .insert("reasoning_content".into(), thinking.into());
                        delta
                    }
                    BlockDelta::Other => return Ok(Flow::Continue),
                };
                out.push_back(self.builder()?.chunk(0, delta, None));
            }
            StreamEvent::MessageDelta { delta, usage } => {
                self.usage.merge(&usage);
                let reason = finish_reason(delta.stop_reason.as_deref());
                out.push_back(self.builder()?.chunk(0, Delta::default(), Some(reason)));
            }
            StreamEvent::MessageStop {} => {
                out.push_back(self.builder()?.usage(self.usage.to_openai()));
                return Ok(Flow::Done);
            }
            StreamEvent::Error { error } => {
                return Err(self
                    .upstream
                    .stream_error(error_status(&error.r#type), &error.message));
            }
            StreamEvent::ContentBlockStop {} | StreamEvent::Ping {} | StreamEvent::Unknown => {}
        }
        Ok(Flow::Continue)
    }

    fn on_end(&mut self, _out: &mut VecDeque<ChatCompletionChunk>) -> Result<(), GatewayError> {
        Err(self
            .upstream
            .protocol("the stream ended before message_stop"))
    }
}
