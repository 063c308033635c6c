//! Every setting, read and validated once at start. A bad value stops the
//! start with a message naming the variable.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

mod auth;
mod cache;
mod env;
mod file;
mod providers;
mod store;
mod upstream;

use cache::cache_config;
pub use cache::{CacheConfig, Embeddings};
use env::{breaker_config, choice, flag, millis, parse_var, seconds};
pub use file::{BreakerFile, FileConfig, ProviderFile, RoutingFile};
pub use providers::{
    AZURE_API_VERSION, AzureSettings, MaxTokensField, ProviderConfig, ProviderKind, Quirks,
};
pub use store::{AwsSettings, StoreConfig};

use crate::limits::FailMode;
use crate::providers::ProviderId;
use crate::providers::clients::ClientSettings;
use crate::routing::strategy::Strategy;

/// A value that must never be printed (API keys).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A configuration error, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    /// The environment variable (or config-file key) at fault.
    pub var: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn new(var: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            message: message.into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (default).
    Json,
    /// Human-readable lines.
    Text,
}

/// Bounds on the local server's client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `MAX_CONNECTIONS`: open connections at most; more wait in the
    /// listen backlog.
    pub max: usize,
    /// `HEADER_READ_TIMEOUT_SECONDS`: a request head must arrive within it;
    /// it is also the idle timeout: a new connection that sends nothing and
    /// a kept-alive one with no next request are closed after it.
    pub header_read: Duration,
    /// `BODY_READ_TIMEOUT_SECONDS`: a request body must arrive within it.
    pub body_read: Duration,
}

/// How clients authenticate to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <key>` or `x-api-key` must match one of these.
    Keys(Vec<Secret>),
    /// No key was configured (local loopback use only).
    Unset,
    /// Explicitly disabled with `GATEWAY_AUTH=none`.
    Disabled,
    /// `GATEWAY_AUTH=iam`: the caller's IAM identity, which an `AWS_IAM`
    /// Function URL or a REST API with IAM auth verified, is the tenant
    /// (Lambda only).
    Iam,
}

impl AuthMode {
    /// `keys`, `iam`, `none` (disabled) or `unset` (no key configured).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Keys(_) => "keys",
            Self::Iam => "iam",
            Self::Disabled => "none",
            Self::Unset => "unset",
        }
    }
}

/// Time limits for calls to one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until response headers and, for streams, the first content chunk.
    pub first_byte: Duration,
    /// A whole non-streaming call.
    pub total: Duration,
    /// The longest silence between stream chunks.
    pub idle: Duration,
}

/// Retry and failover policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Default retries on the same provider after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry, with full jitter.
    pub base_backoff: Duration,
    /// Cap on one backoff.
    pub max_backoff: Duration,
    /// Cap on an honoured `Retry-After`.
    pub max_retry_after: Duration,
    /// Bound on the whole request, retries and failover included.
    pub deadline: Duration,
}

/// When a circuit opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// The sliding window outcomes are counted in.
    pub window: Duration,
    /// Fewest requests in the window before the failure rate counts.
    pub min_requests: u32,
    /// Failure rate that opens the circuit.
    pub failure_rate: f64,
    /// Consecutive failures that open the circuit.
    pub consecutive_failures: u32,
    /// How long an open circuit waits before a half-open probe.
    pub cooldown: Duration,
}

