//! Vector indexes: nearest stored prompts within a scope.

use std::time::Duration;

use async_trait::async_trait;

use super::CacheError;

/// What a cache entry keeps besides its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The embedded prompt text (for the second check).
    pub prompt: String,
    /// The stored answer: an OpenAI `chat.completion` as JSON.
    pub response: String,
}

/// A stored entry near a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbor {
    /// Cosine distance (0 = same direction).
    pub distance: f32,
    /// The entry.
    pub entry: Entry,
}

/// A vector index over cache entries, partitioned by scope.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Up to `k` entries of `scope` nearest to `vector`, nearest first.
    async fn search(
        &self,
        scope: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<Neighbor>, CacheError>;
    /// Stores an entry that expires after `ttl`.
    async fn insert(
        &self,
        scope: &str,
        vector: &[f32],
        entry: Entry,
        ttl: Duration,
    ) -> Result<(), CacheError>;
    /// `redis` or `memory`.
    fn kind(&self) -> &'static str;
}

/// Cosine distance of two unit vectors.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
}
