//! The OpenAI chat-completions wire format: JSON, SSE chunks, error bodies.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use crate::script::{Answer, StreamScript, data, garbage_stream, play, tool_arguments};
use crate::{Directives, DropConnection, MockBody, MockState, json_response, now};

/// Text of a message's content (string or text parts).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn messages(body: &Value) -> &[Value] {
    body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The text of the last user message.
fn last_user_text(body: &Value) -> String {
    messages(body)
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default()
}

/// What the request looked like, for `mock:inspect`.
fn summary(body: &Value) -> Value {
    let system: Vec<String> = messages(body)
        .iter()
        .filter(|m| m["role"] == "system" || m["role"] == "developer")
        .map(|m| content_text(&m["content"]))
        .collect();
    let roles: Vec<&Value> = messages(body)
        .iter()
        .filter(|m| m["role"] != "system" && m["role"] != "developer")
        .map(|m| &m["role"])
        .collect();
    let images = messages(body)
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|p| p["type"] == "image_url")
        .count();
    let tool_results: Vec<&Value> = messages(body)
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| &m["tool_call_id"])
        .collect();
    json!({"provider": "openai", "system": system.join("\n"), "roles": roles, "images": images,
        "tool_results": tool_results, "model": body["model"]})
}

/// Rough token count: words of every message.
fn prompt_tokens(body: &Value) -> u64 {
    messages(body)
        .iter()
        .map(|m| {
            content_text(&m["content"])
                .split_whitespace()
                .count()
                .max(1) as u64
        })
        .sum()
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

fn check_key(state: &MockState, headers: &HeaderMap) -> Result<(), Box<Response<MockBody>>> {
    let Some(expected) = &state.api_key else {
        return Ok(());
    };
    let presented = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
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
pub(crate) fn models(state: &MockState, headers: &HeaderMap) -> Response<MockBody> {
    if let Err(response) = check_key(state, headers) {
        return *response;
    }
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"}
        ]}),
    )
}

/// `POST /v1/embeddings`: text or token-id inputs, `dimensions`,
/// `encoding_format` (`float`, `base64`).
pub(crate) async fn embeddings(
    state: &Arc<MockState>,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response<MockBody>, DropConnection> {
    use base64::Engine;
    if let Err(response) = check_key(state, headers) {
        return Ok(*response);
    }
    let bad = |message: &str| {
        Ok(json_response(
            StatusCode::BAD_REQUEST,
            &error_body(message, "invalid_request_error", None),
        ))
    };
    let Some(model) = body["model"].as_str() else {
        return bad("you must provide a model parameter");
    };
    let texts: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => return bad("'input' must be a string or a non-empty array"),
    };
    if texts.iter().any(String::is_empty) {
        return bad("'input' cannot contain an empty string");
    }
    let d = Directives::for_request(state, "openai", &texts[0]);
    if let Some(status) = d.before_answer().await? {
        return Ok(status_error(status));
    }
    let dims = body["dimensions"].as_u64().unwrap_or(64) as usize;
    if dims == 0 || dims > 3072 {
        return bad("'dimensions' must be between 1 and 3072");
    }
    let base64 = match body["encoding_format"].as_str() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return bad("'encoding_format' must be float or base64"),
    };
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let v = crate::vector(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: usize = texts
        .iter()
        .map(|t| t.split_whitespace().count().max(1))
        .sum();
    Ok(json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    ))
}

/// Azure's refusal of a prompt its content filter caught.
fn content_filter_error() -> Response<MockBody> {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
            "type": null, "param": "prompt", "code": "content_filter", "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "hate": {"filtered": true, "severity": "high"}, "jailbreak": {"filtered": false, "detected": false},
                "self_harm": {"filtered": false, "severity": "safe"}, "sexual": {"filtered": false, "severity": "safe"},
                "violence": {"filtered": false, "severity": "safe"}}}}}),
    )
}

