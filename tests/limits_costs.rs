//! Rate limits, cost totals and alert tiers, against a real DynamoDB
//! emulator (moto) and against the in-memory store: the same suite for both
//! where it applies. Several gateway instances share one table to show the
//! limits and totals are global.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Harness, chat_body, dynamodb_env, header, json_of};
use futures_util::future::join_all;
use llm_gateway::store::dynamodb::DynamoStore;
use llm_gateway::store::memory::MemoryStore;
use llm_gateway::store::{Cell, CostRecord, Store, Take};
use serde_json::Value;

fn table() -> String {
    format!(
        "gw-test-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn dynamo_store(table: &str) -> DynamoStore {
    let env = dynamodb_env(table).await;
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .expect("set")
    };
    DynamoStore::new(
        table.to_owned(),
        Duration::from_secs(5),
        llm_gateway::config::AwsSettings {
            endpoint: Some(get("AWS_ENDPOINT_URL_DYNAMODB")),
            region: Some("us-east-1".into()),
            access_key: Some(llm_gateway::config::Secret::new("test")),
            secret_key: Some(llm_gateway::config::Secret::new("test")),
            session_token: None,
        },
    )
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64
}

/// Refill and consume math, then exactness under concurrency across two
/// clients of the same table (two instances).
async fn bucket_suite(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let cells = [Cell {
        capacity: 60,
        take: 1,
    }];
    let now = now_us();
    for _ in 0..60 {
        assert_eq!(
            a.take("math", &cells, now).await.expect("take"),
            Take::Granted
        );
    }
    match a.take("math", &cells, now).await.expect("take") {
        Take::Denied { retry_after } => assert_eq!(retry_after, Duration::from_secs(1)),
        Take::Granted => panic!("the 61st request in a minute passed"),
    }
    // One second later, exactly one unit has refilled — seen by the other client.
    let later = now + 1_000_000;
    assert_eq!(
        b.take("math", &cells, later).await.expect("take"),
        Take::Granted
    );
    assert!(matches!(
        b.take("math", &cells, later).await.expect("take"),
        Take::Denied { .. }
    ));

    // 120 concurrent takes from two clients against a bucket of 50.
    let cells = [Cell {
        capacity: 50,
        take: 1,
    }];
    let now = now_us();
    let takes = (0..120).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { store.take("race", &cells, now).await.expect("take") }
    });
    let granted = join_all(takes)
        .await
        .into_iter()
        .filter(|t| *t == Take::Granted)
        .count();
    assert_eq!(granted, 50, "exactly the bucket's capacity is granted");

    // Settling gives tokens back.
    let tokens = [Cell {
        capacity: 1000,
        take: 900,
    }];
    assert_eq!(
        a.take("settle", &tokens, now).await.expect("take"),
        Take::Granted
    );
    let more = [Cell {
        capacity: 1000,
        take: 200,
    }];
    assert!(matches!(
        a.take("settle", &more, now).await.expect("take"),
        Take::Denied { .. }
    ));
    a.adjust("settle", 0, 1000, -800).await.expect("adjust");
    assert_eq!(
        b.take("settle", &more, now).await.expect("take"),
        Take::Granted
    );
}

#[tokio::test]
async fn buckets_in_memory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    bucket_suite(store.clone(), store).await;
}

#[tokio::test]
async fn buckets_on_dynamodb() {
    let t = table();
    let a: Arc<dyn Store> = Arc::new(dynamo_store(&t).await);
    let b: Arc<dyn Store> = Arc::new(dynamo_store(&t).await);
    bucket_suite(a, b).await;
}

