//! The semantic cache: the last user message is embedded and looked up by
//! meaning among earlier answers of the same scope (tenant, requested model,
//! system prompt, earlier turns, tools, response format, sampling). A hit
//! needs a cosine distance under the threshold *and* the second check of
//! [`verify`]. Redis or embedding trouble never fails a request: the cache
//! fails open.

pub mod embed;
pub mod index;
pub mod memory;
pub mod redis;
pub mod replay;
pub mod synonyms;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use opentelemetry::trace::SpanKind;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::types::{ChatCompletion, ChatCompletionRequest, ContentPart, MessageContent, Role};
use crate::traces::Span;
use embed::Embedder;
use index::{Entry, VectorIndex};

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

/// Where an entry may be found again: scope digest and the embedded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Hex digest of everything but the last user message.
    pub scope: String,
    /// The last user message's text.
    pub text: String,
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
    let scope = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Some(Key { scope, text })
}

/// A cache hit.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The stored answer.
    pub completion: ChatCompletion,
    /// 1 − cosine distance.
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
    misses: AtomicU64,
    bypasses: AtomicU64,
    errors: AtomicU64,
    stores: AtomicU64,
    lookup_us_total: AtomicU64,
    embed_us_total: AtomicU64,
    search_us_total: AtomicU64,
    searches: AtomicU64,
    embeds: AtomicU64,
}

/// The semantic cache.
pub struct SemanticCache {
    embedder: Arc<dyn Embedder>,
    index: Arc<dyn VectorIndex>,
    threshold: f32,
    ttl: Duration,
    timeout: Duration,
    metrics: CacheMetrics,
}

/// Neighbours checked per lookup.
const NEIGHBOURS: usize = 5;

/// Default `CACHE_SIMILARITY_THRESHOLD` (cosine distance), chosen on the
/// quality sets (`tests/cache_quality.rs`, README "Semantic cache").
pub const DEFAULT_THRESHOLD: f32 = 0.15;

impl SemanticCache {
    /// A cache over `index` with vectors from `embedder`.
    pub fn new(
        embedder: Arc<dyn Embedder>,
        index: Arc<dyn VectorIndex>,
        threshold: f32,
        ttl: Duration,
        timeout: Duration,
    ) -> Self {
        // The second check's synonym table is parsed off the request path.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(synonyms::table);
        }
        Self {
            embedder,
            index,
            threshold,
            ttl,
            timeout,
            metrics: CacheMetrics::default(),
        }
    }

    /// `Ok` when usable, else why not.
    pub fn ready(&self) -> Result<(), String> {
        self.embedder.ready()
    }

    async fn embed(&self, text: &str) -> Result<Vec<f32>, CacheError> {
        let started = Instant::now();
        let span = Span::child("embeddings", SpanKind::Internal);
        if span.is_recording() {
            span.set("gen_ai.operation.name", "embeddings");
            span.set("gen_ai.request.model", self.embedder.id().to_owned());
        }
        let vector = span.run(self.embedder.embed(text)).await;
        if let Err(e) = &vector {
            span.fail("embedding_error", e.to_string());
        }
        span.end();
        let vector = vector?;
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
        let key = match (mode, key(request, tenant)) {
            (Mode::Bypass, _) | (_, None) => {
                self.metrics.bypasses.fetch_add(1, Ordering::Relaxed);
                return Lookup::Bypass;
            }
            (_, Some(key)) => key,
        };
        if let Err(reason) = self.embedder.ready() {
            tracing::debug!(%reason, "cache not ready");
            self.metrics.bypasses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Bypass;
        }
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
                Lookup::Miss(key, Some(vector))
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
        span.end();
        lookup
    }

    /// A client span for one call to the vector index.
    fn index_span(&self, operation: &'static str) -> Span {
        if !crate::traces::enabled() {
            return Span::default();
        }
        let span = Span::child(format!("cache {operation}"), SpanKind::Client);
        span.set("db.system.name", self.index.kind());
        span.set("db.operation.name", operation);
        span
    }

    async fn find(&self, key: &Key, mode: Mode) -> Result<(Option<Hit>, Vec<f32>), CacheError> {
        let vector = self.embed(&key.text).await?;
        if mode == Mode::StoreOnly {
            return Ok((None, vector));
        }
        let searched = Instant::now();
        let span = self.index_span("search");
        let neighbours = self.index.search(&key.scope, &vector, NEIGHBOURS).await;
        if let Err(e) = &neighbours {
            span.fail("cache_error", e.to_string());
        }
        span.end();
        self.metrics
            .search_us_total
            .fetch_add(searched.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.metrics.searches.fetch_add(1, Ordering::Relaxed);
        let neighbours = neighbours?;
        for n in neighbours {
            if n.distance > self.threshold {
                break;
            }
            if !verify::same_question(&key.text, &n.entry.prompt) {
                continue;
            }
            match serde_json::from_str::<ChatCompletion>(&n.entry.response) {
                Ok(completion) => {
                    let similarity = 1.0 - n.distance;
                    return Ok((
                        Some(Hit {
                            completion,
                            similarity,
                        }),
                        vector,
                    ));
                }
                Err(e) => tracing::warn!(error = %e, "unreadable cache entry skipped"),
            }
        }
        Ok((None, vector))
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
            let vector = match vector {
                Some(v) => v,
                None => self.embed(&key.text).await?,
            };
            let entry = Entry {
                prompt: key.text,
                response,
            };
            let insert = self.index_span("insert");
            let inserted = self
                .index
                .insert(&key.scope, &vector, entry, self.ttl)
                .await;
            insert.end();
            inserted
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
        span.end();
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
            "embedder": self.embedder.id(),
            "ready": self.ready().is_ok(),
            "hits": hits,
            "misses": misses,
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
