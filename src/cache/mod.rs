//! The semantic cache: the last user message is looked up among earlier
//! answers of the same scope (tenant, requested model, system prompt,
//! earlier turns, tools, response format, sampling) in two tiers:
//!
//! 1. **exact**: a digest of the scope and the trivially normalised prompt
//!    ([`exact`]); no model runs;
//! 2. **semantic**, for prompts up to `CACHE_SEMANTIC_MAX_BYTES`: a static
//!    embedding ([`embed`], microseconds) shortlists stored prompts by
//!    cosine distance, and the cross-encoder [`verify`] reads each
//!    shortlisted pair and decides. On a miss with no near neighbour no
//!    model runs at all.
//!
//! Redis, embedding or verifier trouble never fails a request: the cache
//! fails open.

pub mod embed;
pub mod exact;
pub mod guards;
pub mod index;
pub mod memory;
pub mod redis;
pub mod replay;
pub mod synonyms;
pub mod traced;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use opentelemetry::trace::SpanKind;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::CacheConfig;
use crate::openai::{ChatCompletion, ChatCompletionRequest, ContentPart, MessageContent, Role};
use crate::traces::Span;
use embed::Embedder;
use index::{Entry, VectorIndex};
use verify::{Verdict, Verifier};

/// Why the cache could not help.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The embedder or index is not usable now.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// Embedding failed.
    #[error("embedding failed: {0}")]
    Embedding(String),
    /// The index failed.
    #[error("index failed: {0}")]
    Index(String),
}

/// What the client asked of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Look up and store.
    Use,
    /// `Cache-Control: no-cache`: no lookup, but store the answer.
    StoreOnly,
    /// `X-Skip-Cache: true` or `Cache-Control: no-store`: neither.
    Bypass,
}

/// The mode asked for in request headers.
pub fn mode(headers: &HeaderMap) -> Mode {
    let skip = headers
        .get("x-skip-cache")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let control = headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if skip || control.contains("no-store") {
        Mode::Bypass
    } else if control.contains("no-cache") {
        Mode::StoreOnly
    } else {
        Mode::Use
    }
}

/// Where an entry may be found again: scope digest and the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Hex digest of everything but the last user message.
    pub scope: String,
    /// The last user message's text.
    pub text: String,
    /// The exact tier's digest of scope and normalised text (filled in by
    /// the lookup).
    pub digest: Option<String>,
}

/// The cache key of a request, or `None` when it must not be cached
/// (`n > 1`, no final user message, no text).
pub fn key(request: &ChatCompletionRequest, tenant: &str) -> Option<Key> {
    if request.n.is_some_and(|n| n > 1) {
        return None;
    }
    let (last, earlier) = request.messages.split_last()?;
    if last.role != Role::User {
        return None;
    }
    let mut text = String::new();
    let mut media = Vec::new();
    match last.content.as_ref()? {
        MessageContent::Text(t) => text.push_str(t),
        MessageContent::Parts(parts) => {
            for part in parts {
                match part {
                    ContentPart::Text { text: t, .. } => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(t);
                    }
                    other => media.push(serde_json::to_value(other).unwrap_or(Value::Null)),
                }
            }
        }
    }
    if text.trim().is_empty() {
        return None;
    }
    // Everything that changes the answer besides the question's wording.
    let mut extra = request.extra.clone();
    extra.remove("user");
    extra.remove("metadata");
    extra.remove("store");
    let scope_material = json!({
        "tenant": tenant,
        "model": request.model,
        "earlier": earlier,
        "media": media,
        "tools": request.tools,
        "tool_choice": request.tool_choice,
        "parallel_tool_calls": request.parallel_tool_calls,
        "response_format": request.response_format,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_output_tokens(),
        "stop": request.stop,
        "extra": extra,
    });
    let digest = Sha256::digest(scope_material.to_string().as_bytes());
    let scope = crate::hex::hex(&digest[..16]);
    Some(Key {
        scope,
        text,
        digest: None,
    })
}

