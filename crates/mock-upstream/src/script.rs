//! What a mock answers, and the player that streams it with the requested
//! timing and faults, whatever the provider's event format.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::{Directives, MockBody, MockState};

/// Arguments of every mock tool call.
pub(crate) fn tool_arguments() -> Value {
    serde_json::json!({"location": "Paris", "unit": "celsius"})
}

/// What the assistant answers: text, or a call of the request's first tool.
pub(crate) struct Answer {
    pub words: Vec<String>,
    pub tool: Option<String>,
}

impl Answer {
    /// `Echo: <text>`, `mock:words=N` words, a summary for `mock:inspect`,
    /// or a tool call for `mock:tool` when the request has a tool.
    pub fn new(
        user_text: &str,
        d: &Directives,
        first_tool: Option<&str>,
        summary: impl FnOnce() -> Value,
    ) -> Self {
        let words = if d.inspect {
            vec![summary().to_string()]
        } else if let Some(n) = d.words {
            (0..n).map(|i| format!("w{i}")).collect()
        } else {
            format!("Echo: {}", Directives::strip(user_text))
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        let tool = if d.tool {
            first_tool.map(str::to_owned)
        } else {
            None
        };
        Self { words, tool }
    }

    /// Cuts the answer to `max` words; true when it was longer.
    pub fn truncate(&mut self, max: Option<u64>) -> bool {
        match max.and_then(|m| usize::try_from(m).ok()) {
            Some(max) if self.words.len() > max && self.tool.is_none() => {
                self.words.truncate(max);
                true
            }
            _ => false,
        }
    }

    /// The whole text.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }

    /// The text as streamed: one piece per word, spaces kept.
    pub fn pieces(&self) -> Vec<String> {
        let last = self.words.len().saturating_sub(1);
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == last {
                    w.clone()
                } else {
                    format!("{w} ")
                }
            })
            .collect()
    }
}

/// The events of one streamed answer.
pub(crate) struct StreamScript {
    /// Sent at once (message start, role chunk).
    pub preamble: Vec<Bytes>,
    /// Content events: delays, holds and cuts apply between these.
    pub content: Vec<Bytes>,
    /// Sent after the content (finish, usage, end marker).
    pub epilogue: Vec<Bytes>,
    /// The in-band error event for `mock:mid_error`.
    pub error_event: Bytes,
}

type Item = Result<Bytes, io::Error>;

/// Streams `script` as an SSE response, applying `d`'s faults.
pub(crate) fn play(
    state: &Arc<MockState>,
    script: StreamScript,
    d: &Directives,
) -> Response<MockBody> {
    play_as(state, script, d, "text/event-stream; charset=utf-8")
}

/// Streams `script` with `content_type`, applying `d`'s faults.
pub(crate) fn play_as(
    state: &Arc<MockState>,
    script: StreamScript,
    d: &Directives,
    content_type: &'static str,
) -> Response<MockBody> {
    let (tx, rx) = mpsc::channel::<Item>(4);
    let mut released = state.release.subscribe();
    released.borrow_and_update();
    let d = d.clone();
    let counters = state.clone();
    counters.streams_open.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        // Counted open until the task ends, however it ends.
        let _open = OpenStream(counters.clone());
        let send = |item: Item| {
            let tx = tx.clone();
            let counters = counters.clone();
            async move {
                let sent = tx.send(item).await.is_ok();
                if !sent {
                    counters.streams_abandoned.fetch_add(1, Ordering::Relaxed);
                }
                sent
            }
        };
        for event in script.preamble {
            if !send(Ok(event)).await {
                return;
            }
        }
        for (i, event) in script.content.into_iter().enumerate() {
            if d.cut_after == Some(i) {
                // Let what was sent reach the wire first: a real cut loses only
                // what comes after it (hyper drops unflushed frames on error).
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = send(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "mock cut",
                )))
                .await;
                return;
            }
            if i > 0
                && let Some(delay) = d.chunk_delay
            {
                tokio::time::sleep(delay).await;
            }
            if !send(Ok(event)).await {
                return;
            }
            if i == 0 && d.mid_error {
                let _ = send(Ok(script.error_event)).await;
                return;
            }
            if i == 0 && d.hold {
                let _ = released.changed().await;
            }
        }
        for event in script.epilogue {
            if !send(Ok(event)).await {
                return;
            }
        }
    });
    stream_response(rx, content_type)
}

/// Marks a stream closed when dropped.
struct OpenStream(Arc<MockState>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that is not the provider's format at all.
pub(crate) fn garbage_stream() -> Response<MockBody> {
    let (tx, rx) = mpsc::channel::<Item>(1);
    let _ = tx.try_send(Ok(Bytes::from_static(b"data: {this is not json\n\n")));
    stream_response(rx, "text/event-stream; charset=utf-8")
}

fn stream_response(rx: mpsc::Receiver<Item>, content_type: &'static str) -> Response<MockBody> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// `data: <json>` + blank line (`\r\n` line ends when `crlf`, as Gemini sends).
pub(crate) fn data(value: &Value, crlf: bool) -> Bytes {
    Bytes::from(if crlf {
        format!("data: {value}\r\n\r\n")
    } else {
        format!("data: {value}\n\n")
    })
}

/// `event: <name>` + `data: <json>`, as Anthropic sends.
pub(crate) fn named(name: &str, value: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {value}\n\n"))
}
