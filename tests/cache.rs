//! The semantic cache end to end, against the in-memory index and against a
//! real Redis Stack (RediSearch): the same suite for both.

mod common;

use common::{CLIENT_KEY, Harness, chat_body, header, json_of, parse_stream, redis_url};
use serde_json::{Value, json};

const OTHER_TENANT: &str = "gw-other-tenant-key-0123";

/// Each run uses its own model alias scope, so runs on a shared Redis never
/// see each other's entries.
fn unique(text: &str) -> String {
    format!(
        "{text} [{}]",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

async fn ask(h: &Harness, key: &str, body: &Value, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("sent");
    // The answer is stored right after it is sent; the next question may
    // be its paraphrase.
    common::settled(h).await;
    response
}

fn upstream_calls(h: &Harness) -> usize {
    h.mock.requests().len()
}

/// A system prompt unique to the run keeps scopes apart on a shared Redis.
fn body(model: &str, system: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}]})
}

async fn suite(h: Harness) {
    let system = unique("You are a helpful assistant.");
    let first = ask(
        &h,
        CLIENT_KEY,
        &body("gpt-4o-mini", &system, "How do I reset my password?"),
        &[],
    )
    .await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-cache"), "MISS");
    let first_cost: f64 = header(&first, "x-gateway-cost-usd")
        .parse()
        .expect("a priced answer");
    assert!(first_cost > 0.0);
    let first = json_of(first).await;
    assert_eq!(upstream_calls(&h), 1);

    // A paraphrase hits: no upstream call, the stored answer, zero billed tokens.
    let hit = ask(
        &h,
        CLIENT_KEY,
        &body("gpt-4o-mini", &system, "How can I reset my password?"),
        &[],
    )
    .await;
    assert_eq!(header(&hit, "x-cache"), "HIT");
    assert_eq!(
        header(&hit, "x-gateway-cost-usd"),
        "0",
        "a hit costs nothing"
    );
    let similarity: f64 = header(&hit, "x-cache-similarity")
        .parse()
        .expect("similarity");
    assert!(similarity > 0.85 && similarity <= 1.0001, "{similarity}");
    let hit = json_of(hit).await;
    assert_eq!(
        hit["choices"][0]["message"]["content"],
        first["choices"][0]["message"]["content"]
    );
    assert_eq!(hit["usage"]["total_tokens"], 0);
    assert_eq!(upstream_calls(&h), 1, "served from the cache");

    // The same question streamed: a valid SSE replay.
    let mut streamed = body("gpt-4o-mini", &system, "How do I reset my password?");
    streamed["stream"] = json!(true);
    let response = ask(&h, CLIENT_KEY, &streamed, &[]).await;
    assert_eq!(header(&response, "x-cache"), "HIT");
    let s = parse_stream(&response.text().await.expect("body"));
    assert!(s.done);
    assert_eq!(
        s.content,
        first["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
    );
    assert_eq!(s.finish.as_deref(), Some("stop"));
    assert_eq!(upstream_calls(&h), 1);

    // Different questions miss: unrelated, and near-duplicates with other answers.
    for text in [
        "How do I bake sourdough bread?",
        "How do I reset my router?",
        "How do I not reset my password?",
    ] {
        let response = ask(&h, CLIENT_KEY, &body("gpt-4o-mini", &system, text), &[]).await;
        assert_eq!(header(&response, "x-cache"), "MISS", "{text}");
    }
    let calls = upstream_calls(&h);
    let c2f = ask(
        &h,
        CLIENT_KEY,
        &body("gpt-4o-mini", &system, "Convert 100 Celsius to Fahrenheit"),
        &[],
    )
    .await;
    assert_eq!(header(&c2f, "x-cache"), "MISS");
    let f2c = ask(
        &h,
        CLIENT_KEY,
        &body("gpt-4o-mini", &system, "Convert 100 Fahrenheit to Celsius"),
        &[],
    )
    .await;
    assert_eq!(header(&f2c, "x-cache"), "MISS", "direction differs");
    assert_eq!(upstream_calls(&h), calls + 2);

    // Isolation: another tenant, another model, another system prompt.
    let same = body("gpt-4o-mini", &system, "How do I reset my password?");
    let response = ask(&h, OTHER_TENANT, &same, &[]).await;
    assert_eq!(
        header(&response, "x-cache"),
        "MISS",
        "no answer crosses tenants"
    );
    let response = ask(
        &h,
        CLIENT_KEY,
        &body("gpt-4o", &system, "How do I reset my password?"),
        &[],
    )
    .await;
    assert_eq!(
        header(&response, "x-cache"),
        "MISS",
        "no answer crosses models"
    );
    let response = ask(
        &h,
        CLIENT_KEY,
        &body(
            "gpt-4o-mini",
            "Answer in French.",
            "How do I reset my password?",
        ),
        &[],
    )
    .await;
    assert_eq!(
        header(&response, "x-cache"),
        "MISS",
        "no answer crosses system prompts"
    );

    // Headers: skip and no-store bypass; no-cache skips the lookup but stores.
    let calls = upstream_calls(&h);
    for (name, value) in [("x-skip-cache", "true"), ("cache-control", "no-store")] {
        let response = ask(&h, CLIENT_KEY, &same, &[(name, value)]).await;
        assert_eq!(header(&response, "x-cache"), "BYPASS");
    }
    assert_eq!(upstream_calls(&h), calls + 2);
    let fresh = body(
        "gpt-4o-mini",
        &system,
        "What is the boiling point of water at sea level?",
    );
    let response = ask(&h, CLIENT_KEY, &fresh, &[("cache-control", "no-cache")]).await;
    assert_eq!(header(&response, "x-cache"), "MISS");
    let response = ask(&h, CLIENT_KEY, &fresh, &[]).await;
    assert_eq!(
        header(&response, "x-cache"),
        "HIT",
        "no-cache still stored the answer"
    );

    // A streamed miss is stored once complete; a failed one never is.
    let mut stream_first = body("gpt-4o-mini", &system, "Name three primary colors");
    stream_first["stream"] = json!(true);
    let response = ask(&h, CLIENT_KEY, &stream_first, &[]).await;
    assert_eq!(header(&response, "x-cache"), "MISS");
    assert!(parse_stream(&response.text().await.expect("body")).done);
    let response = ask(
        &h,
        CLIENT_KEY,
        &body("gpt-4o-mini", &system, "Name three primary colors"),
        &[],
    )
    .await;
    assert_eq!(header(&response, "x-cache"), "HIT");
    let mut cut = body(
        "gpt-4o-mini",
        &system,
        "List the planets a b c mock:cut_after=2",
    );
    cut["stream"] = json!(true);
    let response = ask(&h, CLIENT_KEY, &cut, &[]).await;
    assert!(!parse_stream(&response.text().await.expect("body")).done);
    let response = ask(
        &h,
        CLIENT_KEY,
        &body(
            "gpt-4o-mini",
            &system,
            "List the planets a b c mock:cut_after=2",
        ),
        &[],
    )
    .await;
    assert_eq!(
        header(&response, "x-cache"),
        "MISS",
        "a truncated stream was not stored"
    );
    let failing = body("gpt-4o-mini", &system, "Explain tides mock:status=400");
    assert_eq!(ask(&h, CLIENT_KEY, &failing, &[]).await.status(), 400);
    assert_eq!(
        header(&ask(&h, CLIENT_KEY, &failing, &[]).await, "x-cache"),
        "MISS",
        "errors are not stored"
    );
    let mut two = body("gpt-4o-mini", &system, "Pick a random number");
    two["n"] = json!(2);
    assert_eq!(
        header(&ask(&h, CLIENT_KEY, &two, &[]).await, "x-cache"),
        "BYPASS",
        "n > 1 is not cached"
    );

    let metrics = common::metrics(&h).await;
    let cache = &metrics["cache"];
    assert!(cache["hits"].as_u64().is_some_and(|n| n >= 4), "{cache}");
    assert!(cache["misses"].as_u64().is_some_and(|n| n >= 8), "{cache}");
    assert!(
        cache["embedding_ms_mean"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0),
        "{cache}"
    );
    // Hits record what their stored answers cost when first served.
    let saved: f64 = cache["saved_usd"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("saved");
    assert!(saved >= 2.0 * first_cost, "{saved} vs {first_cost}");
}

#[tokio::test]
async fn semantic_cache_in_memory() {
    suite(Harness::with_cache(None, &[]).await).await;
}

#[tokio::test]
async fn semantic_cache_on_redis() {
    let url = redis_url();
    suite(Harness::with_cache(Some(&url), &[]).await).await;
}

#[tokio::test]
async fn redis_down_fails_open() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("redis://127.0.0.1:{closed}");
    let h = Harness::with_env(&[
        ("CACHE_ENABLED", "true"),
        ("EMBEDDING_MODEL_DIR", common::model_dir().as_str()),
        ("REDIS_URL", url.as_str()),
    ])
    .await;
    for _ in 0..2 {
        let response = h.chat(&chat_body("gpt-4o-mini", "still answering")).await;
        assert_eq!(response.status(), 200);
        assert_ne!(header(&response, "x-cache"), "HIT");
    }
}

/// The encoder reproduces vectors computed by candle-transformers' generic
/// BERT (the reference it replaced), including a truncated 256-token input.
#[test]
fn local_embedder_matches_reference_vectors() {
    let dir = std::path::PathBuf::from(common::model_dir());
    let embedder = llm_gateway::cache::embed::LocalEmbedder::load_now(&dir).expect("model loads");
    let fixture: Value = serde_json::from_str(include_str!("fixtures/minilm_reference.json"))
        .expect("fixture parses");
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 4);
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let expected: Vec<f32> = serde_json::from_value(case["vector"].clone()).expect("vector");
        let got = embedder.embed_blocking(text).expect("embeds");
        assert_eq!(got.len(), 384);
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{text:?}: max difference {worst}");
    }
}
