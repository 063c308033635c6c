//! Fixture tests for every item of the Gemini translation checklist.

use std::collections::VecDeque;

use serde_json::{Value, json};

use super::request::{SKIP_SIGNATURE, clean_schema, to_gemini};
use super::response::{GeminiStream, GenerateContentResponse, to_completion};
use crate::error::GatewayError;
use crate::openai::{ChatCompletionChunk, ChatCompletionRequest};
use crate::providers::ProviderId;
use crate::providers::http::Upstream;
use crate::providers::sse::SseEvent;
use crate::providers::stream::{Flow, StreamTranslator};

fn translate(body: Value) -> Value {
    let req: ChatCompletionRequest = serde_json::from_value(body).expect("valid OpenAI request");
    serde_json::to_value(to_gemini(&req).expect("translates")).expect("serializes")
}

fn translate_err(body: Value) -> String {
    let req: ChatCompletionRequest = serde_json::from_value(body).expect("valid OpenAI request");
    match to_gemini(&req) {
        Err(GatewayError::InvalidRequest { param, .. }) => param.unwrap_or_default(),
        other => panic!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn roles_system_instruction_and_generation_config() {
    let out = translate(json!({
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": "And?"},
            {"role": "user", "content": "More"}
        ],
        "temperature": 0.3, "top_p": 0.8, "max_completion_tokens": 256, "stop": ["END"], "seed": 7,
        "top_k": 20, "presence_penalty": 0.5, "frequency_penalty": 0.1, "n": 2,
        "response_format": {"type": "json_object"}
    }));
    assert_eq!(
        out["systemInstruction"],
        json!({"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]})
    );
    assert_eq!(
        out["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Bonjour"}]},
            {"role": "user", "parts": [{"text": "And?"}, {"text": "More"}]}
        ])
    );
    assert_eq!(
        out["generationConfig"],
        json!({"temperature": 0.3, "topP": 0.8, "topK": 20, "maxOutputTokens": 256, "stopSequences": ["END"],
            "candidateCount": 2, "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": 0.1,
            "responseMimeType": "application/json"})
    );
    let minimal = translate(
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]}),
    );
    assert!(
        minimal.get("generationConfig").is_none() && minimal.get("systemInstruction").is_none(),
        "{minimal}"
    );
}

#[test]
fn json_schema_response_format_is_cleaned() {
    let out = translate(
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": {
            "type": "object", "additionalProperties": false,
            "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}),
    );
    assert_eq!(
        out["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        out["generationConfig"]["responseJsonSchema"],
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    );
}

#[test]
fn schema_cleanup_strips_what_gemini_rejects() {
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": false,
        "title": "Args", "$defs": {"x": {}},
        "properties": {
            "unit": {"type": ["string", "null"], "enum": ["c", "f"], "additionalProperties": false},
            "tags": {"type": "array", "items": {"type": "string", "$comment": "x", "const": "a"}},
            "when": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "exclusiveMinimum": 0}]}
        },
        "required": ["unit"], "strict": true
    });
    assert_eq!(
        clean_schema(&schema),
        json!({
            "type": "object", "title": "Args",
            "properties": {
                "unit": {"type": "string", "nullable": true, "enum": ["c", "f"]},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a"]}},
                "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]}
            },
            "required": ["unit"]
        })
    );
}

#[test]
fn tools_calls_and_results_with_names_and_signatures() {
    let out = translate(json!({
        "model": "gemini-2.5-pro",
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "additionalProperties": false, "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                 "extra_content": {"google": {"thought_signature": "c2lnbmF0dXJl"}}},
                {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\": 21}"},
            {"role": "tool", "tool_call_id": "call_b", "content": "sunny"}
        ]
    }));
    assert_eq!(
        out["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}])
    );
    assert_eq!(
        out["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    assert_eq!(
        out["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnbmF0dXJl"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
        ]})
    );
    assert_eq!(
        out["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}
        ]})
    );
}

#[test]
fn tool_choice_modes_and_missing_signatures_on_gemini_3() {
    let body = |choice: Value| {
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": choice})
    };
    for (choice, mode) in [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")] {
        assert_eq!(
            translate(body(json!(choice)))["toolConfig"]["functionCallingConfig"]["mode"],
            mode
        );
    }
    let history = |model: &str| {
        json!({"model": model, "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": "2"}]})
    };
    let g3 = translate(history("gemini-3-pro-preview"));
    assert_eq!(
        g3["contents"][1]["parts"][0]["thoughtSignature"],
        SKIP_SIGNATURE
    );
    assert!(
        g3["contents"][1]["parts"][1]
            .get("thoughtSignature")
            .is_none()
    );
    let g25 = translate(history("gemini-2.5-flash"));
    assert!(
        g25["contents"][1]["parts"][0]
            .get("thoughtSignature")
            .is_none()
    );
}

#[test]
fn unknown_tool_result_and_bad_images_are_rejected() {
    assert_eq!(
        translate_err(json!({"model": "gemini-2.5-flash", "messages": [
            {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]})),
        "messages[1].tool_call_id"
    );
    assert_eq!(
        translate_err(
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "gopher://x"}}]}]})
        ),
        "messages[0].content[0].image_url.url"
    );
}

#[test]
fn images_become_inline_data_or_file_data() {
    let out = translate(
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
    );
    assert_eq!(
        out["contents"][0]["parts"],
        json!([
            {"text": "what is this"},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
            {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}}
        ])
    );
}

