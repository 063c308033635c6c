//! The gateway end to end over HTTP, in front of a mock OpenAI upstream.

mod common;

use std::time::Duration;

use common::{CLIENT_KEY, Harness, PROVIDER_KEY, chat_body, json_of, sse_data};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn assert_openai_error(body: &Value, kind: &str) {
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(error["type"], kind, "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
}

#[tokio::test]
async fn non_streaming_completion_passes_unknown_fields_and_sets_headers() {
    let h = Harness::with_env(&[("GATEWAY_CONFIG", "")]).await;
    let mut body = chat_body("gpt-4o-mini", "hello there");
    body["seed"] = json!(42);
    body["logit_bias"] = json!({"50256": -100});
    body["response_format"] = json!({"type": "json_object"});
    body["user"] = json!("user-7");
    body["reasoning_effort"] = json!("low");
    body["n"] = json!(2);
    body["max_completion_tokens"] = json!(50);
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("x-request-id", "client-req-1")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["x-request-id"], "client-req-1");
    assert_eq!(headers["x-gateway-provider"], "openai");
    assert_eq!(headers["x-gateway-model"], "gpt-4o-mini");
    assert_eq!(headers["content-type"], "application/json");
    let json = json_of(response).await;
    assert_eq!(json["object"], "chat.completion");
    assert!(
        json["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert!(json["created"].as_u64().is_some());
    assert_eq!(json["model"], "gpt-4o-mini");
    assert_eq!(json["choices"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Echo: hello there"
    );
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        json["usage"]["total_tokens"],
        json["usage"]["prompt_tokens"].as_u64().unwrap_or(0) + 3
    );
    // Fields the gateway does not model are relayed both ways.
    assert_eq!(json["system_fingerprint"], "fp_mock");
    assert_eq!(json["choices"][0]["message"]["annotations"], json!([]));

    let sent = &h.mock.requests()[0];
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
    for field in [
        "seed",
        "logit_bias",
        "response_format",
        "user",
        "reasoning_effort",
        "n",
        "max_completion_tokens",
    ] {
        assert_eq!(sent.body[field], body[field], "{field} passed on unchanged");
    }
    assert!(sent.body.get("stream").is_none());
}

#[tokio::test]
async fn generated_request_id_when_missing_or_unsafe() {
    let h = Harness::start().await;
    for sent in [None, Some("bad id with spaces")] {
        let mut req = h.http.get(h.url("/health"));
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let response = req.send().await.expect("sent");
        let id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_eq!(id.len(), 32, "{id}");
        assert_ne!(Some(id.as_str()), sent);
    }
}

#[tokio::test]
async fn streaming_relays_chunks_and_hides_usage_unless_asked() {
    let h = Harness::start().await;
    let mut body = chat_body("gpt-4o-mini", "one two three");
    body["stream"] = json!(true);
    let response = h.chat(&body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-gateway-provider"], "openai");
    let text = response.text().await.expect("body");
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk JSON"))
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Echo: one two three");
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none() && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(
        chunks
            .last()
            .map(|c| c["choices"][0]["finish_reason"].clone()),
        Some(json!("stop"))
    );
    assert_eq!(
        chunks[0]["obfuscation"], "mock",
        "unknown chunk fields relayed"
    );
    // The gateway asked the upstream for usage anyway.
    assert_eq!(
        h.mock.requests()[0].body["stream_options"]["include_usage"],
        true
    );

    body["stream_options"] = json!({"include_usage": true});
    let text = h.chat(&body).await.text().await.expect("body");
    let events = sse_data(&text);
    let usage_chunk: Value = serde_json::from_str(&events[events.len() - 2]).expect("usage chunk");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn tool_calls_round_trip() {
    let h = Harness::start().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]);
    let mut body = chat_body("gpt-4o", "weather in Paris? mock:tool");
    body["tools"] = tools.clone();
    body["tool_choice"] = json!("auto");
    let json = json_of(h.chat(&body).await).await;
    let call = &json["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(json["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("string"))
        .expect("JSON args");
    assert_eq!(args["location"], "Paris");
    assert_eq!(h.mock.requests()[0].body["tools"], tools);

    // The tool result goes back upstream unchanged.
    let followup = json!({"model": "gpt-4o", "tools": tools, "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "{\"temp\": 21}"}
    ]});
    assert_eq!(h.chat(&followup).await.status(), 200);
    assert_eq!(
        h.mock.requests()[1].body["messages"][2]["tool_call_id"],
        call["id"]
    );

    body["stream"] = json!(true);
    let text = h.chat(&body).await.text().await.expect("body");
    let mut args = String::new();
    let mut name = None;
    for event in sse_data(&text).iter().filter(|e| *e != "[DONE]") {
        let chunk: Value = serde_json::from_str(event).expect("chunk");
        if let Some(calls) = chunk["choices"][0]["delta"]["tool_calls"].as_array() {
            assert_eq!(calls[0]["index"], 0);
            if let Some(n) = calls[0]["function"]["name"].as_str() {
                name = Some(n.to_owned());
            }
            args.push_str(calls[0]["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(name.as_deref(), Some("get_weather"));
    assert_eq!(
        serde_json::from_str::<Value>(&args).expect("streamed args")["location"],
        "Paris"
    );
}

#[tokio::test]
async fn client_auth_is_enforced_on_v1_only() {
    let h = Harness::start().await;
    let body = chat_body("gpt-4o-mini", "hi");
    for request in [
        h.http.post(h.url("/v1/chat/completions")),
        h.http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth("wrong-key-0123456789"),
    ] {
        let response = request.body(body.to_string()).send().await.expect("sent");
        assert_eq!(response.status(), 401);
        let json = json_of(response).await;
        assert_openai_error(&json, "authentication_error");
        assert_eq!(json["error"]["code"], "invalid_api_key");
    }
    let models = h.http.get(h.url("/v1/models")).send().await.expect("sent");
    assert_eq!(models.status(), 401);
    let ok = h
        .http
        .post(h.url("/v1/chat/completions"))
        .header("x-api-key", CLIENT_KEY)
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
    assert_eq!(
        h.http
            .get(h.url("/health"))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    ); // Spend and traffic are the operator's business.
    for path in ["/metrics", "/metrics/costs"] {
        let status = h.http.get(h.url(path)).send().await.expect("sent").status();
        assert_eq!(status, 401, "{path}");
    }
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let h = Harness::with_env(&[("MAX_REQUEST_BYTES", "4096"), ("ANTHROPIC_API_KEY", "")]).await;
    let post = |body: String| {
        h.http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .body(body)
            .send()
    };
    let cases = [
        ("{\"model\": ", 400, None),
        ("[1,2]", 400, None),
        (
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":7}]}"#,
            400,
            Some("messages[0].content"),
        ),
        (
            r#"{"model":"gpt-4o","messages":[{"role":"robot","content":"x"}]}"#,
            400,
            Some("messages[0].role"),
        ),
        (r#"{"model":"gpt-4o","messages":[]}"#, 400, Some("messages")),
        (
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"temperature":9}"#,
            400,
            Some("temperature"),
        ),
        (
            r#"{"model":"llama-70b","messages":[{"role":"user","content":"x"}]}"#,
            404,
            Some("model"),
        ),
        (
            r#"{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"x"}]}"#,
            404,
            Some("model"),
        ),
    ];
    for (body, status, param) in cases {
        let response = post(body.to_owned()).await.expect("sent");
        assert_eq!(response.status(), status, "{body}");
        let json = json_of(response).await;
        assert_openai_error(&json, "invalid_request_error");
        if let Some(param) = param {
            assert_eq!(json["error"]["param"], param, "{body}: {json}");
        }
    }
    let huge =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let response = post(huge.to_string()).await.expect("sent");
    assert_eq!(response.status(), 413);
    assert_eq!(
        json_of(response).await["error"]["code"],
        "request_too_large"
    );
    let response = h.http.get(h.url("/v2/nothing")).send().await.expect("sent");
    assert_eq!(response.status(), 404);
    assert_openai_error(&json_of(response).await, "invalid_request_error");
    // Nothing invalid reached the upstream.
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn upstream_failures_map_to_gateway_errors() {
    let h = Harness::openai_only().await;
    for (directive, status, retry_after) in [
        ("mock:status=429", 429, Some("1")),
        ("mock:status=500", 502, None),
        ("mock:status=503", 503, None),
        ("mock:status=400", 400, None),
        ("mock:drop", 502, None),
        ("mock:garbage", 502, None),
        ("mock:delay_ms=3000", 504, None),
    ] {
        let response = h.chat(&chat_body("gpt-4o-mini", directive)).await;
        assert_eq!(response.status(), status, "{directive}");
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("")),
            retry_after
        );
        assert_eq!(response.headers()["x-gateway-provider"], "openai");
        let json = json_of(response).await;
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("openai")),
            "{directive}: {json}"
        );
    }
}

#[tokio::test]
async fn wrong_provider_key_is_a_502_without_the_key() {
    let h = Harness::with_env(&[
        ("OPENAI_API_KEY", "sk-wrong-key-abcdefghijkl"),
        ("ANTHROPIC_API_KEY", ""),
        ("GOOGLE_API_KEY", ""),
    ])
    .await;
    let response = h.chat(&chat_body("gpt-4o-mini", "hi")).await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.expect("body");
    assert!(
        !text.contains("sk-wrong") && !text.contains("ijkl") && !text.contains(PROVIDER_KEY),
        "{text}"
    );
    assert!(text.contains("upstream_auth_failed"), "{text}");
}

#[tokio::test]
async fn mid_stream_failures_end_with_an_error_event_not_done() {
    let h = Harness::start().await;
    for directive in ["mock:cut_after=2", "mock:mid_error"] {
        let mut body = chat_body("gpt-4o-mini", &format!("a b c d {directive}"));
        body["stream"] = json!(true);
        let response = h.chat(&body).await;
        assert_eq!(response.status(), 200, "{directive}");
        let text = response.text().await.expect("complete body");
        let events = sse_data(&text);
        let last: Value = serde_json::from_str(events.last().expect("events")).expect("error JSON");
        assert!(
            last["error"]["message"].as_str().is_some(),
            "{directive}: {text}"
        );
        assert!(!text.contains("[DONE]"), "{directive}: {text}");
        // What arrived before the failure was relayed.
        assert!(text.contains("Echo:"), "{directive}: {text}");
    }
    // A stream broken before any content fails over; when every provider
    // breaks it, the client gets a plain error listing them, not a stream.
    let mut body = chat_body("gpt-4o-mini", "a b mock:garbage");
    body["stream"] = json!(true);
    let response = h.chat(&body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-gateway-attempts"], "3");
    let json = json_of(response).await;
    let message = json["error"]["message"].as_str().unwrap_or_default();
    for route in [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ] {
        assert!(message.contains(route), "{message}");
    }
}

#[tokio::test]
async fn stream_chunks_are_not_coalesced() {
    let h = Harness::start().await;
    let mut body = chat_body("gpt-4o-mini", "first second third mock:hold");
    body["stream"] = json!(true);
    let response = h.chat(&body).await;
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    // The upstream holds everything after its first content chunk until released:
    // the client must already see that chunk.
    while !seen.contains("Echo:") {
        let piece = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("first chunk arrives while upstream holds the rest")
            .expect("stream open")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&piece));
    }
    assert!(
        !seen.contains("second") && !seen.contains("[DONE]"),
        "{seen}"
    );
    h.mock.release();
    while let Some(piece) = stream.next().await {
        seen.push_str(&String::from_utf8_lossy(&piece.expect("bytes")));
    }
    assert!(
        seen.contains("second") && seen.ends_with("data: [DONE]\n\n"),
        "{seen}"
    );
}

#[tokio::test]
async fn models_and_readiness() {
    let dir = std::env::temp_dir().join(format!("gw-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("gateway.toml");
    std::fs::write(&file, "[aliases]\nfast = \"openai/gpt-4o-mini\"\n").expect("write");
    let h = Harness::with_env(&[
        ("GATEWAY_CONFIG", file.to_str().expect("utf8")),
        ("ANTHROPIC_API_KEY", ""),
    ])
    .await;
    let models = json_of(
        h.http
            .get(h.url("/v1/models"))
            .bearer_auth(CLIENT_KEY)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"gpt-4o-mini") && ids.contains(&"fast"),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|id| id.starts_with("claude")),
        "unconfigured providers are not listed"
    );
    let one = h
        .http
        .get(h.url("/v1/models/fast"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .expect("sent");
    assert_eq!(json_of(one).await["owned_by"], "llm-gateway");

    // The alias routes to its target.
    let response = h.chat(&chat_body("fast", "hi")).await;
    assert_eq!(response.headers()["x-gateway-model"], "gpt-4o-mini");
    assert_eq!(h.mock.requests()[0].body["model"], "gpt-4o-mini");

    let ready = h.http.get(h.url("/ready")).send().await.expect("sent");
    assert_eq!(ready.status(), 200);
    let bare = Harness::with_env(&[
        ("OPENAI_API_KEY", ""),
        ("ANTHROPIC_API_KEY", ""),
        ("GOOGLE_API_KEY", ""),
    ])
    .await;
    let ready = bare
        .http
        .get(bare.url("/ready"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), 503);
    let json = json_of(ready).await;
    assert!(
        json["checks"]["providers"]
            .as_str()
            .is_some_and(|m| m.contains("OPENAI_API_KEY")),
        "{json}"
    );
}

#[tokio::test]
async fn graceful_shutdown_lets_streams_finish() {
    let mut h = Harness::start().await;
    let mut body = chat_body("gpt-4o-mini", "slow answer mock:hold");
    body["stream"] = json!(true);
    let mut stream = h.chat(&body).await.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("first chunk");
    assert!(first.is_some());
    h.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused while the stream drains.
    let fresh = reqwest::Client::new().get(h.url("/health")).send().await;
    assert!(fresh.is_err(), "listener closed after shutdown");
    h.mock.release();
    let mut rest = String::new();
    while let Some(piece) = stream.next().await {
        rest.push_str(&String::from_utf8_lossy(&piece.expect("bytes")));
    }
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
    let server = h.server.take().expect("server task");
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops");
    assert!(matches!(result, Ok(Ok(()))));
}

/// Gateway overhead = request time − time waiting on the provider: a slow
/// upstream (JSON, and a stream with gaps between chunks) leaves the
/// overhead small while the requests take long.
#[tokio::test]
async fn overhead_excludes_time_waiting_on_the_provider() {
    let h = Harness::start().await;
    let started = std::time::Instant::now();
    let slow = h
        .chat(&chat_body("gpt-4o-mini", "slow answer mock:delay_ms=300"))
        .await;
    assert_eq!(slow.status(), 200);
    slow.bytes().await.expect("body");
    let mut streamed = chat_body("gpt-4o-mini", "one two three four mock:chunk_delay_ms=100");
    streamed["stream"] = json!(true);
    let text = h.chat(&streamed).await.text().await.expect("stream");
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(started.elapsed() > Duration::from_millis(700));
    let metrics = common::metrics(&h).await;
    let overhead = &metrics["overhead_ms"];
    assert_eq!(overhead["requests"], 2, "{overhead}");
    let max = overhead["max"].as_f64().expect("max");
    assert!(
        max < 150.0,
        "overhead {max} ms should exclude the provider's 300+ ms"
    );
}

/// Plain-HTTP upstreams speak HTTP/1.1 unless `UPSTREAM_HTTP2_PRIOR_KNOWLEDGE`
/// is set; then many streams share HTTP/2 connections and each still
/// arrives whole.
#[tokio::test]
async fn h2c_upstream_carries_concurrent_streams() {
    let h1 = Harness::start().await;
    let response = h1.chat(&chat_body("gpt-4o-mini", "over one")).await;
    assert_eq!(response.status(), 200);
    let _ = response.bytes().await;
    assert_eq!(h1.mock.requests()[0].version, http::Version::HTTP_11);

    let h = Harness::with_env(&[("UPSTREAM_HTTP2_PRIOR_KNOWLEDGE", "true")]).await;
    let ask = async |i: usize| {
        let mut body = chat_body("gpt-4o-mini", &format!("stream number {i}"));
        body["stream"] = json!(true);
        let response = h.chat(&body).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("body");
        let events = sse_data(&text);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
        let content: String = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str::<Value>(e).expect("chunk JSON"))
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(content, format!("Echo: stream number {i}"));
    };
    futures_util::future::join_all((0..50).map(ask)).await;
    let requests = h.mock.requests();
    assert_eq!(requests.len(), 50);
    assert!(requests.iter().all(|r| r.version == http::Version::HTTP_2));
}

/// hyper's client keeps every stream to one host on one HTTP/2 connection
/// and queues those past the server's `SETTINGS_MAX_CONCURRENT_STREAMS`.
/// The gateway sends requests past `UPSTREAM_STREAMS_PER_CONNECTION` over
/// further connections, so none waits for another to finish.
#[tokio::test]
async fn h2_streams_past_the_server_limit_use_more_connections() {
    const SERVER_LIMIT: u32 = 10;
    let held = async |lanes: &str, streams: usize| {
        let mock = mock_upstream::MockUpstream::start(mock_upstream::MockOptions {
            api_key: Some(PROVIDER_KEY.into()),
            record: true,
            h2_max_streams: Some(SERVER_LIMIT),
            ..Default::default()
        })
        .await
        .expect("mock starts");
        let h = Harness::with_mock(
            mock,
            &[
                ("UPSTREAM_HTTP2_PRIOR_KNOWLEDGE", "true"),
                ("UPSTREAM_CONNECTIONS", lanes),
                ("UPSTREAM_STREAMS_PER_CONNECTION", "10"),
                ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", "20"),
            ],
        )
        .await;
        let ask = async |i: usize| {
            let mut body = chat_body("gpt-4o-mini", &format!("held stream {i} mock:hold"));
            body["stream"] = json!(true);
            let response = h.chat(&body).await;
            assert_eq!(response.status(), 200);
            let text = response.text().await.expect("body");
            assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
        };
        // Every stream is held after its first chunk until released: count
        // how many reach the upstream while all are open.
        let measured = std::sync::atomic::AtomicBool::new(false);
        let watch = async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            let mut reached = 0;
            while tokio::time::Instant::now() < deadline {
                reached = h.mock.requests().len();
                if reached == streams {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let connections = h.mock.connections();
            measured.store(true, std::sync::atomic::Ordering::Relaxed);
            (reached, connections)
        };
        // Then release them, and again for streams that were queued.
        let asks = futures_util::future::join_all((0..streams).map(ask));
        let finish = async {
            tokio::pin!(asks);
            loop {
                tokio::select! {
                    _ = &mut asks => break,
                    _ = tokio::time::sleep(Duration::from_millis(10)) => {
                        if measured.load(std::sync::atomic::Ordering::Relaxed) {
                            h.mock.release();
                        }
                    }
                }
            }
        };
        let (_, seen) = tokio::join!(finish, watch);
        seen
    };

    // One connection: the server's limit holds the rest back.
    let (reached, connections) = held("1", 30).await;
    assert_eq!((reached, connections), (SERVER_LIMIT as usize, 1));
    // Lanes: all 30 open at once, over three connections or more.
    let (reached, connections) = held("8", 30).await;
    assert_eq!(reached, 30);
    assert!(connections >= 3, "{connections} connections");
}
