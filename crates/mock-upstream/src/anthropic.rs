//! The Anthropic Messages wire format: request checks the real API makes,
//! JSON responses, named SSE events, error bodies.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use crate::script::{Answer, StreamScript, garbage_stream, named, play, tool_arguments};
use crate::{Directives, DropConnection, MockBody, MockState, json_response};

fn error(status: StatusCode, kind: &str, message: &str) -> Response<MockBody> {
    let mut response = json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"}),
    );
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
    }
    response
}

fn status_error(status: u16) -> Response<MockBody> {
    let (kind, message) = match status {
        400 => ("invalid_request_error", "Invalid request (mock)."),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => (
            "permission_error",
            "Your API key does not have permission (mock).",
        ),
        404 => ("not_found_error", "model: not found (mock)"),
        429 => (
            "rate_limit_error",
            "Number of requests has exceeded your rate limit (mock).",
        ),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Internal server error (mock)"),
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(code, kind, message)
}

fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(blocks) => blocks.clone(),
        _ => Vec::new(),
    }
}

fn text_of(content: &Value) -> String {
    blocks(content)
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The checks the real API makes that a translation can get wrong.
fn validate(body: &Value) -> Result<(), String> {
    if body["model"].as_str().is_none() {
        return Err("model: Field required".into());
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n == 0) {
        return Err("max_tokens: Field required".into());
    }
    if body["temperature"]
        .as_f64()
        .is_some_and(|t| !(0.0..=1.0).contains(&t))
    {
        return Err("temperature: Input should be less than or equal to 1".into());
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return Err("messages: Field required".into());
    };
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let mut previous_tool_ids: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ));
        }
        if message["content"].as_str() == Some("") {
            return Err(format!(
                "messages.{i}: all messages must have non-empty content"
            ));
        }
        let mut tool_ids = Vec::new();
        for (j, block) in blocks(&message["content"]).iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            match block["type"].as_str().unwrap_or_default() {
                "text" if block["text"].as_str().is_some_and(|t| !t.is_empty()) => {}
                "text" => return Err(format!("{at}.text: text content blocks must be non-empty")),
                "image" => {
                    let source = &block["source"];
                    let ok = match source["type"].as_str() {
                        Some("base64") => {
                            source["media_type"].is_string() && source["data"].is_string()
                        }
                        Some("url") => source["url"].is_string(),
                        _ => false,
                    };
                    if !ok {
                        return Err(format!("{at}.source: invalid image source"));
                    }
                }
                "tool_use" if role == "assistant" => {
                    if !block["input"].is_object()
                        || block["id"].as_str().is_none()
                        || block["name"].as_str().is_none()
                    {
                        return Err(format!(
                            "{at}.tool_use: id, name and an object input are required"
                        ));
                    }
                    if !has_tools {
                        return Err("Requests which include `tool_use` or `tool_result` blocks must define tools.".into());
                    }
                    tool_ids.push(block["id"].as_str().unwrap_or_default().to_owned());
                }
                "tool_result" if role == "user" => {
                    let id = block["tool_use_id"].as_str().unwrap_or_default();
                    if !previous_tool_ids.iter().any(|t| t == id) {
                        return Err(format!(
                            "{at}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        ));
                    }
                }
                other => {
                    return Err(format!(
                        "{at}.type: unexpected block type '{other}' for role {role}"
                    ));
                }
            }
        }
        previous_tool_ids = tool_ids;
    }
    if let Some(system) = body.get("system")
        && !(system.is_string()
            || system
                .as_array()
                .is_some_and(|b| b.iter().all(|b| b["type"] == "text")))
    {
        return Err("system: Input should be a valid string or list of text blocks".into());
    }
    if let Some(choice) = body.get("tool_choice") {
        let ok = match choice["type"].as_str() {
            Some("auto" | "any" | "none") => true,
            Some("tool") => choice["name"].is_string(),
            _ => false,
        };
        if !ok {
            return Err("tool_choice: invalid".into());
        }
    }
    Ok(())
}

