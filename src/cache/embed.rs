//! Embedders: the local all-MiniLM-L6-v2 run in pure Rust (candle), loaded
//! in the background, and OpenAI's `text-embedding-3-small`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::Deserialize;
use tokenizers::{Tokenizer, TruncationParams};

use super::CacheError;
use crate::config::Secret;
use minilm::{BertConfig, MiniLm};

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
    /// Embeds one text.
    async fn embed(&self, text: &str) -> Result<Vec<f32>, CacheError>;
}

/// Tokens per prompt the model was trained on; longer input is truncated.
const MAX_TOKENS: usize = 256;

struct Loaded {
    model: MiniLm,
    tokenizer: Tokenizer,
}

/// all-MiniLM-L6-v2 (mean pooling, L2-normalised), from `EMBEDDING_MODEL_DIR`.
pub struct LocalEmbedder {
    dir: PathBuf,
    loaded: Arc<OnceLock<Result<Arc<Loaded>, String>>>,
}

impl LocalEmbedder {
    /// Starts loading the model in the background (start-up does not wait).
    pub fn start(dir: PathBuf) -> Self {
        let loaded = Arc::new(OnceLock::new());
        let slot = loaded.clone();
        let path = dir.clone();
        tokio::task::spawn_blocking(move || {
            let result = load(&path).map(Arc::new);
            match &result {
                Ok(_) => tracing::info!(dir = %path.display(), "embedding model loaded"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "semantic cache disabled: embedding model not loaded; run infra/local/install-model.sh (or ./scripts/run.sh)"
                ),
            }
            let _ = slot.set(result);
        });
        Self { dir, loaded }
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
        let loaded = self.model()?;
        forward(&loaded, text)
    }

    fn model(&self) -> Result<Arc<Loaded>, CacheError> {
        match self.loaded.get() {
            Some(Ok(loaded)) => Ok(loaded.clone()),
            Some(Err(e)) => Err(CacheError::Unavailable(e.clone())),
            None => Err(CacheError::Unavailable(
                "embedding model still loading".into(),
            )),
        }
    }
}

fn load(dir: &Path) -> Result<Loaded, String> {
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
    };
    let config: BertConfig =
        serde_json::from_slice(&read("config.json")?).map_err(|e| format!("config.json: {e}"))?;
    let model = MiniLm::load(&config, &read("model.safetensors")?)?;
    let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| format!("tokenizer.json: {e}"))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..TruncationParams::default()
        }))
        .map_err(|e| format!("tokenizer: {e}"))?;
    Ok(Loaded { model, tokenizer })
}

fn forward(loaded: &Loaded, text: &str) -> Result<Vec<f32>, CacheError> {
    let encoding = loaded
        .tokenizer
        .encode(text, true)
        .map_err(|e| CacheError::Embedding(e.to_string()))?;
    let pooled = loaded
        .model
        .encode(encoding.get_ids())
        .map_err(CacheError::Embedding)?;
    Ok(normalize(pooled))
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
impl Embedder for LocalEmbedder {
    fn id(&self) -> &str {
        "minilm-l6-v2"
    }

    fn dim(&self) -> usize {
        384
    }

    fn ready(&self) -> Result<(), String> {
        self.model().map(|_| ()).map_err(|e| match e {
            CacheError::Unavailable(m) => format!("{m} (model dir {})", self.dir.display()),
            other => other.to_string(),
        })
    }

    async fn embed(&self, text: &str) -> Result<Vec<f32>, CacheError> {
        let loaded = self.model()?;
        let text = text.to_owned();
        tokio::task::spawn_blocking(move || forward(&loaded, &text))
            .await
            .map_err(|e| CacheError::Embedding(e.to_string()))?
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