/// The gateway's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST`: address the local server binds to.
    pub host: IpAddr,
    /// `PORT`: port the local server binds to.
    pub port: u16,
    /// `GATEWAY_API_KEYS` / `GATEWAY_AUTH`.
    pub auth: AuthMode,
    /// `GATEWAY_ADMIN_KEY`: the operator's key (`/admin`, `/metrics`).
    pub admin_key: Option<Secret>,
    /// `GATEWAY_NAMESPACE`: prefixes this deployment's store items, limit
    /// keys and cache index, so deployments sharing them never mix.
    pub namespace: String,
    /// `GATEWAY_KEY_CACHE_SECONDS`: how long a virtual key (and a key's
    /// spend) is served from memory; a revocation reaches every instance
    /// within it.
    pub key_cache_ttl: Duration,
    /// Local server connection bounds.
    pub connections: ConnectionLimits,
    /// `MAX_REQUEST_BYTES`: largest accepted request body.
    pub max_request_bytes: usize,
    /// How the upstream HTTP clients are built and shared.
    pub upstream: ClientSettings,
    /// `UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS`, `UPSTREAM_TIMEOUT_SECONDS`,
    /// `UPSTREAM_IDLE_TIMEOUT_SECONDS`: defaults for every provider.
    pub timeouts: Timeouts,
    /// `UPSTREAM_MAX_RETRIES`, `REQUEST_DEADLINE_SECONDS`, backoff settings.
    pub retry: RetryPolicy,
    /// `ROUTING_STRATEGY`: the strategy used when none is asked for.
    pub strategy: Strategy,
    /// Circuit breaker settings.
    pub breaker: BreakerConfig,
    /// `REDIS_URL`: shared provider health (and, later, the semantic cache).
    pub redis_url: Option<Secret>,
    /// `SHARED_STATE_CACHE_MS`: how long shared health is cached locally.
    pub shared_cache: Duration,
    /// Limits, totals and alert flags: DynamoDB when set, else memory.
    pub store: StoreConfig,
    /// Whether configured rate limits apply (`RATE_LIMIT_ENABLED`).
    pub rate_limits: bool,
    /// What limits do when the store is down (`RATE_LIMIT_FAIL_MODE`).
    pub limit_fail: crate::limits::FailMode,
    /// Models without a price: refused or charged (`UNPRICED_MODELS`).
    pub unpriced: crate::pricing::Unpriced,
    /// Cost alert tiers in USD, per day and overall (`COST_ALERT_TIERS_USD`).
    pub alert_tiers: Vec<u64>,
    /// Per-request CloudWatch EMF metric lines (`EMF_METRICS`).
    pub emf_metrics: bool,
    /// OpenTelemetry traces over OTLP (`OTEL_ENABLED`).
    pub otel_enabled: bool,
    /// Prompt and completion text in the request log line (`LOG_PROMPTS`).
    pub log_prompts: bool,
    /// The semantic cache, `None` when `CACHE_ENABLED=false`.
    pub cache: Option<CacheConfig>,
    /// `SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may run after SIGTERM.
    pub shutdown_grace: Duration,
    /// `LAMBDA_RESPONSE_MODE`: `auto`, `stream` or `buffered`.
    pub lambda_response: crate::lambda::ResponseMode,
    /// `CACHE_MODEL_DIR`: the models directory (the cache's, and the
    /// static table served as the local embedding model).
    pub model_dir: PathBuf,
    /// `LOG_FORMAT`: `json` or `text`.
    pub log_format: LogFormat,
    /// Configured providers: the built-in ones with a key, and every
    /// declared one.
    pub providers: BTreeMap<ProviderId, ProviderConfig>,
    /// Routes and models from `GATEWAY_CONFIG`.
    pub file: FileConfig,
}

impl Config {
    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let host = parse_var(&var, "HOST", "127.0.0.1", "an IP address")?;
        let port = parse_var(&var, "PORT", "3000", "a port number")?;
        let max_request_bytes: usize =
            parse_var(&var, "MAX_REQUEST_BYTES", "10485760", "a byte count")?;
        if max_request_bytes < 1024 {
            return Err(ConfigError::new(
                "MAX_REQUEST_BYTES",
                "must be at least 1024",
            ));
        }
        let (upstream, timeouts, retry) = upstream::settings(&var)?;
        let strategy = parse_var(
            &var,
            "ROUTING_STRATEGY",
            "balanced",
            "one of cost, latency, balanced, capability",
        )?;
        let shutdown_grace = seconds(&var, "SHUTDOWN_GRACE_SECONDS", 30)?;
        let lambda_response = parse_var(
            &var,
            "LAMBDA_RESPONSE_MODE",
            "auto",
            "one of auto, stream, buffered",
        )?;

