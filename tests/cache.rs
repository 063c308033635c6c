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

    // A trivially different repeat (case, spacing, punctuation) is an exact hit.
    let exact = ask(
        &h,
        CLIENT_KEY,
        &body("gpt-4o-mini", &system, "  how do I reset my   PASSWORD "),
        &[],
    )
    .await;
    assert_eq!(header(&exact, "x-cache"), "HIT");
    assert_eq!(header(&exact, "x-cache-similarity"), "1.0000");
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
    assert!(
        cache["exact_hits"].as_u64().is_some_and(|n| n >= 2),
        "{cache}"
    );
    assert!(
        cache["verifications"].as_u64().is_some_and(|n| n >= 1),
        "{cache}"
    );
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

/// `CACHE_SEMANTIC=false`: exact repeats only; a paraphrase goes upstream.
#[tokio::test]
async fn exact_tier_alone_when_semantic_is_off() {
    let h = Harness::with_cache(None, &[("CACHE_SEMANTIC", "false")]).await;
    let system = unique("You are a helpful assistant.");
    let ask_text = |text: &'static str| {
        let h = &h;
        let body = body("gpt-4o-mini", &system, text);
        async move { ask(h, CLIENT_KEY, &body, &[]).await }
    };
    assert_eq!(
        header(&ask_text("How do I reset my password?").await, "x-cache"),
        "MISS"
    );
    let repeat = ask_text("how do I reset my password").await;
    assert_eq!(header(&repeat, "x-cache"), "HIT");
    assert_eq!(header(&repeat, "x-cache-similarity"), "1.0000");
    assert_eq!(
        header(&ask_text("How can I reset my password?").await, "x-cache"),
        "MISS"
    );
    assert_eq!(upstream_calls(&h), 2);
    let metrics = h.state.cache.as_ref().expect("cache on").metrics();
    assert_eq!(metrics["semantic"], false);
    assert_eq!(metrics["exact_hits"], 1);
    assert_eq!(metrics["verifications"], 0);
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
        ("CACHE_MODEL_DIR", common::model_dir().as_str()),
        ("REDIS_URL", url.as_str()),
    ])
    .await;
    for _ in 0..2 {
        let response = h.chat(&chat_body("gpt-4o-mini", "still answering")).await;
        assert_eq!(response.status(), 200);
        assert_ne!(header(&response, "x-cache"), "HIT");
    }
}

/// A multi-megabyte prompt that starts like a cached question costs about
/// what a short one does: it is never read by the embedding table or the
/// verifier (too long for the semantic tier), its digest is computed off
/// the runtime workers, `/health` keeps answering meanwhile, and its exact
/// repeat is a hit.
#[tokio::test]
async fn huge_prompt_next_to_a_cached_neighbour_stays_bounded() {
    // The (debug-built) mock takes a while over 8 MB bodies.
    let h = Harness::with_cache(
        None,
        &[
            ("UPSTREAM_TIMEOUT_SECONDS", "60"),
            ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", "60"),
        ],
    )
    .await;
    let question = "How do I reset my password?";
    let first = ask(&h, CLIENT_KEY, &chat_body("gpt-4o-mini", question), &[]).await;
    assert_eq!(header(&first, "x-cache"), "MISS");
    let huge = format!("{question} {}", "and then what? ".repeat(600_000));
    assert!(huge.len() > 8_000_000);
    let health = {
        let (http, url) = (h.http.clone(), h.url("/health"));
        tokio::spawn(async move {
            let mut slowest = std::time::Duration::ZERO;
            for _ in 0..40 {
                let started = std::time::Instant::now();
                let response = http.get(&url).send().await.expect("health answers");
                assert_eq!(response.status(), 200);
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            slowest
        })
    };
    let started = std::time::Instant::now();
    let response = ask(&h, CLIENT_KEY, &chat_body("gpt-4o-mini", &huge), &[]).await;
    let cache_status = header(&response, "x-cache");
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    assert_eq!(
        cache_status, "MISS",
        "a shared beginning is not the same question"
    );
    let repeat = ask(&h, CLIENT_KEY, &chat_body("gpt-4o-mini", &huge), &[]).await;
    assert_eq!(header(&repeat, "x-cache"), "HIT", "its exact repeat is");
    let both = started.elapsed();
    let slowest_health = health.await.expect("health task");
    assert!(
        both < std::time::Duration::from_secs(20),
        "two 8 MB requests took {both:?}"
    );
    assert!(
        slowest_health < std::time::Duration::from_secs(1),
        "/health waited {slowest_health:?}"
    );
    let cache = &common::metrics(&h).await["cache"];
    assert_eq!(cache["verifications"], 0, "{cache}");
}

/// The Rust cross-encoder gives the scores the training framework gave the
/// same weights (`bench/cache_quality/train/train_verifier.py` writes them).
#[test]
fn verifier_reproduces_the_training_scores() {
    use llm_gateway::cache::verify::Verifier;
    let verifier = Verifier::new(common::model_dir().into(), 0.0, 1);
    verifier.load_now().expect("verifier loads");
    let fixture: Value = serde_json::from_str(include_str!("fixtures/verifier_reference.json"))
        .expect("fixture parses");
    let pairs = fixture["pairs"].as_array().expect("pairs");
    assert!(pairs.len() >= 4);
    for pair in pairs {
        let (query, stored) = (
            pair["query"].as_str().expect("query"),
            pair["stored"].as_str().expect("stored"),
        );
        let expected = pair["probability"].as_f64().expect("probability") as f32;
        let Ok(Some(got)) = verifier.score_blocking(query, stored) else {
            panic!("{query:?} / {stored:?} was not scored");
        };
        assert!(
            (got - expected).abs() < 2e-3,
            "{query:?} / {stored:?}: {got} vs {expected}"
        );
    }
}
