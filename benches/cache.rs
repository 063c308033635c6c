//! Semantic cache costs: local embedding of a ~30-token prompt, search of
//! the in-memory index holding 10,000 entries, the second check (with a
//! synonym swap) and loading the synonym table once. Needs
//! the model (`infra/local/install-model.sh`). Run: `cargo bench --bench cache`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use llm_gateway::cache::embed::{LocalEmbedder, normalize};
use llm_gateway::cache::index::{Entry, VectorIndex};
use llm_gateway::cache::memory::MemoryIndex;
use llm_gateway::cache::synonyms::Synonyms;
use llm_gateway::cache::verify::same_question;

const PROMPT: &str = "How do I configure the retry policy of my HTTP client so that it backs off exponentially after a rate limit error?";

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    match LocalEmbedder::load_now(&dir) {
        Ok(embedder) => {
            c.bench_function("embed a ~30-token prompt (local MiniLM)", |b| {
                b.iter(|| embedder.embed_blocking(black_box(PROMPT)).expect("embeds"))
            });
        }
        Err(e) => eprintln!("skipping the embedding benchmark: {e}"),
    }

    let index = MemoryIndex::new(20_000);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut random_vector = || normalize((0..384).map(|_| rng.f32() - 0.5).collect());
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
    c.bench_function("second check of a near neighbour", |b| {
        b.iter(|| {
            same_question(
                black_box("How do I convert 100 Celsius to Fahrenheit?"),
                black_box("Convert 100 Celsius to Fahrenheit please"),
            )
        })
    });
    c.bench_function("second check of a synonym swap", |b| {
        b.iter(|| {
            same_question(
                black_box("How do I fix my bike's brakes?"),
                black_box("How can I repair the brakes on my bike?"),
            )
        })
    });
    let table = include_str!("../src/cache/synonyms.txt");
    let mut group = c.benchmark_group("synonyms");
    group.sample_size(10);
    group.bench_function("parse the synonym table (once per process)", |b| {
        b.iter(|| Synonyms::parse(black_box(table)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
