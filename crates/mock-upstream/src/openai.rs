//! The OpenAI chat-completions wire format: JSON, SSE chunks, error bodies.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{Directives, DropConnection, MockBody, MockState, json_response, now};

/// The text of the last user message (string content or text parts).
fn last_user_text(body: &Value) -> String {
    let Some(messages) = body["messages"].as_array() else {
        return String::new();
    };
    let Some(user) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &user["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Rough token count: words of every message.
fn prompt_tokens(body: &Value) -> u64 {
    body["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| match &m["content"] {
                    Value::String(s) => s.split_whitespace().count() as u64,
                    _ => 1,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn error_body(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn status_error(status: u16) -> Response<MockBody> {
    let (kind, code, message) = match status {
        400 => ("invalid_request_error", None, "Invalid request (mock)."),
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist (mock).",
        ),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests (mock).",
        ),
        503 => ("server_error", None, "The server is overloaded (mock)."),
        _ => (
            "server_error",
            None,
            "The server had an error while processing your request (mock).",
        ),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, &error_body(message, kind, code));
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
    }
    response
}

/// Masks a key the way OpenAI does in its 401 message.
fn masked(key: &str) -> String {
    let head: String = key.chars().take(3).collect();
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}*****{tail}")
}

fn check_key(
    state: &MockState,
    authorization: Option<&str>,
) -> Result<(), Box<Response<MockBody>>> {
    let Some(expected) = &state.api_key else {
        return Ok(());
    };
    let presented = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented == expected {
        return Ok(());
    }
    let message = format!(
        "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
        masked(presented)
    );
    Err(Box::new(json_response(
        StatusCode::UNAUTHORIZED,
        &error_body(&message, "invalid_request_error", Some("invalid_api_key")),
    )))
}

/// `GET /v1/models`.
pub(crate) fn models(state: &MockState, authorization: Option<&str>) -> Response<MockBody> {
    if let Err(response) = check_key(state, authorization) {
        return *response;
    }
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"}
        ]}),
    )
}

/// What the assistant answers: text words or one tool call.
struct Answer {
    words: Vec<String>,
    tool: Option<(String, String)>,
}

impl Answer {
    fn for_request(body: &Value, text: &str, d: &Directives) -> Self {
        let tool = d
            .tool
            .then(|| {
                body["tools"][0]["function"]["name"]
                    .as_str()
                    .map(str::to_owned)
            })
            .flatten()
            .map(|name| {
                (
                    name,
                    json!({"location": "Paris", "unit": "celsius"}).to_string(),
                )
            });
        let mut words: Vec<String> = format!("Echo: {}", Directives::strip(text))
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if let Some(n) = d.words {
            words = (0..n).map(|i| format!("w{i}")).collect();
        }
        Self { words, tool }
    }

    fn text(&self) -> String {
        self.words.join(" ")
    }
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(
    state: &Arc<MockState>,
    authorization: Option<&str>,
    body: Value,
) -> Result<Response<MockBody>, DropConnection> {
    if let Err(response) = check_key(state, authorization) {
        return Ok(*response);
    }
    if body["model"].as_str().is_none() || !body["messages"].is_array() {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &error_body(
                "you must provide a model and messages",
                "invalid_request_error",
                None,
            ),
        ));
    }
    let text = last_user_text(&body);
    let d = Directives::parse(&text);
    if let Some(delay) = d.delay {
        tokio::time::sleep(delay).await;
    }
    if d.drop {
        return Err(DropConnection);
    }
    if let Some(status) = d.status {
        return Ok(status_error(status));
    }
    let id = format!("chatcmpl-mock{}", state.next_id());
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let answer = Answer::for_request(&body, &text, &d);
    let usage = json!({
        "prompt_tokens": prompt_tokens(&body),
        "completion_tokens": answer.words.len(),
        "total_tokens": prompt_tokens(&body) + answer.words.len() as u64,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    });
    if body["stream"] == true {
        if d.garbage {
            return Ok(sse_response(stream_of(vec![Ok(Bytes::from_static(
                b"data: {this is not json\n\n",
            ))])));
        }
        let include_usage = body["stream_options"]["include_usage"] == true;
        let frames = StreamPlan {
            id,
            model,
            answer,
            usage,
            include_usage,
            d,
        };
        return Ok(sse_response(frames.spawn(state.clone())));
    }
    if d.garbage {
        return Ok(json_response(StatusCode::OK, &json!({"unexpected": true})));
    }
    let n = body["n"].as_u64().unwrap_or(1).max(1);
    let choices: Vec<Value> = (0..n)
        .map(|index| {
            let (message, finish) = match &answer.tool {
                Some((name, args)) => (
                    json!({"role": "assistant", "content": null, "refusal": null, "annotations": [],
                        "tool_calls": [{"id": format!("call_mock{index}"), "type": "function",
                            "function": {"name": name, "arguments": args}}]}),
                    "tool_calls",
                ),
                None => (
                    json!({"role": "assistant", "content": answer.text(), "refusal": null, "annotations": []}),
                    "stop",
                ),
            };
            json!({"index": index, "message": message, "logprobs": null, "finish_reason": finish})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": id, "object": "chat.completion", "created": now(), "model": model,
            "choices": choices, "usage": usage,
            "service_tier": "default", "system_fingerprint": "fp_mock"
        }),
    ))
}

