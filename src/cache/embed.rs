//! Embedders for the cache's shortlist: a static table distilled from
//! all-MiniLM-L6-v2 (the default; microseconds per prompt) and OpenAI's
//! `text-embedding-3-small`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use half::f16;
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::CacheError;
use crate::config::Secret;

/// Turns a prompt into a unit-length vector.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the model and dimension; the index name carries it, so
    /// switching embedders never mixes vectors.
    fn id(&self) -> &str;
    /// Vector length.
    fn dim(&self) -> usize;
    /// `Ok(())` when usable now, else why not (still loading, files missing).
    fn ready(&self) -> Result<(), String>;
    /// Starts loading whatever the embedder needs, in the background.
    fn start(&self) {}
    /// Embeds one text.
    async fn embed(&self, text: &str) -> Result<Vec<f32>, CacheError>;
}

/// Width of the static table's vectors.
pub const STATIC_DIM: usize = 256;

struct Table {
    /// `[vocab, dim]` row-major.
    rows: Vec<f16>,
    dim: usize,
    tokenizer: Tokenizer,
}

/// A static (lookup-table) embedding model distilled from all-MiniLM-L6-v2
/// with model2vec (`bench/cache_quality/train/distill_static.py`): a prompt's
/// vector is the mean of its tokens' rows, so embedding costs microseconds
/// and no model runs on a miss. Read from `static.safetensors` (tensor
/// `embeddings`, f16) and `tokenizer.json` in the cache model directory.
pub struct StaticEmbedder {
    dir: PathBuf,
    loaded: Arc<OnceLock<Result<Arc<Table>, String>>>,
}

impl StaticEmbedder {
    /// An embedder over the table in `dir`, not loaded until [`Embedder::start`].
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            loaded: Arc::new(OnceLock::new()),
        }
    }

    /// Loads the table in the background (start-up does not wait).
    fn load_in_background(&self) {
        if self.loaded.get().is_some() {
            return;
        }
        let slot = self.loaded.clone();
        let path = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let result = load(&path).map(Arc::new);
            match &result {
                Ok(_) => tracing::info!(dir = %path.display(), "cache embedding table loaded"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "semantic cache disabled: embedding table not loaded (CACHE_MODEL_DIR)"
                ),
            }
            let _ = slot.set(result);
        });
    }

    /// Loads synchronously (tests, benchmarks).
    pub fn load_now(dir: &Path) -> Result<Self, String> {
        let loaded = Arc::new(OnceLock::new());
        let _ = loaded.set(Ok(Arc::new(load(dir)?)));
        Ok(Self {
            dir: dir.to_owned(),
            loaded,
        })
    }

    /// Embeds synchronously (for blocking contexts and benchmarks).
    pub fn embed_blocking(&self, text: &str) -> Result<Vec<f32>, CacheError> {
        let table = self.table()?;
        embed_with(&table, text)
    }

    fn table(&self) -> Result<Arc<Table>, CacheError> {
        match self.loaded.get() {
            Some(Ok(table)) => Ok(table.clone()),
            Some(Err(e)) => Err(CacheError::Unavailable(e.clone())),
            None => Err(CacheError::Unavailable(
                "embedding table still loading".into(),
            )),
        }
    }
}

fn load(dir: &Path) -> Result<Table, String> {
    let path = dir.join("static.safetensors");
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu)
        .map_err(|e| format!("static.safetensors: {e}"))?;
    let table = tensors
        .get("embeddings")
        .ok_or("static.safetensors has no tensor `embeddings`")?;
    let (vocab, dim) = table
        .dims2()
        .map_err(|e| format!("static.safetensors: {e}"))?;
    if dim != STATIC_DIM {
        return Err(format!(
            "static.safetensors has {dim}-wide rows, not {STATIC_DIM}"
        ));
    }
    let rows = table
        .to_dtype(candle_core::DType::F16)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f16>())
        .map_err(|e| format!("static.safetensors: {e}"))?;
    let tokenizer = Tokenizer::from_file(dir.join("static-tokenizer.json"))
        .map_err(|e| format!("static-tokenizer.json: {e}"))?;
    if tokenizer.get_vocab_size(true) > vocab {
        return Err("static-tokenizer.json has more tokens than the table".into());
    }
    Ok(Table {
        rows,
        dim,
        tokenizer,
    })
}

/// The mean of the text's token rows, unit length (zero for no tokens).
fn embed_with(table: &Table, text: &str) -> Result<Vec<f32>, CacheError> {
    let encoding = table
        .tokenizer
        .encode(text, false)
        .map_err(|e| CacheError::Embedding(e.to_string()))?;
    let mut sum = vec![0.0f32; table.dim];
    for &id in encoding.get_ids() {
        let at = id as usize * table.dim;
        if let Some(row) = table.rows.get(at..at + table.dim) {
            sum.iter_mut()
                .zip(row)
                .for_each(|(s, v)| *s += f32::from(*v));
        }
    }
    Ok(normalize(sum))
}

/// Scales a vector to unit length (zero stays zero).
pub fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[async_trait]
impl Embedder for StaticEmbedder {
    fn id(&self) -> &str {
        "minilm-static-256"
    }

    fn dim(&self) -> usize {
        STATIC_DIM
    }

    fn start(&self) {
        self.load_in_background();
    }

    fn ready(&self) -> Result<(), String> {
        self.table().map(|_| ()).map_err(|e| match e {
            CacheError::Unavailable(m) => format!("{m} (model dir {})", self.dir.display()),
            other => other.to_string(),
        })
    }

    async fn embed(&self, text: &str) -> Result<Vec<f32>, CacheError> {
        // Microseconds for the short prompts the semantic tier takes:
        // no need to leave the runtime worker.
        self.embed_blocking(text)
    }
}

/// OpenAI `text-embedding-3-small` through the embeddings API.
pub struct OpenAiEmbedder {
    http: reqwest::Client,
    url: String,
    key: Secret,
}

impl OpenAiEmbedder {
    /// Uses the OpenAI provider's key and base URL.
    pub fn new(http: reqwest::Client, base_url: &str, key: Secret) -> Self {
        Self {
            http,
            url: format!("{base_url}/embeddings"),
            key,
        }
    }
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn id(&self) -> &str {
        "openai-3-small"
    }

    fn dim(&self) -> usize {
        1536
    }

    fn ready(&self) -> Result<(), String> {
        Ok(())
    }

    async fn embed(&self, text: &str) -> Result<Vec<f32>, CacheError> {
        let body = serde_json::json!({"model": "text-embedding-3-small", "input": text});
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.key.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| CacheError::Embedding(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(CacheError::Embedding(format!(
                "embeddings API returned HTTP {}",
                response.status()
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CacheError::Embedding(e.without_url().to_string()))?;
        let parsed: EmbeddingsResponse =
            serde_json::from_slice(&bytes).map_err(|e| CacheError::Embedding(e.to_string()))?;
        let vector = parsed
            .data
            .into_iter()
            .next()
            .ok_or_else(|| CacheError::Embedding("no embedding returned".into()))?
            .embedding;
        Ok(normalize(vector))
    }
}