#[test]
fn response_translates_calls_signatures_finish_reasons_and_usage() {
    let response: GenerateContentResponse = serde_json::from_value(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "thinking...", "thought": true},
            {"text": "Calling."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 18,
            "cachedContentTokenCount": 4, "thoughtsTokenCount": 3},
        "modelVersion": "gemini-2.5-pro", "responseId": "resp-1"
    }))
    .expect("parses");
    let out = serde_json::to_value(to_completion(response, "gemini-2.5-pro")).expect("serializes");
    assert_eq!(out["id"], "resp-1");
    assert_eq!(out["model"], "gemini-2.5-pro");
    let choice = &out["choices"][0];
    assert_eq!(
        choice["finish_reason"], "tool_calls",
        "STOP with a function call"
    );
    assert_eq!(choice["message"]["content"], "Calling.");
    assert_eq!(choice["message"]["reasoning_content"], "thinking...");
    let call = &choice["message"]["tool_calls"][0];
    assert!(
        call["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("call_") && id.len() == 29)
    );
    assert_eq!(
        call["function"],
        json!({"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"})
    );
    assert_eq!(
        call["extra_content"],
        json!({"google": {"thought_signature": "c2ln"}})
    );
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 3}})
    );

    for (reason, finish) in [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
    ] {
        let response: GenerateContentResponse = serde_json::from_value(json!({"candidates": [
            {"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}))
        .expect("parses");
        let out =
            serde_json::to_value(to_completion(response, "gemini-2.5-flash")).expect("serializes");
        assert_eq!(out["choices"][0]["finish_reason"], finish, "{reason}");
        assert_eq!(
            out["model"], "gemini-2.5-flash",
            "requested model when no modelVersion"
        );
    }
    let blocked: GenerateContentResponse =
        serde_json::from_value(json!({"promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}))
        .expect("parses");
    let out = serde_json::to_value(to_completion(blocked, "gemini-2.5-flash")).expect("serializes");
    assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
}

fn run_stream(events: &[Value], end: bool) -> (Vec<Value>, Result<(), GatewayError>) {
    let upstream = Upstream::for_tests(ProviderId::GEMINI, "gemini-secret-0123456789");
    let mut t = GeminiStream::new(upstream, "gemini-2.5-flash");
    let mut out: VecDeque<ChatCompletionChunk> = VecDeque::new();
    let mut outcome = Ok(());
    for data in events {
        match t.on_event(
            SseEvent {
                event: None,
                data: data.to_string(),
            },
            &mut out,
        ) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Done) => panic!("gemini streams have no end marker"),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    if outcome.is_ok() && end {
        outcome = t.on_end(&mut out);
    }
    (
        out.iter()
            .map(|c| serde_json::to_value(c).expect("chunk"))
            .collect(),
        outcome,
    )
}

fn usage(prompt: u64, out: u64) -> Value {
    json!({"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out})
}

#[test]
fn stream_takes_cumulative_usage_once_and_maps_tool_calls() {
    let events = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Let me "}]}, "index": 0}],
            "usageMetadata": usage(12, 2), "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "check."}]}, "index": 0}],
            "usageMetadata": usage(12, 4), "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "get_time", "args": {}}}]}, "index": 0}],
            "usageMetadata": usage(12, 9), "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage(12, 10), "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
    ];
    let (chunks, outcome) = run_stream(&events, true);
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == "r1" && c["model"] == "gemini-2.5-flash")
    );
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "Let me "})
    );
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"content": "check."})
    );
    let calls = &chunks[2]["choices"][0]["delta"]["tool_calls"];
    assert_eq!(calls[0]["index"], 0);
    assert_eq!(calls[1]["index"], 1);
    assert_eq!(
        calls[0]["function"],
        json!({"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"})
    );
    assert_eq!(
        calls[0]["extra_content"]["google"]["thought_signature"],
        "c2ln"
    );
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    // STOP after a function call in an earlier chunk is still tool_calls.
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "tool_calls");
    let last = chunks.last().expect("usage chunk");
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 12);
    assert_eq!(
        last["usage"]["completion_tokens"], 10,
        "the last cumulative count, not a sum"
    );
    assert_eq!(chunks.len(), 5);
}

#[test]
fn stream_cut_before_finish_is_an_error_and_error_events_surface() {
    let first = json!({"candidates": [{"content": {"parts": [{"text": "partial"}]}, "index": 0}], "usageMetadata": usage(1, 1)});
    let (chunks, outcome) = run_stream(std::slice::from_ref(&first), true);
    assert_eq!(chunks.len(), 1);
    assert!(matches!(
        outcome,
        Err(GatewayError::UpstreamProtocol { .. })
    ));

    let error = json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
    let (_, outcome) = run_stream(&[first, error], false);
    assert!(matches!(
        outcome,
        Err(GatewayError::Upstream { status: 503, .. })
    ));

    let (_, outcome) = run_stream(&[], true);
    assert!(outcome.is_err(), "an empty body is not a complete answer");
}

#[test]
fn stream_max_tokens_and_safety() {
    let (chunks, outcome) = run_stream(
        &[
            json!({"candidates": [{"content": {"parts": [{"text": "long"}]}, "finishReason": "MAX_TOKENS", "index": 0}]}),
        ],
        true,
    );
    assert!(outcome.is_ok());
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], "length");
    let (chunks, _) = run_stream(
        &[json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})],
        true,
    );
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], "content_filter");
}

#[test]
fn a_stream_cannot_make_the_gateway_allocate_by_candidate_index() {
    let huge =
        json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": 4_000_000_000u64}]});
    let (chunks, outcome) = run_stream(&[huge], true);
    assert!(chunks.is_empty());
    assert!(matches!(
        outcome,
        Err(GatewayError::UpstreamProtocol { .. })
    ));
}