/// What the request looked like, for `mock:inspect`.
fn summary(body: &Value) -> Value {
    let system = match &body["system"] {
        Value::String(s) => s.clone(),
        other => text_of(other),
    };
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let all_blocks: Vec<Value> = messages
        .iter()
        .flat_map(|m| blocks(&m["content"]))
        .collect();
    json!({
        "provider": "anthropic",
        "system": system,
        "roles": messages.iter().map(|m| &m["role"]).collect::<Vec<_>>(),
        "images": all_blocks.iter().filter(|b| b["type"] == "image").count(),
        "tool_results": all_blocks.iter().filter(|b| b["type"] == "tool_result").map(|b| &b["tool_use_id"]).collect::<Vec<_>>(),
        "model": body["model"],
        "max_tokens": body["max_tokens"],
    })
}

/// `POST /v1/messages`.
pub(crate) async fn messages(
    state: &Arc<MockState>,
    headers: &HeaderMap,
    body: Value,
) -> Result<Response<MockBody>, DropConnection> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // The API takes the key as `x-api-key` or, as newer SDKs send it, a bearer token.
    let presented = header("x-api-key")
        .or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")));
    if let Some(expected) = &state.api_key
        && presented != Some(expected.as_str())
    {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        ));
    }
    if header("anthropic-version").is_none() {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        ));
    }
    if let Err(message) = validate(&body) {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &message,
        ));
    }
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    let d = Directives::for_request(state, "anthropic", &text);
    if let Some(status) = d.before_answer().await? {
        return Ok(status_error(status));
    }
    let id = format!("msg_mock{}", state.next_id());
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let mut answer = Answer::new(&text, &d, body["tools"][0]["name"].as_str(), || {
        summary(&body)
    });
    let truncated = answer.truncate(body["max_tokens"].as_u64());
    let stop_reason = if answer.tool.is_some() {
        "tool_use"
    } else if truncated {
        "max_tokens"
    } else {
        "end_turn"
    };
    let input_tokens = messages
        .iter()
        .map(|m| text_of(&m["content"]).split_whitespace().count().max(1))
        .sum::<usize>();
    let output_tokens = answer.words.len();
    if body["stream"] == true {
        if d.garbage {
            return Ok(garbage_stream());
        }
        let script = stream_script(
            &id,
            &model,
            &answer,
            stop_reason,
            input_tokens,
            output_tokens,
        );
        return Ok(play(state, script, &d));
    }
    if d.garbage {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"type": "message", "unexpected": true}),
        ));
    }
    let content = match &answer.tool {
        Some(name) => json!([
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": format!("toolu_mock{}", state.next_id()), "name": name, "input": tool_arguments()}
        ]),
        None => json!([{"type": "text", "text": answer.text()}]),
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0, "output_tokens": output_tokens}
        }),
    ))
}

/// The events Anthropic sends, in order.
fn stream_script(
    id: &str,
    model: &str,
    answer: &Answer,
    stop_reason: &str,
    input_tokens: usize,
    output_tokens: usize,
) -> StreamScript {
    let text_delta = |text: &str| {
        named(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        )
    };
    let mut content: Vec<Bytes> = Vec::new();
    match &answer.tool {
        Some(name) => {
            content.push(text_delta("Let me check."));
            content.push(named(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            ));
            content.push(named(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
                    "id": format!("toolu_{id}"), "name": name, "input": {}}}),
            ));
            let args = tool_arguments().to_string();
            let chars: Vec<char> = args.chars().collect();
            for piece in
                std::iter::once(String::new()).chain(chars.chunks(7).map(|c| c.iter().collect()))
            {
                content.push(named(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
            content.push(named(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 1}),
            ));
        }
        None => {
            content.extend(answer.pieces().iter().map(|p| text_delta(p)));
            content.push(named(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            ));
        }
    }
    StreamScript {
        preamble: vec![
            named(
                "message_start",
                &json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
                    "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0, "output_tokens": 1}}}),
            ),
            named(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            named("ping", &json!({"type": "ping"})),
        ],
        content,
        epilogue: vec![
            named(
                "message_delta",
                &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                    "usage": {"output_tokens": output_tokens}}),
            ),
            named("message_stop", &json!({"type": "message_stop"})),
        ],
        error_event: named(
            "error",
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
    }
}
