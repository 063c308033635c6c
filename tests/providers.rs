//! Every provider through the gateway, in front of mocks that speak (and
//! validate) each provider's wire format.

mod common;

use common::{CLIENT_KEY, Harness, MODELS, PROVIDER_KEY, chat_body, json_of, parse_stream};
use serde_json::{Value, json};

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "additionalProperties": false, "properties": {"location": {"type": "string"},
            "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}])
}

async fn stream(h: &Harness, mut body: Value) -> (reqwest::StatusCode, common::Streamed) {
    body["stream"] = json!(true);
    let response = h.chat(&body).await;
    let status = response.status();
    (status, parse_stream(&response.text().await.expect("body")))
}

#[tokio::test]
async fn plain_completions_from_every_provider() {
    let h = Harness::start().await;
    for (provider, model) in MODELS {
        let response = h.chat(&chat_body(model, "hello there")).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(response.headers()["x-gateway-provider"], provider);
        assert_eq!(response.headers()["x-gateway-model"], model);
        let json = json_of(response).await;
        assert!(
            json["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{model}: {json}"
        );
        assert_eq!(json["object"], "chat.completion");
        assert!(json["created"].as_u64().is_some_and(|c| c > 1_700_000_000));
        assert_eq!(json["model"], model);
        assert_eq!(json["choices"][0]["index"], 0);
        assert_eq!(json["choices"][0]["message"]["role"], "assistant");
        assert_eq!(
            json["choices"][0]["message"]["content"], "Echo: hello there",
            "{model}"
        );
        assert_eq!(json["choices"][0]["finish_reason"], "stop");
        let usage = &json["usage"];
        assert_eq!(usage["completion_tokens"], 3, "{model}: {usage}");
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(usage["prompt_tokens"].as_u64().unwrap_or(0) + 3)
        );
    }
}

#[tokio::test]
async fn streams_from_every_provider() {
    let h = Harness::start().await;
    for (_, model) in MODELS {
        let mut body = chat_body(model, "one two three");
        let (status, s) = stream(&h, body.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(s.content, "Echo: one two three", "{model}");
        assert_eq!(s.finish.as_deref(), Some("stop"), "{model}");
        assert!(s.done, "{model}: stream ends with [DONE]");
        assert!(
            s.chunks.iter().all(|c| c.get("usage").is_none()),
            "{model}: usage only when asked"
        );
        assert_eq!(
            s.chunks[0]["choices"][0]["delta"]["role"], "assistant",
            "{model}"
        );
        assert!(
            s.chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == s.chunks[0]["id"])
        );

        body["stream_options"] = json!({"include_usage": true});
        let (_, s) = stream(&h, body).await;
        let last = s.chunks.last().expect("chunks");
        assert_eq!(last["choices"], json!([]), "{model}");
        assert_eq!(last["usage"]["completion_tokens"], 4, "{model}: {last}");
    }
}

#[tokio::test]
async fn tool_calls_from_every_provider_streamed_and_not() {
    let h = Harness::start().await;
    for (_, model) in MODELS {
        let mut body = chat_body(model, "weather in Paris? mock:tool");
        body["tools"] = weather_tool();
        let json = json_of(h.chat(&body).await).await;
        let choice = &json["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {json}");
        let call = &choice["message"]["tool_calls"][0];
        assert!(call["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().expect("string"))
                .expect("JSON");
        assert_eq!(
            args,
            json!({"location": "Paris", "unit": "celsius"}),
            "{model}"
        );

        let (_, s) = stream(&h, body).await;
        assert_eq!(s.tool_names, vec!["get_weather"], "{model}");
        assert_eq!(
            s.tool_indexes,
            vec![0],
            "{model}: dense index even after text"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&s.arguments).expect("streamed JSON"),
            json!({"location": "Paris", "unit": "celsius"})
        );
        assert_eq!(s.finish.as_deref(), Some("tool_calls"), "{model}");
    }
}

#[tokio::test]
async fn tool_result_turns_reach_every_provider_in_its_format() {
    let h = Harness::start().await;
    for (_, model) in MODELS {
        let mut first = chat_body(model, "weather in Paris? mock:tool");
        first["tools"] = weather_tool();
        let reply = json_of(h.chat(&first).await).await;
        let assistant = reply["choices"][0]["message"].clone();
        let call_id = assistant["tool_calls"][0]["id"].clone();
        let followup = json!({"model": model, "tools": weather_tool(), "messages": [
            {"role": "system", "content": "You report weather."},
            {"role": "user", "content": "weather in Paris?"},
            assistant,
            {"role": "tool", "tool_call_id": call_id, "content": "{\"temperature\": 21}"},
            {"role": "user", "content": "thanks mock:inspect"}
        ]});
        let response = h.chat(&followup).await;
        assert_eq!(
            response.status(),
            200,
            "{model}: the mock accepted the translated tool turn"
        );
        let json = json_of(response).await;
        let summary: Value = serde_json::from_str(
            json["choices"][0]["message"]["content"]
                .as_str()
                .expect("text"),
        )
        .expect("summary");
        assert_eq!(
            summary["system"], "You report weather.",
            "{model}: {summary}"
        );
        assert_eq!(
            summary["tool_results"].as_array().map(Vec::len),
            Some(1),
            "{model}: {summary}"
        );
    }
}

#[tokio::test]
async fn system_prompt_multi_turn_and_images_reach_every_provider() {
    let h = Harness::start().await;
    for (provider, model) in MODELS {
        let body = json!({"model": model, "max_tokens": 300, "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture? mock:inspect"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}
            ]}
        ]});
        let json = json_of(h.chat(&body).await).await;
        let text = json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_else(|| panic!("{model}: {json}"));
        let summary: Value = serde_json::from_str(text).expect("summary JSON");
        assert_eq!(summary["system"], "You are terse.", "{model}");
        assert_eq!(summary["images"], 1, "{model}");
        let assistant_role = if provider == "google" {
            "model"
        } else {
            "assistant"
        };
        assert_eq!(
            summary["roles"],
            json!(["user", assistant_role, "user"]),
            "{model}"
        );
        if provider != "openai" {
            assert_eq!(summary["max_tokens"], 300, "{model}");
        }
    }
}

