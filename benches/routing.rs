//! Routing decision cost: plan a request (resolve, exclude, score and rank
//! every candidate). Run: `cargo bench --bench routing`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use llm_gateway::api::chat::parse_request;
use llm_gateway::config::FileConfig;
use llm_gateway::pricing::Pricing;
use llm_gateway::providers::ProviderId;
use llm_gateway::routing::stats::Stats;
use llm_gateway::routing::strategy::Strategy;
use llm_gateway::routing::{Routes, plan};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let routes = Routes::new(&FileConfig::default(), ProviderId::BUILTIN).expect("routes");
    let stats = Stats::default();
    let pricing = Pricing::new(&Default::default()).expect("prices");
    for route in routes.smart_pool() {
        stats.success(&route, std::time::Duration::from_millis(300), None);
    }
    let body = |model: &str| {
        serde_json::to_vec(&json!({"model": model, "max_tokens": 300,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello ".repeat(50)}]}))
        .expect("bytes")
    };
    let smart = parse_request(&body("smart-model")).expect("valid");
    c.bench_function(
        "plan: smart-model over the whole catalogue (balanced)",
        |b| {
            b.iter(|| {
                plan(
                    &routes,
                    |r| stats.latency_ms(r),
                    black_box(&smart),
                    None,
                    Strategy::Balanced,
                    |r| pricing.per_million(r.provider.as_str(), &r.model),
                )
                .expect("plan")
            })
        },
    );
    let chain = parse_request(&body("gpt-4o-mini")).expect("valid");
    c.bench_function("plan: a model and its fallback chain", |b| {
        b.iter(|| {
            plan(
                &routes,
                |r| stats.latency_ms(r),
                black_box(&chain),
                None,
                Strategy::Balanced,
                |r| pricing.per_million(r.provider.as_str(), &r.model),
            )
            .expect("plan")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
