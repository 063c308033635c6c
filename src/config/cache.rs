//! The cache's settings (`CACHE_*`, `EMBEDDINGS`).

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::env::{flag, millis, parse_var, seconds};

/// Which embedder shortlists the semantic cache's candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embeddings {
    /// The static table in `CACHE_MODEL_DIR` (microseconds per prompt).
    Local,
    /// OpenAI `text-embedding-3-small` (needs `OPENAI_API_KEY`).
    OpenAi,
}

/// Semantic cache settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// `EMBEDDINGS`: `local` or `openai`.
    pub embeddings: Embeddings,
    /// `CACHE_MODEL_DIR`: the static table and the verifier.
    pub model_dir: PathBuf,
    /// `CACHE_SIMILARITY_THRESHOLD`: largest cosine distance of a candidate
    /// handed to the verifier.
    pub threshold: f32,
    /// `CACHE_VERIFIER_THRESHOLD`: the verifier's probability for a hit.
    pub verifier_threshold: f32,
    /// `CACHE_VERIFIER_CONCURRENCY`: pairs verified at once (more are misses).
    pub verifier_concurrency: usize,
    /// `CACHE_VERIFIER_PRELOAD`: load the verifier at start, not on first need.
    pub verifier_preload: bool,
    /// `CACHE_SEMANTIC`: the semantic tier (shortlist, guards and verifier)
    /// besides exact hits; on by default.
    pub semantic: bool,
    /// `CACHE_SEMANTIC_MAX_BYTES`: longer prompts get exact hits only.
    pub semantic_max_bytes: usize,
    /// `CACHE_TTL_SECONDS`: entry lifetime.
    pub ttl: Duration,
    /// `CACHE_LOOKUP_TIMEOUT_MS`: bound on embedding + search.
    pub lookup_timeout: Duration,
    /// `CACHE_MAX_ENTRIES`: bound on the in-memory index.
    pub max_entries: usize,
}

pub(super) fn cache_config(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<CacheConfig>, ConfigError> {
    if !flag(var, "CACHE_ENABLED", true)? {
        return Ok(None);
    }
    let embeddings = match var("EMBEDDINGS").as_deref() {
        None | Some("local") => Embeddings::Local,
        Some("openai") if var("OPENAI_API_KEY").is_some() => Embeddings::OpenAi,
        Some("openai") => {
            return Err(ConfigError::new(
                "EMBEDDINGS",
                "is openai but OPENAI_API_KEY is not set",
            ));
        }
        Some(other) => {
            return Err(ConfigError::new(
                "EMBEDDINGS",
                format!("'{other}' is not one of local, openai"),
            ));
        }
    };
    let threshold: f32 = parse_var(
        var,
        "CACHE_SIMILARITY_THRESHOLD",
        &crate::cache::DEFAULT_THRESHOLD.to_string(),
        "a cosine distance",
    )?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ConfigError::new(
            "CACHE_SIMILARITY_THRESHOLD",
            "must be between 0 and 1",
        ));
    }
    let verifier_threshold: f32 = parse_var(
        var,
        "CACHE_VERIFIER_THRESHOLD",
        &crate::cache::verify::DEFAULT_THRESHOLD.to_string(),
        "a probability",
    )?;
    if !(0.0..=1.0).contains(&verifier_threshold) {
        return Err(ConfigError::new(
            "CACHE_VERIFIER_THRESHOLD",
            "must be between 0 and 1",
        ));
    }
    let verifier_concurrency: usize =
        parse_var(var, "CACHE_VERIFIER_CONCURRENCY", "1", "a whole number")?;
    let semantic_max_bytes: usize = parse_var(
        var,
        "CACHE_SEMANTIC_MAX_BYTES",
        &crate::cache::DEFAULT_SEMANTIC_MAX_BYTES.to_string(),
        "a whole number",
    )?;
    let max_entries: usize = parse_var(var, "CACHE_MAX_ENTRIES", "10000", "a whole number")?;
    Ok(Some(CacheConfig {
        embeddings,
        model_dir: PathBuf::from(
            var("CACHE_MODEL_DIR").unwrap_or_else(|| "models/cache".to_owned()),
        ),
        threshold,
        verifier_threshold,
        verifier_concurrency: verifier_concurrency.max(1),
        verifier_preload: flag(var, "CACHE_VERIFIER_PRELOAD", false)?,
        semantic: flag(var, "CACHE_SEMANTIC", true)?,
        semantic_max_bytes,
        ttl: seconds(var, "CACHE_TTL_SECONDS", 86_400)?,
        lookup_timeout: millis(var, "CACHE_LOOKUP_TIMEOUT_MS", 250)?,
        max_entries: max_entries.max(1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Option<CacheConfig>, ConfigError> {
        let vars: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        cache_config(&|name: &str| vars.get(name).cloned())
    }

    #[test]
    fn both_tiers_by_default() {
        let c = config(&[]).expect("valid").expect("cache on");
        assert!(c.semantic);
        assert_eq!(c.embeddings, Embeddings::Local);
        assert_eq!(c.threshold, crate::cache::DEFAULT_THRESHOLD);
        assert_eq!(
            c.verifier_threshold,
            crate::cache::verify::DEFAULT_THRESHOLD
        );
        let exact_only = config(&[("CACHE_SEMANTIC", "false")])
            .expect("valid")
            .expect("cache on");
        assert!(!exact_only.semantic);
        assert!(
            config(&[("CACHE_ENABLED", "false")])
                .expect("valid")
                .is_none()
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("CACHE_SEMANTIC", "maybe"),
            ("CACHE_VERIFIER_THRESHOLD", "1.5"),
            ("CACHE_SIMILARITY_THRESHOLD", "-0.1"),
            ("EMBEDDINGS", "word2vec"),
            ("EMBEDDINGS", "openai"),
        ] {
            let e = config(&[(var, value)]).expect_err(var);
            assert_eq!(e.var, var);
        }
    }
}
