//! Semantic-cache quality on a pair set built by
//! `bench/cache_quality/build_pairs.py`: for each cosine-distance threshold,
//! the share of paraphrases that would hit and of hard negatives that would
//! falsely hit, with cosine alone and with the second check.
//!
//! `cargo run --release --example cache_quality -- PAIRS.jsonl [MODEL_DIR]`

use std::collections::HashMap;
use std::path::PathBuf;

use llm_gateway::cache::embed::LocalEmbedder;
use llm_gateway::cache::index::cosine_distance;
use llm_gateway::cache::verify::same_question;
use serde::Deserialize;

#[derive(Deserialize)]
struct Pair {
    a: String,
    b: String,
    same: bool,
    source: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pairs_path = args
        .next()
        .ok_or("usage: cache_quality PAIRS.jsonl [MODEL_DIR]")?;
    let model_dir = args
        .next()
        .map_or_else(|| PathBuf::from("models/all-MiniLM-L6-v2"), PathBuf::from);
    let embedder = LocalEmbedder::load_now(&model_dir)?;
    let pairs: Vec<Pair> = std::fs::read_to_string(&pairs_path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mut vectors: HashMap<&str, Vec<f32>> = HashMap::new();
    for text in pairs.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]) {
        if !vectors.contains_key(text) {
            vectors.insert(text, embedder.embed_blocking(text)?);
        }
    }
    let scored: Vec<(&Pair, f32, bool)> = pairs
        .iter()
        .map(|p| {
            (
                p,
                cosine_distance(&vectors[p.a.as_str()], &vectors[p.b.as_str()]),
                same_question(&p.a, &p.b),
            )
        })
        .collect();
    // One column per source and label: paraphrases (hits wanted) and hard
    // negatives (hits are false hits).
    let mut groups: Vec<(String, String, bool)> = Vec::new();
    for p in &pairs {
        let name = format!(
            "{} {}",
            p.source,
            if p.same {
                "paraphrases"
            } else {
                "hard negatives"
            }
        );
        if !groups.iter().any(|(n, _, _)| *n == name) {
            groups.push((name, p.source.clone(), p.same));
        }
    }
    let shown: f32 = std::env::var("SHOW_AT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.15);
    if std::env::var_os("SHOW_FALSE_HITS").is_some() {
        for (p, d, ok) in &scored {
            if !p.same && *ok && *d <= shown {
                println!("false hit at {d:.3}: {:?} ~ {:?}", p.a, p.b);
            }
            if p.same && (!*ok || *d > shown) && p.source != "contradish" {
                println!(
                    "missed paraphrase at {d:.3} (check {ok}): {:?} ~ {:?}",
                    p.a, p.b
                );
            }
        }
    }
    println!(
        "{} pairs; cells: hit % with cosine only / with cosine + second check\n",
        pairs.len()
    );
    print!("| threshold |");
    for (name, _, _) in &groups {
        let n = pairs
            .iter()
            .filter(|p| {
                format!(
                    "{} {}",
                    p.source,
                    if p.same {
                        "paraphrases"
                    } else {
                        "hard negatives"
                    }
                ) == *name
            })
            .count();
        print!(" {name} ({n}) |");
    }
    println!("\n|---|{}", "---|".repeat(groups.len()));
    for threshold in [0.05f32, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40] {
        print!("| {threshold:.2} |");
        for (_, source, same) in &groups {
            let in_group: Vec<_> = scored
                .iter()
                .filter(|(p, _, _)| p.source == *source && p.same == *same)
                .collect();
            let n = in_group.len().max(1) as f64;
            let cosine =
                in_group.iter().filter(|(_, d, _)| *d <= threshold).count() as f64 / n * 100.0;
            let checked = in_group
                .iter()
                .filter(|(_, d, ok)| *d <= threshold && *ok)
                .count() as f64
                / n
                * 100.0;
            print!(" {cosine:.1} / {checked:.1} |");
        }
        println!();
    }
    Ok(())
}
