//! Bedrock Converse output and ConverseStream events → OpenAI completion
//! and chunks (pure).

use std::collections::{BTreeMap, VecDeque};

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConverseOutput, ConverseStreamOutput,
    ReasoningContentBlock, ReasoningContentBlockDelta, StopReason, TokenUsage,
};

use super::request::to_json;
use crate::clock::unix_seconds;
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, Choice, Delta, FinishReason,
    FunctionCall, PromptTokensDetails, Role, ToolCall, ToolType, Usage,
};
use crate::providers::stream::{ChunkBuilder, content_delta, tool_delta};

/// Bedrock stop reason → OpenAI finish reason.
pub fn finish_reason(reason: &StopReason) -> FinishReason {
    match reason {
        StopReason::ToolUse => FinishReason::ToolCalls,
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => FinishReason::Length,
        StopReason::GuardrailIntervened | StopReason::ContentFiltered => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Stop,
    }
}

/// Bedrock token usage → OpenAI usage: cache reads and writes are part of
/// the prompt, reads reported as cached tokens.
pub fn usage(usage: &TokenUsage) -> Usage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    let read = usage.cache_read_input_tokens().map_or(0, count);
    let write = usage.cache_write_input_tokens().map_or(0, count);
    let prompt = count(usage.input_tokens()) + read + write;
    let completion = count(usage.output_tokens());
    let mut out = Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: (read > 0).then(|| PromptTokensDetails {
            cached_tokens: Some(read),
            extra: Default::default(),
        }),
        ..Usage::default()
    };
    if write > 0 {
        out.extra
            .insert("cache_creation_input_tokens".into(), write.into());
    }
    out
}

/// A new completion id (Converse answers carry none).
pub fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

/// The whole Converse answer as an OpenAI completion.
pub fn to_completion(
    model: &str,
    output: Option<&ConverseOutput>,
    stop: &StopReason,
    token_usage: Option<&TokenUsage>,
) -> ChatCompletion {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    if let Some(ConverseOutput::Message(message)) = output {
        for block in message.content() {
            match block {
                ContentBlock::Text(t) => text.push_str(t),
                ContentBlock::ToolUse(tool) => tool_calls.push(ToolCall {
                    id: tool.tool_use_id().to_owned(),
                    r#type: ToolType::Function,
                    function: FunctionCall {
                        name: tool.name().to_owned(),
                        arguments: to_json(tool.input()).to_string(),
                    },
                    extra: Default::default(),
                }),
                ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => {
                    reasoning.push_str(r.text());
                }
                _ => {}
            }
        }
    }
    ChatCompletion {
        id: completion_id(),
        object: "chat.completion".into(),
        created: unix_seconds(),
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage::new(text, tool_calls, reasoning),
            finish_reason: Some(finish_reason(stop)),
            extra: Default::default(),
        }],
        usage: token_usage.map(usage),
        extra: Default::default(),
    }
}

/// Translates ConverseStream events into OpenAI chunks. Tool calls get a
/// dense 0..n `index`, independent of Bedrock's content-block index.
pub struct StreamState {
    builder: ChunkBuilder,
    tools: BTreeMap<i32, u32>,
    /// Set by `messageStop`; a stream that ends without it was cut.
    pub stopped: bool,
}

impl StreamState {
    /// The state of one stream of `model`.
    pub fn new(model: &str) -> Self {
        Self {
            builder: ChunkBuilder {
                id: completion_id(),
                model: model.to_owned(),
                created: unix_seconds(),
            },
            tools: BTreeMap::new(),
            stopped: false,
        }
    }

    /// Adds the chunks one event yields.
    pub fn on_event(
        &mut self,
        event: ConverseStreamOutput,
        out: &mut VecDeque<ChatCompletionChunk>,
    ) {
        match event {
            ConverseStreamOutput::MessageStart(_) => {
                let delta = Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                    ..Delta::default()
                };
                out.push_back(self.builder.chunk(0, delta, None));
            }
            ConverseStreamOutput::ContentBlockStart(start) => {
                if let Some(ContentBlockStart::ToolUse(tool)) = start.start() {
                    let index = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                    self.tools.insert(start.content_block_index(), index);
                    let delta = tool_delta(
                        index,
                        Some(tool.tool_use_id().to_owned()),
                        Some(tool.name().to_owned()),
                        String::new(),
                    );
                    out.push_back(self.builder.chunk(0, delta, None));
                }
            }
            ConverseStreamOutput::ContentBlockDelta(event) => {
                let delta = match event.delta() {
                    Some(ContentBlockDelta::Text(text)) if !text.is_empty() => {
                        content_delta(text.clone())
                    }
                    Some(ContentBlockDelta::ToolUse(tool)) => {
                        let Some(index) = self.tools.get(&event.content_block_index()) else {
                            return;
                        };
                        tool_delta(*index, None, None, tool.input().to_owned())
                    }
                    Some(ContentBlockDelta::ReasoningContent(
                        ReasoningContentBlockDelta::Text(text),
                    )) => {
                        let mut delta = Delta::default();
                        delta
                            .extra
                            .insert("reasoning_content".into(), text.clone().into());
                        delta
                    }
                    _ => return,
                };
                out.push_back(self.builder.chunk(0, delta, None));
            }
            ConverseStreamOutput::MessageStop(stop) => {
                self.stopped = true;
                out.push_back(self.builder.chunk(
                    0,
                    Delta::default(),
                    Some(finish_reason(stop.stop_reason())),
                ));
            }
            ConverseStreamOutput::Metadata(meta) => {
                if let Some(u) = meta.usage() {
                    out.push_back(self.builder.usage(usage(u)));
                }
            }
            _ => {}
        }
    }
}
