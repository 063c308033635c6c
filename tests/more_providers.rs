//! Providers declared in the configuration file: OpenAI-compatible servers
//! (with a key, keyless, with quirks), Azure OpenAI (deployments and the v1
//! surface) and AWS Bedrock (Converse and ConverseStream, signed with
//! SigV4), each in front of a mock that speaks and validates its wire
//! format; and failover across them.

mod common;

use common::{
    Harness, PROVIDER_KEY, chat_body, config_file, header, json_of, parse_stream, recording_mock,
};
use mock_upstream::{MockOptions, MockUpstream};
use serde_json::{Value, json};

const BEDROCK_MODELS: [&str; 4] = [
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "amazon.nova-lite-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
];

/// The gateway with the built-in three and five declared providers on
/// `mock`, a keyless server on `local`, and no retries.
async fn gateway(name: &str, local: &MockUpstream, routing: &str) -> Harness {
    let mock = recording_mock().await;
    let url = mock.url();
    let models: Vec<String> = BEDROCK_MODELS.iter().map(|m| format!("\"{m}\"")).collect();
    let file = config_file(
        name,
        &format!(
            r#"{routing}
[providers.groq]
kind = "openai"
base_url = "{url}/v1"
api_key_env = "GROQ_API_KEY"
models = ["llama-3.3-70b-versatile"]
headers = {{ "X-Title" = "gateway-test" }}
stream_options = false
max_tokens_field = "max_tokens"
[providers.groq.pricing."llama-3.3-70b-versatile"]
input = 0.59
output = 0.79

[providers.local]
kind = "openai"
base_url = "{local}/v1"

[providers.azure]
kind = "azure"
base_url = "{url}"
api_key_env = "AZURE_OPENAI_API_KEY"
api_version = "2024-10-21"
deployments = {{ "gpt-4o" = "deploy-gpt4o" }}

[providers.azure-v1]
kind = "azure"
base_url = "{url}/openai/v1"
api_key_env = "AZURE_OPENAI_API_KEY"
api_version = "v1"
deployments = {{ "gpt-4o-mini" = "deploy-mini" }}

[providers.bedrock]
kind = "bedrock"
base_url = "{url}"
region = "us-east-1"
models = [{models}]
"#,
            local = local.url(),
            models = models.join(", "),
        ),
    );
    Harness::with_mock(
        mock,
        &[
            ("GATEWAY_CONFIG", &file),
            ("GROQ_API_KEY", PROVIDER_KEY),
            ("AZURE_OPENAI_API_KEY", PROVIDER_KEY),
            ("AWS_ACCESS_KEY_ID", "AKIDMOCKMOCKMOCK"),
            ("AWS_SECRET_ACCESS_KEY", "mock-secret-access-key"),
            ("UPSTREAM_MAX_RETRIES", "0"),
        ],
    )
    .await
}

async fn keyless() -> MockUpstream {
    MockUpstream::start(MockOptions {
        record: true,
        ..MockOptions::default()
    })
    .await
    .expect("mock starts")
}

async fn stream(h: &Harness, mut body: Value) -> (u16, common::Streamed) {
    body["stream"] = json!(true);
    let response = h.chat(&body).await;
    let status = response.status().as_u16();
    (status, parse_stream(&response.text().await.expect("body")))
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}])
}

/// The last request the mock received whose path starts with `prefix`.
fn last_request(h: &Harness, prefix: &str) -> mock_upstream::RecordedRequest {
    h.mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.starts_with(prefix))
        .unwrap_or_else(|| panic!("no request to {prefix}"))
}

