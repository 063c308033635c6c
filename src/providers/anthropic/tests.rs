//! Fixture tests for every item of the Anthropic translation checklist.

use std::collections::VecDeque;

use serde_json::{Value, json};

use super::request::{default_max_tokens, to_anthropic};
use super::response::{AnthropicStream, MessagesResponse, to_completion};
use crate::error::GatewayError;
use crate::openai::{ChatCompletionChunk, ChatCompletionRequest};
use crate::providers::ProviderId;
use crate::providers::http::Upstream;
use crate::providers::sse::SseEvent;
use crate::providers::stream::{Flow, StreamTranslator};

fn request(body: Value) -> ChatCompletionRequest {
    serde_json::from_value(body).expect("valid OpenAI request")
}

fn translate(body: Value) -> Value {
    let req = request(body);
    serde_json::to_value(to_anthropic(&req, false).expect("translates")).expect("serializes")
}

fn translate_err(body: Value) -> String {
    let req = request(body);
    match to_anthropic(&req, false) {
        Err(GatewayError::InvalidRequest { param, .. }) => param.unwrap_or_default(),
        other => panic!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn system_and_developer_are_hoisted_with_cache_control_and_turns_merged() {
    let out = translate(json!({
        "model": "claude-sonnet-4-6",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Long policy", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "first"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
            {"role": "developer", "content": "Be brief."},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "third"}
        ]
    }));
    assert_eq!(
        out["system"],
        json!([
            {"type": "text", "text": "Long policy", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief."}
        ])
    );
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": [{"type": "text", "text": "third"}]}
        ])
    );
    assert_eq!(
        out["max_tokens"], 64_000,
        "default for the model when the client sends none"
    );
}

#[test]
fn max_tokens_defaults_per_model_and_client_values_win() {
    assert_eq!(default_max_tokens("claude-opus-4-1"), 32_000);
    assert_eq!(default_max_tokens("claude-opus-4-20250514"), 32_000);
    assert_eq!(default_max_tokens("claude-opus-4-8"), 64_000);
    assert_eq!(default_max_tokens("claude-sonnet-5-5"), 32_000);
    assert_eq!(default_max_tokens("claude-future-9"), 8_192);
    assert_eq!(default_max_tokens("claude-haiku-4-5"), 64_000);
    assert_eq!(default_max_tokens("claude-3-5-haiku-latest"), 8_192);
    assert_eq!(default_max_tokens("claude-3-haiku-20240307"), 4_096);
    let base = json!({"model": "claude-opus-4-1", "messages": [{"role": "user", "content": "x"}]});
    let mut with = base.clone();
    with["max_completion_tokens"] = json!(100);
    assert_eq!(translate(with)["max_tokens"], 100);
    let mut legacy = base;
    legacy["max_tokens"] = json!(50);
    assert_eq!(translate(legacy)["max_tokens"], 50);
}

#[test]
fn tool_calls_and_results_translate_and_coalesce() {
    let out = translate(json!({
        "model": "claude-sonnet-4-6",
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time"}}],
        "messages": [
            {"role": "user", "content": "weather and time in Paris?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "14:00"}]}
        ]
    }));
    assert_eq!(
        out["messages"][1]["content"],
        json!([
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}
        ])
    );
    assert_eq!(
        out["messages"][2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "21C"}]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "14:00"}]}
        ]})
    );
    assert_eq!(out["messages"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        out["tools"],
        json!([
            {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
        ])
    );
    assert!(out.get("tool_choice").is_none());
}

#[test]
fn tool_arguments_must_be_a_json_object() {
    let param = translate_err(json!({"model": "claude-sonnet-4-6", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "[1,2]"}}]}
    ]}));
    assert_eq!(param, "messages[1].tool_calls[0].function.arguments");
}

#[test]
fn tool_choice_maps_every_mode() {
    let with_choice = |choice: Value, parallel: Option<bool>| {
        let mut body = json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": choice});
        if let Some(p) = parallel {
            body["parallel_tool_calls"] = json!(p);
        }
        translate(body)
    };
    assert_eq!(
        with_choice(json!("auto"), None)["tool_choice"],
        json!({"type": "auto"})
    );
    assert_eq!(
        with_choice(json!("required"), None)["tool_choice"],
        json!({"type": "any"})
    );
    assert_eq!(
        with_choice(
            json!({"type": "function", "function": {"name": "f"}}),
            Some(false)
        )["tool_choice"],
        json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
    );
    let none = with_choice(json!("none"), None);
    assert!(
        none.get("tools").is_none() && none.get("tool_choice").is_none(),
        "{none}"
    );

    // With tool blocks in the history the definitions stay and "none" is explicit.
    let none_with_history = translate(json!({"model": "claude-sonnet-4-6", "tool_choice": "none",
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t", "content": "done"}
    ]}));
    assert_eq!(none_with_history["tool_choice"], json!({"type": "none"}));
    assert_eq!(none_with_history["tools"][0]["name"], "f");

    // parallel_tool_calls=false alone still disables parallel use.
    let mut body = json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": false});
    assert_eq!(
        translate(body.clone())["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    body["parallel_tool_calls"] = json!(true);
    assert!(translate(body).get("tool_choice").is_none());
}

#[test]
fn images_become_base64_or_url_sources() {
    let out = translate(
        json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "compare"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}}
        ]}]}),
    );
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "text", "text": "compare"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
        ])
    );
    let param = translate_err(
        json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]}),
    );
    assert_eq!(param, "messages[0].content[0].image_url.url");
}

