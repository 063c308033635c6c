//! Turning an upstream SSE body into OpenAI chunks, event by event: a chunk
//! is yielded in the same poll in which its upstream event completes.

use std::collections::VecDeque;

use futures_util::StreamExt;

use super::ChunkStream;
use super::clients::InFlight;
use super::http::{Answer, Upstream};
use super::sse::{SseError, SseEvent, SseStream};
use crate::error::GatewayError;
use crate::openai::{
    ChatCompletionChunk, ChunkChoice, Delta, FinishReason, FunctionCallDelta, ToolCallDelta,
    ToolType, Usage,
};

/// What an upstream event meant for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// More events follow.
    Continue,
    /// The upstream said the stream is complete.
    Done,
}

/// A provider's stream translation: pure, testable on recorded events.
pub trait StreamTranslator: Send + 'static {
    /// Translates one event, appending any chunks it produces.
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut VecDeque<ChatCompletionChunk>,
    ) -> Result<Flow, GatewayError>;

    /// The body ended without a `Done` event: either a clean end (some
    /// providers have no terminator) or a cut, which must be an error.
    fn on_end(&mut self, out: &mut VecDeque<ChatCompletionChunk>) -> Result<(), GatewayError>;
}

struct Driver<S, T> {
    upstream: Upstream,
    /// Counts the request on its lane until the stream ends or is dropped.
    _in_flight: InFlight,
    events: SseStream<S>,
    translator: T,
    queue: VecDeque<ChatCompletionChunk>,
    error: Option<GatewayError>,
    finished: bool,
}

/// Runs `translator` over the SSE body of `answer`.
pub fn translate<T: StreamTranslator>(
    upstream: &Upstream,
    answer: Answer,
    translator: T,
) -> ChunkStream {
    let driver = Driver {
        upstream: upstream.clone(),
        _in_flight: answer.in_flight,
        events: SseStream::new(answer.response.bytes_stream()),
        translator,
        queue: VecDeque::new(),
        error: None,
        finished: false,
    };
    Box::pin(futures_util::stream::unfold(Some(driver), |state| {
        async move {
            let mut d = state?;
            let upstream = &d.upstream;
            loop {
                if let Some(chunk) = d.queue.pop_front() {
                    return Some((Ok(chunk), Some(d)));
                }
                if let Some(e) = d.error.take() {
                    return Some((Err(e), None));
                }
                if d.finished {
                    return None;
                }
                let step = match tokio::time::timeout(upstream.timeouts.idle, d.events.next()).await
                {
                    Err(_) => Err(GatewayError::UpstreamTimeout {
                        provider: upstream.id,
                    }),
                    Ok(None) => {
                        d.finished = true;
                        d.translator.on_end(&mut d.queue)
                    }
                    Ok(Some(Err(SseError::Transport(e)))) => Err(upstream.transport_error(e)),
                    Ok(Some(Err(SseError::Malformed(m)))) => Err(upstream.protocol(m)),
                    Ok(Some(Ok(event))) => d.translator.on_event(event, &mut d.queue).map(|flow| {
                        d.finished = flow == Flow::Done;
                    }),
                };
                if let Err(e) = step {
                    // Chunks translated before the failure still go out first.
                    d.error = Some(e);
                    d.finished = true;
                }
            }
        }
    }))
}

/// A delta carrying text.
pub fn content_delta(text: String) -> Delta {
    Delta {
        content: Some(text),
        ..Delta::default()
    }
}

/// A delta carrying part of tool call `index` (its id and name on the first).
pub fn tool_delta(
    index: u32,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
) -> Delta {
    let first = id.is_some();
    Delta {
        tool_calls: Some(vec![ToolCallDelta {
            index,
            id,
            r#type: first.then_some(ToolType::Function),
            function: Some(FunctionCallDelta {
                name,
                arguments: Some(arguments),
            }),
            extra: Default::default(),
        }]),
        ..Delta::default()
    }
}

/// Builds the chunks of one streamed message (same id, model and time).
#[derive(Debug, Clone)]
pub struct ChunkBuilder {
    /// Completion id shared by every chunk.
    pub id: String,
    /// Model name reported in every chunk.
    pub model: String,
    /// Creation time shared by every chunk.
    pub created: u64,
}

impl ChunkBuilder {
    /// A chunk with one choice.
    pub fn chunk(
        &self,
        index: u32,
        delta: Delta,
        finish_reason: Option<FinishReason>,
    ) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index,
                delta,
                finish_reason,
                extra: Default::default(),
            }],
            usage: None,
            extra: Default::default(),
        }
    }

    /// The final usage-only chunk.
    pub fn usage(&self, usage: Usage) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: Vec::new(),
            usage: Some(usage),
            extra: Default::default(),
        }
    }
}
