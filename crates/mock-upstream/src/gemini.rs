//! The Gemini `v1beta` wire format: request checks the real API makes,
//! `generateContent` JSON, `streamGenerateContent?alt=sse` chunks with
//! cumulative usage, Google error bodies.

use std::sync::Arc;

use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use crate::script::{Answer, StreamScript, data, garbage_stream, play, tool_arguments};
use crate::{Directives, DropConnection, MockBody, MockState, json_response};

/// Signature the mock attaches to every function call.
pub const MOCK_SIGNATURE: &str = "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ==";

fn error(code: u16, status: &str, message: &str, details: Value) -> Response<MockBody> {
    let http = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        http,
        &json!({"error": {"code": code, "message": message, "status": status, "details": details}}),
    )
}

fn invalid(message: &str) -> Response<MockBody> {
    error(400, "INVALID_ARGUMENT", message, json!([]))
}

fn status_error(code: u16) -> Response<MockBody> {
    match code {
        400 => invalid("Request contains an invalid argument."),
        403 => error(
            403,
            "PERMISSION_DENIED",
            "Permission denied (mock).",
            json!([]),
        ),
        404 => error(404, "NOT_FOUND", "models/x is not found (mock).", json!([])),
        429 => error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota (mock).",
            json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]),
        ),
        503 => error(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            json!([]),
        ),
        _ => error(
            500,
            "INTERNAL",
            "An internal error has occurred (mock).",
            json!([]),
        ),
    }
}

const TOP_LEVEL: &[&str] = &[
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
];
const GENERATION_CONFIG: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "stopSequences",
    "candidateCount",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
];
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
];
/// JSON-Schema keywords the real `parameters` field rejects.
const REJECTED_SCHEMA: &[&str] = &[
    "$schema",
    "additionalProperties",
    "$ref",
    "$defs",
    "definitions",
    "strict",
    "const",
    "oneOf",
];

fn schema_problem(schema: &Value) -> Option<String> {
    match schema {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if REJECTED_SCHEMA.contains(&k.as_str()) {
                Some(format!(
                    "Invalid JSON payload received. Unknown name \"{k}\""
                ))
            } else if k == "type" && !v.is_string() {
                Some("Invalid JSON payload received. Invalid value at 'type'".to_owned())
            } else {
                schema_problem(v)
            }
        }),
        Value::Array(items) => items.iter().find_map(schema_problem),
        _ => None,
    }
}

