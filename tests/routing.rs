//! Routing that keeps answering: retries, failover, streaming failover,
//! timeouts, circuit breakers, deadlines and smart strategies, driven by
//! faults injected into the mock upstreams.

mod common;

use std::time::{Duration, Instant};

use common::{CLIENT_KEY, Harness, chat_body, config_file, header, json_of, parse_stream};
use llm_gateway::providers::ProviderId;
use llm_gateway::routing::Route;
use serde_json::{Value, json};

async fn stream_body(h: &Harness, text: &str) -> (reqwest::Response, ()) {
    let mut body = chat_body("gpt-4o-mini", text);
    body["stream"] = json!(true);
    (h.chat(&body).await, ())
}

#[tokio::test]
async fn a_500_then_success_is_retried_on_the_same_provider() {
    let h = Harness::start().await;
    let response = h
        .chat(&chat_body(
            "gpt-4o-mini",
            "retry me mock:flaky=1 mock:status=500",
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "openai");
    assert_eq!(header(&response, "x-gateway-attempts"), "2");
    assert_eq!(
        json_of(response).await["choices"][0]["message"]["content"],
        "Echo: retry me"
    );
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let h = Harness::start().await;
    let started = Instant::now();
    let response = h
        .chat(&chat_body(
            "gpt-4o-mini",
            "slow down mock:flaky=1 mock:status=429",
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "openai");
    assert_eq!(header(&response, "x-gateway-attempts"), "2");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After: 1"
    );
}

#[tokio::test]
async fn a_provider_down_fails_over_to_the_next_tier_member() {
    let h = Harness::start().await;
    let response = h
        .chat(&chat_body("gpt-4o-mini", "hello mock:status=503@openai"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    assert_eq!(header(&response, "x-gateway-model"), "claude-haiku-4-5");
    assert_eq!(
        header(&response, "x-gateway-attempts"),
        "4",
        "3 tries at openai, then anthropic"
    );
    let json = json_of(response).await;
    assert_eq!(json["choices"][0]["message"]["content"], "Echo: hello");
    assert_eq!(json["model"], "claude-haiku-4-5");

    // A dropped connection and a wrong key fail over too (the key without retries).
    let response = h
        .chat(&chat_body("gpt-4o-mini", "dropped mock:drop@openai"))
        .await;
    assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    let response = h
        .chat(&chat_body(
            "claude-haiku-4-5",
            "bad key mock:status=401@anthropic",
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-attempts"), "2");
    // A bad request is not retried anywhere.
    let response = h
        .chat(&chat_body("gpt-4o-mini", "bad mock:status=400"))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "x-gateway-attempts"), "1");
}

#[tokio::test]
async fn a_timeout_fails_over() {
    let h = Harness::with_env(&[
        ("UPSTREAM_TIMEOUT_SECONDS", "0.3"),
        ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", "0.3"),
        ("UPSTREAM_MAX_RETRIES", "0"),
    ])
    .await;
    let started = Instant::now();
    let response = h
        .chat(&chat_body("gpt-4o-mini", "late mock:delay_ms=2000@openai"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // Streams: no first byte in time is a timeout too.
    let (response, ()) = stream_body(&h, "late stream mock:delay_ms=2000@openai").await;
    assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    let s = parse_stream(&response.text().await.expect("body"));
    assert!(s.done && s.content == "Echo: late stream", "{}", s.content);
}

#[tokio::test]
async fn streams_fail_over_only_before_the_first_content_byte() {
    let h = Harness::start().await;
    // Cut after the role preamble, before any content: the client never
    // sees openai's stream, only anthropic's complete one.
    let (response, ()) = stream_body(&h, "cut early mock:cut_after=0@openai").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    let s = parse_stream(&response.text().await.expect("body"));
    assert!(s.done, "clean end");
    assert_eq!(s.content, "Echo: cut early");
    assert_eq!(
        s.chunks
            .iter()
            .filter(|c| c["choices"][0]["delta"]["role"] == "assistant")
            .count(),
        1,
        "one preamble only"
    );
    // Cut after content reached the client: an error event, no failover.
    let (response, ()) = stream_body(&h, "cut late a b c mock:cut_after=2@openai").await;
    assert_eq!(header(&response, "x-gateway-provider"), "openai");
    let s = parse_stream(&response.text().await.expect("body"));
    assert!(!s.done && s.chunks.last().is_some_and(|c| c["error"].is_object()));
    assert!(s.content.starts_with("Echo:"));
}

#[tokio::test]
async fn everything_down_is_a_503_naming_each_provider() {
    let h = Harness::start().await;
    let response = h.chat(&chat_body("fast", "all down mock:status=500")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "x-gateway-attempts"), "9");
    let json = json_of(response).await;
    assert_eq!(json["error"]["code"], "all_providers_failed");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    for route in [
        "openai/gpt-5.4-mini",
        "anthropic/claude-haiku-4-5",
        "google/gemini-2.5-flash",
    ] {
        assert!(message.contains(route), "{message}");
    }
    assert!(message.contains("3 attempts"), "{message}");
    // Only rate limits everywhere: the client gets the 429 with its Retry-After.
    let h = Harness::with_env(&[("UPSTREAM_MAX_RETRIES", "0")]).await;
    let response = h.chat(&chat_body("fast", "busy mock:status=429")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after"), "1");
}

#[tokio::test]
async fn breakers_open_skip_and_recover_through_a_half_open_probe() {
    let file = config_file(
        "breaker",
        "[breaker]\nconsecutive_failures = 2\ncooldown_seconds = 0.5\n",
    );
    let h = Harness::with_env(&[("GATEWAY_CONFIG", &file), ("UPSTREAM_MAX_RETRIES", "0")]).await;
    let route = "openai/gpt-4o-mini";
    for i in 0..2 {
        let response = h
            .chat(&chat_body(
                "gpt-4o-mini",
                &format!("fail {i} mock:status=500@openai"),
            ))
            .await;
        assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    }
    let metrics = common::metrics(&h).await;
    assert_eq!(metrics["routes"][route]["breaker"], "open", "{metrics}");
    assert_eq!(metrics["routes"][route]["errors"], 2);
    // Open: openai is skipped without a call, even for a healthy request.
    let before = h.mock.requests().len();
    let response = h.chat(&chat_body("gpt-4o-mini", "skipped")).await;
    assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    assert_eq!(header(&response, "x-gateway-attempts"), "1");
    let sent = h.mock.requests();
    assert_eq!(sent.len(), before + 1);
    assert_eq!(sent.last().map(|r| r.path.as_str()), Some("/v1/messages"));
    // After the cooldown one probe goes through; its success closes the circuit.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let response = h.chat(&chat_body("gpt-4o-mini", "probe")).await;
    assert_eq!(header(&response, "x-gateway-provider"), "openai");
    let metrics = common::metrics(&h).await;
    assert_eq!(metrics["routes"][route]["breaker"], "closed");
    assert!(
        metrics["routes"][route]["latency_ms"]["p99"]
            .as_f64()
            .is_some()
    );
}

#[tokio::test]
async fn the_deadline_bounds_retries() {
    let h = Harness::with_env(&[
        ("REQUEST_DEADLINE_SECONDS", "0.5"),
        ("RETRY_BACKOFF_MS", "300"),
        ("RETRY_MAX_BACKOFF_MS", "300"),
        ("UPSTREAM_MAX_RETRIES", "5"),
    ])
    .await;
    let started = Instant::now();
    let response = h
        .chat(&chat_body("gpt-4o-mini", "never mock:status=503"))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    let attempts: u32 = header(&response, "x-gateway-attempts")
        .parse()
        .expect("count");
    assert!(
        attempts < 18,
        "bounded by the deadline, not by 6 tries x 3 providers: {attempts}"
    );
}

#[tokio::test]
async fn strategies_choose_from_cost_latency_and_capability() {
    let h = Harness::start().await;
    let ask = |strategy: &'static str, body: Value| {
        h.http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .header("x-routing-strategy", strategy)
            .body(body.to_string())
            .send()
    };
    let response = ask("cost", chat_body("smart-model", "cheap please"))
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    // The cheapest list price in the pool ($0.10 / $0.50 per million).
    assert_eq!(header(&response, "x-gateway-model"), "claude-haiku-5-5");
    let decision = header(&response, "x-gateway-routing");
    assert!(
        decision.starts_with("strategy=cost; score=") && decision.contains("runner-ups="),
        "{decision}"
    );

    let response = ask("capability", chat_body("smart-model", "best please"))
        .await
        .expect("sent");
    assert_eq!(header(&response, "x-gateway-model"), "claude-opus-5-5");

    // Seeded stats (below the ~1 ms the requests above measured): a model
    // that is slow by its prior becomes the fastest.
    let seeded = Route {
        provider: ProviderId::GEMINI,
        model: "gemini-3.1-pro-preview".into(),
    };
    h.state.stats.seed_latency(&seeded, 0.001);
    let response = ask("latency", chat_body("smart-model", "quick please"))
        .await
        .expect("sent");
    assert_eq!(
        header(&response, "x-gateway-model"),
        "gemini-3.1-pro-preview"
    );

    // Capability exclusion: JSON mode rules Anthropic out of the capability pick.
    let mut body = chat_body("smart-model", "json please");
    body["response_format"] = json!({"type": "json_object"});
    let response = ask("capability", body).await.expect("sent");
    assert_ne!(header(&response, "x-gateway-provider"), "anthropic");

    // The default strategy applies to the smart alias without a header.
    let response = h.chat(&chat_body("smart-model", "default")).await;
    assert!(header(&response, "x-gateway-routing").starts_with("strategy=balanced"));
    let response = ask("fastest", chat_body("smart-model", "x"))
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn models_list_includes_routes_and_the_smart_alias() {
    let h = Harness::start().await;
    let models = json_of(
        h.http
            .get(h.url("/v1/models"))
            .bearer_auth(CLIENT_KEY)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for id in [
        "flagship",
        "fast",
        "smart-model",
        "claude-opus-4-8",
        "gemini-2.5-flash",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
}

#[tokio::test]
async fn a_stream_that_goes_silent_hits_the_idle_timeout() {
    let h = Harness::with_env(&[("UPSTREAM_IDLE_TIMEOUT_SECONDS", "0.3")]).await;
    let started = Instant::now();
    let (response, ()) = stream_body(&h, "a b c mock:chunk_delay_ms=2000").await;
    assert_eq!(
        response.status(),
        200,
        "the first content chunk came in time"
    );
    let s = parse_stream(&response.text().await.expect("body"));
    assert!(!s.done, "no clean end");
    let last = s.chunks.last().expect("chunks");
    assert_eq!(last["error"]["code"], "upstream_timeout", "{last}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}