#[tokio::test]
async fn openai_compatible_providers_answer_with_their_quirks_headers_and_prices() {
    let local = keyless().await;
    let h = gateway("compat", &local, "").await;
    for model in ["groq/llama-3.3-70b-versatile", "llama-3.3-70b-versatile"] {
        let mut body = chat_body(model, "hello groq");
        body["max_completion_tokens"] = json!(50);
        let response = h.chat(&body).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(header(&response, "x-gateway-provider"), "groq");
        assert_eq!(
            header(&response, "x-gateway-model"),
            "llama-3.3-70b-versatile"
        );
        let cost: f64 = header(&response, "x-gateway-cost-usd")
            .parse()
            .expect("cost");
        let json = json_of(response).await;
        assert_eq!(json["choices"][0]["message"]["content"], "Echo: hello groq");
        let usage = &json["usage"];
        let expected = usage["prompt_tokens"].as_f64().unwrap_or(0.0) * 0.59e-6
            + usage["completion_tokens"].as_f64().unwrap_or(0.0) * 0.79e-6;
        assert!(
            (cost - expected).abs() < 1e-9,
            "priced from [providers.groq.pricing]: {cost} vs {expected}"
        );
        let sent = last_request(&h, "/v1/chat/completions");
        assert_eq!(sent.header("x-title"), Some("gateway-test"));
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {PROVIDER_KEY}").as_str())
        );
        assert_eq!(sent.body["max_tokens"], 50, "max_tokens_field quirk");
        assert!(sent.body.get("max_completion_tokens").is_none());
    }
    let (status, s) = stream(&h, chat_body("groq/llama-3.3-70b-versatile", "one two")).await;
    assert_eq!(status, 200);
    assert_eq!(s.content, "Echo: one two");
    assert!(s.done);
    let sent = last_request(&h, "/v1/chat/completions");
    assert!(
        sent.body.get("stream_options").is_none(),
        "stream_options = false: {}",
        sent.body
    );
    // Usage the server did not send is estimated, so the stream is still billed.
    let response = h
        .chat(&chat_body("groq/llama-3.3-70b-versatile", "x"))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_keyless_local_server_is_called_without_a_key_and_its_models_are_discovered() {
    let local = keyless().await;
    let h = gateway("keyless", &local, "").await;
    let response = h.chat(&chat_body("local/qwen2.5:7b", "hi local")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "local");
    let json = json_of(response).await;
    assert_eq!(json["choices"][0]["message"]["content"], "Echo: hi local");
    let sent = local
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("sent to the local server");
    assert!(sent.header("authorization").is_none(), "no key is sent");
    assert_eq!(sent.body["model"], "qwen2.5:7b");

    // Its embeddings endpoint is reached the same way.
    let response = h
        .http
        .post(h.url("/v1/embeddings"))
        .bearer_auth(common::CLIENT_KEY)
        .header("content-type", "application/json")
        .body(json!({"model": "local/nomic-embed-text", "input": ["one", "two"]}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "local");
    let json = json_of(response).await;
    assert_eq!(json["data"].as_array().map(Vec::len), Some(2));

    // The local server's /models answer joins the listing, by provider/model
    // where another provider offers the same name.
    let mut ids = Vec::new();
    for _ in 0..50 {
        let listed = json_of(
            h.http
                .get(h.url("/v1/models"))
                .bearer_auth(common::CLIENT_KEY)
                .send()
                .await
                .expect("models"),
        )
        .await;
        ids = listed["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect();
        if ids.iter().any(|id| id == "local/gpt-4o-mini") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    for id in [
        "local/gpt-4o-mini",
        "llama-3.3-70b-versatile",
        "azure/gpt-4o",
        "azure-v1/gpt-4o-mini",
        BEDROCK_MODELS[0],
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} in {ids:?}");
    }
}

#[tokio::test]
async fn azure_deployments_and_the_v1_surface() {
    let local = keyless().await;
    let h = gateway("azure", &local, "").await;
    let response = h.chat(&chat_body("azure/gpt-4o", "hello azure")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "azure");
    let json = json_of(response).await;
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Echo: hello azure"
    );
    let sent = last_request(&h, "/openai/");
    assert_eq!(
        sent.path,
        "/openai/deployments/deploy-gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(sent.header("api-key"), Some(PROVIDER_KEY));
    assert!(sent.header("authorization").is_none());

    let (status, s) = stream(&h, chat_body("azure/gpt-4o", "streamed answer")).await;
    assert_eq!((status, s.content.as_str()), (200, "Echo: streamed answer"));

    let mut body = chat_body("azure/gpt-4o", "weather? mock:tool");
    body["tools"] = weather_tool();
    let json = json_of(h.chat(&body).await).await;
    assert_eq!(json["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        json["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );

    // Azure's content filter: a refused prompt, and a filtered answer.
    let response = h
        .chat(&chat_body("azure/gpt-4o", "bad words mock:filter=prompt"))
        .await;
    assert_eq!(response.status(), 400);
    let json = json_of(response).await;
    assert_eq!(json["error"]["code"], "content_filter");
    assert_eq!(json["error"]["param"], "prompt");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("content management policy")),
        "{json}"
    );
    let json = json_of(
        h.chat(&chat_body("azure/gpt-4o", "x mock:filter=output"))
            .await,
    )
    .await;
    assert_eq!(json["choices"][0]["finish_reason"], "content_filter");
    let (_, s) = stream(&h, chat_body("azure/gpt-4o", "y mock:filter=output")).await;
    assert_eq!(s.finish.as_deref(), Some("content_filter"));

    let response = h
        .chat(&chat_body("azure-v1/gpt-4o-mini", "v1 surface"))
        .await;
    assert_eq!(response.status(), 200);
    let sent = last_request(&h, "/openai/");
    assert_eq!(sent.path, "/openai/v1/chat/completions");
    assert_eq!(sent.body["model"], "deploy-mini");
}

#[tokio::test]
async fn bedrock_models_answer_stream_call_tools_and_map_errors() {
    let local = keyless().await;
    let h = gateway(
        "bedrock",
        &local,
        "[routing]\ncross_provider_fallbacks = false\n",
    )
    .await;
    for model in BEDROCK_MODELS {
        let response = h.chat(&chat_body(model, "hello bedrock")).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(header(&response, "x-gateway-provider"), "bedrock");
        let json = json_of(response).await;
        assert_eq!(json["model"], model);
        assert_eq!(
            json["choices"][0]["message"]["content"], "Echo: hello bedrock",
            "{model}"
        );
        assert_eq!(json["choices"][0]["finish_reason"], "stop");
        assert_eq!(json["usage"]["completion_tokens"], 3);

        let (status, s) = stream(&h, chat_body(model, "one two three")).await;
        assert_eq!(status, 200, "{model}");
        assert_eq!(s.content, "Echo: one two three", "{model}");
        assert_eq!(s.finish.as_deref(), Some("stop"));
        assert!(s.done);
    }
    let sent = last_request(&h, "/model/");
    assert!(sent.path.ends_with("/converse-stream"), "{}", sent.path);
    assert!(
        sent.header("authorization")
            .is_some_and(|a| a.contains("/us-east-1/bedrock/aws4_request")),
        "signed with SigV4 for bedrock in the configured region"
    );

    // System prompt, multi-turn, image, tools and a tool result.
    let model = format!("bedrock/{}", BEDROCK_MODELS[0]);
    let mut body = json!({"model": model, "max_tokens": 64, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "tooluse_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C"},
        {"role": "user", "content": "thanks mock:inspect"}
    ]});
    body["tools"] = weather_tool();
    let json = json_of(h.chat(&body).await).await;
    let seen: Value = serde_json::from_str(
        json["choices"][0]["message"]["content"]
            .as_str()
            .expect("summary"),
    )
    .expect("summary JSON");
    assert_eq!(seen["system"], "Be brief.");
    assert_eq!(seen["roles"], json!(["user", "assistant", "user"]));
    assert_eq!(seen["images"], 1);
    assert_eq!(seen["tool_results"], json!(["tooluse_1"]));
    assert_eq!(seen["max_tokens"], 64);

    let mut body = chat_body(&model, "weather in Paris? mock:tool");
    body["tools"] = weather_tool();
    let json = json_of(h.chat(&body).await).await;
    assert_eq!(json["choices"][0]["finish_reason"], "tool_calls");
    let call = &json["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().expect("arguments"))
            .expect("JSON arguments");
    assert_eq!(args["location"], "Paris");
    let (_, s) = stream(&h, body).await;
    assert_eq!(s.tool_names, ["get_weather"]);
    assert_eq!(s.tool_indexes, [0]);
    assert_eq!(
        serde_json::from_str::<Value>(&s.arguments).expect("streamed arguments")["location"],
        "Paris"
    );
    assert_eq!(s.finish.as_deref(), Some("tool_calls"));

    // Guardrails, throttling, validation, a stream exception, a cut stream.
    let json = json_of(h.chat(&chat_body(&model, "x mock:filter=output")).await).await;
    assert_eq!(json["choices"][0]["finish_reason"], "content_filter");
    let response = h.chat(&chat_body(&model, "x mock:status=429")).await;
    assert_eq!(response.status(), 429);
    let json = json_of(response).await;
    assert_eq!(json["error"]["type"], "rate_limit_error");
    let response = h.chat(&chat_body(&model, "x mock:status=400")).await;
    assert_eq!(response.status(), 400);
    let json = json_of(response).await;
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Malformed input request")),
        "{json}"
    );
    let (_, s) = stream(&h, chat_body(&model, "a b c mock:mid_error")).await;
    assert!(!s.done, "a stream exception is not a complete answer");
    assert!(
        s.chunks.iter().any(|c| c.get("error").is_some()),
        "the client sees an error event"
    );
    let (_, s) = stream(&h, chat_body(&model, "a b c d mock:cut_after=2")).await;
    assert!(!s.done && s.chunks.iter().any(|c| c.get("error").is_some()));
    let response = h
        .chat(
            &json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
        )
        .await;
    assert_eq!(response.status(), 400, "Converse takes inline images only");
}

