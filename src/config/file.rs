//! The configuration file (`GATEWAY_CONFIG`, or `GATEWAY_CONFIG_TOML` with
//! its text): aliases, routes, fallbacks, routing switches, per-provider
//! overrides, breaker settings, prices and rate limits.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;
use crate::providers::ProviderId;

/// The optional TOML file named by `GATEWAY_CONFIG`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Model aliases: `alias = "model"` or `alias = "provider/model"`; the
    /// target keeps its default fallbacks.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Routes: `name = ["provider/model", …]`, an ordered fallback chain
    /// used exactly as given. Replaces a built-in route of the same name.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<String>>,
    /// Fallbacks for a model: `"gpt-4o" = ["anthropic/claude-sonnet-4-6"]`,
    /// replacing its default cross-provider fallbacks.
    #[serde(default)]
    pub fallbacks: BTreeMap<String, Vec<String>>,
    /// Extra model ids to list in `GET /v1/models` (`provider/model` or a name
    /// the built-in rules route).
    #[serde(default)]
    pub models: Vec<String>,
    /// Routing behaviour.
    #[serde(default)]
    pub routing: RoutingFile,
    /// Providers declared by name, and overrides for the built-in three.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderFile>,
    /// Circuit breaker tuning.
    #[serde(default)]
    pub breaker: BreakerFile,
    /// Prices by model name (USD per million tokens), replacing or adding
    /// to the built-in table.
    #[serde(default)]
    pub pricing: BTreeMap<String, crate::pricing::PriceFile>,
    /// Rate limits: `[limits.<provider>]` and `[limits.per_key]`.
    #[serde(default)]
    pub limits: BTreeMap<String, crate::limits::LimitFile>,
}

/// `[routing]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    /// The model name that asks for smart routing (default `smart-model`).
    pub smart_alias: Option<String>,
    /// Whether catalogued models fail over to the same tier at other
    /// providers when no fallbacks are configured (default true).
    pub cross_provider_fallbacks: Option<bool>,
    /// Whether the built-in `flagship` and `fast` routes exist (default true).
    pub builtin_routes: Option<bool>,
    /// Models added to the smart-routing pool beside the catalogued ones
    /// (`provider/model`, e.g. a declared provider's).
    #[serde(default)]
    pub smart_models: Vec<String>,
}

/// `[providers.NAME]` in the config file: overrides for a built-in
/// provider (`openai`, `anthropic`, `google`), or a provider declared with
/// a `kind`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    /// `openai` (any compatible server), `anthropic`, `gemini`, `azure` or
    /// `bedrock`; required for a declared provider.
    pub kind: Option<String>,
    /// The server's base URL (`…/v1` for OpenAI-compatible servers; the
    /// resource endpoint for Azure; an endpoint override for Bedrock).
    pub base_url: Option<String>,
    /// The variable (or secrets-document entry) holding the key; omitted:
    /// no key.
    pub api_key_env: Option<String>,
    /// Extra headers sent on every call.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Models it serves; omitted for an OpenAI-compatible server: read
    /// from its `/models` at start.
    pub models: Option<Vec<String>>,
    /// Prices by model name (USD per million tokens).
    #[serde(default)]
    pub pricing: BTreeMap<String, crate::pricing::PriceFile>,
    /// `false` for servers that refuse `stream_options` (usage is then
    /// estimated on streams).
    pub stream_options: Option<bool>,
    /// `max_tokens` or `max_completion_tokens`: the field the server wants
    /// the output limit in.
    pub max_tokens_field: Option<String>,
    /// Azure: the data-plane `api-version` for deployments (`v1` for the
    /// v1 surface).
    pub api_version: Option<String>,
    /// Azure: model name → deployment name.
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    /// Bedrock: the AWS region (default: `AWS_REGION`).
    pub region: Option<String>,
    /// Overrides `UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS`.
    pub first_byte_timeout_seconds: Option<f64>,
    /// Overrides `UPSTREAM_TIMEOUT_SECONDS`.
    pub timeout_seconds: Option<f64>,
    /// Overrides `UPSTREAM_IDLE_TIMEOUT_SECONDS`.
    pub idle_timeout_seconds: Option<f64>,
    /// Overrides `UPSTREAM_MAX_RETRIES`.
    pub max_retries: Option<u32>,
}

/// `[breaker]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerFile {
    /// Sliding window for the failure rate (default 60).
    pub window_seconds: Option<f64>,
    /// Fewest requests before the failure rate counts (default 10).
    pub min_requests: Option<u32>,
    /// Failure rate that opens the circuit (default 0.5).
    pub failure_rate: Option<f64>,
    /// Consecutive failures that open the circuit (default 5).
    pub consecutive_failures: Option<u32>,
    /// Open time before a half-open probe (default 30).
    pub cooldown_seconds: Option<f64>,
}

pub(super) fn load_file(path: PathBuf) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError::new(
            "GATEWAY_CONFIG",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    parse_file(&text, "GATEWAY_CONFIG", &path.display().to_string())
}

/// Parses the configuration TOML; an error names the variable and `what`
/// was read.
pub(super) fn parse_file(text: &str, var: &str, what: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text)
        .map_err(|e| ConfigError::new(var, format!("{what} is not a valid gateway config: {e}")))
}

/// `GATEWAY_CONFIG` (a file) or `GATEWAY_CONFIG_TOML` (its text), or none.
pub(super) fn from_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<FileConfig, ConfigError> {
    Ok(match (var("GATEWAY_CONFIG"), var("GATEWAY_CONFIG_TOML")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "GATEWAY_CONFIG_TOML",
                "set either GATEWAY_CONFIG (a file) or GATEWAY_CONFIG_TOML (the TOML itself), not both",
            ));
        }
        (Some(path), None) => load_file(PathBuf::from(path))?,
        (None, Some(text)) => parse_file(&text, "GATEWAY_CONFIG_TOML", "the TOML")?,
        (None, None) => FileConfig::default(),
    })
}

/// `[limits.NAME]` names `per_key` or a provider (declared ones included).
pub(super) fn check_limits(file: &FileConfig) -> Result<(), ConfigError> {
    if let Some(name) = file
        .limits
        .keys()
        .find(|n| n.as_str() != "per_key" && ProviderId::from_prefix(n).is_none())
    {
        return Err(ConfigError::new(
            "GATEWAY_CONFIG",
            format!("[limits.{name}] is not per_key or a configured provider's name"),
        ));
    }

    Ok(())
}
