//! Gemini `generateContent` responses and SSE stream → OpenAI completion and
//! chunks (pure).

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::clock::unix_seconds;
use crate::error::GatewayError;
use crate::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, Choice, CompletionTokensDetails, Delta,
    FinishReason, FunctionCall, FunctionCallDelta, PromptTokensDetails, Role, ToolCall,
    ToolCallDelta, ToolType, Usage,
};
use crate::providers::ProviderId;
use crate::providers::http::Upstream;
use crate::providers::sse::SseEvent;
use crate::providers::stream::{ChunkBuilder, Flow, StreamTranslator};

/// One `generateContent` response, or one chunk of a stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
    /// An error reported in place of a chunk, mid-stream.
    #[serde(default)]
    pub error: Option<ApiError>,
}

/// `{"error": {"code", "message", "status"}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: String,
}

/// A candidate answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default)]
    pub content: Option<CandidateContent>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
}

/// The parts of a candidate.
#[derive(Debug, Default, Deserialize)]
pub struct CandidateContent {
    #[serde(default)]
    pub parts: Vec<ResponsePart>,
}

/// A response part.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponsePart {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default)]
    pub function_call: Option<FunctionCallOut>,
    #[serde(default)]
    pub thought_signature: Option<String>,
}

/// A function call the model made.
#[derive(Debug, Default, Deserialize)]
pub struct FunctionCallOut {
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
    #[serde(default)]
    pub id: Option<String>,
}

/// Why a prompt was blocked.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// Gemini token counts (cumulative in streams).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub total_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
}

impl UsageMetadata {
    /// OpenAI semantics: thinking tokens are completion (billed as output)
    /// and reported again as `reasoning_tokens`; cached tokens are part of
    /// the prompt and reported as `cached_tokens`.
    pub fn to_openai(&self) -> Usage {
        let completion = self.candidates_token_count + self.thoughts_token_count;
        Usage {
            prompt_tokens: self.prompt_token_count,
            completion_tokens: completion,
            total_tokens: self
                .total_token_count
                .max(self.prompt_token_count + completion),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(self.cached_content_token_count),
                extra: Default::default(),
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: Some(self.thoughts_token_count),
                extra: Default::default(),
            }),
            extra: Default::default(),
        }
    }
}

/// Gemini finish reason → OpenAI; STOP with a function call is `tool_calls`.
pub fn finish_reason(reason: &str, called_function: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        _ if called_function => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// A new tool-call id (Gemini has none of its own unless it sends `id`).
fn synthesize_call_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", &id[..24])
}

/// The `extra_content` that carries a thought signature back to the client,
/// the convention of Gemini's own OpenAI-compatible API.
fn signature_extra(signature: Option<String>) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(signature) = signature {
        extra.insert(
            "extra_content".into(),
            json!({"google": {"thought_signature": signature}}),
        );
    }
    extra
}

/// The whole response as an OpenAI completion; `requested_model` is used
/// when Gemini reports no `modelVersion`.
pub fn to_completion(response: GenerateContentResponse, requested_model: &str) -> ChatCompletion {
    let mut choices = Vec::new();
    for (position, candidate) in response.candidates.into_iter().enumerate() {
        let mut text = String::new();
        let mut thinking = String::new();
        let mut tool_calls = Vec::new();
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                tool_calls.push(ToolCall {
                    id: call.id.unwrap_or_else(synthesize_call_id),
                    r#type: ToolType::Function,
                    function: FunctionCall {
                        name: call.name,
                        arguments: call.args.unwrap_or_else(|| json!({})).to_string(),
                    },
                    extra: signature_extra(part.thought_signature),
                });
            } else if let Some(t) = part.text {
                if part.thought == Some(true) {
                    thinking.push_str(&t);
                } else {
                    text.push_str(&t);
                }
            }
        }
        let reason = candidate.finish_reason.as_deref().unwrap_or("STOP");
        let finish = finish_reason(reason, !tool_calls.is_empty());
        let message = AssistantMessage::new(text, tool_calls, thinking);
        choices.push(Choice {
            index: candidate.index.unwrap_or(position as u32),
            message,
            finish_reason: Some(finish),
            extra: Default::default(),
        });
    }
    if choices.is_empty() {
        // The prompt itself was blocked: no candidates, only a block reason.
        let blocked = response
            .prompt_feedback
            .and_then(|f| f.block_reason)
            .is_some();
        choices.push(Choice {
            index: 0,
            message: AssistantMessage {
                role: Role::Assistant,
                content: Some(String::new()),
                tool_calls: None,
                extra: Default::default(),
            },
            finish_reason: Some(if blocked {
                FinishReason::ContentFilter
            } else {
                FinishReason::Stop
            }),
            extra: Default::default(),
        });
    }
    ChatCompletion {
        id: response
            .response_id
            .unwrap_or_else(|| format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())),
        object: "chat.completion".into(),
        created: unix_seconds(),
        model: response
            .model_version
            .unwrap_or_else(|| requested_model.to_owned()),
        choices,
        usage: Some(response.usage_metadata.unwrap_or_default().to_openai()),
        extra: Default::default(),
    }
}