/// `POST /v1/chat/completions` (and Azure's, as `provider` "azure").
pub(crate) async fn chat(
    state: &Arc<MockState>,
    headers: &HeaderMap,
    body: Value,
    provider: &str,
) -> Result<Response<MockBody>, DropConnection> {
    if let Err(response) = check_key(state, headers) {
        return Ok(*response);
    }
    if body["model"].as_str().is_none() || messages(&body).is_empty() {
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
    let d = Directives::for_request(state, provider, &text);
    if let Some(status) = d.before_answer().await? {
        return Ok(status_error(status));
    }
    if d.filter.as_deref() == Some("prompt") {
        return Ok(content_filter_error());
    }
    let filtered = d.filter.as_deref() == Some("output");
    let id = format!("chatcmpl-mock{}", state.next_id());
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let mut answer = Answer::new(
        &text,
        &d,
        body["tools"][0]["function"]["name"].as_str(),
        || summary(&body),
    );
    if filtered {
        answer.words.clear();
    }
    let completion = answer.words.len() as u64;
    let usage = json!({
        "prompt_tokens": prompt_tokens(&body),
        "completion_tokens": completion,
        "total_tokens": prompt_tokens(&body) + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    });
    if body["stream"] == true {
        if d.garbage {
            return Ok(garbage_stream());
        }
        let include_usage = body["stream_options"]["include_usage"] == true;
        return Ok(play(
            state,
            stream_script(&id, &model, &answer, usage, include_usage, filtered),
            &d,
        ));
    }
    if d.garbage {
        return Ok(json_response(StatusCode::OK, &json!({"unexpected": true})));
    }
    let n = body["n"].as_u64().unwrap_or(1).max(1);
    let choices: Vec<Value> = (0..n)
        .map(|index| {
            let (message, finish) = match &answer.tool {
                Some(name) => (
                    json!({"role": "assistant", "content": null, "refusal": null, "annotations": [],
                        "tool_calls": [{"id": format!("call_mock{index}"), "type": "function",
                            "function": {"name": name, "arguments": tool_arguments().to_string()}}]}),
                    "tool_calls",
                ),
                None => (
                    json!({"role": "assistant", "content": answer.text(), "refusal": null, "annotations": []}),
                    if filtered { "content_filter" } else { "stop" },
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

/// The chunks OpenAI sends: a role chunk, content or tool-call deltas, a
/// finish chunk, the usage chunk when asked for, `[DONE]`.
fn stream_script(
    id: &str,
    model: &str,
    answer: &Answer,
    usage: Value,
    include_usage: bool,
    filtered: bool,
) -> StreamScript {
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
            "service_tier": "default", "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            "obfuscation": "mock"
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        data(&chunk, false)
    };
    let content: Vec<Bytes> = match &answer.tool {
        Some(name) => {
            let args = tool_arguments().to_string();
            let chars: Vec<char> = args.chars().collect();
            std::iter::once(chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_mock0", "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
            ))
            .chain(chars.chunks(8).map(|piece| {
                let piece: String = piece.iter().collect();
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                )
            }))
            .collect()
        }
        None => answer
            .pieces()
            .into_iter()
            .map(|p| chunk(json!({"content": p}), None))
            .collect(),
    };
    let finish = if answer.tool.is_some() {
        "tool_calls"
    } else if filtered {
        "content_filter"
    } else {
        "stop"
    };
    let mut epilogue = vec![chunk(json!({}), Some(finish))];
    if include_usage {
        epilogue.push(data(
            &json!({"id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
                "service_tier": "default", "system_fingerprint": "fp_mock", "choices": [],
                "usage": usage, "obfuscation": "mock"}),
            false,
        ));
    }
    epilogue.push(Bytes::from_static(b"data: [DONE]\n\n"));
    StreamScript {
        preamble: vec![chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        )],
        content,
        epilogue,
        error_event: data(
            &error_body(
                "The server had an error while processing your request (mock).",
                "server_error",
                None,
            ),
            false,
        ),
    }
}
