//! The in-memory index: the embedded default (bounded, TTL, oldest entries
//! evicted first; exact nearest-neighbour search; exact-tier answers by
//! digest, bounded the same way).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::CacheError;
use super::index::{Entry, Neighbor, VectorIndex, cosine_distance};

struct Item {
    id: u64,
    vector: Vec<f32>,
    entry: Entry,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    scopes: HashMap<String, Vec<Item>>,
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
    inner: Mutex<Inner>,
}

impl MemoryIndex {
    /// Keeps at most `max_entries` entries.
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Entries held now (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.order.len()).unwrap_or(0)
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
        let inner = self.inner.lock().map_err(|_| poisoned())?;
        let now = Instant::now();
        let mut scored: Vec<(f32, &Item)> = inner
            .scopes
            .get(scope)
            .into_iter()
            .flatten()
            .filter(|item| item.expires > now)
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
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
        while inner.order.len() >= self.max_entries {
            let Some((old_scope, old_id)) = inner.order.pop_front() else {
                break;
            };
            if let Some(items) = inner.scopes.get_mut(&old_scope) {
                items.retain(|i| i.id != old_id);
                if items.is_empty() {
                    inner.scopes.remove(&old_scope);
                }
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.order.push_back((scope.to_owned(), id));
        inner
            .scopes
            .entry(scope.to_owned())
            .or_default()
            .push(Item {
                id,
                vector: vector.to_vec(),
                entry,
                expires: Instant::now() + ttl,
            });
        Ok(())
    }

    async fn get_exact(&self, digest: &str) -> Result<Option<String>, CacheError> {
        let inner = self.inner.lock().map_err(|_| poisoned())?;
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
        let mut inner = self.inner.lock().map_err(|_| poisoned())?;
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
