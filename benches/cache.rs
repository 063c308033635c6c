//! Semantic cache costs: the exact digest of a short and of a 1 MB prompt,
//! the static embedding of a ~30-token prompt, search of the in-memory index
//! holding 10,000 entries, and the verifier on one shortlisted pair (back to
//! back on this thread, and on its lane after an idle spell). Uses the
//! models in `models/cache`. Run: `cargo bench --bench cache`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use llm_gateway::cache::embed::{STATIC_DIM, StaticEmbedder, normalize};
use llm_gateway::cache::exact;
use llm_gateway::cache::index::{Entry, VectorIndex};
use llm_gateway::cache::memory::MemoryIndex;
use llm_gateway::cache::verify::{DEFAULT_THRESHOLD, Verifier};

const PROMPT: &str = "How do I configure the retry policy of my HTTP client so that it backs off exponentially after a rate limit error?";

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cache");

    c.bench_function("exact digest of a ~30-token prompt", |b| {
        b.iter(|| exact::digest("scope", black_box(PROMPT)))
    });
    let big = PROMPT.repeat(1_000_000 / PROMPT.len());
    let mut group = c.benchmark_group("long prompts");
    group.sample_size(10);
    group.bench_function("exact digest of a 1 MB prompt", |b| {
        b.iter(|| exact::digest("scope", black_box(&big)))
    });
    group.finish();

    match StaticEmbedder::load_now(&dir) {
        Ok(embedder) => {
            c.bench_function("embed a ~30-token prompt (static table)", |b| {
                b.iter(|| embedder.embed_blocking(black_box(PROMPT)).expect("embeds"))
            });
        }
        Err(e) => eprintln!("skipping the embedding benchmark: {e}"),
    }

    let index = MemoryIndex::new(20_000);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut random_vector = || normalize((0..STATIC_DIM).map(|_| rng.f32() - 0.5).collect());
    runtime.block_on(async {
        for i in 0..10_000 {
            let scope = format!("scope-{}", i % 10);
            let entry = Entry {
                prompt: format!("prompt {i}"),
                response: "{}".into(),
            };
            index
                .insert(&scope, &random_vector(), entry, Duration::from_secs(3600))
                .await
                .expect("insert");
        }
    });
    let query = random_vector();
    c.bench_function(
        "memory index: KNN 5 in a 1,000-entry scope (10,000 entries)",
        |b| {
            b.iter(|| {
                runtime
                    .block_on(index.search("scope-3", black_box(&query), 5))
                    .expect("search")
            })
        },
    );

    let verifier = Verifier::new(dir, DEFAULT_THRESHOLD, 1);
    match verifier.load_now() {
        Ok(()) => {
            let (query, stored) = (
                "How do I convert 100 Celsius to Fahrenheit?",
                "Convert 100 Celsius to Fahrenheit please",
            );
            c.bench_function("verify one shortlisted pair (cross-encoder)", |b| {
                b.iter(|| verifier.check_blocking(black_box(query), black_box(stored)))
            });
            // As in the gateway: on the verifier's lane, after an idle spell
            // (the idle time is not counted).
            let mut idle = c.benchmark_group("verifier after 50 ms idle");
            idle.sample_size(20);
            idle.bench_function("verify one pair on its lane, as the gateway does", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        std::thread::sleep(Duration::from_millis(50));
                        let started = Instant::now();
                        black_box(runtime.block_on(verifier.check(query, stored)));
                        total += started.elapsed();
                    }
                    total
                })
            });
            idle.finish();
        }
        Err(e) => eprintln!("skipping the verifier benchmark: {e}"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
