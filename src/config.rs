//! Every setting, read and validated once at start. A bad value stops the
//! start with a message naming the variable.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

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

/// How one upstream provider is reached.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The provider's API key.
    pub api_key: Secret,
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// Time limits of its calls.
    pub timeouts: Timeouts,
    /// Retries on this provider before failing over.
    pub max_retries: u32,
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
    /// Per-provider timeouts and retries, by provider name.
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
}

/// `[providers.NAME]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
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
    /// `CACHE_SEMANTIC`: the semantic tier (shortlist and verifier) besides
    /// exact hits.
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
    /// Configured providers (only those with a key).
    pub providers: BTreeMap<ProviderId, ProviderConfig>,
    /// Routes and models from `GATEWAY_CONFIG`.
    pub file: FileConfig,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

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
        let upstream = ClientSettings {
            connect_timeout: seconds(&var, "UPSTREAM_CONNECT_TIMEOUT_SECONDS", 10)?,
            h2c: flag(&var, "UPSTREAM_HTTP2_PRIOR_KNOWLEDGE", false)?,
            lanes: parse_var(&var, "UPSTREAM_CONNECTIONS", "16", "a whole number")?,
            streams_per_connection: parse_var(
                &var,
                "UPSTREAM_STREAMS_PER_CONNECTION",
                "100",
                "a whole number",
            )?,
        };
        if !(1..=64).contains(&upstream.lanes) {
            return Err(ConfigError::new("UPSTREAM_CONNECTIONS", "must be 1 to 64"));
        }
        if upstream.streams_per_connection == 0 {
            return Err(ConfigError::new(
                "UPSTREAM_STREAMS_PER_CONNECTION",
                "must be at least 1",
            ));
        }
        let timeouts = Timeouts {
            first_byte: seconds(&var, "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", 60)?,
            total: seconds(&var, "UPSTREAM_TIMEOUT_SECONDS", 300)?,
            idle: seconds(&var, "UPSTREAM_IDLE_TIMEOUT_SECONDS", 60)?,
        };
        let retry = RetryPolicy {
            max_retries: parse_var(&var, "UPSTREAM_MAX_RETRIES", "2", "a whole number")?,
            base_backoff: millis(&var, "RETRY_BACKOFF_MS", 200)?,
            max_backoff: millis(&var, "RETRY_MAX_BACKOFF_MS", 5_000)?,
            max_retry_after: seconds(&var, "RETRY_AFTER_MAX_SECONDS", 20)?,
            deadline: seconds(&var, "REQUEST_DEADLINE_SECONDS", 600)?,
        };
        if retry.max_retries > 10 {
            return Err(ConfigError::new(
                "UPSTREAM_MAX_RETRIES",
                "must be at most 10",
            ));
        }
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

        let log_format = match var("LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("'{other}' is not one of json, text"),
                ));
            }
        };

        let auth = match (var("GATEWAY_AUTH").as_deref(), var("GATEWAY_API_KEYS")) {
            (Some("none"), Some(_)) => {
                return Err(ConfigError::new(
                    "GATEWAY_AUTH",
                    "is 'none' but GATEWAY_API_KEYS is set; choose one",
                ));
            }
            (Some("none"), None) => AuthMode::Disabled,
            (Some("iam"), Some(_)) => {
                return Err(ConfigError::new(
                    "GATEWAY_AUTH",
                    "is 'iam' (callers are their IAM identities) but GATEWAY_API_KEYS is set; choose one",
                ));
            }
            (Some("iam"), None) => AuthMode::Iam,
            (Some(other), _) if other != "keys" => {
                return Err(ConfigError::new(
                    "GATEWAY_AUTH",
                    format!("'{other}' is not one of keys, iam, none"),
                ));
            }
            (_, Some(list)) => AuthMode::Keys(parse_keys(&list)?),
            (_, None) => AuthMode::Unset,
        };
        let admin_key = var("GATEWAY_ADMIN_KEY")
            .map(|k| check_header_safe("GATEWAY_ADMIN_KEY", k))
            .transpose()?
            .map(Secret::new);
        if let Some(admin) = &admin_key {
            if admin.expose().len() < 16 {
                return Err(ConfigError::new(
                    "GATEWAY_ADMIN_KEY",
                    "must be at least 16 characters",
                ));
            }
            if matches!(&auth, AuthMode::Keys(keys) if keys.contains(admin)) {
                return Err(ConfigError::new(
                    "GATEWAY_ADMIN_KEY",
                    "must not also be a client key in GATEWAY_API_KEYS",
                ));
            }
        }
        // An operator key alone means virtual keys only: clients need one.
        let auth = match auth {
            AuthMode::Unset if admin_key.is_some() => AuthMode::Keys(Vec::new()),
            other => other,
        };
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

        let file = match (var("GATEWAY_CONFIG"), var("GATEWAY_CONFIG_TOML")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "GATEWAY_CONFIG_TOML",
                    "set either GATEWAY_CONFIG (a file) or GATEWAY_CONFIG_TOML (the TOML itself), not both",
                ));
            }
            (Some(path), None) => load_file(PathBuf::from(path))?,
            (None, Some(text)) => parse_file(&text, "GATEWAY_CONFIG_TOML", "the TOML")?,
            (None, None) => FileConfig::default(),
        };
        if let Some(name) = file
            .providers
            .keys()
            .find(|n| ProviderId::from_prefix(n).is_none())
        {
            return Err(ConfigError::new(
                "GATEWAY_CONFIG",
                format!("[providers.{name}] is not one of openai, anthropic, google"),
            ));
        }
        let breaker = breaker_config(&file.breaker)?;
        let redis_url = var("REDIS_URL").map(Secret::new);
        let shared_cache = millis(&var, "SHARED_STATE_CACHE_MS", 1_000)?;
        let cache = cache_config(&var)?;
        let store = StoreConfig {
            dynamodb_table: var("DYNAMODB_TABLE"),
            timeout: millis(&var, "STORE_TIMEOUT_MS", 500)?,
            write_timeout: millis(&var, "STORE_WRITE_TIMEOUT_MS", 15_000)?,
            create_table: flag(&var, "DYNAMODB_CREATE_TABLE", false)?,
            aws: AwsSettings {
                endpoint: var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")),
                region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
                access_key: var("AWS_ACCESS_KEY_ID").map(Secret::new),
                secret_key: var("AWS_SECRET_ACCESS_KEY").map(Secret::new),
                session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
            },
        };
        let rate_limits = flag(&var, "RATE_LIMIT_ENABLED", true)?;
        let emf_metrics = flag(&var, "EMF_METRICS", false)?;
        let otel_enabled = flag(&var, "OTEL_ENABLED", false)?;
        let log_prompts = flag(&var, "LOG_PROMPTS", false)?;
        let limit_fail = match var("RATE_LIMIT_FAIL_MODE").as_deref() {
            None | Some("open") => crate::limits::FailMode::Open,
            Some("closed") => crate::limits::FailMode::Closed,
            Some(other) => {
                return Err(ConfigError::new(
                    "RATE_LIMIT_FAIL_MODE",
                    format!("'{other}' is not one of open, closed"),
                ));
            }
        };
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
        if let Some(name) = file
            .limits
            .keys()
            .find(|n| n.as_str() != "per_key" && ProviderId::from_prefix(n).is_none())
        {
            return Err(ConfigError::new(
                "GATEWAY_CONFIG",
                format!("[limits.{name}] is not one of openai, anthropic, google, per_key"),
            ));
        }

        let mut providers = BTreeMap::new();
        for id in ProviderId::ALL {
            let found = id
                .key_vars()
                .iter()
                .find_map(|name| var(name).map(|v| (*name, v)));
            let Some((name, key)) = found else { continue };
            let (url_var, default_url) = id.base_url_var();
            let overrides = file
                .providers
                .iter()
                .find(|(n, _)| ProviderId::from_prefix(n) == Some(id))
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            let field = |v: Option<f64>, field: &str, default: Duration| match v {
                None => Ok(default),
                Some(s) => checked_seconds(s).ok_or_else(|| {
                    ConfigError::new(
                        "GATEWAY_CONFIG",
                        format!("[providers.{id}] {field} must be between 0 and 86400"),
                    )
                }),
            };
            let timeouts = Timeouts {
                first_byte: field(
                    overrides.first_byte_timeout_seconds,
                    "first_byte_timeout_seconds",
                    timeouts.first_byte,
                )?,
                total: field(overrides.timeout_seconds, "timeout_seconds", timeouts.total)?,
                idle: field(
                    overrides.idle_timeout_seconds,
                    "idle_timeout_seconds",
                    timeouts.idle,
                )?,
            };
            providers.insert(
                id,
                ProviderConfig {
                    api_key: Secret::new(check_header_safe(name, key)?),
                    base_url: base_url(&var, url_var, default_url)?,
                    timeouts,
                    max_retries: overrides.max_retries.unwrap_or(retry.max_retries).min(10),
                },
            );
        }

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

