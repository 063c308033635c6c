//! The in-memory index: the embedded default (bounded, TTL, oldest entries
//! evicted first; exact-tier answers by digest, bounded the same way).
//!
//! Search is a linear scan made cheap: each vector also keeps a 256-bit
//! sign sketch, stored with its expiry in one contiguous array per scope
//! apart from the vectors and answers; the scan ranks a scope's entries by
//! Hamming distance of those sketches (a few nanoseconds an entry, under a
//! shared read lock), and only the [`RERANKED`] nearest are ranked by exact
//! cosine distance.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::CacheError;
use super::index::{Entry, Neighbor, VectorIndex, cosine_distance};

/// Entries ranked by exact cosine distance after the sign-bit scan.
pub const RERANKED: usize = 64;

/// Words of the sign sketch.
const SKETCH_WORDS: usize = 4;

/// What the scan reads of an entry.
struct Row {
    sketch: [u64; SKETCH_WORDS],
    expires: Instant,
}

/// The rest of an entry.
struct Item {
    id: u64,
    vector: Vec<f32>,
    entry: Entry,
}

/// One scope's entries, oldest first (so the globally oldest entry of a
/// scope, the next to be evicted, is at the front): `rows[i]` is
/// `items[i]`'s.
#[derive(Default)]
struct Scope {
    rows: VecDeque<Row>,
    items: VecDeque<Item>,
}

impl Scope {
    /// Evicts the scope's oldest entry if it is `id` (entries enter a scope
    /// in the global order, so the globally oldest is always at its front).
    fn evict_oldest(&mut self, id: u64) {
        if self.items.front().is_some_and(|i| i.id == id) {
            self.items.pop_front();
            self.rows.pop_front();
        }
    }
}

#[derive(Default)]
struct Inner {
    scopes: HashMap<String, Scope>,
    order: VecDeque<(String, u64)>,
    next_id: u64,
    /// Exact-tier answers by digest, with their expiry; `exact_order`
    /// evicts the oldest past `max_entries`.
    exact: HashMap<String, (String, Instant)>,
    exact_order: VecDeque<String>,
}

/// A bounded in-process index.
pub struct MemoryIndex {
    max_entries: usize,
    inner: RwLock<Inner>,
}

/// The sign sketch of a vector: bit `j` is the sign of the sum of the
/// coordinates `j`, `j + 256`, `j + 512`, … (for vectors of up to 256
/// dimensions, the sign of each coordinate): a projection onto 256
/// orthogonal directions, so that near vectors share most bits.
fn sketch(vector: &[f32]) -> [u64; SKETCH_WORDS] {
    const BITS: usize = SKETCH_WORDS * 64;
    let mut sums = [0.0f32; BITS];
    for chunk in vector.chunks(BITS) {
        sums.iter_mut().zip(chunk).for_each(|(s, x)| *s += x);
    }
    let mut words = [0u64; SKETCH_WORDS];
    for (j, sum) in sums.iter().enumerate() {
        words[j / 64] |= u64::from(*sum > 0.0) << (j % 64);
    }
    words
}

fn hamming(a: &[u64; SKETCH_WORDS], b: &[u64; SKETCH_WORDS]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

impl MemoryIndex {
    /// Keeps at most `max_entries` entries.
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// Entries held now (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.order.len()).unwrap_or(0)
    }

    /// Whether the index holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned() -> CacheError {
    CacheError::Index("memory index lock poisoned".into())
}