        let log_format = choice(
            &var,
            "LOG_FORMAT",
            LogFormat::Json,
            &[("json", LogFormat::Json), ("text", LogFormat::Text)],
        )?;

        let (auth, admin_key) = auth::settings(&var)?;
        let namespace = var("GATEWAY_NAMESPACE").unwrap_or_else(|| "gateway".to_owned());
        if namespace.len() > 64
            || !namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError::new(
                "GATEWAY_NAMESPACE",
                "must be 1 to 64 of A-Z a-z 0-9 - _ .",
            ));
        }
        let key_cache_ttl = seconds(&var, "GATEWAY_KEY_CACHE_SECONDS", 5)?;
        let connections = ConnectionLimits {
            max: parse_var(&var, "MAX_CONNECTIONS", "4096", "a whole number")?,
            header_read: seconds(&var, "HEADER_READ_TIMEOUT_SECONDS", 10)?,
            body_read: seconds(&var, "BODY_READ_TIMEOUT_SECONDS", 60)?,
        };
        if connections.max == 0 {
            return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1"));
        }

        let mut file = file::from_settings(&var)?;
        let providers = providers::providers(
            &var,
            &mut file,
            &providers::Defaults {
                timeouts,
                max_retries: retry.max_retries,
            },
        )?;
        let breaker = breaker_config(&file.breaker)?;
        let redis_url = var("REDIS_URL").map(Secret::new);
        let shared_cache = millis(&var, "SHARED_STATE_CACHE_MS", 1_000)?;
        let cache = cache_config(&var)?;
        let store = store::settings(&var)?;
        let rate_limits = flag(&var, "RATE_LIMIT_ENABLED", true)?;
        let emf_metrics = flag(&var, "EMF_METRICS", false)?;
        let otel_enabled = flag(&var, "OTEL_ENABLED", false)?;
        let log_prompts = flag(&var, "LOG_PROMPTS", false)?;
        let limit_fail = choice(
            &var,
            "RATE_LIMIT_FAIL_MODE",
            FailMode::Open,
            &[("open", FailMode::Open), ("closed", FailMode::Closed)],
        )?;
        let unpriced =
            crate::pricing::Unpriced::parse(var("UNPRICED_MODELS").as_deref().unwrap_or("charge"))
                .map_err(|e| ConfigError::new("UNPRICED_MODELS", e))?;
        let alert_tiers = match var("COST_ALERT_TIERS_USD") {
            None => crate::ledger::DEFAULT_TIERS.to_vec(),
            Some(list) => list
                .split(',')
                .map(|t| t.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    ConfigError::new(
                        "COST_ALERT_TIERS_USD",
                        "must be whole USD amounts, comma-separated",
                    )
                })?,
        };
        file::check_limits(&file)?;

        Ok(Self {
            host,
            port,
            auth,
            admin_key,
            namespace,
            key_cache_ttl,
            connections,
            max_request_bytes,
            upstream,
            timeouts,
            retry,
            strategy,
            breaker,
            redis_url,
            shared_cache,
            cache,
            store,
            rate_limits,
            limit_fail,
            unpriced,
            alert_tiers,
            emf_metrics,
            otel_enabled,
            log_prompts,
            shutdown_grace,
            lambda_response,
            model_dir: PathBuf::from(
                var("CACHE_MODEL_DIR").unwrap_or_else(|| "models/cache".to_owned()),
            ),
            log_format,
            providers,
            file,
        })
    }

    /// The configuration of one provider, if it has a key.
    pub fn provider(&self, id: ProviderId) -> Option<&ProviderConfig> {
        self.providers.get(&id)
    }
}

#[cfg(test)]
mod tests;