fn parse_var<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
    what: &str,
) -> Result<T, ConfigError> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    raw.parse()
        .map_err(|_| ConfigError::new(name, format!("'{raw}' is not {what}")))
}

fn seconds(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs: f64 = parse_var(var, name, &default.to_string(), "a number of seconds")?;
    checked_seconds(secs)
        .ok_or_else(|| ConfigError::new(name, "must be between 0 and 86400 seconds"))
}

fn cache_config(var: &impl Fn(&str) -> Option<String>) -> Result<Option<CacheConfig>, ConfigError> {
    let enabled = match var("CACHE_ENABLED").as_deref() {
        None | Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(other) => {
            return Err(ConfigError::new(
                "CACHE_ENABLED",
                format!("'{other}' is not true or false"),
            ));
        }
    };
    if !enabled {
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
        semantic: flag(var, "CACHE_SEMANTIC", false)?,
        semantic_max_bytes,
        ttl: seconds(var, "CACHE_TTL_SECONDS", 86_400)?,
        lookup_timeout: millis(var, "CACHE_LOOKUP_TIMEOUT_MS", 250)?,
        max_entries: max_entries.max(1),
    }))
}

/// A `true`/`false` (or `1`/`0`) variable.
fn flag(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: bool,
) -> Result<bool, ConfigError> {
    match var(name).as_deref() {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ConfigError::new(
            name,
            format!("'{other}' is not true or false"),
        )),
    }
}