#[async_trait]
impl VectorIndex for MemoryIndex {
    async fn search(
        &self,
        scope: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<Neighbor>, CacheError> {
        let inner = self.inner.read().map_err(|_| poisoned())?;
        let now = Instant::now();
        let query = sketch(vector);
        // The RERANKED nearest by sketch, kept in a bounded max-heap: no
        // allocation per entry of the scope.
        let mut near: BinaryHeap<(u32, usize)> = BinaryHeap::with_capacity(RERANKED + 1);
        let Some(scope) = inner.scopes.get(scope) else {
            return Ok(Vec::new());
        };
        let (older, newer) = scope.rows.as_slices();
        for (i, row) in older.iter().chain(newer).enumerate() {
            if row.expires <= now {
                continue;
            }
            let bits = hamming(&query, &row.sketch);
            if near.len() < RERANKED {
                near.push((bits, i));
            } else if near.peek().is_some_and(|(worst, _)| bits < *worst) {
                near.pop();
                near.push((bits, i));
            }
        }
        let mut scored: Vec<(f32, &Item)> = near
            .into_iter()
            .filter_map(|(_, i)| scope.items.get(i))
            .map(|item| (cosine_distance(vector, &item.vector), item))
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Only the k nearest entries are copied out.
        let found = scored
            .into_iter()
            .take(k)
            .map(|(distance, item)| Neighbor {
                distance,
                entry: item.entry.clone(),
            })
            .collect();
        Ok(found)
    }

    async fn insert(
        &self,
        scope: &str,
        vector: &[f32],
        entry: Entry,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut inner = self.inner.write().map_err(|_| poisoned())?;
        while inner.order.len() >= self.max_entries {
            let Some((old_scope, old_id)) = inner.order.pop_front() else {
                break;
            };
            if let Some(held) = inner.scopes.get_mut(&old_scope) {
                held.evict_oldest(old_id);
                if held.items.is_empty() {
                    inner.scopes.remove(&old_scope);
                }
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.order.push_back((scope.to_owned(), id));
        let held = inner.scopes.entry(scope.to_owned()).or_default();
        held.rows.push_back(Row {
            sketch: sketch(vector),
            expires: Instant::now() + ttl,
        });
        held.items.push_back(Item {
            id,
            vector: vector.to_vec(),
            entry,
        });
        Ok(())
    }

    async fn get_exact(&self, digest: &str) -> Result<Option<String>, CacheError> {
        let inner = self.inner.read().map_err(|_| poisoned())?;
        Ok(inner
            .exact
            .get(digest)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(response, _)| response.clone()))
    }

    async fn put_exact(
        &self,
        digest: &str,
        response: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut inner = self.inner.write().map_err(|_| poisoned())?;
        let expires = Instant::now() + ttl;
        if let Some(slot) = inner.exact.get_mut(digest) {
            *slot = (response.to_owned(), expires);
            return Ok(());
        }
        while inner.exact_order.len() >= self.max_entries {
            let Some(old) = inner.exact_order.pop_front() else {
                break;
            };
            inner.exact.remove(&old);
        }
        inner.exact_order.push_back(digest.to_owned());
        inner
            .exact
            .insert(digest.to_owned(), (response.to_owned(), expires));
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::embed::normalize;

    fn entry(i: usize) -> Entry {
        Entry {
            prompt: format!("prompt {i}"),
            response: "{}".into(),
        }
    }

    /// Past `max_entries` the oldest entry goes first, whichever its scope.
    #[tokio::test]
    async fn oldest_entries_are_evicted_across_scopes() {
        let index = MemoryIndex::new(3);
        let v = normalize(vec![1.0; 256]);
        let ttl = Duration::from_secs(60);
        for (i, scope) in ["a", "b", "a", "b", "a"].into_iter().enumerate() {
            index
                .insert(scope, &v, entry(i), ttl)
                .await
                .expect("insert");
        }
        assert_eq!(index.len(), 3);
        let prompts = |found: Vec<Neighbor>| {
            let mut p: Vec<String> = found.into_iter().map(|n| n.entry.prompt).collect();
            p.sort();
            p
        };
        let a = prompts(index.search("a", &v, 5).await.expect("search"));
        let b = prompts(index.search("b", &v, 5).await.expect("search"));
        assert_eq!(a, ["prompt 2", "prompt 4"]);
        assert_eq!(b, ["prompt 3"]);
    }

    /// Among thousands of random entries, the sketch scan keeps the true
    /// nearest neighbours: the result equals an exact scan's, for the static
    /// table's 256 dimensions and for the 1,536 of OpenAI's embeddings.
    #[tokio::test]
    async fn sketch_scan_finds_what_an_exact_scan_finds() {
        scan_matches_exact(256).await;
        scan_matches_exact(1536).await;
    }

    async fn scan_matches_exact(dim: usize) {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut random = || normalize((0..dim).map(|_| rng.f32() - 0.5).collect());
        let index = MemoryIndex::new(10_000);
        let mut vectors = Vec::new();
        for i in 0..5_000 {
            let v = random();
            index
                .insert("s", &v, entry(i), Duration::from_secs(60))
                .await
                .expect("insert");
            vectors.push(v);
        }
        for q in 0..50 {
            // A query near entry q (a small perturbation of it).
            let noise = random();
            let query = normalize(
                vectors[q]
                    .iter()
                    .zip(&noise)
                    .map(|(a, b)| a + 0.3 * b)
                    .collect(),
            );
            let found = index.search("s", &query, 5).await.expect("search");
            let mut exact: Vec<(f32, usize)> = vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (cosine_distance(&query, v), i))
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert_eq!(found[0].entry.prompt, format!("prompt {}", exact[0].1));
            assert_eq!(found[0].entry.prompt, format!("prompt {q}"));
        }
        assert!(
            index
                .search("other", &vectors[0], 5)
                .await
                .expect("search")
                .is_empty()
        );
    }
}
