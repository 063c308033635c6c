//! The Redis vector index (RediSearch HNSW, cosine): ElastiCache for Valkey
//! or MemoryDB in production, Redis Stack locally. One hash per entry with a
//! TAG field for the scope; KNN within the scope; results sorted by distance
//! here (ElastiCache documents no `SORTBY` for KNN); entries expire with
//! `EXPIRE`. The index is created on first use; its name carries the
//! embedder id and dimension. Exact-tier answers are plain string keys
//! (`gwcache:<namespace>:exact:<digest>`) with the same lifetime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::Value;

use super::CacheError;
use super::index::{Entry, Neighbor, VectorIndex};
use crate::redis_client::RedisHandle;

/// The Redis-backed index.
pub struct RedisIndex {
    redis: RedisHandle,
    name: String,
    prefix: String,
    namespace: String,
    dim: usize,
    /// Set once `FT.CREATE` succeeded; cleared when Redis says the index
    /// is gone (a restarted or flushed server), so it is made again.
    created: AtomicBool,
}

impl RedisIndex {
    /// An index for vectors of `dim` from the embedder `embedder_id`, for
    /// the deployment `namespace`.
    pub fn new(redis: RedisHandle, namespace: &str, embedder_id: &str, dim: usize) -> Self {
        let name = format!("gwcache:{namespace}:{embedder_id}:{dim}");
        Self {
            prefix: format!("{name}:"),
            namespace: namespace.to_owned(),
            name,
            redis,
            dim,
            created: AtomicBool::new(false),
        }
    }

    fn conn(&self) -> Result<redis::aio::ConnectionManager, CacheError> {
        self.redis
            .get()
            .ok_or_else(|| CacheError::Unavailable("Redis not connected".into()))
    }

    async fn ensure_index(&self) -> Result<(), CacheError> {
        if self.created.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut conn = self.conn()?;
        let created: Result<(), redis::RedisError> = redis::cmd("FT.CREATE")
            .arg(&self.name)
            .arg(&["ON", "HASH", "PREFIX", "1"])
            .arg(&self.prefix)
            .arg(&[
                "SCHEMA", "scope", "TAG", "vec", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM",
            ])
            .arg(self.dim)
            .arg(&["DISTANCE_METRIC", "COSINE"])
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => {}
            // Another instance (or an earlier start) created it.
            Err(e)
                if e.to_string()
                    .to_ascii_lowercase()
                    .contains("already exists") => {}
            Err(e) => {
                return Err(CacheError::Index(format!(
                    "FT.CREATE failed: {}",
                    e.category()
                )));
            }
        }
        self.created.store(true, Ordering::Release);
        Ok(())
    }

    async fn knn(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        query: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Value, redis::RedisError> {
        redis::cmd("FT.SEARCH")
            .arg(&self.name)
            .arg(query)
            .arg(&["PARAMS", "2", "B"])
            .arg(vector_bytes(vector))
            .arg(&["RETURN", "3", "dist", "prompt", "response", "LIMIT", "0"])
            .arg(k)
            .arg(&["DIALECT", "2"])
            .query_async(conn)
            .await
    }
}

/// The key of an exact-tier answer (a plain string, outside every vector
/// index's prefix).
fn exact_key(namespace: &str, digest: &str) -> String {
    format!("gwcache:{namespace}:exact:{digest}")
}

/// Whether Redis answered that the index does not exist.
fn index_missing(error: &redis::RedisError) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    text.contains("no such index") || text.contains("unknown index")
}

fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Parses a RESP2 `FT.SEARCH` reply: `[total, key, [field, value, …], …]`.
/// Entries whose fields are gone (expired between index and read) are skipped.
fn parse_search(reply: Value) -> Vec<Neighbor> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pair in items.get(1..).unwrap_or_default().chunks(2) {
        let [_, Value::Array(fields)] = pair else {
            continue;
        };
        let mut distance = None;
        let mut prompt = None;
        let mut response = None;
        for kv in fields.chunks(2) {
            let (Some(name), Some(value)) = (kv.first().and_then(text), kv.get(1).and_then(text))
            else {
                continue;
            };
            match name.as_str() {
                "dist" => distance = value.parse::<f32>().ok(),
                "prompt" => prompt = Some(value),
                "response" => response = Some(value),
                _ => {}
            }
        }
        if let (Some(distance), Some(prompt), Some(response)) = (distance, prompt, response) {
            out.push(Neighbor {
                distance,
                entry: Entry { prompt, response },
            });
        }
    }
    out.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    out
}

#[async_trait]
impl VectorIndex for RedisIndex {
    async fn search(
        &self,
        scope: &str,
        vector: &[f32],
        k: usize,
    ) -> Result<Vec<Neighbor>, CacheError> {
        self.ensure_index().await?;
        // Scopes are hex digests: nothing to escape in the TAG query.
        let query = format!("(@scope:{{{scope}}})=>[KNN {k} @vec $B AS dist]");
        let mut conn = self.conn()?;
        let reply = match self.knn(&mut conn, &query, vector, k).await {
            Err(e) if index_missing(&e) => {
                // Redis lost the index (restarted, flushed): make it again.
                self.created.store(false, Ordering::Release);
                self.ensure_index().await?;
                self.knn(&mut conn, &query, vector, k).await
            }
            other => other,
        }
        .map_err(|e| CacheError::Index(format!("FT.SEARCH failed: {}", e.category())))?;
        Ok(parse_search(reply))
    }

    async fn insert(
        &self,
        scope: &str,
        vector: &[f32],
        entry: Entry,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.ensure_index().await?;
        let mut conn = self.conn()?;
        let key = format!("{}{}", self.prefix, uuid::Uuid::new_v4().simple());
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("scope", scope.as_bytes().to_vec()),
                    ("vec", vector_bytes(vector)),
                    ("prompt", entry.prompt.into_bytes()),
                    ("response", entry.response.into_bytes()),
                ],
            )
            .ignore()
            .expire(&key, ttl.as_secs().max(1) as i64)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| CacheError::Index(format!("store failed: {}", e.category())))
    }

    async fn get_exact(&self, digest: &str) -> Result<Option<String>, CacheError> {
        let mut conn = self.conn()?;
        redis::cmd("GET")
            .arg(exact_key(&self.namespace, digest))
            .query_async::<Option<String>>(&mut conn)
            .await
            .map_err(|e| CacheError::Index(format!("GET failed: {}", e.category())))
    }

    async fn put_exact(
        &self,
        digest: &str,
        response: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut conn = self.conn()?;
        redis::cmd("SET")
            .arg(exact_key(&self.namespace, digest))
            .arg(response)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| CacheError::Index(format!("SET failed: {}", e.category())))
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn search_replies_are_parsed_sorted_and_partial_entries_skipped() {
        let reply = Value::Array(vec![
            Value::Int(3),
            bulk("k1"),
            Value::Array(vec![
                bulk("dist"),
                bulk("0.2"),
                bulk("prompt"),
                bulk("a"),
                bulk("response"),
                bulk("{}"),
            ]),
            bulk("k2"),
            Value::Array(vec![
                bulk("dist"),
                bulk("0.05"),
                bulk("prompt"),
                bulk("b"),
                bulk("response"),
                bulk("{}"),
            ]),
            bulk("k3"),
            Value::Array(vec![bulk("dist"), bulk("0.01")]),
        ]);
        let found = parse_search(reply);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].entry.prompt, "b");
        assert!((found[0].distance - 0.05).abs() < 1e-6);
    }
}
