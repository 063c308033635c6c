//! AWS Bedrock Converse (`POST /model/{modelId}/converse`, JSON) and
//! ConverseStream (`/converse-stream`, AWS event-stream frames), with
//! Bedrock's validation rules, exception headers and stream exceptions.

use std::sync::Arc;

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use crate::script::{Answer, StreamScript, play_as, tool_arguments};
use crate::{Directives, DropConnection, MockBody, MockState, json_response};

/// A Bedrock exception: its status, `x-amzn-ErrorType` and message body.
fn exception(status: u16, kind: &str, message: &str) -> Response<MockBody> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(code, &json!({"message": message}));
    if let Ok(value) = hyper::header::HeaderValue::from_str(&format!(
        "{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    )) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

fn validation(message: &str) -> Response<MockBody> {
    exception(400, "ValidationException", message)
}

fn status_error(status: u16) -> Response<MockBody> {
    let (kind, message) = match status {
        400 => ("ValidationException", "Malformed input request (mock)."),
        403 => (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        404 => (
            "ResourceNotFoundException",
            "Could not resolve the foundation model.",
        ),
        408 => (
            "ModelTimeoutException",
            "Model has timed out in processing the request.",
        ),
        424 => ("ModelErrorException", "The model returned an error (mock)."),
        429 => (
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        503 => (
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        _ => (
            "InternalServerException",
            "The server encountered an internal error (mock).",
        ),
    };
    exception(status, kind, message)
}

/// `%3A` and friends in the model id of the path.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The one member a union object sets (`{"text": …}` → `text`).
fn member(block: &Value) -> Option<&str> {
    let object = block.as_object()?;
    (object.len() == 1).then(|| object.keys().next().map(String::as_str))?
}

/// Converse's request rules, as the service reports them.
fn validate(body: &Value) -> Result<(), String> {
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if messages.is_empty() {
        return Err("The messages field is required and must not be empty.".into());
    }
    let mut uses_tools = false;
    let mut previous_ids: Vec<&str> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if role != expected {
            return Err("A conversation must start with a user message and alternate between user and assistant roles. Try again with a conversation that alternates.".into());
        }
        let blocks = message["content"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if blocks.is_empty() {
            return Err(format!(
                "The content field in the Message object at messages.{i} is empty."
            ));
        }
        let mut ids = Vec::new();
        for (j, block) in blocks.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            match member(block) {
                Some("text") if block["text"].as_str().is_some_and(|t| !t.trim().is_empty()) => {}
                Some("text") => {
                    return Err(format!(
                        "The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again."
                    ));
                }
                Some("image") => {
                    let image = &block["image"];
                    let format_ok = matches!(
                        image["format"].as_str(),
                        Some("png" | "jpeg" | "gif" | "webp")
                    );
                    if !format_ok || !image["source"]["bytes"].is_string() {
                        return Err(format!(
                            "{at}.image: format must be png, jpeg, gif or webp and source.bytes set"
                        ));
                    }
                }
                Some("toolUse") if role == "assistant" => {
                    uses_tools = true;
                    let tool = &block["toolUse"];
                    if !tool["input"].is_object() || !tool["name"].is_string() {
                        return Err(format!(
                            "{at}.toolUse: toolUseId, name and an object input are required"
                        ));
                    }
                    ids.push(tool["toolUseId"].as_str().unwrap_or_default());
                }
                Some("toolResult") if role == "user" => {
                    uses_tools = true;
                    let id = block["toolResult"]["toolUseId"]
                        .as_str()
                        .unwrap_or_default();
                    if !previous_ids.contains(&id) {
                        return Err(format!(
                            "The toolUseId {id} in {at} does not match a toolUse block of the previous turn."
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "{at}: a ContentBlock must set exactly one member valid for role {role}"
                    ));
                }
            }
        }
        previous_ids = ids;
    }
    if uses_tools && body["toolConfig"].is_null() {
        return Err("The toolConfig field must be defined when using toolUse and toolResult content blocks.".into());
    }
    if let Some(system) = body.get("system")
        && !system
            .as_array()
            .is_some_and(|s| s.iter().all(|b| member(b) == Some("text")))
    {
        return Err("system: a list of text blocks is expected".into());
    }
    if let Some(max) = body["inferenceConfig"].get("maxTokens")
        && max.as_u64().is_none_or(|m| m < 1)
    {
        return Err("inferenceConfig.maxTokens must be at least 1".into());
    }
    if let Some(tools) = body.get("toolConfig") {
        let specs = tools["tools"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if specs.is_empty()
            || !specs.iter().all(|t| {
                t["toolSpec"]["name"].is_string()
                    && t["toolSpec"]["inputSchema"]["json"].is_object()
            })
        {
            return Err(
                "toolConfig.tools: each tool needs toolSpec.name and inputSchema.json".into(),
            );
        }
        if let Some(choice) = tools.get("toolChoice") {
            let ok = match member(choice) {
                Some("auto" | "any") => true,
                Some("tool") => choice["tool"]["name"].is_string(),
                _ => false,
            };
            if !ok {
                return Err("toolConfig.toolChoice: one of auto, any, tool".into());
            }
        }
    }
    Ok(())
}

/// What the request looked like, for `mock:inspect`.
fn summary(body: &Value, model: &str) -> Value {
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let blocks: Vec<&Value> = messages
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .collect();
    let system: Vec<&str> = body["system"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect();
    json!({
        "provider": "bedrock",
        "system": system.join("\n"),
        "roles": messages.iter().map(|m| &m["role"]).collect::<Vec<_>>(),
        "images": blocks.iter().filter(|b| member(b) == Some("image")).count(),
        "tool_results": blocks.iter().filter_map(|b| b.get("toolResult")).map(|r| &r["toolUseId"]).collect::<Vec<_>>(),
        "model": model,
        "max_tokens": body["inferenceConfig"]["maxTokens"],
    })
}

fn user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_array())
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `POST /model/{modelId}/converse` and `/converse-stream`.
pub(crate) async fn converse(
    state: &Arc<MockState>,
    headers: &HeaderMap,
    path: &str,
    body: Value,
) -> Result<Response<MockBody>, DropConnection> {
    let rest = path.strip_prefix("/model/").unwrap_or_default();
    let (model, stream) = if let Some(model) = rest.strip_suffix("/converse-stream") {
        (percent_decode(model), true)
    } else if let Some(model) = rest.strip_suffix("/converse") {
        (percent_decode(model), false)
    } else {
        return Ok(exception(
            404,
            "UnknownOperationException",
            "unknown operation",
        ));
    };
    let auth = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth.starts_with("AWS4-HMAC-SHA256 Credential=") || !auth.contains("/bedrock/aws4_request")
    {
        return Ok(exception(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if let Err(message) = validate(&body) {
        return Ok(validation(&message));
    }
    let text = user_text(&body);
    let d = Directives::for_request(state, "bedrock", &text);
    if let Some(status) = d.before_answer().await? {
        return Ok(status_error(status));
    }
    let tool = body["toolConfig"]["tools"][0]["toolSpec"]["name"].as_str();
    let mut answer = Answer::new(&text, &d, tool, || summary(&body, &model));
    let truncated = answer.truncate(body["inferenceConfig"]["maxTokens"].as_u64());
    let filtered = d.filter.is_some();
    if filtered {
        answer.words = vec!["Sorry, the model cannot answer this question.".into()];
        answer.tool = None;
    }
    let stop = if filtered {
        "guardrail_intervened"
    } else if answer.tool.is_some() {
        "tool_use"
    } else if truncated {
        "max_tokens"
    } else {
        "end_turn"
    };
    let input_tokens = text.split_whitespace().count().max(1);
    let usage = json!({"inputTokens": input_tokens, "outputTokens": answer.words.len(),
        "totalTokens": input_tokens + answer.words.len()});
    let tool_id = format!("tooluse_mock{}", state.next_id());
    if stream {
        if d.garbage {
            return Ok(play_as(
                state,
                StreamScript {
                    preamble: vec![Bytes::from_static(
                        b"this is not an event stream frame at all",
                    )],
                    content: Vec::new(),
                    epilogue: Vec::new(),
                    error_event: Bytes::new(),
                },
                &d,
                EVENT_STREAM,
            ));
        }
        return Ok(play_as(
            state,
            stream_script(&answer, &tool_id, stop, usage),
            &d,
            EVENT_STREAM,
        ));
    }
    if d.garbage {
        return Ok(json_response(StatusCode::OK, &json!({"unexpected": true})));
    }
    let content = match &answer.tool {
        Some(name) => json!([{"text": "Let me check."},
            {"toolUse": {"toolUseId": tool_id, "name": name, "input": tool_arguments()}}]),
        None => json!([{"text": answer.text()}]),
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 12}}),
    ))
}

const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// One event-stream frame: `:message-type` `event` (or `exception`), its
/// type header, a JSON payload.
fn frame(message_type: &str, type_header: &str, name: &str, payload: &Value) -> Bytes {
    let message = Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.to_owned().into()),
        ))
        .add_header(Header::new(
            type_header.to_owned(),
            HeaderValue::String(name.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    match aws_smithy_eventstream::frame::write_message_to(&message, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(_) => Bytes::new(),
    }
}

fn event(name: &str, payload: &Value) -> Bytes {
    frame("event", ":event-type", name, payload)
}

/// The events ConverseStream sends, in order.
fn stream_script(answer: &Answer, tool_id: &str, stop: &str, usage: Value) -> StreamScript {
    let text = |index: usize, t: &str| {
        event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": index, "delta": {"text": t}}),
        )
    };
    let mut content = Vec::new();
    match &answer.tool {
        Some(name) => {
            content.push(text(0, "Let me check."));
            content.push(event("contentBlockStop", &json!({"contentBlockIndex": 0})));
            content.push(event(
                "contentBlockStart",
                &json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": tool_id, "name": name}}}),
            ));
            let args = tool_arguments().to_string();
            let chars: Vec<char> = args.chars().collect();
            for piece in chars.chunks(9) {
                let piece: String = piece.iter().collect();
                content.push(event(
                    "contentBlockDelta",
                    &json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": piece}}}),
                ));
            }
            content.push(event("contentBlockStop", &json!({"contentBlockIndex": 1})));
        }
        None => {
            content.extend(answer.pieces().iter().map(|p| text(0, p)));
            content.push(event("contentBlockStop", &json!({"contentBlockIndex": 0})));
        }
    }
    StreamScript {
        preamble: vec![event("messageStart", &json!({"role": "assistant"}))],
        content,
        epilogue: vec![
            event("messageStop", &json!({"stopReason": stop})),
            event(
                "metadata",
                &json!({"usage": usage, "metrics": {"latencyMs": 12}}),
            ),
        ],
        error_event: frame(
            "exception",
            ":exception-type",
            "serviceUnavailableException",
            &json!({"message": "Bedrock is unable to process your request."}),
        ),
    }
}