/// A cache hit.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The stored answer.
    pub completion: ChatCompletion,
    /// 1 for an exact hit, else the verifier's probability.
    pub similarity: f32,
}

/// The outcome of a lookup.
#[derive(Debug)]
pub enum Lookup {
    /// Served from the cache.
    Hit(Box<Hit>),
    /// Not found; store the answer under this key and vector.
    Miss(Key, Option<Vec<f32>>),
    /// Not looked up and not to be stored.
    Bypass,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct CacheMetrics {
    hits: AtomicU64,
    exact_hits: AtomicU64,
    misses: AtomicU64,
    verifications: AtomicU64,
    verify_us_total: AtomicU64,
    verifier_skips: AtomicU64,
    bypasses: AtomicU64,
    errors: AtomicU64,
    stores: AtomicU64,
    lookup_us_total: AtomicU64,
    embed_us_total: AtomicU64,
    search_us_total: AtomicU64,
    searches: AtomicU64,
    embeds: AtomicU64,
}

/// The semantic tier's models: the shortlist embedder and the verifier.
pub struct Tier {
    /// Shortlists stored prompts.
    pub embedder: Arc<dyn Embedder>,
    /// Decides on each shortlisted pair.
    pub verifier: Verifier,
}

/// The cache: the exact tier always, the semantic tier when configured.
pub struct SemanticCache {
    semantic: Option<Tier>,
    index: Arc<dyn VectorIndex>,
    threshold: f32,
    semantic_max_bytes: usize,
    ttl: Duration,
    timeout: Duration,
    metrics: CacheMetrics,
}

/// Neighbours fetched per lookup.
const NEIGHBOURS: usize = 5;

/// Shortlisted neighbours the verifier reads per lookup, nearest first.
const MAX_VERIFIED: usize = 2;

/// Prompts longer than this (bytes) have their exact digest computed off
/// the runtime workers.
const LONG_PROMPT_BYTES: usize = 64 * 1024;

/// Default `CACHE_SIMILARITY_THRESHOLD`: the largest cosine distance (of the
/// static embeddings) at which a stored prompt is shortlisted for the
/// verifier, chosen on the development sets (docs/cache.md).
pub const DEFAULT_THRESHOLD: f32 = 0.45;

/// Default `CACHE_SEMANTIC_MAX_BYTES`: longer prompts get exact hits only
/// (the verifier must read both prompts whole).
pub const DEFAULT_SEMANTIC_MAX_BYTES: usize = 400;

impl SemanticCache {
    /// A cache over `index`, with a semantic tier when `semantic` is given,
    /// with the thresholds and bounds of `config`.
    pub fn new(index: Arc<dyn VectorIndex>, semantic: Option<Tier>, config: &CacheConfig) -> Self {
        Self {
            semantic,
            index,
            threshold: config.threshold,
            semantic_max_bytes: config.semantic_max_bytes,
            ttl: config.ttl,
            timeout: config.lookup_timeout,
            metrics: CacheMetrics::default(),
        }
    }

    /// `Ok` when usable, else why not: with a semantic tier, the embedding
    /// table loaded and the verifier readable (loaded too, when preloaded).
    pub fn ready(&self) -> Result<(), String> {
        match &self.semantic {
            Some(tier) => {
                tier.embedder.ready()?;
                tier.verifier.ready()
            }
            None => Ok(()),
        }
    }

    /// The semantic tier, when there is one and the prompt takes part.
    fn tier_for(&self, text: &str) -> Option<&Tier> {
        self.semantic
            .as_ref()
            .filter(|_| text.len() <= self.semantic_max_bytes)
    }

    async fn embed(&self, tier: &Tier, text: &str) -> Result<Vec<f32>, CacheError> {
        let started = Instant::now();
        let vector = tier.embedder.embed(text).await?;
        self.metrics
            .embed_us_total
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.metrics.embeds.fetch_add(1, Ordering::Relaxed);
        Ok(vector)
    }