/// Where limits, totals and alert flags live.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `DYNAMODB_TABLE`: the table, or memory when unset.
    pub dynamodb_table: Option<String>,
    /// `STORE_TIMEOUT_MS`: bound on each store call on the request path.
    pub timeout: Duration,
    /// `STORE_WRITE_TIMEOUT_MS`: bound on a cost write (after the response).
    pub write_timeout: Duration,
    /// `DYNAMODB_CREATE_TABLE`: create the table at start (local work).
    pub create_table: bool,
    /// The standard AWS variables, read like every other setting; what is
    /// unset comes from the SDK's default chain (profile, container, IMDS).
    pub aws: AwsSettings,
}

/// The standard AWS settings the DynamoDB client honours.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`).
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key: Option<Secret>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<Secret>,
}

fn millis(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let ms: u64 = parse_var(var, name, &default.to_string(), "a number of milliseconds")?;
    if ms > 600_000 {
        return Err(ConfigError::new(name, "must be at most 600000 ms"));
    }
    Ok(Duration::from_millis(ms))
}

fn checked_seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs > 0.0 && secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
}

fn breaker_config(file: &BreakerFile) -> Result<BreakerConfig, ConfigError> {
    let bad = |field: &str, rule: &str| {
        ConfigError::new("GATEWAY_CONFIG", format!("[breaker] {field} {rule}"))
    };
    let secs = |v: Option<f64>, field: &str, default: f64| {
        checked_seconds(v.unwrap_or(default))
            .ok_or_else(|| bad(field, "must be between 0 and 86400"))
    };
    let failure_rate = file.failure_rate.unwrap_or(0.5);
    if !(failure_rate > 0.0 && failure_rate <= 1.0) {
        return Err(bad("failure_rate", "must be in (0, 1]"));
    }
    Ok(BreakerConfig {
        window: secs(file.window_seconds, "window_seconds", 60.0)?,
        min_requests: file.min_requests.unwrap_or(10).max(1),
        failure_rate,
        consecutive_failures: file.consecutive_failures.unwrap_or(5).max(1),
        cooldown: secs(file.cooldown_seconds, "cooldown_seconds", 30.0)?,
    })
}

