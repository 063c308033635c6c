//! Failing dependencies: Redis and the DynamoDB emulator stopped and
//! started again under a running gateway, and upstreams that stall,
//! trickle, reset or answer garbage. Requests keep being answered as
//! documented, no cost record is lost, and the gateway recovers without a
//! restart.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One fault test at a time: each stops services and times its lookups,
/// and the load test's embeddings would starve the others' (the Redis
/// test then timed out waiting for a hit on a 2-core CI machine).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use common::{Harness, OwnService, chat_body, header, picodollars};
use serde_json::{Value, json};

/// Serves `n` requests; returns the summed `x-gateway-cost-usd`.
async fn serve(h: &Harness, n: usize, tag: &str) -> u128 {
    let mut total = 0;
    for i in 0..n {
        let response = h
            .chat(&chat_body("gpt-4o-mini", &format!("{tag} request {i}")))
            .await;
        assert_eq!(response.status(), 200, "{tag} {i}");
        let cost = header(&response, "x-gateway-cost-usd");
        assert!(!cost.is_empty(), "priced");
        total += picodollars(&cost);
        let _ = response.bytes().await;
    }
    total
}

async fn costs(h: &Harness) -> (u16, Value) {
    common::cost_totals(h).await
}

async fn wait_until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} within {limit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_down_and_back_loses_no_cost_record() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dynamo = OwnService::start("dynamodb-emulator.sh");
    let url = format!("http://127.0.0.1:{}", dynamo.port);
    let config = common::config_file(
        "faults-limits",
        "[limits.openai]\nrequests_per_minute = 1000\n",
    );
    common::create_table(&url, "faults").await;
    let h = Harness::with_env(&[
        ("DYNAMODB_TABLE", "faults"),
        ("AWS_ENDPOINT_URL_DYNAMODB", &url),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("STORE_TIMEOUT_MS", "300"),
        ("GATEWAY_CONFIG", &config),
    ])
    .await;

    let before = serve(&h, 3, "before").await;
    common::settled(&h).await;
    let (_, totals) = costs(&h).await;
    assert_eq!(
        picodollars(totals["overall"]["cost_usd"].as_str().expect("usd")),
        before
    );

    // The store goes away: requests are still served (limits fail open),
    // and their cost records wait in the backlog.
    dynamo.down();
    let during = serve(&h, 6, "during").await;
    common::settled(&h).await;
    let metrics = common::metrics(&h).await;
    assert_eq!(metrics["costs"]["records_pending"], 6, "{metrics}");
    assert_eq!(metrics["costs"]["records_not_persisted"], 0);
    let (status, _) = costs(&h).await;
    assert_eq!(status, 503, "totals are unavailable, and say so");

    // It comes back (empty: the emulator keeps nothing), and without a
    // restart of the gateway every waiting record is written.
    dynamo.up();
    common::create_table(&url, "faults").await;
    let after = serve(&h, 2, "after").await;
    wait_until("the backlog drained", Duration::from_secs(15), async || {
        common::metrics(&h).await["costs"]["records_pending"] == 0
    })
    .await;
    common::settled(&h).await;
    let (status, totals) = costs(&h).await;
    assert_eq!(status, 200);
    assert_eq!(
        picodollars(totals["overall"]["cost_usd"].as_str().expect("usd")),
        during + after,
        "the new store holds every record since it went away: {totals}"
    );
    assert_eq!(totals["overall"]["requests"], 8);
    let metrics = common::metrics(&h).await;
    assert_eq!(metrics["costs"]["records_not_persisted"], 0, "{metrics}");
    assert_eq!(metrics["costs"]["records_persisted"], 3 + 6 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_and_back_fails_open_then_caches_again() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let redis = OwnService::start("redis-stack.sh");
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let h = Harness::with_cache(Some(&url), &[("CACHE_LOOKUP_TIMEOUT_MS", "300")]).await;
    let ask = async |text: &str| {
        let response = h.chat(&chat_body("gpt-4o-mini", text)).await;
        assert_eq!(response.status(), 200, "{text}");
        let cache = header(&response, "x-cache");
        let _ = response.bytes().await;
        common::settled(&h).await;
        cache
    };
    assert_eq!(ask("What is the capital of France?").await, "MISS");
    assert_eq!(ask("What is the capital of France?").await, "HIT");

    redis.down();
    let started = Instant::now();
    assert_eq!(ask("What is the capital of France?").await, "MISS");
    assert_eq!(ask("How tall is Mount Everest?").await, "MISS");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "lookups are bounded while Redis is down"
    );
    let metrics = common::metrics(&h).await;
    assert!(metrics["cache"]["errors"].as_u64() >= Some(2), "{metrics}");

    // A fresh, empty Redis: the connection comes back and the index is made again.
    redis.up();
    wait_until(
        "the cache works again",
        Duration::from_secs(20),
        async || {
            ask("How many moons does Mars have?").await == "MISS"
                && ask("How many moons does Mars have?").await == "HIT"
        },
    )
    .await;
    let response = h
        .chat(&chat_body("gpt-4o-mini", "How many moons does Mars have?"))
        .await;
    assert_eq!(header(&response, "x-cache"), "HIT");
}