/// The checks the real API makes that a translation can get wrong.
fn validate(body: &Value, model: &str) -> Result<(), String> {
    let Some(top) = body.as_object() else {
        return Err("Invalid JSON payload received.".into());
    };
    if let Some(unknown) = top.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        ));
    }
    if let Some(config) = body["generationConfig"].as_object()
        && let Some(unknown) = config
            .keys()
            .find(|k| !GENERATION_CONFIG.contains(&k.as_str()))
    {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\" at 'generation_config'"
        ));
    }
    let Some(contents) = body["contents"].as_array().filter(|c| !c.is_empty()) else {
        return Err("* GenerateContentRequest.contents: contents is not specified".into());
    };
    let mut previous_calls: Vec<String> = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let role = content["role"].as_str().unwrap_or_default();
        if role != "user" && role != "model" {
            return Err(format!(
                "Please use a valid role: user, model. (contents[{i}].role = '{role}')"
            ));
        }
        let Some(parts) = content["parts"].as_array().filter(|p| !p.is_empty()) else {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            ));
        };
        let mut calls = Vec::new();
        for (j, part) in parts.iter().enumerate() {
            let fields: Vec<&str> = part
                .as_object()
                .map(|o| {
                    o.keys()
                        .map(String::as_str)
                        .filter(|k| PART_DATA.contains(k))
                        .collect()
                })
                .unwrap_or_default();
            if fields.len() != 1 {
                return Err(format!(
                    "contents[{i}].parts[{j}]: a part must have exactly one data field"
                ));
            }
            match fields[0] {
                "functionCall" if role == "model" => {
                    if part["functionCall"]["name"]
                        .as_str()
                        .is_none_or(str::is_empty)
                    {
                        return Err(format!(
                            "contents[{i}].parts[{j}].functionCall.name is required"
                        ));
                    }
                    if model.starts_with("gemini-3")
                        && calls.is_empty()
                        && part["thoughtSignature"].as_str().is_none()
                    {
                        return Err(format!(
                            "Function call is missing a thought_signature in functionCall parts. (contents[{i}].parts[{j}])"
                        ));
                    }
                    calls.push(
                        part["functionCall"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                "functionResponse" if role == "user" => {
                    let name = part["functionResponse"]["name"]
                        .as_str()
                        .unwrap_or_default();
                    if !previous_calls.iter().any(|c| c == name) {
                        return Err(format!(
                            "contents[{i}].parts[{j}].functionResponse.name '{name}' matches no function call of the previous turn"
                        ));
                    }
                    if !part["functionResponse"]["response"].is_object() {
                        return Err(format!(
                            "contents[{i}].parts[{j}].functionResponse.response must be an object"
                        ));
                    }
                }
                "text" | "inlineData" | "fileData" => {}
                other => {
                    return Err(format!(
                        "contents[{i}].parts[{j}]: {other} is not allowed for role {role}"
                    ));
                }
            }
        }
        previous_calls = calls;
    }
    for declaration in body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
    {
        if let Some(problem) = schema_problem(&declaration["parameters"]) {
            return Err(problem);
        }
    }
    Ok(())
}

fn parts_of(body: &Value) -> impl Iterator<Item = &Value> {
    body["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["parts"].as_array().into_iter().flatten())
}

fn text_of(parts: &Value) -> String {
    parts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the request looked like, for `mock:inspect`.
fn summary(body: &Value, model: &str) -> Value {
    json!({
        "provider": "gemini",
        "system": text_of(&body["systemInstruction"]["parts"]),
        "roles": body["contents"].as_array().into_iter().flatten().map(|c| &c["role"]).collect::<Vec<_>>(),
        "images": parts_of(body).filter(|p| p.get("inlineData").is_some() || p.get("fileData").is_some()).count(),
        "tool_results": parts_of(body).filter_map(|p| p.get("functionResponse")).map(|r| &r["name"]).collect::<Vec<_>>(),
        "model": model,
        "max_tokens": body["generationConfig"]["maxOutputTokens"],
    })
}

/// `POST /v1beta/models/{model}:batchEmbedContents`: every request names
/// the same model (`models/{model}`) and has text parts.
async fn embed_batch(state: &Arc<MockState>, model: &str, body: &Value) -> Response<MockBody> {
    let Some(requests) = body["requests"].as_array().filter(|r| !r.is_empty()) else {
        return invalid("requests must be a non-empty list");
    };
    let mut texts = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        if request["model"].as_str() != Some(&format!("models/{model}")) {
            return invalid(&format!(
                "requests[{i}].model must be models/{model}, the model of the URL"
            ));
        }
        let text = text_of(&request["content"]["parts"]);
        if text.is_empty() {
            return invalid(&format!("requests[{i}].content has no text"));
        }
        texts.push((text, request["outputDimensionality"].as_u64()));
    }
    let d = Directives::for_request(state, "gemini", &texts[0].0);
    if let Some(delay) = d.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = d.status {
        return status_error(status);
    }
    let embeddings: Vec<Value> = texts
        .iter()
        .map(|(text, dims)| json!({"values": crate::vector(text, dims.unwrap_or(64) as usize)}))
        .collect();
    json_response(StatusCode::OK, &json!({"embeddings": embeddings}))
}

/// `POST /v1beta/models/{model}:generateContent` or `:streamGenerateContent`.
pub(crate) async fn generate(
    state: &Arc<MockState>,
    headers: &HeaderMap,
    path: &str,
    query: &str,
    body: Value,
) -> Result<Response<MockBody>, DropConnection> {
    if let Some(expected) = &state.api_key
        && headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
    {
        return Ok(error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
        ));
    }
    let rest = path.trim_start_matches("/v1beta/models/");
    let Some((model, method)) = rest.split_once(':') else {
        return Ok(error(404, "NOT_FOUND", "Method not found.", json!([])));
    };
    let stream = match method {
        "batchEmbedContents" => return Ok(embed_batch(state, model, &body).await),
        "generateContent" => false,
        "streamGenerateContent" if query.split('&').any(|q| q == "alt=sse") => true,
        "streamGenerateContent" => return Ok(invalid("the mock only serves streams with alt=sse")),
        _ => return Ok(error(404, "NOT_FOUND", "Method not found.", json!([]))),
    };
    if let Err(message) = validate(&body, model) {
        return Ok(invalid(&message));
    }
    let text = body["contents"]
        .as_array()
        .and_then(|c| c.iter().rev().find(|c| c["role"] == "user"))
        .map(|c| text_of(&c["parts"]))
        .unwrap_or_default();
    let d = Directives::for_request(state, "gemini", &text);
    if let Some(status) = d.before_answer().await? {
        return Ok(status_error(status));
    }
    let first_tool = body["tools"][0]["functionDeclarations"][0]["name"].as_str();
    let mut answer = Answer::new(&text, &d, first_tool, || summary(&body, model));
    let truncated = answer.truncate(body["generationConfig"]["maxOutputTokens"].as_u64());
    let finish = if truncated { "MAX_TOKENS" } else { "STOP" };
    let prompt_tokens = parts_of(&body)
        .filter_map(|p| p["text"].as_str())
        .map(|t| t.split_whitespace().count().max(1))
        .sum::<usize>();
    let response_id = format!("mock-gemini-{}", state.next_id());
    let usage = |out: usize| {
        json!({"promptTokenCount": prompt_tokens, "candidatesTokenCount": out, "totalTokenCount": prompt_tokens + out,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]})
    };
    let chunk = |parts: Value, finish: Option<&str>, out: usize| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(reason) = finish {
            candidate["finishReason"] = json!(reason);
        }
        json!({"candidates": [candidate], "usageMetadata": usage(out), "modelVersion": model, "responseId": response_id})
    };
    let call_part = |name: &str| json!({"functionCall": {"name": name, "args": tool_arguments()}, "thoughtSignature": MOCK_SIGNATURE});
    if stream {
        if d.garbage {
            return Ok(garbage_stream());
        }
        let content = match &answer.tool {
            Some(name) => vec![data(&chunk(json!([call_part(name)]), None, 1), true)],
            None => answer
                .pieces()
                .iter()
                .enumerate()
                .map(|(i, p)| data(&chunk(json!([{"text": p}]), None, i + 1), true))
                .collect(),
        };
        let script = StreamScript {
            preamble: Vec::new(),
            content,
            epilogue: vec![data(
                &chunk(json!([{"text": ""}]), Some(finish), answer.words.len()),
                true,
            )],
            error_event: data(
                &json!({"error": {"code": 500, "message": "An internal error has occurred (mock).", "status": "INTERNAL"}}),
                true,
            ),
        };
        return Ok(play(state, script, &d));
    }
    if d.garbage {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"candidates": "not a list"}),
        ));
    }
    let parts = match &answer.tool {
        Some(name) => json!([call_part(name)]),
        None => json!([{"text": answer.text()}]),
    };
    Ok(json_response(
        StatusCode::OK,
        &chunk(parts, Some(finish), answer.words.len()),
    ))
}
