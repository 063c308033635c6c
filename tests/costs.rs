//! Request costs: pricing × usage for each provider, streamed and not, in
//! the `x-gateway-cost-usd` header and the `/metrics` totals.

mod common;

use common::{Harness, chat_body, header, json_of, sse_data};
use serde_json::{Value, json};

/// List prices in picodollars per token (USD per million × 10⁶), written
/// out here independently of the gateway's table: (input, output).
const PRICES: &[(&str, u64, u64)] = &[
    ("gpt-4o-mini", 150_000, 600_000),
    ("claude-sonnet-4-6", 3_000_000, 15_000_000),
    ("gemini-2.5-flash", 300_000, 2_500_000),
];

fn expected(model: &str, usage: &Value) -> u64 {
    let (_, input, output) = PRICES
        .iter()
        .find(|(m, _, _)| *m == model)
        .expect("priced model");
    let prompt = usage["prompt_tokens"].as_u64().expect("prompt tokens");
    let completion = usage["completion_tokens"]
        .as_u64()
        .expect("completion tokens");
    assert!(prompt > 0 && completion > 0, "{usage}");
    prompt * input + completion * output
}

/// Picodollars as the gateway prints them.
fn usd(pico: u64) -> String {
    let whole = pico / 1_000_000_000_000;
    let frac = format!("{:012}", pico % 1_000_000_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{frac}")
    }
}

#[tokio::test]
async fn costs_equal_pricing_times_usage_streamed_or_not() {
    let h = Harness::start().await;
    let mut total = 0u64;
    for (model, _, _) in PRICES {
        let response = h.chat(&chat_body(model, "price this answer please")).await;
        assert_eq!(response.status(), 200);
        let cost = header(&response, "x-gateway-cost-usd");
        let body = json_of(response).await;
        let want = expected(model, &body["usage"]);
        assert_eq!(cost, usd(want), "{model}");
        total += want;

        // A stream: cost cannot be a header (headers precede the usage),
        // so it is checked in the totals.
        let mut streamed = chat_body(model, "and price this streamed one");
        streamed["stream"] = json!(true);
        streamed["stream_options"] = json!({"include_usage": true});
        let response = h.chat(&streamed).await;
        assert!(response.headers().get("x-gateway-cost-usd").is_none());
        let text = response.text().await.expect("stream");
        let events = sse_data(&text);
        let usage: Value = serde_json::from_str(&events[events.len() - 2]).expect("usage");
        total += expected(model, &usage["usage"]);
    }
    let costs = &common::metrics(&h).await["costs"];
    assert_eq!(costs["spent_usd"], usd(total), "{costs}");
    assert_eq!(costs["unpriced_requests"], 0);
    let by_model = costs["by_model"].as_array().expect("by model");
    assert_eq!(by_model.len(), 3, "{costs}");
    assert!(by_model.iter().all(|m| m["requests"] == 2));
}

/// A model without a price is never free: by default it is charged at the
/// catalogue's highest prices; `charge:IN,OUT` states the price; `refuse`
/// answers 400 before any upstream call.
#[tokio::test]
async fn unpriced_models_are_charged_or_refused_never_free() {
    let h = Harness::start().await;
    let response = h
        .chat(&chat_body(
            "openai/gpt-unlisted-model",
            "what does this cost",
        ))
        .await;
    assert_eq!(response.status(), 200);
    let cost = header(&response, "x-gateway-cost-usd");
    let usage = json_of(response).await["usage"].clone();
    // The price list's highest prices, written out: $5 in, $30 out per
    // million tokens (gpt-5.5).
    let (prompt, completion) = (
        usage["prompt_tokens"].as_u64().expect("prompt"),
        usage["completion_tokens"].as_u64().expect("completion"),
    );
    assert_eq!(cost, usd(prompt * 5_000_000 + completion * 30_000_000));
    let costs = &common::metrics(&h).await["costs"];
    assert_eq!(costs["unpriced_requests"], 1);

    let stated = Harness::with_env(&[("UNPRICED_MODELS", "charge:1,2")]).await;
    let response = stated
        .chat(&chat_body(
            "openai/gpt-unlisted-model",
            "what does this cost",
        ))
        .await;
    let cost = header(&response, "x-gateway-cost-usd");
    let usage = json_of(response).await["usage"].clone();
    let expected = usage["prompt_tokens"].as_u64().expect("prompt") * 1_000_000
        + usage["completion_tokens"].as_u64().expect("completion") * 2_000_000;
    assert_eq!(cost, usd(expected));

    let refusing = Harness::with_env(&[("UNPRICED_MODELS", "refuse")]).await;
    let calls = refusing.mock.requests().len();
    let response = refusing
        .chat(&chat_body("openai/gpt-unlisted-model", "refused"))
        .await;
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["error"]["param"], "model");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("[pricing.\"gpt-unlisted-model\"]"),
        "{message}"
    );
    assert_eq!(refusing.mock.requests().len(), calls, "no upstream call");
    // Snapshots of priced models are priced; other variants are not.
    let response = refusing
        .chat(&chat_body("gpt-4o-mini-2024-07-18", "dated snapshot"))
        .await;
    assert_eq!(response.status(), 200);
    let response = refusing
        .chat(&chat_body("gpt-4o-mini-audio-preview", "another model"))
        .await;
    assert_eq!(response.status(), 400);
}

/// A stream that ends before the provider's usage — cut by the provider,
/// or abandoned by the client — is billed on an estimate, marked so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_streams_are_billed_on_an_estimate() {
    use futures_util::StreamExt;
    let h = Harness::start().await;
    for (_, model) in common::MODELS {
        let mut cut = chat_body(model, "cut short mock:cut_after=2 mock:words=20");
        cut["stream"] = json!(true);
        let response = h.chat(&cut).await;
        let text = response.text().await.expect("body");
        assert!(!text.contains("[DONE]"), "{model}: {text}");

        let mut left = chat_body(model, "leave early mock:words=200 mock:chunk_delay_ms=20");
        left["stream"] = json!(true);
        let response = h.chat(&left).await;
        let mut chunks = response.bytes_stream();
        let first = chunks.next().await.expect("a first chunk").expect("bytes");
        assert!(!first.is_empty());
        drop(chunks);
    }
    // The abandoned streams settle in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let totals = loop {
        common::settled(&h).await;
        let (_, totals) = common::cost_totals(&h).await;
        if totals["overall"]["estimated_requests"] == 6 || std::time::Instant::now() > deadline {
            break totals;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(totals["overall"]["estimated_requests"], 6, "{totals}");
    assert_eq!(totals["overall"]["requests"], 6, "{totals}");
    for (_, model) in common::MODELS {
        let cost = totals["overall"]["by_model"][model].as_str().unwrap_or("0");
        assert_ne!(cost, "0", "{model} billed: {totals}");
    }
}

#[tokio::test]
async fn configured_prices_override_the_table() {
    let config = common::config_file(
        "pricing",
        "[pricing.\"gpt-4o-mini\"]\ninput = 1000.0\noutput = 2000.0\n",
    );
    let h = Harness::with_env(&[("GATEWAY_CONFIG", config.as_str())]).await;
    let response = h.chat(&chat_body("gpt-4o-mini", "expensive now")).await;
    let cost = header(&response, "x-gateway-cost-usd");
    let usage = json_of(response).await["usage"].clone();
    let want = usage["prompt_tokens"].as_u64().expect("prompt") * 1_000_000_000
        + usage["completion_tokens"].as_u64().expect("completion") * 2_000_000_000;
    assert_eq!(cost, usd(want));
}
