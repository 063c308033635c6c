//! Cache quality on a set of prompt pairs: the exact tier alone
//! (`CACHE_SEMANTIC=false`), and with the semantic tier (the default) over
//! a grid of shortlist distances and verifier thresholds.
//!
//! `cargo run --release --example cache_quality -- FILE.jsonl [MODEL_DIR]`
//!
//! FILE holds pairs (`{"a", "b", "same", "source"}`, as
//! `tests/fixtures/cache_pairs.jsonl`) or question groups (`{"q", "same":
//! [...], "different": [...]}`, as `bench/cache_quality/heldout4.jsonl`: the
//! question is stored, each variant asked). `SHOW_ERRORS=1` lists the pairs
//! decided wrongly at the defaults (never use it on a blind set);
//! `DUMP=PATH` writes every pair with its distance, the verifier's
//! probability (before the guards) and the guard that refused it, as JSON
//! lines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use llm_gateway::cache::embed::StaticEmbedder;
use llm_gateway::cache::guards;
use llm_gateway::cache::index::cosine_distance;
use llm_gateway::cache::verify::{DEFAULT_THRESHOLD as VERIFIER_THRESHOLD, Verifier};
use llm_gateway::cache::{DEFAULT_SEMANTIC_MAX_BYTES, DEFAULT_THRESHOLD, exact};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Pair {
        a: String,
        b: String,
        same: bool,
        #[serde(default)]
        source: String,
    },
    Group {
        q: String,
        same: Vec<String>,
        different: Vec<String>,
    },
}

/// One pair with what the cache sees: exact match, shortlist distance, the
/// guard that refuses it, and the verifier's probability (0 when it could
/// not run).
struct Scored {
    stored: String,
    query: String,
    same: bool,
    source: String,
    exact: bool,
    distance: f32,
    guard: Option<&'static str>,
    probability: f32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: cache_quality FILE.jsonl [MODEL_DIR]")?;
    let dir = args
        .next()
        .map_or_else(|| PathBuf::from("models/cache"), PathBuf::from);
    let embedder = StaticEmbedder::load_now(&dir)?;
    let verifier = Verifier::new(dir, 0.0, 1);
    verifier.load_now()?;
    let mut pairs = Vec::new();
    for line in std::fs::read_to_string(&path)?.lines() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(line)? {
            Line::Pair { a, b, same, source } => pairs.push((a, b, same, source)),
            Line::Group { q, same, different } => {
                for s in same {
                    pairs.push((q.clone(), s, true, "groups".into()));
                }
                for d in different {
                    pairs.push((q.clone(), d, false, "groups".into()));
                }
            }
        }
    }
    let mut scored = Vec::new();
    for (stored, query, same, source) in pairs {
        let exact = exact::digest("", &stored) == exact::digest("", &query);
        let fits =
            stored.len() <= DEFAULT_SEMANTIC_MAX_BYTES && query.len() <= DEFAULT_SEMANTIC_MAX_BYTES;
        let distance = if fits {
            cosine_distance(
                &embedder.embed_blocking(&stored)?,
                &embedder.embed_blocking(&query)?,
            )
        } else {
            f32::INFINITY
        };
        let guard = guards::differ(&query, &stored);
        let probability = verifier
            .score_blocking(&query, &stored)?
            .unwrap_or_default();
        scored.push(Scored {
            stored,
            query,
            same,
            source,
            exact,
            distance,
            guard,
            probability,
        });
    }
    let hit = |s: &Scored, shortlist: f32, verify: f32| {
        s.exact || (s.distance <= shortlist && s.guard.is_none() && s.probability >= verify)
    };
    let mut sources: BTreeMap<&str, ()> = BTreeMap::new();
    for s in &scored {
        sources.insert(&s.source, ());
    }
    println!("set | shortlist | verifier | paraphrases hit | hard negatives hit");
    for source in sources.keys() {
        let (mut p, mut ph, mut n, mut nh) = (0, 0, 0, 0);
        for s in scored.iter().filter(|s| s.source == *source) {
            if s.same {
                p += 1;
                ph += usize::from(s.exact);
            } else {
                n += 1;
                nh += usize::from(s.exact);
            }
        }
        println!(
            "{source} | exact tier only | - | {:.1} % of {p} | {:.1} % of {n}",
            ph as f64 * 100.0 / p.max(1) as f64,
            nh as f64 * 100.0 / n.max(1) as f64,
        );
        for shortlist in [0.25, 0.35, 0.45, 1.0] {
            for verify in [0.9, 0.95, 0.98, 0.99, 0.995, 0.997] {
                let (mut p, mut ph, mut n, mut nh) = (0, 0, 0, 0);
                for s in scored.iter().filter(|s| s.source == *source) {
                    let h = usize::from(hit(s, shortlist, verify));
                    if s.same {
                        p += 1;
                        ph += h;
                    } else {
                        n += 1;
                        nh += h;
                    }
                }
                let marker = if shortlist == DEFAULT_THRESHOLD && verify == VERIFIER_THRESHOLD {
                    " (semantic defaults)"
                } else {
                    ""
                };
                println!(
                    "{source} | {shortlist} | {verify} | {:.1} % of {p} | {:.1} % of {n}{marker}",
                    ph as f64 * 100.0 / p.max(1) as f64,
                    nh as f64 * 100.0 / n.max(1) as f64,
                );
            }
        }
    }
    if let Some(path) = std::env::var_os("DUMP") {
        let mut out = String::new();
        for s in &scored {
            let line = serde_json::json!({
                "stored": s.stored, "query": s.query, "same": s.same, "source": s.source,
                "exact": s.exact, "distance": s.distance, "probability": s.probability,
                "guard": s.guard,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        std::fs::write(path, out)?;
    }
    if std::env::var_os("SHOW_ERRORS").is_some() {
        for s in &scored {
            if hit(s, DEFAULT_THRESHOLD, VERIFIER_THRESHOLD) != s.same {
                println!(
                    "{} d={:.3} p={:.3}{}: {:?} ~ {:?}",
                    if s.same { "missed" } else { "FALSE HIT" },
                    s.distance,
                    s.probability,
                    s.guard.map(|why| format!(" ({why})")).unwrap_or_default(),
                    s.stored,
                    s.query
                );
            }
        }
    }
    Ok(())
}