    /// Looks a request up (bounded by the lookup timeout; any failure is a miss).
    pub async fn lookup(
        &self,
        request: &ChatCompletionRequest,
        tenant: &str,
        mode: Mode,
    ) -> Lookup {
        let mut key = match (mode, key(request, tenant)) {
            (Mode::Bypass, _) | (_, None) => {
                self.metrics.bypasses.fetch_add(1, Ordering::Relaxed);
                return Lookup::Bypass;
            }
            (_, Some(key)) => key,
        };
        key.digest = digest_of(&key).await;
        let started = Instant::now();
        let span = Span::child("cache lookup", SpanKind::Internal);
        let found = span
            .run(tokio::time::timeout(self.timeout, self.find(&key, mode)))
            .await;
        self.metrics
            .lookup_us_total
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let lookup = match found {
            Ok(Ok((Some(hit), _))) => {
                self.metrics.hits.fetch_add(1, Ordering::Relaxed);
                span.set("gateway.cache.similarity", f64::from(hit.similarity));
                Lookup::Hit(Box::new(hit))
            }
            Ok(Ok((None, vector))) => {
                self.metrics.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(key, vector)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cache lookup failed; serving without the cache");
                self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                span.fail("cache_error", e.to_string());
                Lookup::Miss(key, None)
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "cache lookup timed out"
                );
                self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                span.fail("timeout", "cache lookup timed out");
                Lookup::Miss(key, None)
            }
        };
        span.set(
            "gateway.cache.status",
            if matches!(lookup, Lookup::Hit(_)) {
                "hit"
            } else {
                "miss"
            },
        );
        lookup
    }

    /// The vector for the semantic tier, when the prompt takes part and the
    /// embedder is ready.
    async fn vector_for(&self, text: &str) -> Result<Option<Vec<f32>>, CacheError> {
        match self.tier_for(text) {
            Some(tier) if tier.embedder.ready().is_ok() => self.embed(tier, text).await.map(Some),
            _ => Ok(None),
        }
    }

