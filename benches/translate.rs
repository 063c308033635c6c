//! Translation cost per request for a ~2 KB conversation: OpenAI request in,
//! provider request bytes out; provider response in, OpenAI bytes out; and
//! one streamed event. Run: `cargo bench --bench translate`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use llm_gateway::api::chat::parse_request;
use llm_gateway::config::Secret;
use llm_gateway::providers::ProviderId;
use llm_gateway::providers::anthropic::request::to_anthropic;
use llm_gateway::providers::anthropic::response::{
    AnthropicStream, MessagesResponse, to_completion as anthropic_completion,
};
use llm_gateway::providers::gemini::request::to_gemini;
use llm_gateway::providers::gemini::response::{
    GenerateContentResponse, to_completion as gemini_completion,
};
use llm_gateway::providers::http::Upstream;
use llm_gateway::providers::sse::SseEvent;
use llm_gateway::providers::stream::StreamTranslator;
use serde_json::json;

/// A realistic ~2 KB conversation: system prompt, turns, a tool call and its result.
fn conversation() -> Vec<u8> {
    let filler = "The quick brown fox jumps over the lazy dog while the gateway translates every field faithfully. ";
    serde_json::to_vec(&json!({
        "model": "claude-sonnet-4-6",
        "temperature": 0.4,
        "max_tokens": 512,
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
            "parameters": {"type": "object", "additionalProperties": false,
                "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["location"]}}}],
        "messages": [
            {"role": "system", "content": format!("You are a helpful travel assistant. {}", filler.repeat(3))},
            {"role": "user", "content": format!("I am planning a trip. {}", filler.repeat(2))},
            {"role": "assistant", "content": format!("Happy to help. {}", filler.repeat(2))},
            {"role": "user", "content": format!("What about the weather in Paris? {}", filler)},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\",\"unit\":\"celsius\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
            {"role": "user", "content": format!("Great, and what should I pack? {}", filler)}
        ]
    }))
    .expect("serializable")
}

fn upstream(id: ProviderId) -> Upstream {
    let timeouts = llm_gateway::config::Timeouts {
        first_byte: Duration::from_secs(30),
        total: Duration::from_secs(30),
        idle: Duration::from_secs(30),
    };
    Upstream::standalone(id, timeouts, Secret::new("bench-key-0123456789")).expect("client builds")
}

fn bench(c: &mut Criterion) {
    let body = conversation();
    eprintln!("conversation: {} bytes", body.len());
    c.bench_function("parse+validate OpenAI request", |b| {
        b.iter(|| parse_request(black_box(&body)).expect("valid"))
    });
    let request = parse_request(&body).expect("valid");
    c.bench_function("parse + OpenAI→Anthropic request bytes", |b| {
        b.iter(|| {
            let req = parse_request(black_box(&body)).expect("valid");
            serde_json::to_vec(&to_anthropic(&req, true).expect("translates")).expect("bytes")
        })
    });
    c.bench_function("parse + OpenAI→Gemini request bytes", |b| {
        b.iter(|| {
            let req = parse_request(black_box(&body)).expect("valid");
            serde_json::to_vec(&to_gemini(&req).expect("translates")).expect("bytes")
        })
    });
    drop(request);

    let anthropic = serde_json::to_vec(&json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "Pack light layers, a rain jacket and comfortable shoes. ".repeat(8)}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 500, "output_tokens": 120, "cache_read_input_tokens": 0}}))
    .expect("bytes");
    c.bench_function("Anthropic response → OpenAI bytes", |b| {
        b.iter(|| {
            let parsed: MessagesResponse =
                serde_json::from_slice(black_box(&anthropic)).expect("parses");
            serde_json::to_vec(&anthropic_completion(parsed)).expect("bytes")
        })
    });
    let gemini = serde_json::to_vec(&json!({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "Pack light layers, a rain jacket and comfortable shoes. ".repeat(8)}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 500, "candidatesTokenCount": 120, "totalTokenCount": 620},
        "modelVersion": "gemini-2.5-flash", "responseId": "r"}))
    .expect("bytes");
    c.bench_function("Gemini response → OpenAI bytes", |b| {
        b.iter(|| {
            let parsed: GenerateContentResponse =
                serde_json::from_slice(black_box(&gemini)).expect("parses");
            serde_json::to_vec(&gemini_completion(parsed, "gemini-2.5-flash")).expect("bytes")
        })
    });

    let start = SseEvent {
        event: Some("message_start".into()),
        data: json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-sonnet-4-6", "usage": {"input_tokens": 10}}}).to_string(),
    };
    let delta = SseEvent {
        event: Some("content_block_delta".into()),
        data: json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Pack light "}}).to_string(),
    };
    let mut translator = AnthropicStream::new(upstream(ProviderId::ANTHROPIC));
    let mut out = VecDeque::new();
    translator.on_event(start, &mut out).expect("start");
    c.bench_function("Anthropic stream event → OpenAI chunk bytes", |b| {
        b.iter(|| {
            translator
                .on_event(black_box(delta.clone()), &mut out)
                .expect("delta");
            let chunk = out.pop_front().expect("chunk");
            serde_json::to_vec(&chunk).expect("bytes")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