/// Clients asking without pause until `stop`: half new questions, half one
/// repeated question (cache hits once the cache has it). Returns the
/// requests answered, and the cache misses (priced, one cost record each)
/// with their summed cost.
async fn keep_asking(h: &Harness, client: usize, stop: &AtomicBool) -> (u64, u64, u128) {
    let (mut answered, mut misses, mut cost) = (0, 0, 0);
    while !stop.load(Ordering::Relaxed) {
        let text = if answered % 2 == 0 {
            format!("Client {client} asks question number {answered}")
        } else {
            "What is the capital of France?".to_owned()
        };
        let response = h.chat(&chat_body("gpt-4o-mini", &text)).await;
        assert_eq!(response.status(), 200, "client {client}: {text}");
        if header(&response, "x-cache") != "HIT" {
            misses += 1;
            cost += picodollars(&header(&response, "x-gateway-cost-usd"));
        }
        let _ = response.bytes().await;
        answered += 1;
    }
    (answered, misses, cost)
}

/// Under 16 clients without pause, DynamoDB stops answering for longer
/// than the request path waits (frozen, so what it holds survives) while
/// Redis is killed and started again empty. Every request is answered, and
/// the totals equal the answers given exactly: a cost write the store was
/// slow to acknowledge must not be counted twice (it was, at 1.8× the
/// answers, while cost writes shared the 300 ms request-path bound, and
/// still now and then with a 5 s bound: the emulator works through its
/// queue for seconds after it wakes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_failing_under_load_answer_everything_and_count_each_cost_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dynamo = OwnService::start("dynamodb-emulator.sh");
    let redis = OwnService::start("redis-stack.sh");
    let dynamo_url = format!("http://127.0.0.1:{}", dynamo.port);
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    common::create_table(&dynamo_url, "faults-load").await;
    let config = common::config_file(
        "faults-load-limits",
        "[limits.openai]\nrequests_per_minute = 100000\n",
    );
    let h = Harness::with_cache(
        Some(&redis_url),
        &[
            ("DYNAMODB_TABLE", "faults-load"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &dynamo_url),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("STORE_TIMEOUT_MS", "300"),
            ("CACHE_LOOKUP_TIMEOUT_MS", "300"),
            ("GATEWAY_CONFIG", &config),
        ],
    )
    .await;

    let stop = AtomicBool::new(false);
    let clients = futures_util::future::join_all((0..16).map(|c| keep_asking(&h, c, &stop)));
    let chaos = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| {
            dynamo.freeze(true);
            redis.down();
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| {
            dynamo.freeze(false);
            redis.up();
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
    };
    let (answers, ()) = tokio::join!(clients, chaos);
    let answered: u64 = answers.iter().map(|a| a.0).sum();
    let misses: u64 = answers.iter().map(|a| a.1).sum();
    let cost: u128 = answers.iter().map(|a| a.2).sum();
    assert!(answered >= 50, "load was applied: {answered} requests");
    eprintln!("{answered} answered, {misses} priced");

    wait_until("the backlog drained", Duration::from_secs(20), async || {
        common::metrics(&h).await["costs"]["records_pending"] == 0
    })
    .await;
    common::settled(&h).await;
    let metrics = common::metrics(&h).await;
    assert_eq!(metrics["costs"]["records_not_persisted"], 0, "{metrics}");
    assert_eq!(metrics["costs"]["records_persisted"], misses, "{metrics}");
    let (status, totals) = costs(&h).await;
    assert_eq!(status, 200);
    assert_eq!(totals["overall"]["requests"], misses, "{totals}");
    assert_eq!(
        picodollars(totals["overall"]["cost_usd"].as_str().expect("usd")),
        cost,
        "{totals}"
    );

    // The cache works again without a restart.
    wait_until("cache hits again", Duration::from_secs(20), async || {
        let response = h
            .chat(&chat_body("gpt-4o-mini", "What is the capital of Peru?"))
            .await;
        let hit = header(&response, "x-cache") == "HIT";
        let _ = response.bytes().await;
        common::settled(&h).await;
        hit
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_upstreams_are_answered_as_documented_and_every_answer_is_priced() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let h = Harness::with_env(&[
        ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", "1"),
        ("UPSTREAM_TIMEOUT_SECONDS", "1"),
        ("UPSTREAM_IDLE_TIMEOUT_SECONDS", "1"),
        ("UPSTREAM_MAX_RETRIES", "0"),
    ])
    .await;
    let mut served = 0u128;
    let mut answered = 0;
    // (text, stream, expected status, expected provider)
    let cases = [
        ("stall mock:delay_ms=3000@openai", false, 200, "anthropic"),
        ("garbage mock:garbage@openai", false, 200, "anthropic"),
        ("reset mock:drop@openai", false, 200, "anthropic"),
        ("all stall mock:delay_ms=3000", false, 503, "google"),
        (
            "stall stream mock:delay_ms=3000@openai",
            true,
            200,
            "anthropic",
        ),
        // OpenAI's circuit may be open by now: any provider may trickle.
        (
            "trickle mock:chunk_delay_ms=200 mock:words=5",
            true,
            200,
            "",
        ),
    ];
    for (text, stream, status, provider) in cases {
        let mut body = chat_body("gpt-4o-mini", text);
        body["stream"] = json!(stream);
        let response = h.chat(&body).await;
        assert_eq!(response.status().as_u16(), status, "{text}");
        if !provider.is_empty() {
            assert_eq!(header(&response, "x-gateway-provider"), provider, "{text}");
        }
        if !stream && status == 200 {
            served += picodollars(&header(&response, "x-gateway-cost-usd"));
        }
        let bytes = response.bytes().await.expect("body");
        if status == 200 {
            answered += 1;
            if stream {
                assert!(String::from_utf8_lossy(&bytes).contains("[DONE]"), "{text}");
            }
        }
    }
    // A stream cut mid-way: the client sees an error event, no [DONE].
    let mut body = chat_body("gpt-4o-mini", "cut mock:cut_after=2 mock:words=20");
    body["stream"] = json!(true);
    let response = h.chat(&body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");

    common::settled(&h).await;
    let metrics = common::metrics(&h).await;
    // Every answered request was priced into the totals, and the cut
    // stream on an estimate; the failures (504) cost nothing.
    let by_model: u64 = metrics["costs"]["by_model"]
        .as_array()
        .expect("by model")
        .iter()
        .map(|m| m["requests"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(by_model, answered + 1, "{metrics}");
    assert_eq!(metrics["costs"]["records_not_persisted"], 0);
    assert!(picodollars(metrics["costs"]["spent_usd"].as_str().expect("usd")) >= served);
    // The gateway is healthy afterwards.
    let response = h.chat(&chat_body("gpt-4o-mini", "fine again?")).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_cancels_the_upstream_call() {
    let _serial = ONE_AT_A_TIME.lock().await;
    use futures_util::StreamExt;
    let h = Harness::start().await;
    for (n, (_, model)) in common::MODELS.iter().enumerate() {
        let mut body = chat_body(model, "leave early mock:words=200 mock:chunk_delay_ms=20");
        body["stream"] = json!(true);
        let response = h.chat(&body).await;
        assert_eq!(response.status(), 200);
        let mut chunks = response.bytes_stream();
        let first = chunks.next().await.expect("a first chunk").expect("bytes");
        assert!(!first.is_empty());
        assert_eq!(
            h.mock.streams().0,
            1,
            "{model}: the upstream stream is open"
        );
        drop(chunks);
        // The gateway drops its upstream call: the mock sees its reader go.
        wait_until(
            "the upstream stream was abandoned",
            Duration::from_secs(5),
            async || h.mock.streams() == (0, n as u64 + 1),
        )
        .await;
    }
    common::settled(&h).await;
}