    async fn find(
        &self,
        key: &Key,
        mode: Mode,
    ) -> Result<(Option<Hit>, Option<Vec<f32>>), CacheError> {
        if mode == Mode::StoreOnly {
            return Ok((None, self.vector_for(&key.text).await?));
        }
        let exact = match &key.digest {
            Some(digest) => self.index.get_exact(digest).await,
            None => Ok(None),
        };
        if let Some(response) = exact? {
            match serde_json::from_str::<ChatCompletion>(&response) {
                Ok(completion) => {
                    self.metrics.exact_hits.fetch_add(1, Ordering::Relaxed);
                    let hit = Hit {
                        completion,
                        similarity: 1.0,
                    };
                    return Ok((Some(hit), None));
                }
                Err(e) => tracing::warn!(error = %e, "unreadable cache entry skipped"),
            }
        }
        let Some(tier) = self
            .tier_for(&key.text)
            .filter(|t| t.embedder.ready().is_ok())
        else {
            return Ok((None, None));
        };
        let vector = self.embed(tier, &key.text).await?;
        let searched = Instant::now();
        let neighbours = self.index.search(&key.scope, &vector, NEIGHBOURS).await;
        self.metrics
            .search_us_total
            .fetch_add(searched.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.metrics.searches.fetch_add(1, Ordering::Relaxed);
        let shortlist = neighbours?
            .into_iter()
            .take_while(|n| n.distance <= self.threshold)
            .take(MAX_VERIFIED);
        for n in shortlist {
            let verified = Instant::now();
            let verdict = tier.verifier.check(&key.text, &n.entry.prompt).await;
            match verdict {
                Verdict::Skipped(reason) => {
                    tracing::debug!(reason, "cache candidate not verified");
                    self.metrics.verifier_skips.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Verdict::Different(_) | Verdict::Same(_) => {
                    self.metrics.verifications.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .verify_us_total
                        .fetch_add(verified.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
            }
            let Verdict::Same(probability) = verdict else {
                continue;
            };
            match serde_json::from_str::<ChatCompletion>(&n.entry.response) {
                Ok(completion) => {
                    let hit = Hit {
                        completion,
                        similarity: probability,
                    };
                    return Ok((Some(hit), Some(vector)));
                }
                Err(e) => tracing::warn!(error = %e, "unreadable cache entry skipped"),
            }
        }
        Ok((None, Some(vector)))
    }

    /// Stores an answer (bounded by the lookup timeout; failures are logged).
    pub async fn store(&self, key: Key, vector: Option<Vec<f32>>, completion: &ChatCompletion) {
        if completion.choices.len() != 1 || completion.choices[0].finish_reason.is_none() {
            return;
        }
        let response = match serde_json::to_string(completion) {
            Ok(r) => r,
            Err(_) => return,
        };
        let span = Span::child("cache store", SpanKind::Internal);
        let work = async {
            let digest = match &key.digest {
                Some(d) => Some(d.clone()),
                None => digest_of(&key).await,
            };
            if let Some(digest) = digest {
                self.index.put_exact(&digest, &response, self.ttl).await?;
            }
            let vector = match vector {
                Some(v) => Some(v),
                None => self.vector_for(&key.text).await?,
            };
            let Some(vector) = vector else {
                return Ok(());
            };
            let entry = Entry {
                prompt: key.text,
                response,
            };
            self.index
                .insert(&key.scope, &vector, entry, self.ttl)
                .await
        };
        let stored = span
            .run(tokio::time::timeout(
                self.timeout.max(Duration::from_millis(500)),
                work,
            ))
            .await;
        if !matches!(stored, Ok(Ok(()))) {
            span.fail("cache_error", "cache store failed");
        }
        match stored {
            Ok(Ok(())) => {
                self.metrics.stores.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cache store failed");
            }
            Err(_) => {
                self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("cache store timed out");
            }
        }
    }

    /// Counters and mean latencies for `/metrics`.
    pub fn metrics(&self) -> Value {
        let m = &self.metrics;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (hits, misses) = (load(&m.hits), load(&m.misses));
        let lookups = hits + misses + load(&m.errors);
        let mean_ms = |total: u64, n: u64| {
            if n == 0 {
                0.0
            } else {
                total as f64 / n as f64 / 1000.0
            }
        };
        json!({
            "index": self.index.kind(),
            "semantic": self.semantic.is_some(),
            "embedder": self.semantic.as_ref().map(|t| t.embedder.id()),
            "ready": self.ready().is_ok(),
            "hits": hits,
            "exact_hits": load(&m.exact_hits),
            "misses": misses,
            "verifications": load(&m.verifications),
            "verifier_skips": load(&m.verifier_skips),
            "verify_ms_mean": mean_ms(load(&m.verify_us_total), load(&m.verifications)),
            "bypasses": load(&m.bypasses),
            "errors": load(&m.errors),
            "stores": load(&m.stores),
            "hit_rate": if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 },
            "lookup_ms_mean": mean_ms(load(&m.lookup_us_total), lookups),
            "embedding_ms_mean": mean_ms(load(&m.embed_us_total), load(&m.embeds)),
            "search_ms_mean": mean_ms(load(&m.search_us_total), load(&m.searches)),
        })
    }
}

/// How the cache decides on one pair of prompts in one scope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PairDecision {
    /// Same digest: an exact hit.
    Exact,
    /// Shortlisted and verified: a semantic hit.
    Verified,
    /// Shortlisted, and the verifier said no (or could not run).
    Rejected,
    /// Too far apart (or too long) to be shortlisted.
    Far,
}

impl PairDecision {
    /// Whether the query is served the stored answer.
    pub fn hit(self) -> bool {
        matches!(self, Self::Exact | Self::Verified)
    }
}

/// The lookup's decision for `query` against one stored prompt of the same
/// scope, at the given shortlist distance and prompt bound: for quality
/// tests and tools (the verifier runs on this thread).
pub fn decide_pair(
    embedder: &embed::StaticEmbedder,
    verifier: &Verifier,
    threshold: f32,
    semantic_max_bytes: usize,
    stored: &str,
    query: &str,
) -> Result<PairDecision, CacheError> {
    if exact::digest("", stored) == exact::digest("", query) {
        return Ok(PairDecision::Exact);
    }
    if stored.len() > semantic_max_bytes || query.len() > semantic_max_bytes {
        return Ok(PairDecision::Far);
    }
    let distance = index::cosine_distance(
        &embedder.embed_blocking(stored)?,
        &embedder.embed_blocking(query)?,
    );
    if distance > threshold {
        return Ok(PairDecision::Far);
    }
    Ok(match verifier.check_blocking(query, stored) {
        Verdict::Same(_) => PairDecision::Verified,
        Verdict::Different(_) | Verdict::Skipped(_) => PairDecision::Rejected,
    })
}

/// The exact digest of a key: on this thread for ordinary prompts, off the
/// runtime workers for long ones (one linear pass either way).
async fn digest_of(key: &Key) -> Option<String> {
    if key.text.len() <= LONG_PROMPT_BYTES {
        return Some(exact::digest(&key.scope, &key.text));
    }
    let (scope, text) = (key.scope.clone(), key.text.clone());
    tokio::task::spawn_blocking(move || exact::digest(&scope, &text))
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn request(body: Value) -> ChatCompletionRequest {
        serde_json::from_value(body).expect("valid")
    }

    #[test]
    fn scope_separates_what_changes_the_answer() {
        let base = json!({"model": "gpt-4o", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]});
        let k = key(&request(base.clone()), "key-1").expect("cacheable");
        assert_eq!(k.text, "hi");
        let same = key(&request(base.clone()), "key-1").expect("cacheable");
        assert_eq!(k, same);
        let mut user_field = base.clone();
        user_field["user"] = json!("someone");
        assert_eq!(
            key(&request(user_field), "key-1").map(|k| k.scope),
            Some(k.scope.clone())
        );
        for changed in [
            {
                let mut b = base.clone();
                b["model"] = json!("gpt-4o-mini");
                b
            },
            {
                let mut b = base.clone();
                b["messages"][0]["content"] = json!("be verbose");
                b
            },
            {
                let mut b = base.clone();
                b["temperature"] = json!(1.5);
                b
            },
            {
                let mut b = base.clone();
                b["response_format"] = json!({"type": "json_object"});
                b
            },
            {
                let mut b = base.clone();
                b["seed"] = json!(3);
                b
            },
        ] {
            assert_ne!(
                key(&request(changed.clone()), "key-1").map(|k| k.scope),
                Some(k.scope.clone()),
                "{changed}"
            );
        }
        assert_ne!(
            key(&request(base.clone()), "key-2").map(|k| k.scope),
            Some(k.scope),
            "tenants never share"
        );
    }

    #[test]
    fn uncacheable_requests() {
        let n2 = json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]});
        assert!(key(&request(n2), "t").is_none());
        let tool_last = json!({"model": "m", "messages": [{"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "1"}]});
        assert!(key(&request(tool_last), "t").is_none());
    }

    #[test]
    fn headers_choose_the_mode() {
        let with = |name: &'static str, value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            mode(&h)
        };
        assert_eq!(mode(&HeaderMap::new()), Mode::Use);
        assert_eq!(with("x-skip-cache", "true"), Mode::Bypass);
        assert_eq!(with("cache-control", "no-store"), Mode::Bypass);
        assert_eq!(with("cache-control", "no-cache"), Mode::StoreOnly);
        assert_eq!(with("x-skip-cache", "false"), Mode::Use);
    }
}