#[tokio::test]
async fn failover_runs_across_bedrock_anthropic_and_azure() {
    let local = keyless().await;
    let chain = format!(
        "[routes]\nresilient = [\"bedrock/{}\", \"anthropic/claude-haiku-4-5\", \"azure/gpt-4o\"]\n",
        BEDROCK_MODELS[0]
    );
    let h = gateway("failover", &local, &chain).await;
    let served = |response: &reqwest::Response| header(response, "x-gateway-provider");
    let response = h.chat(&chat_body("resilient", "first try")).await;
    assert_eq!(served(&response), "bedrock");
    let response = h
        .chat(&chat_body("resilient", "x mock:status=503@bedrock"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(served(&response), "anthropic");
    let response = h
        .chat(&chat_body(
            "resilient",
            "y mock:status=429@bedrock mock:status=529@anthropic",
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(served(&response), "azure");
    let json = json_of(response).await;
    assert_eq!(json["choices"][0]["message"]["content"], "Echo: y");
    let (status, s) = stream(
        &h,
        chat_body(
            "resilient",
            "z mock:status=500@bedrock mock:status=500@anthropic",
        ),
    )
    .await;
    assert_eq!((status, s.content.as_str()), (200, "Echo: z"));
}

#[tokio::test]
async fn declared_providers_join_cost_routing_and_have_their_own_limits() {
    let local = keyless().await;
    let config = "[routes]\nmixed = [\"openai/gpt-5.5\", \"groq/llama-3.3-70b-versatile\"]\n\
                  [routing]\nsmart_models = [\"groq/llama-3.3-70b-versatile\"]\n\
                  [pricing.\"groq/llama-3.3-70b-versatile\"]\ninput = 0.001\noutput = 0.001\n\
                  [limits.groq]\nrequests_per_minute = 3\n";
    let h = gateway("cost-limits", &local, config).await;
    let by_cost = |model: &'static str| {
        h.http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(common::CLIENT_KEY)
            .header("x-routing-strategy", "cost")
            .header("content-type", "application/json")
            .body(chat_body(model, "cheapest please").to_string())
            .send()
    };
    let response = by_cost("mixed").await.expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-gateway-provider"),
        "groq",
        "its configured price makes it the cheaper member of the route"
    );
    let response = by_cost("smart-model").await.expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-gateway-provider"),
        "groq",
        "[routing] smart_models puts it in the smart pool, where it is the cheapest"
    );
    let third = h
        .chat(&chat_body("groq/llama-3.3-70b-versatile", "three"))
        .await;
    assert_eq!(third.status(), 200);
    let fourth = h
        .chat(&chat_body("groq/llama-3.3-70b-versatile", "four"))
        .await;
    assert_eq!(
        fourth.status(),
        429,
        "[limits.groq] applies to the declared provider"
    );
    let json = json_of(fourth).await;
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("groq")),
        "{json}"
    );
}

#[tokio::test]
async fn the_responses_api_reaches_declared_providers() {
    let local = keyless().await;
    let h = gateway("responses", &local, "").await;
    for model in [
        format!("bedrock/{}", BEDROCK_MODELS[1]),
        "azure/gpt-4o".to_owned(),
        "groq/llama-3.3-70b-versatile".to_owned(),
    ] {
        let response = h
            .http
            .post(h.url("/v1/responses"))
            .bearer_auth(common::CLIENT_KEY)
            .header("content-type", "application/json")
            .body(
                json!({"model": model, "input": "hello responses", "instructions": "Be brief."})
                    .to_string(),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{model}");
        let json = json_of(response).await;
        assert_eq!(json["status"], "completed", "{model}: {json}");
        assert_eq!(
            json["output"][0]["content"][0]["text"], "Echo: hello responses",
            "{model}"
        );
    }
}
