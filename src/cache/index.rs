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
    /// The stored answer under an exact-tier digest, if any.
    async fn get_exact(&self, digest: &str) -> Result<Option<String>, CacheError>;
    /// Stores an answer under an exact-tier digest for `ttl`.
    async fn put_exact(
        &self,
        digest: &str,
        response: &str,
        ttl: Duration,
    ) -> Result<(), CacheError>;
    /// `redis` or `memory`.
    fn kind(&self) -> &'static str;
}

/// Cosine distance of two unit vectors. Eight independent sums let the
/// compiler vectorise the loop (a single float sum cannot be reordered).
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    1.0 - (lanes.iter().sum::<f32>() + tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_matches_the_plain_dot_product() {
        let a: Vec<f32> = (0..385).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..385).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain = 1.0 - a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>();
        assert!((cosine_distance(&a, &b) - plain).abs() < 1e-3);
        assert_eq!(cosine_distance(&[1.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