type Item = Result<Bytes, io::Error>;

fn stream_of(items: Vec<Item>) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(items.len().max(1));
    for item in items {
        let _ = tx.try_send(item);
    }
    rx
}

fn sse_response(rx: mpsc::Receiver<Item>) -> Response<MockBody> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// The chunks of one streamed answer, produced by a task with the
/// requested timing and faults.
struct StreamPlan {
    id: String,
    model: String,
    answer: Answer,
    usage: Value,
    include_usage: bool,
    d: Directives,
}

impl StreamPlan {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Bytes {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": now(), "model": self.model,
            "service_tier": "default", "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            "obfuscation": "mock"
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    /// The content deltas, in order.
    fn deltas(&self) -> Vec<Value> {
        match &self.answer.tool {
            Some((name, args)) => {
                let mut deltas = vec![
                    json!({"tool_calls": [{"index": 0, "id": "call_mock0", "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                ];
                let bytes: Vec<char> = args.chars().collect();
                for piece in bytes.chunks(8) {
                    let piece: String = piece.iter().collect();
                    deltas.push(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    );
                }
                deltas
            }
            None => {
                let last = self.answer.words.len().saturating_sub(1);
                self.answer
                    .words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| json!({"content": if i == last { w.clone() } else { format!("{w} ") }}))
                    .collect()
            }
        }
    }

    fn spawn(self, state: Arc<MockState>) -> mpsc::Receiver<Item> {
        let (tx, rx) = mpsc::channel(4);
        let mut released = state.release.subscribe();
        released.borrow_and_update();
        tokio::spawn(async move {
            let send = |item: Item| {
                let tx = tx.clone();
                async move { tx.send(item).await.is_ok() }
            };
            if !send(Ok(self.chunk(
                json!({"role": "assistant", "content": "", "refusal": null}),
                None,
            )))
            .await
            {
                return;
            }
            for (i, delta) in self.deltas().into_iter().enumerate() {
                if self.d.cut_after == Some(i) {
                    // Let what was sent reach the wire first: a real cut loses only
                    // what comes after it (hyper drops unflushed frames on error).
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    let _ = send(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "mock cut",
                    )))
                    .await;
                    return;
                }
                if i > 0
                    && let Some(delay) = self.d.chunk_delay
                {
                    tokio::time::sleep(delay).await;
                }
                if !send(Ok(self.chunk(delta, None))).await {
                    return;
                }
                if i == 0 && self.d.mid_error {
                    let error = error_body(
                        "The server had an error while processing your request (mock).",
                        "server_error",
                        None,
                    );
                    let _ = send(Ok(Bytes::from(format!("data: {error}\n\n")))).await;
                    return;
                }
                if i == 0 && self.d.hold {
                    let _ = released.changed().await;
                }
            }
            let finish = if self.answer.tool.is_some() {
                "tool_calls"
            } else {
                "stop"
            };
            if !send(Ok(self.chunk(json!({}), Some(finish)))).await {
                return;
            }
            if self.include_usage {
                let usage = json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": now(), "model": self.model,
                    "service_tier": "default", "system_fingerprint": "fp_mock", "choices": [],
                    "usage": self.usage, "obfuscation": "mock"
                });
                if !send(Ok(Bytes::from(format!("data: {usage}\n\n")))).await {
                    return;
                }
            }
            let _ = send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
        });
        rx
    }
}
