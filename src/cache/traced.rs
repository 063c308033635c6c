//! The cache's dependencies with every call a span (applied when tracing
//! is on): the vector index (`cache get|search|set|insert`, client spans
//! with `db.system.name` and `db.operation.name`) and the embedder
//! (`embeddings`, with the GenAI attributes).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::trace::SpanKind;

use super::CacheError;
use super::embed::Embedder;
use super::index::{Entry, Neighbor, VectorIndex};
use crate::traces::Span;

/// Wraps a vector index: one client span per call.
pub struct TracedIndex(pub Arc<dyn VectorIndex>);

impl TracedIndex {
    fn span(&self, operation: &'static str) -> Span {
        let span = Span::child(format!("cache {operation}"), SpanKind::Client);
        span.set("db.system.name", self.0.kind());
        span.set("db.operation.name", operation);
        span
    }
}

#[async_trait]
impl VectorIndex for TracedIndex {
    async fn search(
        &self,
        scope: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<Neighbor>, CacheError> {
        self.span("search")
            .within("cache_error", self.0.search(scope, vector, k))
            .await
    }

    async fn insert(
        &self,
        scope: &str,
        vector: &[f32],
        entry: Entry,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.span("insert")
            .within("cache_error", self.0.insert(scope, vector, entry, ttl))
            .await
    }

    async fn get_exact(&self, digest: &str) -> Result<Option<String>, CacheError> {
        self.span("get")
            .within("cache_error", self.0.get_exact(digest))
            .await
    }

    async fn put_exact(
        &self,
        digest: &str,
        response: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.span("set")
            .within("cache_error", self.0.put_exact(digest, response, ttl))
            .await
    }

    fn kind(&self) -> &'static str {
        self.0.kind()
    }
}

/// Wraps an embedder: one internal span per text embedded.
pub struct TracedEmbedder(pub Arc<dyn Embedder>);

#[async_trait]
impl Embedder for TracedEmbedder {
    fn id(&self) -> &str {
        self.0.id()
    }

    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn ready(&self) -> Result<(), String> {
        self.0.ready()
    }

    fn start(&self) {
        self.0.start();
    }

    async fn embed(&self, text: &str) -> Result<Vec<f32>, CacheError> {
        let span = Span::child("embeddings", SpanKind::Internal);
        span.set("gen_ai.operation.name", "embeddings");
        span.set("gen_ai.request.model", self.0.id().to_owned());
        span.within("embedding_error", self.0.embed(text)).await
    }
}