/// Per-candidate stream state.
#[derive(Debug, Default, Clone)]
struct CandidateState {
    started: bool,
    tool_calls: u32,
    finished: bool,
}

/// Translates `streamGenerateContent?alt=sse` chunks. Gemini has no end
/// marker: a body that ends after every candidate finished is complete, one
/// that ends before is cut. Usage is cumulative, so only the last is kept.
pub struct GeminiStream {
    upstream: Upstream,
    requested_model: String,
    builder: Option<ChunkBuilder>,
    candidates: Vec<CandidateState>,
    usage: Option<UsageMetadata>,
}

impl GeminiStream {
    /// A translator for one stream.
    pub fn new(upstream: Upstream, requested_model: &str) -> Self {
        Self {
            upstream,
            requested_model: requested_model.to_owned(),
            builder: None,
            candidates: Vec::new(),
            usage: None,
        }
    }
}

/// Most candidates a stream may carry.
const MAX_CANDIDATES: usize = 128;

impl StreamTranslator for GeminiStream {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut VecDeque<ChatCompletionChunk>,
    ) -> Result<Flow, GatewayError> {
        if event.data.trim().is_empty() {
            return Ok(Flow::Continue);
        }
        let chunk: GenerateContentResponse = serde_json::from_str(&event.data).map_err(|e| {
            self.upstream
                .protocol(format!("unexpected stream event: {e}"))
        })?;
        if let Some(error) = chunk.error {
            return Err(self
                .upstream
                .stream_error(error.code.unwrap_or(500), &error.message));
        }
        if let Some(usage) = chunk.usage_metadata {
            self.usage = Some(usage);
        }
        let builder = self.builder.get_or_insert_with(|| ChunkBuilder {
            id: chunk
                .response_id
                .clone()
                .unwrap_or_else(|| format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())),
            model: chunk
                .model_version
                .clone()
                .unwrap_or_else(|| self.requested_model.clone()),
            created: unix_seconds(),
        });
        if chunk.candidates.is_empty()
            && chunk.prompt_feedback.and_then(|f| f.block_reason).is_some()
        {
            self.candidates = vec![CandidateState {
                started: true,
                tool_calls: 0,
                finished: true,
            }];
            let delta = Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
                ..Delta::default()
            };
            out.push_back(builder.chunk(0, delta, Some(FinishReason::ContentFilter)));
            return Ok(Flow::Continue);
        }
        for (position, candidate) in chunk.candidates.into_iter().enumerate() {
            let index = candidate.index.unwrap_or(position as u32);
            let slot = index as usize;
            // One slot per candidate: an index is the provider's word, so
            // it is bounded (OpenAI's `n` is at most 128).
            if slot >= MAX_CANDIDATES {
                return Err(GatewayError::UpstreamProtocol {
                    provider: ProviderId::GEMINI,
                    detail: format!("candidate index {index} is out of range"),
                });
            }
            if self.candidates.len() <= slot {
                self.candidates.resize(slot + 1, CandidateState::default());
            }
            let state = &mut self.candidates[slot];
            let mut delta = Delta::default();
            if !state.started {
                state.started = true;
                delta.role = Some(Role::Assistant);
            }
            let mut text = String::new();
            let mut thinking = String::new();
            let mut calls = Vec::new();
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(call) = part.function_call {
                    calls.push(ToolCallDelta {
                        index: state.tool_calls,
                        id: Some(call.id.unwrap_or_else(synthesize_call_id)),
                        r#type: Some(ToolType::Function),
                        function: Some(FunctionCallDelta {
                            name: Some(call.name),
                            arguments: Some(call.args.unwrap_or_else(|| json!({})).to_string()),
                        }),
                        extra: signature_extra(part.thought_signature),
                    });
                    state.tool_calls += 1;
                } else if let Some(t) = part.text {
                    if part.thought == Some(true) {
                        thinking.push_str(&t);
                    } else {
                        text.push_str(&t);
                    }
                }
            }
            if !text.is_empty() || delta.role.is_some() {
                delta.content = Some(text);
            }
            if !calls.is_empty() {
                delta.tool_calls = Some(calls);
            }
            if !thinking.is_empty() {
                delta
                    .extra
                    .insert("reasoning_content".into(), thinking.into());
            }
            let finish = candidate.finish_reason.as_deref().map(|r| {
                state.finished = true;
                finish_reason(r, state.tool_calls > 0)
            });
            let has_content = delta.role.is_some()
                || delta.content.is_some()
                || delta.tool_calls.is_some()
                || !delta.extra.is_empty();
            if has_content || finish.is_some() {
                out.push_back(builder.chunk(index, delta, finish));
            }
        }
        Ok(Flow::Continue)
    }

    fn on_end(&mut self, out: &mut VecDeque<ChatCompletionChunk>) -> Result<(), GatewayError> {
        let complete = !self.candidates.is_empty() && self.candidates.iter().all(|c| c.finished);
        match (&self.builder, complete) {
            (Some(builder), true) => {
                out.push_back(builder.usage(self.usage.clone().unwrap_or_default().to_openai()));
                Ok(())
            }
            _ => Err(self
                .upstream
                .protocol("the stream ended before a finishReason")),
        }
    }
}