fn base_url(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
) -> Result<String, ConfigError> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    let url = reqwest::Url::parse(&raw)
        .map_err(|e| ConfigError::new(name, format!("'{raw}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(name, "must be an http(s) URL with a host"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn parse_keys(list: &str) -> Result<Vec<Secret>, ConfigError> {
    let keys: Vec<Secret> = list
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| check_header_safe("GATEWAY_API_KEYS", k.to_owned()).map(Secret::new))
        .collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Err(ConfigError::new("GATEWAY_API_KEYS", "lists no key"));
    }
    if keys.iter().any(|k| k.expose().len() < 16) {
        return Err(ConfigError::new(
            "GATEWAY_API_KEYS",
            "every key must be at least 16 characters",
        ));
    }
    Ok(keys)
}

/// Keys travel in HTTP headers: printable ASCII only.
fn check_header_safe(name: &str, value: String) -> Result<String, ConfigError> {
    if value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            name,
            "must contain printable ASCII characters only",
        ))
    }
}

fn load_file(path: PathBuf) -> Result<FileConfig, ConfigError> {
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
fn parse_file(text: &str, var: &str, what: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text)
        .map_err(|e| ConfigError::new(var, format!("{what} is not a valid gateway config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn configuration_toml_can_be_given_inline_but_not_twice() {
        let toml = "[limits.per_key]\nrequests_per_minute = 1\n";
        let cfg = load(&[("GATEWAY_CONFIG_TOML", toml)]).expect("inline TOML");
        assert!(cfg.file.limits.contains_key("per_key"));
        let err = load(&[("GATEWAY_CONFIG_TOML", "[limitz]\n")]).expect_err("typo");
        assert_eq!(err.var, "GATEWAY_CONFIG_TOML");
        assert!(err.to_string().contains("limitz"), "{err}");
        let err = load(&[
            ("GATEWAY_CONFIG_TOML", toml),
            ("GATEWAY_CONFIG", "/etc/gateway.toml"),
        ])
        .expect_err("both");
        assert!(err.to_string().contains("not both"), "{err}");
    }

    #[test]
    fn the_deployed_configuration_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/gateway.toml");
        let cfg = load(&[("GATEWAY_CONFIG", path)]).expect("deploy/gateway.toml is valid");
        assert!(cfg.file.limits.contains_key("per_key"));
    }

    #[test]
    fn defaults() {
        let cfg = load(&[]).expect("defaults are valid");
        assert_eq!(cfg.host.to_string(), "127.0.0.1");
        assert_eq!(cfg.port, 3000);
        assert_eq!(cfg.max_request_bytes, 10 * 1024 * 1024);
        assert_eq!(cfg.auth, AuthMode::Unset);
        assert!(cfg.provider(ProviderId::OpenAi).is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("PORT", "eighty"),
            ("HOST", "not-an-ip"),
            ("MAX_REQUEST_BYTES", "-1"),
            ("LOG_FORMAT", "xml"),
            ("GATEWAY_AUTH", "maybe"),
            ("GATEWAY_API_KEYS", "short"),
            ("UPSTREAM_TIMEOUT_SECONDS", "0"),
            ("UPSTREAM_MAX_RETRIES", "50"),
            ("ROUTING_STRATEGY", "fastest"),
            ("RETRY_BACKOFF_MS", "soon"),
            ("CACHE_ENABLED", "maybe"),
            ("CACHE_SIMILARITY_THRESHOLD", "2"),
            ("EMBEDDINGS", "openai"),
            ("GATEWAY_CONFIG", "/nonexistent/gateway.toml"),
        ] {
            let err = load(&[(var, value)]).expect_err(var);
            assert_eq!(err.var, var, "{err}");
        }
        let err = load(&[("OPENAI_API_KEY", "sk-x"), ("OPENAI_BASE_URL", "ftp://x")])
            .expect_err("bad url");
        assert_eq!(err.var, "OPENAI_BASE_URL");
    }

    #[test]
    fn keys_and_provider() {
        let cfg = load(&[
            (
                "GATEWAY_API_KEYS",
                " key-aaaaaaaaaaaaaaaa , key-bbbbbbbbbbbbbbbb ",
            ),
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
        ])
        .expect("valid");
        assert!(matches!(&cfg.auth, AuthMode::Keys(k) if k.len() == 2));
        let openai = cfg.provider(ProviderId::OpenAi).expect("configured");
        assert_eq!(openai.base_url, "http://127.0.0.1:9/v1");
        assert!(!format!("{cfg:?}").contains("sk-test"));
        assert!(cfg.provider(ProviderId::Anthropic).is_none());
    }

    #[test]
    fn every_provider_reads_its_key_and_url() {
        let cfg = load(&[
            ("ANTHROPIC_API_KEY", "sk-ant-x"),
            ("GEMINI_API_KEY", "gem-key"),
            ("GEMINI_BASE_URL", "http://127.0.0.1:9"),
        ])
        .expect("valid");
        let anthropic = cfg.provider(ProviderId::Anthropic).expect("anthropic");
        assert_eq!(anthropic.base_url, "https://api.anthropic.com");
        let gemini = cfg.provider(ProviderId::Gemini).expect("gemini");
        assert_eq!(gemini.api_key.expose(), "gem-key");
        assert_eq!(gemini.base_url, "http://127.0.0.1:9");
        let cfg = load(&[("GOOGLE_API_KEY", "g1"), ("GEMINI_API_KEY", "g2")]).expect("valid");
        assert_eq!(
            cfg.provider(ProviderId::Gemini).map(|p| p.api_key.expose()),
            Some("g1")
        );
    }

    #[test]
    fn provider_overrides_and_breaker_from_the_file() {
        let dir = std::env::temp_dir().join(format!("gw-cfg-prov-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let file = dir.join("p.toml");
        std::fs::write(
            &file,
            "[providers.anthropic]\nfirst_byte_timeout_seconds = 5\nmax_retries = 0\n[breaker]\ncooldown_seconds = 2\n",
        )
        .expect("write");
        let cfg = load(&[
            ("GATEWAY_CONFIG", file.to_str().expect("utf8")),
            ("ANTHROPIC_API_KEY", "k"),
            ("OPENAI_API_KEY", "k"),
            ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", "7"),
        ])
        .expect("valid");
        let anthropic = cfg.provider(ProviderId::Anthropic).expect("anthropic");
        assert_eq!(anthropic.timeouts.first_byte, Duration::from_secs(5));
        assert_eq!(anthropic.max_retries, 0);
        let openai = cfg.provider(ProviderId::OpenAi).expect("openai");
        assert_eq!(openai.timeouts.first_byte, Duration::from_secs(7));
        assert_eq!(openai.max_retries, 2);
        assert_eq!(cfg.breaker.cooldown, Duration::from_secs(2));
        std::fs::write(&file, "[providers.mistral]\nmax_retries = 1\n").expect("write");
        let err = load(&[("GATEWAY_CONFIG", file.to_str().expect("utf8"))])
            .expect_err("unknown provider");
        assert!(err.message.contains("mistral"), "{err}");
    }

    #[test]
    fn auth_none_conflicts_with_keys() {
        let err = load(&[
            ("GATEWAY_AUTH", "none"),
            ("GATEWAY_API_KEYS", "key-aaaaaaaaaaaaaaaa"),
        ])
        .expect_err("conflict");
        assert_eq!(err.var, "GATEWAY_AUTH");
        assert_eq!(
            load(&[("GATEWAY_AUTH", "none")]).expect("ok").auth,
            AuthMode::Disabled
        );
    }

    #[test]
    fn config_file_is_parsed_and_checked() {
        let dir = std::env::temp_dir().join(format!("gw-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "models = [\"openai/gpt-x\"]\n[aliases]\nfast = \"gpt-4o-mini\"\n",
        )
        .expect("write");
        let cfg = load(&[("GATEWAY_CONFIG", good.to_str().expect("utf8"))]).expect("valid");
        assert_eq!(cfg.file.aliases["fast"], "gpt-4o-mini");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[aliasses]\nfast = 1\n").expect("write");
        let err = load(&[("GATEWAY_CONFIG", bad.to_str().expect("utf8"))]).expect_err("typo");
        assert_eq!(err.var, "GATEWAY_CONFIG");
        assert!(err.message.contains("aliasses"), "{}", err.message);
    }
}