/// A record is applied whole and once: writing it again (a retry whose
/// first reply was lost) adds nothing; another record adds to every total.
async fn retry_suite(store: Arc<dyn Store>) {
    let day = "2026-11-27".to_owned();
    let record = |picodollars: u64, request_id: &str| CostRecord {
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        day: day.clone(),
        picodollars,
        request_id: request_id.into(),
        record_id: uuid::Uuid::new_v4().simple().to_string(),
        tenant: "vk_0123456789abcdef".into(),
        prompt_tokens: 3,
        completion_tokens: 2,
        estimated: false,
    };
    let first = record(5, "first");
    let running = store.add_cost(&first).await.expect("added");
    assert_eq!((running.overall, running.day), (5, 5));
    assert_eq!(running.tenant, [5, 5, 5]);
    // Retried after success: nothing changes.
    let running = store.add_cost(&first).await.expect("no-op");
    assert_eq!((running.overall, running.day), (5, 5));
    assert_eq!(running.tenant, [5, 5, 5]);

    // Another record with the same (client-chosen) request id still counts.
    let second = record(7, "first");
    let running = store.add_cost(&second).await.expect("added");
    assert_eq!((running.overall, running.day), (12, 12));
    assert_eq!(running.tenant, [12, 12, 12]);

    let (overall, days) = store
        .totals(std::slice::from_ref(&day))
        .await
        .expect("totals");
    assert_eq!(overall.picodollars, 12);
    assert_eq!(overall.requests, 2);
    assert_eq!(overall.prompt_tokens, 6);
    let (_, totals) = &days[0];
    assert_eq!(totals.picodollars, 12);
    assert_eq!(totals.requests, 2);

    let periods = llm_gateway::store::periods(&day);
    let tenant = store
        .tenant_totals("vk_0123456789abcdef", &periods)
        .await
        .expect("tenant totals");
    let got: Vec<(&str, u64, u64, u64)> = tenant
        .iter()
        .map(|(p, t)| (p.as_str(), t.picodollars, t.requests, t.prompt_tokens))
        .collect();
    assert_eq!(
        got,
        vec![
            ("TOTAL", 12, 2, 6),
            ("MONTH#2026-11", 12, 2, 6),
            ("DAY#2026-11-27", 12, 2, 6)
        ]
    );
    assert_eq!(tenant[2].1.tokens_by_model["gpt-4o-mini"], 10);
    assert!(
        store
            .tenant_totals("vk_ffffffffffffffff", &periods)
            .await
            .expect("read")
            .is_empty(),
        "another tenant has nothing"
    );

    // An alert tier is claimed once: by its first claimant, whose retry
    // is told it holds the claim; nobody else.
    assert!(store.claim_alert("day:x", 10, "a").await.expect("claim"));
    assert!(store.claim_alert("day:x", 10, "a").await.expect("retry"));
    assert!(!store.claim_alert("day:x", 10, "b").await.expect("other"));
}

#[tokio::test]
async fn cost_records_count_once_in_memory() {
    retry_suite(Arc::new(MemoryStore::default())).await;
}

#[tokio::test]
async fn cost_records_count_once_on_dynamodb() {
    retry_suite(Arc::new(dynamo_store(&table()).await)).await;
}

async fn ask(h: &Harness, model: &str, text: &str) -> reqwest::Response {
    h.chat(&chat_body(model, text)).await
}

