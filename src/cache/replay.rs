//! Serving a stored answer (as JSON or as a valid SSE stream) and collecting
//! a streamed answer into one completion to store.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Key, SemanticCache};
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, Choice, Delta, FinishReason,
    FunctionCall, FunctionCallDelta, Role, ToolCall, ToolCallDelta, ToolType, Usage,
};
use crate::providers::stream::ChunkBuilder;

/// A stored answer as served: the same content, zero billed tokens.
pub fn as_served(mut completion: ChatCompletion) -> ChatCompletion {
    completion.usage = Some(Usage::default());
    completion
}

/// The chunks of a stored answer, as a provider would have streamed them.
pub fn chunks(completion: &ChatCompletion) -> Vec<ChatCompletionChunk> {
    let builder = ChunkBuilder {
        id: completion.id.clone(),
        model: completion.model.clone(),
        created: completion.created,
    };
    let mut out = Vec::new();
    for choice in &completion.choices {
        let role = Delta {
            role: Some(Role::Assistant),
            content: Some(String::new()),
            ..Delta::default()
        };
        out.push(builder.chunk(choice.index, role, None));
        if let Some(text) = choice.message.content.as_ref().filter(|t| !t.is_empty()) {
            let delta = Delta {
                content: Some(text.clone()),
                ..Delta::default()
            };
            out.push(builder.chunk(choice.index, delta, None));
        }
        for (i, call) in choice.message.tool_calls.iter().flatten().enumerate() {
            let delta = Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: i as u32,
                    id: Some(call.id.clone()),
                    r#type: Some(ToolType::Function),
                    function: Some(FunctionCallDelta {
                        name: Some(call.function.name.clone()),
                        arguments: Some(call.function.arguments.clone()),
                    }),
                    extra: call.extra.clone(),
                }]),
                ..Delta::default()
            };
            out.push(builder.chunk(choice.index, delta, None));
        }
        out.push(builder.chunk(choice.index, Delta::default(), choice.finish_reason));
    }
    out.push(builder.usage(Usage::default()));
    out
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
    extra: crate::openai::Extra,
}

/// Builds one completion from the chunks of a single-choice stream.
#[derive(Default)]
pub struct Collector {
    id: String,
    model: String,
    created: u64,
    content: String,
    calls: BTreeMap<u32, PartialCall>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    multiple_choices: bool,
}

impl Collector {
    /// Adds a chunk.
    pub fn push(&mut self, chunk: &ChatCompletionChunk) {
        if self.id.is_empty() {
            chunk.id.clone_into(&mut self.id);
            chunk.model.clone_into(&mut self.model);
            self.created = chunk.created;
        }
        if chunk.usage.is_some() {
            self.usage.clone_from(&chunk.usage);
        }
        for choice in &chunk.choices {
            if choice.index != 0 {
                self.multiple_choices = true;
                continue;
            }
            if let Some(text) = &choice.delta.content {
                self.content.push_str(text);
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                let partial = self.calls.entry(call.index).or_default();
                if let Some(id) = &call.id {
                    id.clone_into(&mut partial.id);
                }
                if let Some(f) = &call.function {
                    if let Some(name) = &f.name {
                        partial.name.push_str(name);
                    }
                    if let Some(args) = &f.arguments {
                        partial.arguments.push_str(args);
                    }
                }
                partial.extra.extend(call.extra.clone());
            }
            if choice.finish_reason.is_some() {
                self.finish = choice.finish_reason;
            }
        }
    }

    /// The completion, if the stream was a complete single-choice answer.
    pub fn finish(self) -> Option<ChatCompletion> {
        if self.multiple_choices || self.finish.is_none() || self.id.is_empty() {
            return None;
        }
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_values()
            .map(|c| ToolCall {
                id: c.id,
                r#type: ToolType::Function,
                function: FunctionCall {
                    name: c.name,
                    arguments: c.arguments,
                },
                extra: c.extra,
            })
            .collect();
        Some(ChatCompletion {
            id: self.id,
            object: "chat.completion".into(),
            created: self.created,
            model: self.model,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage::new(self.content, tool_calls, String::new()),
                finish_reason: self.finish,
                extra: Default::default(),
            }],
            usage: self.usage,
            extra: Default::default(),
        })
    }
}

/// A store to run once the answer is complete.
pub struct PendingStore {
    /// The cache.
    pub cache: Arc<SemanticCache>,
    /// Where the answer goes.
    pub key: Key,
    /// The prompt's vector, when the lookup computed it.
    pub vector: Option<Vec<f32>>,
}

impl PendingStore {
    /// Stores the answer (bounded; failures are logged, never raised).
    pub async fn run(self, completion: &ChatCompletion) {
        self.cache.store(self.key, self.vector, completion).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replayed_chunks_collect_back_into_the_same_answer() {
        let completion: ChatCompletion = serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Checking.",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        }))
        .expect("valid");
        let mut collector = Collector::default();
        for chunk in chunks(&completion) {
            collector.push(&chunk);
        }
        let back = collector.finish().expect("complete");
        assert_eq!(back.choices, completion.choices);
        assert_eq!(back.usage, Some(Usage::default()), "a replay bills nothing");
        assert_eq!(as_served(completion).usage, Some(Usage::default()));
        assert!(
            Collector::default().finish().is_none(),
            "nothing collected, nothing stored"
        );
    }
}
