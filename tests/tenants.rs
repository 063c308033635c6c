//! Tenants and keys: virtual keys made through the admin API on the
//! DynamoDB emulator, their models, budgets, revocation and rotation; the
//! operator role; each key's own usage; stable tenants across key lists.

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_KEY, CLIENT_KEY, Harness, chat_body, dynamodb_env, header, json_of};
use serde_json::{Value, json};

fn table() -> String {
    format!(
        "gw-tenants-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn on_dynamodb(table: &str, extra: &[(&str, &str)]) -> Harness {
    let env = dynamodb_env(table).await;
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend_from_slice(extra);
    Harness::with_env(&pairs).await
}

async fn admin(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    admin_as(h, ADMIN_KEY, method, path, body).await
}

async fn admin_as(
    h: &Harness,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = h.http.request(method, h.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn chat_as(h: &Harness, key: &str, model: &str, text: &str) -> reqwest::Response {
    h.http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(chat_body(model, text).to_string())
        .send()
        .await
        .expect("sent")
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn virtual_keys_from_the_admin_api_to_budgets_usage_and_revocation() {
    let table = table();
    let h = on_dynamodb(&table, &[("GATEWAY_KEY_CACHE_SECONDS", "0.5")]).await;
    // A second instance on the same table: it learns of changes through
    // the store, within the key cache's TTL.
    let other = on_dynamodb(&table, &[("GATEWAY_KEY_CACHE_SECONDS", "0.5")]).await;

    let (status, made) = admin(
        &h,
        reqwest::Method::POST,
        "/admin/keys",
        Some(json!({
            "name": "team-a",
            "models": ["gpt-4o-mini", "fast"],
            "rpm": 100,
            "budget_total_usd": "0.000001",
            "expires_at": "2999-01-01",
        })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().expect("secret shown once").to_owned();
    let id = made["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("gwk_") && key.contains(&id));
    assert_eq!(made["budget_total_usd"], "0.000001");
    assert_eq!(made["status"], "active");

    // The secret is never shown again nor stored.
    let (status, listed) = admin(&h, reqwest::Method::GET, "/admin/keys", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    assert!(!listed.to_string().contains(&key[20..]));
    let stored = h.state.ledger.store().list_keys().await.expect("stored");
    assert!(
        !serde_json::to_string(&stored)
            .expect("json")
            .contains(&key[20..])
    );
    let (_, shown) = admin(&h, reqwest::Method::GET, &format!("/admin/keys/{id}"), None).await;
    assert!(
        shown["key"].is_null() && shown["name"] == "team-a",
        "{shown}"
    );

    // The key sees only its models.
    let (status, models) = admin_as(&h, &key, reqwest::Method::GET, "/v1/models", None).await;
    assert_eq!(status, 200);
    let mut ids: Vec<&str> = models["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["fast", "gpt-4o-mini"], "{models}");
    let (status, _) = admin_as(
        &h,
        &key,
        reqwest::Method::GET,
        "/v1/models/claude-sonnet-4-6",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A model outside the key's list: 403, no upstream call.
    let calls = h.mock.requests().len();
    let response = chat_as(&h, &key, "claude-sonnet-4-6", "hi").await;
    assert_eq!(response.status(), 403);
    assert_eq!(header(&response, "x-should-retry"), "false");
    assert_eq!(code(&json_of(response).await), "model_not_allowed");

    // Within budget: served and billed to the key.
    let response = chat_as(&h, &key, "gpt-4o-mini", "first question").await;
    assert_eq!(response.status(), 200);
    let _ = response.bytes().await;
    common::settled(&h).await;
    assert_eq!(h.mock.requests().len(), calls + 1);

    // Spent: 429 budget_exceeded before any upstream call.
    let response = chat_as(&h, &key, "gpt-4o-mini", "second question").await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "x-should-retry"), "false");
    let body = json_of(response).await;
    assert_eq!(code(&body), "budget_exceeded", "{body}");
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(h.mock.requests().len(), calls + 1, "no upstream call");
    // The other instance reads the spend from the store.
    let response = chat_as(&other, &key, "gpt-4o-mini", "third question").await;
    assert_eq!(response.status(), 429);

    // The key's own usage: spend and tokens by model; nobody else's.
    let (status, usage) = admin_as(&h, &key, reqwest::Method::GET, "/v1/usage", None).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["tenant"], format!("vk_{id}"));
    assert_eq!(usage["total"]["requests"], 1);
    assert!(usage["total"]["prompt_tokens"].as_u64() > Some(0));
    assert!(usage["total"]["by_model"]["gpt-4o-mini"]["tokens"].as_u64() > Some(0));
    assert_eq!(usage["days"].as_array().map(Vec::len), Some(1));
    assert_eq!(usage["budgets"]["total"]["remaining_usd"], "0");
    let (_, static_usage) = admin_as(&h, CLIENT_KEY, reqwest::Method::GET, "/v1/usage", None).await;
    assert_eq!(static_usage["total"]["requests"], 0, "{static_usage}");

    // Raising the budget applies at once here.
    let (status, _) = admin(
        &h,
        reqwest::Method::PATCH,
        &format!("/admin/keys/{id}"),
        Some(json!({"budget_total_usd": null, "budget_daily_usd": 5})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        chat_as(&h, &key, "gpt-4o-mini", "after raise")
            .await
            .status(),
        200
    );

    // Client keys cannot reach operator endpoints; nor can no key.
    for path in [
        "/admin/keys",
        "/metrics",
        "/metrics/costs",
        &format!("/admin/keys/{id}"),
    ] {
        for client in [key.as_str(), CLIENT_KEY] {
            let (status, body) = admin_as(&h, client, reqwest::Method::GET, path, None).await;
            assert_eq!(status, 403, "{path}: {body}");
            assert_eq!(code(&body), "operator_key_required");
        }
        let status = h.http.get(h.url(path)).send().await.expect("sent").status();
        assert_eq!(status, 401, "{path}");
    }
    // The operator key is no client key.
    assert_eq!(
        chat_as(&h, ADMIN_KEY, "gpt-4o-mini", "x").await.status(),
        403
    );

    // Rotation: same id and usage, the old secret stops.
    let (status, rotated) = admin(
        &h,
        reqwest::Method::POST,
        &format!("/admin/keys/{id}/rotate"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let new_key = rotated["key"].as_str().expect("new secret").to_owned();
    assert_eq!(chat_as(&h, &key, "gpt-4o-mini", "old").await.status(), 401);
    assert_eq!(
        chat_as(&h, &new_key, "gpt-4o-mini", "new").await.status(),
        200
    );
    common::settled(&h).await;
    let (_, usage) = admin(
        &h,
        reqwest::Method::GET,
        &format!("/admin/keys/{id}/usage"),
        None,
    )
    .await;
    assert_eq!(usage["total"]["requests"], 3, "{usage}");

    // Revocation: at once here, within the TTL on the other instance
    // (which takes the rotated secret within the TTL too).
    let rotated_at = Instant::now();
    while chat_as(&other, &new_key, "gpt-4o-mini", "warm")
        .await
        .status()
        != 200
    {
        assert!(
            rotated_at.elapsed() < Duration::from_secs(2),
            "the rotated secret works on the other instance within the TTL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, revoked) = admin(
        &h,
        reqwest::Method::DELETE,
        &format!("/admin/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["status"], "revoked");
    let response = chat_as(&h, &new_key, "gpt-4o-mini", "revoked").await;
    assert_eq!(response.status(), 401);
    assert!(
        json_of(response).await["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked")
    );
    let revoked_at = Instant::now();
    loop {
        if chat_as(&other, &new_key, "gpt-4o-mini", "revoked?")
            .await
            .status()
            == 401
        {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "revocation reached the other instance within the TTL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bad input: clear errors naming the field; unknown ids are 404.
    for (body, param) in [
        (json!({"rpm": 0}), "rpm"),
        (json!({"budget_daily_usd": "-1"}), "budget_daily_usd"),
        (json!({"expires_at": "soon"}), "expires_at"),
        (json!({"models": []}), "models"),
    ] {
        let (status, err) = admin(&h, reqwest::Method::POST, "/admin/keys", Some(body)).await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["param"], param);
    }
    let (status, err) = admin(
        &h,
        reqwest::Method::POST,
        "/admin/keys",
        Some(json!({"owner": "x"})),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    let (status, _) = admin(
        &h,
        reqwest::Method::GET,
        "/admin/keys/0123456789abcdef",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = admin(&h, reqwest::Method::GET, "/admin/keys/..%2F..", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn expired_keys_and_key_rate_limits() {
    let table = table();
    let h = on_dynamodb(&table, &[]).await;
    let (_, expired) = admin(
        &h,
        reqwest::Method::POST,
        "/admin/keys",
        Some(json!({"expires_at": 1})),
    )
    .await;
    let key = expired["key"].as_str().expect("key");
    let response = chat_as(&h, key, "gpt-4o-mini", "hi").await;
    assert_eq!(response.status(), 401);
    assert!(
        json_of(response).await["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );

    let (_, limited) = admin(
        &h,
        reqwest::Method::POST,
        "/admin/keys",
        Some(json!({"rpm": 2})),
    )
    .await;
    let key = limited["key"].as_str().expect("key");
    for _ in 0..2 {
        assert_eq!(chat_as(&h, key, "gpt-4o-mini", "hi").await.status(), 200);
    }
    let response = chat_as(&h, key, "gpt-4o-mini", "hi").await;
    assert_eq!(response.status(), 429);
    assert_eq!(code(&json_of(response).await), "rate_limit_exceeded");
    // Another key is not limited by it.
    assert_eq!(
        chat_as(&h, CLIENT_KEY, "gpt-4o-mini", "hi").await.status(),
        200
    );
}

/// Reordering or removing static keys never moves one client's cached
/// answers to another: tenants come from the key, not its position.
#[tokio::test]
async fn reordered_keys_share_no_cached_answers() {
    let redis = common::redis_url();
    let namespace = format!(
        "reorder-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let a = "tenant-a-key-0123456789";
    let b = "tenant-b-key-0123456789";
    let c = "tenant-c-key-0123456789";
    let ask = async |h: &Harness, key: &str| {
        let response = h
            .http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(chat_body("gpt-4o-mini", "What is the capital of Peru?").to_string())
            .send()
            .await
            .expect("sent");
        let cache = header(&response, "x-cache");
        let _ = response.bytes().await;
        common::settled(h).await;
        cache
    };
    let keys_ab = format!("{a},{b}");
    let first = Harness::with_cache(
        Some(&redis),
        &[
            ("GATEWAY_NAMESPACE", namespace.as_str()),
            ("GATEWAY_API_KEYS", keys_ab.as_str()),
        ],
    )
    .await;
    assert_eq!(ask(&first, b).await, "MISS");
    assert_eq!(ask(&first, b).await, "HIT");

    // B removed, C added in front: A takes B's old position.
    let keys_ca = format!("{c},{a}");
    let second = Harness::with_cache(
        Some(&redis),
        &[
            ("GATEWAY_NAMESPACE", namespace.as_str()),
            ("GATEWAY_API_KEYS", keys_ca.as_str()),
        ],
    )
    .await;
    assert_eq!(ask(&second, a).await, "MISS", "A never sees B's answer");
    assert_eq!(ask(&second, c).await, "MISS", "nor does C");

    // B back, in another position: its own answer is still its own.
    let keys_ba = format!("{b},{a}");
    let third = Harness::with_cache(
        Some(&redis),
        &[
            ("GATEWAY_NAMESPACE", namespace.as_str()),
            ("GATEWAY_API_KEYS", keys_ba.as_str()),
        ],
    )
    .await;
    assert_eq!(ask(&third, b).await, "HIT");

    // Another deployment on the same Redis shares nothing.
    let another = format!("{namespace}-other");
    let elsewhere = Harness::with_cache(
        Some(&redis),
        &[
            ("GATEWAY_NAMESPACE", another.as_str()),
            ("GATEWAY_API_KEYS", keys_ba.as_str()),
        ],
    )
    .await;
    assert_eq!(ask(&elsewhere, b).await, "MISS");
}