#[tokio::test]
async fn max_tokens_truncation_is_length() {
    let h = Harness::start().await;
    for (_, model) in &MODELS[1..] {
        let mut body = chat_body(model, "a b c d e f g");
        body["max_tokens"] = json!(2);
        let json = json_of(h.chat(&body).await).await;
        assert_eq!(
            json["choices"][0]["finish_reason"], "length",
            "{model}: {json}"
        );
        let (_, s) = stream(&h, body).await;
        assert_eq!(s.finish.as_deref(), Some("length"), "{model}");
    }
}

#[tokio::test]
async fn upstream_errors_from_every_provider() {
    let h = Harness::without_failover(&[]).await;
    for (provider, model) in MODELS {
        for (directive, status) in [
            ("mock:status=429", 429),
            ("mock:status=500", 502),
            ("mock:status=503", 503),
            ("mock:status=400", 400),
        ] {
            let response = h.chat(&chat_body(model, directive)).await;
            assert_eq!(response.status(), status, "{model} {directive}");
            if status == 429 {
                assert_eq!(response.headers()["retry-after"], "1", "{model}");
            }
            let json = json_of(response).await;
            let message = json["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(provider), "{model} {directive}: {json}");
        }
        let mut body = chat_body(model, "a b c d e mock:cut_after=2");
        let (status, s) = stream(&h, body.clone()).await;
        assert_eq!(status, 200);
        assert!(!s.done, "{model}: a cut stream must not end cleanly");
        assert!(
            s.chunks
                .last()
                .is_some_and(|c| c["error"]["message"].is_string()),
            "{model}"
        );
        assert!(
            s.content.starts_with("Echo:"),
            "{model}: content before the cut was relayed"
        );

        body = chat_body(model, "a b c mock:mid_error");
        let (_, s) = stream(&h, body).await;
        assert!(
            !s.done
                && s.chunks
                    .last()
                    .is_some_and(|c| c["error"]["message"].is_string()),
            "{model}"
        );
    }
    // Anthropic's 529 "overloaded" is a 503 for the client.
    let response = h
        .chat(&chat_body("claude-sonnet-4-6", "mock:status=529"))
        .await;
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn wrong_provider_keys_are_502_without_key_material() {
    let wrong = "sk-wrong-provider-key-abcdefgh";
    let h =
        Harness::without_failover(&[("ANTHROPIC_API_KEY", wrong), ("GOOGLE_API_KEY", wrong)]).await;
    for (_, model) in &MODELS[1..] {
        let response = h.chat(&chat_body(model, "hi")).await;
        assert_eq!(response.status(), 502, "{model}");
        let text = response.text().await.expect("body");
        assert!(text.contains("upstream_auth_failed"), "{model}: {text}");
        assert!(
            !text.contains(wrong) && !text.contains(PROVIDER_KEY),
            "{model}: {text}"
        );
    }
}

#[tokio::test]
async fn gemini_thought_signatures_round_trip() {
    let h = Harness::start().await;
    let model = "gemini-3-pro-preview";
    let mut first = chat_body(model, "weather? mock:tool");
    first["tools"] = weather_tool();
    let reply = json_of(h.chat(&first).await).await;
    let assistant = reply["choices"][0]["message"].clone();
    assert!(
        assistant["tool_calls"][0]["extra_content"]["google"]["thought_signature"].is_string(),
        "{assistant}"
    );
    let turn = |assistant: Value| {
        json!({"model": model, "tools": weather_tool(), "messages": [
            {"role": "user", "content": "weather?"}, assistant,
            {"role": "tool", "tool_call_id": reply["choices"][0]["message"]["tool_calls"][0]["id"], "content": "sunny"}
        ]})
    };
    assert_eq!(h.chat(&turn(assistant.clone())).await.status(), 200);
    let sent = h
        .mock
        .requests()
        .last()
        .map(|r| r.body.clone())
        .expect("recorded");
    assert_eq!(
        sent["contents"][1]["parts"][0]["thoughtSignature"],
        assistant["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    );
    // A client that dropped the signature still gets through on Gemini 3.
    let mut stripped = assistant;
    if let Some(call) = stripped["tool_calls"][0].as_object_mut() {
        call.remove("extra_content");
    }
    assert_eq!(h.chat(&turn(stripped)).await.status(), 200);
}

#[tokio::test]
async fn provider_prefixes_route_and_unconfigured_providers_name_their_key() {
    let h = Harness::with_env(&[("GOOGLE_API_KEY", "")]).await;
    let response = h.chat(&chat_body("anthropic/claude-haiku-4-5", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-gateway-model"], "claude-haiku-4-5");
    let response = h.chat(&chat_body("gemini-2.5-flash", "hi")).await;
    assert_eq!(response.status(), 404);
    let json = json_of(response).await;
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("GOOGLE_API_KEY")),
        "{json}"
    );
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .body(chat_body("google/../../evil", "hi").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404, "google is not configured here");

    // A model name cannot rewrite the Gemini URL.
    let h = Harness::start().await;
    let response = h.chat(&chat_body("google/../../v1/evil?x=", "hi")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["param"], "model");
    assert!(h.mock.requests().is_empty());
}
