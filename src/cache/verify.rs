//! The verifier: whether a shortlisted stored prompt asks the same question
//! as the new one. Embeddings put "100 Celsius to Fahrenheit" and "100
//! Fahrenheit to Celsius" almost on top of each other, so nearness only
//! shortlists; a cross-encoder fine-tuned from all-MiniLM-L6-v2
//! (`bench/cache_quality/train/`) reads both prompts together and decides,
//! after the [`guards`] (which can only say no) have had their say.
//!
//! Bounded by construction: prompts whose pair does not fit the model's
//! window are never verified (so never hit); the model runs off the runtime
//! workers on its own [`Lanes`], one pair per lane at a time, and a pair
//! that finds no free lane is a miss rather than a wait. The model loads on
//! first need, in the background.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use minilm::{BertConfig, CrossEncoder};
use tokenizers::Tokenizer;

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
        guards::warm();
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
    lanes: Arc<Lanes>,
}

/// The threads that run the model, one pair each at a time. Each lane is a
/// one-thread rayon pool: the model's matrix multiplies fan out over the
/// pool they run in, and on one short pair waking other threads for each
/// multiply costs more than it saves (most of all after an idle spell,
/// which is when a hit comes), so a pair stays on its lane's thread.
struct Lanes {
    pools: Vec<rayon::ThreadPool>,
    free: Mutex<Vec<usize>>,
}

/// A lane taken for one pair, free again when dropped.
struct Lane {
    lanes: Arc<Lanes>,
    index: usize,
}

impl Lanes {
    /// Up to `count` lanes (fewer if threads cannot be started: those pairs
    /// are then misses).
    fn new(count: usize) -> Self {
        let pools: Vec<_> = (0..count)
            .map_while(|i| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("cache-verifier-{i}"))
                    .build()
                    .inspect_err(|e| tracing::warn!(error = %e, "cache verifier lane not started"))
                    .ok()
            })
            .collect();
        let free = Mutex::new((0..pools.len()).collect());
        Self { pools, free }
    }

    /// A free lane, if any.
    fn take(self: &Arc<Self>) -> Option<Lane> {
        let index = self.free.lock().ok()?.pop()?;
        Some(Lane {
            lanes: self.clone(),
            index,
        })
    }
}

impl Lane {
    /// Runs `work` on this lane's thread; the lane is free again once
    /// `work` has returned, whether or not anyone still waits for it. Work
    /// that panics answers `Skipped("verifier failed")`.
    fn run(
        self,
        work: impl FnOnce() -> Verdict + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<Verdict> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let lanes = self.lanes.clone();
        lanes.pools[self.index].spawn(move || {
            let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or(Verdict::Skipped("verifier failed"));
            drop(self);
            let _ = sender.send(verdict);
        });
        receiver
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if let Ok(mut free) = self.lanes.free.lock() {
            free.push(self.index);
        }
    }
}

impl Verifier {
    /// A verifier reading its model from `dir` on first need, deciding at
    /// `threshold`, running at most `lanes` pairs at once.
    pub fn new(dir: PathBuf, threshold: f32, lanes: usize) -> Self {
        Self {
            dir,
            threshold,
            model: Arc::new(OnceLock::new()),
            loading: AtomicBool::new(false),
            preloaded: AtomicBool::new(false),
            lanes: Arc::new(Lanes::new(lanes.max(1))),
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
        let Some(lane) = self.lanes.take() else {
            return Verdict::Skipped("verifier busy");
        };
        let (query, stored) = (query.to_owned(), stored.to_owned());
        let threshold = self.threshold;
        lane.run(move || decide(model.score(&query, &stored), threshold))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lane taken: the next pair finds none (a miss, not a wait); a
    /// lane is free again once its work is done, even when nobody waits for
    /// the answer, and after its work panicked.
    #[tokio::test]
    async fn lanes_bound_the_pairs_in_flight_and_come_back() {
        let lanes = Arc::new(Lanes::new(2));
        let first = lanes.take().expect("a lane");
        let second = lanes.take().expect("a second lane");
        assert!(lanes.take().is_none());
        drop(first);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let answer = second.run(move || {
            let _ = wait.recv();
            Verdict::Same(1.0)
        });
        let third = lanes.take().expect("the lane given back");
        assert!(lanes.take().is_none(), "a lane still at work is not free");
        drop(answer);
        release.send(()).expect("the lane waits");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let fourth = loop {
            if let Some(lane) = lanes.take() {
                break lane;
            }
            assert!(std::time::Instant::now() < deadline, "lane never freed");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        let panicked = third.run(|| panic!("a pair that panics")).await;
        assert_eq!(panicked.ok(), Some(Verdict::Skipped("verifier failed")));
        let answer = fourth.run(|| Verdict::Different(0.5)).await;
        assert_eq!(answer.ok(), Some(Verdict::Different(0.5)));
        assert!(lanes.take().is_some() && lanes.take().is_some());
    }
}
