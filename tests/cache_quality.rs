//! Semantic-cache quality at the default threshold, with the local model
//! and the second check, on the team's pairs (`fixtures/cache_pairs.jsonl`:
//! the templated minimal pairs of `bench/cache_quality/build_pairs.py` and
//! the three hand-written held-out sets of `bench/cache_quality/heldout.py`).
//! Targets: no set's hard negatives falsely hit above 1 %, and paraphrases
//! hit at least 60 % of the time over all sets. Prints the figures per set.

mod common;

use std::collections::{BTreeMap, HashMap};

use llm_gateway::cache::DEFAULT_THRESHOLD;
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

#[derive(Default)]
struct Tally {
    pairs: usize,
    hits: usize,
}

impl Tally {
    fn rate(&self) -> f64 {
        self.hits as f64 * 100.0 / self.pairs.max(1) as f64
    }
}

#[test]
fn paraphrases_hit_and_hard_negatives_do_not() {
    let embedder =
        LocalEmbedder::load_now(std::path::Path::new(&common::model_dir())).expect("model loads");
    let pairs: Vec<Pair> = include_str!("fixtures/cache_pairs.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("pair parses"))
        .collect();
    let mut vectors: HashMap<&str, Vec<f32>> = HashMap::new();
    for text in pairs.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]) {
        if !vectors.contains_key(text) {
            vectors.insert(text, embedder.embed_blocking(text).expect("embeds"));
        }
    }
    let mut sets: BTreeMap<(String, bool), Tally> = BTreeMap::new();
    let mut all_paraphrases = Tally::default();
    let mut false_hits = Vec::new();
    for p in &pairs {
        let near =
            cosine_distance(&vectors[p.a.as_str()], &vectors[p.b.as_str()]) <= DEFAULT_THRESHOLD;
        let hit = near && same_question(&p.a, &p.b);
        let set = sets.entry((p.source.clone(), p.same)).or_default();
        set.pairs += 1;
        set.hits += usize::from(hit);
        if p.same {
            all_paraphrases.pairs += 1;
            all_paraphrases.hits += usize::from(hit);
        } else if hit {
            false_hits.push(format!("{:?} ~ {:?}", p.a, p.b));
        }
    }
    for ((source, same), t) in &sets {
        let what = if *same {
            "paraphrases hit"
        } else {
            "hard negatives falsely hit"
        };
        println!("{source}: {what} {:.1} % of {}", t.rate(), t.pairs);
    }
    println!(
        "all paraphrases: {:.1} % of {} hit at threshold {DEFAULT_THRESHOLD}",
        all_paraphrases.rate(),
        all_paraphrases.pairs
    );
    for ((source, same), t) in &sets {
        assert!(
            *same || t.rate() <= 1.0,
            "{source}: false hits {:.1} %: {false_hits:#?}",
            t.rate()
        );
    }
    assert!(
        all_paraphrases.rate() >= 60.0,
        "paraphrase hit rate {:.1} %",
        all_paraphrases.rate()
    );
}
