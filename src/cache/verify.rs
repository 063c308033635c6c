//! The verifier: whether a shortlisted stored prompt asks the same question
//! as the new one. Embeddings put "100 Celsius to Fahrenheit" and "100
//! Fahrenheit to Celsius" almost on top of each other, so nearness only
//! shortlists; a cross-encoder fine-tuned from all-MiniLM-L6-v2
//! (`bench/cache_quality/train/`) reads both prompts together and decides,
//! after the [`guards`] (which can only say no) have had their say.
//!
//! Bounded by construction: prompts whose pair does not fit the model's
//! window are never verified (so never hit); the model runs off the runtime
//! workers, at most `permits` pairs at once, and a pair that finds no free
//! permit is a miss rather than a wait. The model loads on first need, in
//! the background.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use minilm::{BertConfig, CrossEncoder};
use tokenizers::Tokenizer;
use tokio::sync::Semaphore;

use super::guards;

/// Longest pair (both prompts with their separators, in tokens) the model
/// reads; longer pairs are never verified.
pub const MAX_PAIR_TOKENS: usize = 128;

/// Default `CACHE_VERIFIER_THRESHOLD`: the verifier's probability needed for
/// a hit, chosen on the development sets (docs/cache.md).
pub const DEFAULT_THRESHOLD: f32 = 0.95;

/// The verifier's answer on one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Same question; the model's probability.
    Same(f32),
    /// Another question (probability, or 0 when a guard decided).
    Different(f32),
    /// Not verified: model not loaded yet, every permit taken, or the pair
    /// too long. Counts as a miss.
    Skipped(&'static str),
}

struct Model {
    encoder: CrossEncoder,
    tokenizer: Tokenizer,
}

impl Model {
    fn load(dir: &Path) -> Result<Self, String> {
        super::synonyms::warm();
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
        };
        let config: BertConfig = serde_json::from_slice(&read("verifier.json")?)
            .map_err(|e| format!("verifier.json: {e}"))?;
        let encoder = CrossEncoder::load_file(&config, &dir.join("verifier.safetensors"))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("verifier-tokenizer.json"))
            .map_err(|e| format!("verifier-tokenizer.json: {e}"))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| format!("tokenizer: {e}"))?;
        Ok(Self { encoder, tokenizer })
    }

    /// The probability that one answer serves both prompts, or `None` when
    /// the pair is longer than the window.
    fn score(&self, query: &str, stored: &str) -> Result<Option<f32>, String> {
        let encoding = self
            .tokenizer
            .encode((query, stored), true)
            .map_err(|e| e.to_string())?;
        if encoding.get_ids().len() > MAX_PAIR_TOKENS {
            return Ok(None);
        }
        self.encoder
            .score(encoding.get_ids(), encoding.get_type_ids())
            .map(Some)
    }
}

/// The cross-encoder verifier.
pub struct Verifier {
    dir: PathBuf,
    threshold: f32,
    model: Arc<OnceLock<Result<Arc<Model>, String>>>,
    loading: AtomicBool,
    preloaded: AtomicBool,
    permits: Arc<Semaphore>,
}

impl Verifier {
    /// A verifier reading its model from `dir` on first need, deciding at
    /// `threshold`, running at most `permits` pairs at once.
    pub fn new(dir: PathBuf, threshold: f32, permits: usize) -> Self {
        Self {
            dir,
            threshold,
            model: Arc::new(OnceLock::new()),
            loading: AtomicBool::new(false),
            preloaded: AtomicBool::new(false),
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// Loads the model now (tests, benchmarks, pre-warming).
    pub fn load_now(&self) -> Result<(), String> {
        self.model_blocking().map(|_| ()).map_err(Clone::clone)
    }

    /// The loaded model, or `None` while it loads (the first call starts it).
    fn loaded(&self) -> Option<Arc<Model>> {
        match self.model.get() {
            Some(Ok(model)) => return Some(model.clone()),
            Some(Err(_)) => return None,
            None => {}
        }
        if !self.loading.swap(true, Ordering::AcqRel) {
            let slot = self.model.clone();
            let dir = self.dir.clone();
            let runtime = tokio::runtime::Handle::try_current();
            let load = move || {
                let result = Model::load(&dir).map(Arc::new);
                match &result {
                    Ok(_) => tracing::info!(dir = %dir.display(), "cache verifier loaded"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cache verifier not loaded: semantic hits off")
                    }
                }
                let _ = slot.set(result);
            };
            match runtime {
                Ok(handle) => drop(handle.spawn_blocking(load)),
                Err(_) => load(),
            }
        }
        None
    }

    /// Starts loading the model in the background now rather than on
    /// first need (`CACHE_VERIFIER_PRELOAD`).
    pub fn preload(&self) {
        self.preloaded.store(true, Ordering::Release);
        let _ = self.loaded();
    }

    /// `Ok` when usable now or on first need; an error when the model could
    /// not be read, or is still loading after [`Self::preload`].
    pub fn ready(&self) -> Result<(), String> {
        match self.model.get() {
            Some(Err(e)) => Err(e.clone()),
            None if self.preloaded.load(Ordering::Acquire) => {
                Err("cache verifier still loading".into())
            }
            _ => Ok(()),
        }
    }

    /// Decides on one pair off the runtime workers (the guards first, on this
    /// thread, once the model and the guards' tables are loaded).
    pub async fn check(&self, query: &str, stored: &str) -> Verdict {
        let Some(model) = self.loaded() else {
            return Verdict::Skipped("verifier loading");
        };
        if guards::differ(query, stored).is_some() {
            return Verdict::Different(0.0);
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Verdict::Skipped("verifier busy");
        };
        let (query, stored) = (query.to_owned(), stored.to_owned());
        let threshold = self.threshold;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            decide(model.score(&query, &stored), threshold)
        })
        .await
        .unwrap_or(Verdict::Skipped("verifier failed"))
    }

    /// Decides on one pair on this thread, loading the model if needed
    /// (tests, benchmarks).
    pub fn check_blocking(&self, query: &str, stored: &str) -> Verdict {
        if guards::differ(query, stored).is_some() {
            return Verdict::Different(0.0);
        }
        match self.model_blocking() {
            Ok(model) => decide(model.score(query, stored), self.threshold),
            Err(_) => Verdict::Skipped("verifier not loaded"),
        }
    }

    /// The model's probability for one pair on this thread, without the
    /// guards, loading the model if needed (tests, tools); `None` when the
    /// pair is too long.
    pub fn score_blocking(&self, query: &str, stored: &str) -> Result<Option<f32>, String> {
        self.model_blocking()
            .map_err(Clone::clone)?
            .score(query, stored)
    }

    /// The model, loaded on this thread if needed.
    fn model_blocking(&self) -> Result<&Arc<Model>, &String> {
        self.model
            .get_or_init(|| Model::load(&self.dir).map(Arc::new))
            .as_ref()
    }
}

fn decide(score: Result<Option<f32>, String>, threshold: f32) -> Verdict {
    match score {
        Ok(Some(p)) if p >= threshold => Verdict::Same(p),
        Ok(Some(p)) => Verdict::Different(p),
        Ok(None) => Verdict::Skipped("pair too long to verify"),
        Err(e) => {
            tracing::warn!(error = %e, "cache verifier failed on a pair");
            Verdict::Skipped("verifier failed")
        }
    }
}
