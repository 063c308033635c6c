//! Provider health shared across gateway instances through a real Redis.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, chat_body, config_file, header, json_of, redis_url};
use llm_gateway::providers::ProviderId;
use llm_gateway::routing::Route;

/// A model name no other test (or earlier run on the same Redis) uses.
fn unique_model() -> String {
    format!("gpt-shared-{}", uuid::Uuid::new_v4().simple())
}

async fn pair(model: &str) -> (Harness, Harness) {
    let file = config_file(
        &format!("shared-{model}"),
        &format!(
            "[fallbacks]\n\"openai/{model}\" = [\"anthropic/claude-haiku-4-5\"]\n[breaker]\nconsecutive_failures = 2\ncooldown_seconds = 30\n"
        ),
    );
    let redis = redis_url();
    let env = [
        ("GATEWAY_CONFIG", file.as_str()),
        ("REDIS_URL", redis.as_str()),
        ("SHARED_STATE_CACHE_MS", "50"),
        ("UPSTREAM_MAX_RETRIES", "0"),
    ];
    let a = Harness::with_env(&env).await;
    let (openai, anthropic) = (a.mock.openai_base(), a.mock.url());
    let mut env_b = env.to_vec();
    env_b.extend([
        ("OPENAI_BASE_URL", openai.as_str()),
        ("ANTHROPIC_BASE_URL", anthropic.as_str()),
    ]);
    let b = Harness::with_env(&env_b).await;
    wait_connected(&a).await;
    wait_connected(&b).await;
    (a, b)
}

async fn wait_connected(h: &Harness) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.state.redis.as_ref().and_then(|r| r.get()).is_none() {
        assert!(Instant::now() < deadline, "gateway connected to Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_circuit_opened_by_one_instance_is_skipped_by_another() {
    let model = unique_model();
    let (a, b) = pair(&model).await;
    let route = Route {
        provider: ProviderId::OPENAI,
        model: model.clone(),
    };
    for i in 0..2 {
        let response = a
            .chat(&chat_body(
                &model,
                &format!("fail {i} mock:status=500@openai"),
            ))
            .await;
        assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    }
    // B never saw a failure itself; it learns the open circuit from Redis.
    let shared = b.state.shared.clone().expect("shared health");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !shared.is_open(&route) {
        assert!(Instant::now() < deadline, "B sees the shared circuit open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let openai_calls = || {
        a.mock
            .requests()
            .iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .count()
    };
    let before = openai_calls();
    let response = b.chat(&chat_body(&model, "healthy text")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-gateway-provider"), "anthropic");
    assert_eq!(
        header(&response, "x-gateway-attempts"),
        "1",
        "openai skipped without a call"
    );
    assert_eq!(openai_calls(), before);
    assert_eq!(
        b.state.breakers.state(&route, Instant::now()),
        "closed",
        "B's local breaker never tripped"
    );
}

#[tokio::test]
async fn statistics_are_shared() {
    let model = unique_model();
    let (a, b) = pair(&model).await;
    let route = Route {
        provider: ProviderId::OPENAI,
        model: model.clone(),
    };
    for i in 0..3 {
        assert_eq!(
            a.chat(&chat_body(&model, &format!("ok {i}")))
                .await
                .status(),
            200
        );
    }
    let shared = b.state.shared.clone().expect("shared health");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        shared.refresh(route.clone()).await;
        let view = shared.view(&route);
        if view.requests >= 3 {
            assert!(view.latency_ema.is_some_and(|ms| ms > 0.0), "{view:?}");
            assert_eq!(view.errors, 0);
            break;
        }
        assert!(Instant::now() < deadline, "B sees A's requests: {view:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        b.state.latency_ms(&route).is_some(),
        "B ranks by A's measurements"
    );
    assert!(
        b.state.stats.latency_ms(&route).is_none(),
        "B measured nothing itself"
    );
}

#[tokio::test]
async fn redis_down_fails_open_and_ready_says_so() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("redis://127.0.0.1:{closed}");
    let h = Harness::with_env(&[("REDIS_URL", url.as_str())]).await;
    let response = h.chat(&chat_body("gpt-4o-mini", "still answering")).await;
    assert_eq!(response.status(), 200);
    let ready = h.http.get(h.url("/ready")).send().await.expect("sent");
    assert_eq!(ready.status(), 503);
    let json = json_of(ready).await;
    assert!(
        json["checks"]["redis"]
            .as_str()
            .is_some_and(|m| m.starts_with("redis unreachable")),
        "{json}"
    );
    assert_eq!(json["checks"]["openai"], "ok");
}