async fn get(h: &Harness, path: &str) -> Value {
    json_of(
        h.http
            .get(h.url(path))
            .bearer_auth(common::ADMIN_KEY)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

fn usd(text: &str) -> f64 {
    text.parse().expect("decimal USD")
}

/// Gateways sharing a store (one memory store cannot be shared, so the
/// memory variant is one instance).
async fn gateways(env: &[(String, String)], instances: usize) -> Vec<Harness> {
    let mut out = Vec::new();
    for _ in 0..instances {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        out.push(Harness::with_env(&pairs).await);
    }
    out
}

/// N concurrent requests spread over the instances: the global totals are
/// exactly the sum of what each response said it cost.
async fn totals_suite(hs: Vec<Harness>) {
    let requests = (0..40).map(|i| {
        let h = &hs[i % hs.len()];
        async move {
            let response = ask(h, "gpt-4o-mini", &format!("count me {i}")).await;
            assert_eq!(response.status(), 200);
            let cost = header(&response, "x-gateway-cost-usd");
            // The body ends once the cost is written.
            response.bytes().await.expect("body");
            cost
        }
    });
    let costs: Vec<String> = join_all(requests).await;
    for h in &hs {
        common::settled(h).await;
    }
    // Exact sum in picodollars.
    let pico: u64 = costs.iter().map(|c| (usd(c) * 1e12).round() as u64).sum();
    // A stream: its cost is settled before its last event.
    let mut streamed = chat_body("gpt-4o-mini", "one two three");
    streamed["stream"] = serde_json::json!(true);
    streamed["stream_options"] = serde_json::json!({"include_usage": true});
    let text = hs[0].chat(&streamed).await.text().await.expect("stream");
    let usage_event = common::sse_data(&text)
        .into_iter()
        .rev()
        .nth(1)
        .expect("usage chunk");
    let usage: Value = serde_json::from_str(&usage_event).expect("usage JSON");
    // gpt-4o-mini list prices: $0.15 in, $0.60 out per million tokens.
    let pico = pico
        + usage["usage"]["prompt_tokens"].as_u64().expect("prompt") * 150_000
        + usage["usage"]["completion_tokens"]
            .as_u64()
            .expect("completion")
            * 600_000;
    let totals = get(&hs[0], "/metrics/costs").await;
    let overall = &totals["overall"];
    let mut local = Vec::new();
    for h in &hs {
        local.push(get(h, "/metrics?format=json").await["costs"].clone());
    }
    assert_eq!(overall["requests"], 41, "{totals} {local:?}");
    assert_eq!(
        (usd(overall["cost_usd"].as_str().expect("cost")) * 1e12).round() as u64,
        pico,
        "{totals}"
    );
    assert_eq!(overall["by_provider"]["openai"], overall["cost_usd"]);
    assert_eq!(totals["days"][0]["cost_usd"], overall["cost_usd"]);
}

#[tokio::test]
async fn exact_totals_in_memory() {
    totals_suite(gateways(&[], 1).await).await;
}

#[tokio::test]
async fn exact_totals_on_dynamodb_across_instances() {
    let env = dynamodb_env(&table()).await;
    totals_suite(gateways(&env, 3).await).await;
}

/// A tier crossed by concurrent requests on several instances alerts once
/// per scope (overall and the day).
async fn alert_suite(mut env: Vec<(String, String)>, instances: usize) {
    // $1 per request: 10 prompt tokens at $100,000 per million.
    let config = common::config_file(
        &format!("pricing-{}", uuid::Uuid::new_v4().simple()),
        "[pricing.\"gpt-4o-mini\"]\ninput = 100000.0\noutput = 0.0\n",
    );
    env.push(("GATEWAY_CONFIG".into(), config));
    env.push(("COST_ALERT_TIERS_USD".into(), "10,50,100000".into()));
    let hs = gateways(&env, instances).await;
    let requests = (0..24).map(|i| {
        let h = &hs[i % hs.len()];
        async move {
            let response = ask(h, "gpt-4o-mini", "one two three four five six").await;
            let status = response.status();
            response.bytes().await.expect("body");
            status
        }
    });
    assert!(join_all(requests).await.iter().all(|s| *s == 200));
    for h in &hs {
        common::settled(h).await;
    }
    let spent = usd(get(&hs[0], "/metrics/costs").await["overall"]["cost_usd"]
        .as_str()
        .expect("cost"));
    assert!((10.0..50.0).contains(&spent), "spent {spent}");
    let mut raised = 0;
    for h in &hs {
        raised += get(h, "/metrics?format=json").await["costs"]["alerts_raised"]
            .as_u64()
            .expect("alerts");
    }
    assert_eq!(raised, 2, "the $10 tier once overall and once for the day");
    // Another claimant of the same tier is refused by the store.
    assert!(
        !hs[0]
            .state
            .ledger
            .store()
            .claim_alert("overall", 10, "another-record")
            .await
            .expect("claim")
    );
}

#[tokio::test]
async fn alert_tier_once_in_memory() {
    alert_suite(Vec::new(), 1).await;
}

#[tokio::test]
async fn alert_tier_once_on_dynamodb_across_instances() {
    let env = dynamodb_env(&table()).await;
    alert_suite(env, 3).await;
}

/// A provider over its limit is skipped for a fallback; with no fallback
/// left the client gets 429 with Retry-After in OpenAI's format.
async fn limit_suite(mut env: Vec<(String, String)>) {
    let config = common::config_file(
        &format!("limits-{}", uuid::Uuid::new_v4().simple()),
        "[routes]\nsolo = [\"openai/gpt-4o-mini\"]\n\n[limits.openai]\nrequests_per_minute = 2\n\n[limits.per_key]\nrequests_per_minute = 8\n",
    );
    env.push(("GATEWAY_CONFIG".into(), config));
    let hs = gateways(&env, 1).await;
    let h = &hs[0];
    for _ in 0..2 {
        let r = ask(h, "gpt-4o-mini", "within the limit").await;
        assert_eq!(header(&r, "x-gateway-provider"), "openai");
    }
    let fallback = ask(h, "gpt-4o-mini", "over the openai limit").await;
    assert_eq!(fallback.status(), 200);
    assert_ne!(header(&fallback, "x-gateway-provider"), "openai");

    // A route with no fallbacks: 429.
    let limited = ask(h, "solo", "no fallback").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = header(&limited, "retry-after")
        .parse()
        .expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = json_of(limited).await;
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    // The key's own limit: 8 per minute, 4 used so far.
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(
            ask(h, "claude-haiku-4-5", &format!("key limit {i}"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429], "{statuses:?}");
    let metrics = get(h, "/metrics?format=json").await;
    assert!(
        metrics["rate_limits"]["denied"]
            .as_u64()
            .is_some_and(|d| d >= 4)
    );
}

#[tokio::test]
async fn limits_in_memory() {
    limit_suite(Vec::new()).await;
}

#[tokio::test]
async fn limits_on_dynamodb() {
    let env = dynamodb_env(&table()).await;
    limit_suite(env).await;
}

/// The store unreachable: limits fail open by default (and closed when
/// configured); cost records are counted as not persisted, never dropped
/// silently.
#[tokio::test]
async fn store_down_fails_open_or_closed() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = common::config_file(
        &format!("down-{}", uuid::Uuid::new_v4().simple()),
        "[routes]\nsolo = [\"openai/gpt-4o-mini\"]\n\n[limits.openai]\nrequests_per_minute = 100\n",
    );
    let url = format!("http://127.0.0.1:{closed}");
    let base = [
        ("DYNAMODB_TABLE", "unreachable"),
        ("AWS_ENDPOINT_URL_DYNAMODB", url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("STORE_TIMEOUT_MS", "300"),
        ("GATEWAY_CONFIG", config.as_str()),
    ];
    let open = Harness::with_env(&base).await;
    let r = ask(&open, "solo", "store is down").await;
    assert_eq!(r.status(), 200, "fails open");
    let _ = r.bytes().await;
    common::settled(&open).await;
    let metrics = get(&open, "/metrics?format=json").await;
    assert!(
        metrics["rate_limits"]["store_errors"]
            .as_u64()
            .is_some_and(|e| e >= 1)
    );
    // The record waits for the store (retried every second), not lost.
    assert_eq!(metrics["costs"]["records_pending"], 1, "{metrics}");
    assert_eq!(metrics["costs"]["records_not_persisted"], 0, "{metrics}");

    let mut closed_env = base.to_vec();
    closed_env.push(("RATE_LIMIT_FAIL_MODE", "closed"));
    let closed = Harness::with_env(&closed_env).await;
    let r = ask(&closed, "solo", "store is down").await;
    assert_eq!(r.status(), 429, "fails closed");
    let costs = closed
        .http
        .get(closed.url("/metrics/costs"))
        .bearer_auth(common::ADMIN_KEY)
        .send()
        .await
        .expect("sent");
    assert_eq!(costs.status(), 503);
}
