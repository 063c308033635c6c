//! An open-loop load generator for chat completions whose prompts differ per
//! request (oha sends one body): requests start on a fixed schedule whether
//! or not earlier ones have finished, at most CONNECTIONS in flight, and
//! latency counts from the scheduled start. Prints one JSON object.
//!
//! `cargo run --release --example load -- URL RATE SECONDS CONNECTIONS MODE [KEY]`
//!
//! MODE: `distinct` (every prompt new and far from the others: a cache
//! miss), `repeat` (one prompt: cache hits after the first), `near` (every
//! prompt new but a near neighbour of the others: "What is the capital of
//! <made-up word> <made-up word>?", two words apart, so that no guard
//! decides and the cache's verifier reads each).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

const WORDS: &[&str] = &[
    "apple", "river", "engine", "violet", "harbor", "quantum", "pepper", "glacier", "lantern",
    "mosaic", "tundra", "cobalt", "falcon", "meadow", "prism", "saffron", "thunder", "walnut",
    "zephyr", "basalt", "canyon", "dynamo", "ember", "fjord", "gossamer", "hazel", "indigo",
    "juniper", "kelp", "lagoon", "marble", "nectar", "orchid", "pylon", "quartz", "raven",
    "sierra", "timber", "umber", "vortex", "willow", "xenon", "yarrow", "zinc", "acorn", "bramble",
    "cipher", "delta", "estuary", "flint", "granite", "heron", "iris", "jasper", "kiln", "lichen",
    "magnet", "nickel", "oasis", "pollen", "quiver", "reef", "sorrel", "tulip", "vellum", "wren",
];

fn prompt(mode: &str, i: u64, rng: &mut fastrand::Rng) -> String {
    match mode {
        "repeat" => "How do I rotate the API keys of my service account?".to_owned(),
        "near" => {
            let mut made_up = || {
                format!(
                    "{}{}",
                    WORDS[rng.usize(..WORDS.len())],
                    WORDS[rng.usize(..WORDS.len())]
                )
            };
            format!("What is the capital of {} {}?", made_up(), made_up())
        }
        _ => {
            let words: Vec<&str> = (0..8).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
            format!("{} {i} {}", words.join(" "), rng.u64(..))
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, rate, seconds, connections, mode, rest @ ..] = args.as_slice() else {
        return Err("usage: load URL RATE SECONDS CONNECTIONS MODE [KEY]".into());
    };
    let rate: u64 = rate.parse()?;
    let seconds: u64 = seconds.parse()?;
    let connections: usize = connections.parse()?;
    let key = rest.first().cloned().unwrap_or_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(10))
        .build()?;
    let slots = Arc::new(Semaphore::new(connections));
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    // A new seed per run: runs against one gateway never share prompts.
    let mut rng = fastrand::Rng::new();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let body = serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": prompt(mode, i, &mut rng)}],
        })
        .to_string();
        let (client, slots, url, key) = (client.clone(), slots.clone(), url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.ok()?;
            let response = client
                .post(&url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .ok()?;
            let ok = response.status().is_success();
            let cache = response
                .headers()
                .get("x-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            response.bytes().await.ok()?;
            Some((ok, cache, due.elapsed().as_secs_f64() * 1000.0))
        }));
    }
    let (mut latencies, mut ok, mut hits) = (Vec::new(), 0u64, 0u64);
    for task in tasks {
        if let Ok(Some((success, cache, ms))) = task.await {
            ok += u64::from(success);
            hits += u64::from(cache == "HIT");
            latencies.push(ms);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "mode": mode,
            "offered_rps": rate,
            "achieved_rps": ok as f64 / elapsed,
            "ok": ok,
            "total": total,
            "hits": hits,
            "p50_ms": percentile(&latencies, 0.5),
            "p99_ms": percentile(&latencies, 0.99),
        })
    );
    Ok(())
}