#[test]
fn sampling_stop_user_and_unsupported_fields() {
    let out = translate(
        json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}],
        "stop": "END", "user": "u-42", "temperature": 1.7, "top_p": 0.9, "top_k": 40, "seed": 1}),
    );
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(out["metadata"], json!({"user_id": "u-42"}));
    assert_eq!(out["temperature"], 1.0, "clamped to Anthropic's 0..1");
    assert_eq!(out["top_p"], 0.9);
    assert_eq!(out["top_k"], 40);
    assert!(out.get("seed").is_none() && out.get("stream").is_none());
    let list = translate(
        json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"]}),
    );
    assert_eq!(list["stop_sequences"], json!(["a", "b"]));
    assert_eq!(
        translate_err(
            json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}], "n": 2})
        ),
        "n"
    );
    assert_eq!(
        translate_err(
            json!({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"}})
        ),
        "response_format"
    );
}

#[test]
fn response_translates_text_tools_stop_reasons_and_usage() {
    let response: MessagesResponse = serde_json::from_value(json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6-20250929",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 20, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}
    }))
    .expect("parses");
    let out = serde_json::to_value(to_completion(response)).expect("serializes");
    assert_eq!(out["id"], "msg_01");
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["model"], "claude-sonnet-4-6-20250929");
    assert!(out["created"].as_u64().is_some());
    let choice = &out["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Let me check.");
    assert_eq!(choice["message"]["reasoning_content"], "hmm");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "toolu_9", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 1110, "completion_tokens": 20, "total_tokens": 1130,
            "prompt_tokens_details": {"cached_tokens": 1000}, "cache_creation_input_tokens": 100})
    );

    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ] {
        let response: MessagesResponse = serde_json::from_value(json!({"id": "m", "model": "c",
            "content": [{"type": "text", "text": "x"}], "stop_reason": stop, "usage": {"input_tokens": 1, "output_tokens": 1}}))
        .expect("parses");
        let out = serde_json::to_value(to_completion(response)).expect("serializes");
        assert_eq!(out["choices"][0]["finish_reason"], finish, "{stop}");
    }
}

fn stream_upstream() -> Upstream {
    Upstream::for_tests(ProviderId::ANTHROPIC, "sk-ant-secret-0123456789")
}

/// Feeds recorded events; returns the chunks as JSON and the final outcome.
fn run_stream(events: &[(&str, Value)]) -> (Vec<Value>, Result<Flow, GatewayError>) {
    let mut t = AnthropicStream::new(stream_upstream());
    let mut out: VecDeque<ChatCompletionChunk> = VecDeque::new();
    let mut last = Ok(Flow::Continue);
    for (name, data) in events {
        last = t.on_event(
            SseEvent {
                event: Some((*name).to_owned()),
                data: data.to_string(),
            },
            &mut out,
        );
        if last.is_err() {
            break;
        }
    }
    if matches!(last, Ok(Flow::Continue)) {
        last = t.on_end(&mut out).map(|()| Flow::Done);
    }
    let chunks = out
        .iter()
        .map(|c| serde_json::to_value(c).expect("chunk"))
        .collect();
    (chunks, last)
}

fn tool_stream() -> Vec<(&'static str, Value)> {
    vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-6", "content": [], "stop_reason": null,
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "ris\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 42}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

#[test]
fn stream_translates_text_and_dense_tool_indexes() {
    let (chunks, outcome) = run_stream(&tool_stream());
    assert!(matches!(outcome, Ok(Flow::Done)));
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == "msg_1" && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"content": "Let me check"})
    );
    // The first tool is content block 1 but tool call 0; the second is 1.
    assert_eq!(
        chunks[2]["choices"][0]["delta"]["tool_calls"],
        json!([{"index": 0, "id": "toolu_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}])
    );
    assert_eq!(
        chunks[3]["choices"][0]["delta"]["tool_calls"],
        json!([{"index": 0, "function": {"arguments": "{\"city\": \"Pa"}}])
    );
    assert_eq!(
        chunks[4]["choices"][0]["delta"]["tool_calls"],
        json!([{"index": 0, "function": {"arguments": "ris\"}"}}])
    );
    assert_eq!(
        chunks[5]["choices"][0]["delta"]["tool_calls"][0]["index"],
        1
    );
    assert_eq!(
        chunks[6]["choices"][0]["delta"]["tool_calls"][0]["index"],
        1
    );
    assert_eq!(chunks[7]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        chunks[8]["usage"],
        json!({"prompt_tokens": 30, "completion_tokens": 42, "total_tokens": 72, "prompt_tokens_details": {"cached_tokens": 5}})
    );
    assert_eq!(chunks[8]["choices"], json!([]));
    assert_eq!(
        chunks.len(),
        9,
        "ping, block stops and empty json deltas produce nothing"
    );
}

#[test]
fn stream_error_event_surfaces_and_cut_is_an_error() {
    let mut events = tool_stream()[..4].to_vec();
    events.push((
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let (chunks, outcome) = run_stream(&events);
    assert_eq!(chunks.len(), 2, "content before the error is kept");
    assert!(
        matches!(outcome, Err(GatewayError::Upstream { status: 529, ref message, .. }) if message == "Overloaded")
    );

    let (_, outcome) = run_stream(&tool_stream()[..6]);
    assert!(
        matches!(outcome, Err(GatewayError::UpstreamProtocol { .. })),
        "no message_stop means cut"
    );
}
