//! Upstream providers: the built-in three, configured by their key
//! variables, and any number declared in the configuration file as
//! `[providers.NAME]` tables with a `kind`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::env::{base_url, check_header_safe, checked_seconds};
use super::{AwsSettings, ConfigError, FileConfig, ProviderFile, Secret, Timeouts};
use crate::providers::ProviderId;

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI chat completions (OpenAI itself, and any compatible server).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// Azure OpenAI: deployments, `api-version`, the `api-key` header.
    Azure,
    /// AWS Bedrock Converse and ConverseStream.
    Bedrock,
}

impl ProviderKind {
    const NAMES: [(&'static str, ProviderKind); 5] = [
        ("openai", Self::OpenAi),
        ("anthropic", Self::Anthropic),
        ("gemini", Self::Gemini),
        ("azure", Self::Azure),
        ("bedrock", Self::Bedrock),
    ];

    /// The name used in `kind = "…"`.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("openai", |(n, _)| n)
    }

    fn parse(table: &str, word: &str) -> Result<Self, ConfigError> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == word)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                file_error(
                    table,
                    format!(
                        "kind '{word}' is not one of openai, anthropic, gemini, azure, bedrock"
                    ),
                )
            })
    }
}

/// Which field carries the output-token limit to an OpenAI-compatible server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxTokensField {
    /// Sent as the client sent it.
    #[default]
    AsSent,
    /// Always `max_tokens` (older or compatible servers).
    MaxTokens,
    /// Always `max_completion_tokens` (OpenAI reasoning models).
    MaxCompletionTokens,
}

/// Adjustments real OpenAI-compatible servers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirks {
    /// Send `stream_options` (`include_usage`) on streams; servers that
    /// reject the field get `stream_options = false` (usage is then estimated).
    pub stream_options: bool,
    /// `max_tokens_field`.
    pub max_tokens: MaxTokensField,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            stream_options: true,
            max_tokens: MaxTokensField::AsSent,
        }
    }
}

/// Azure OpenAI addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureSettings {
    /// `api_version`: the deployments surface
    /// (`/openai/deployments/{deployment}/chat/completions?api-version=…`);
    /// `None` uses the v1 surface (`/openai/v1/chat/completions`, the
    /// deployment name as `model`).
    pub api_version: Option<String>,
    /// Model name → deployment name (a model without an entry is its own
    /// deployment name).
    pub deployments: BTreeMap<String, String>,
}

impl AzureSettings {
    /// The deployment serving `model`.
    pub fn deployment<'a>(&'a self, model: &'a str) -> &'a str {
        self.deployments.get(model).map_or(model, String::as_str)
    }
}

/// How one upstream provider is reached.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The wire format.
    pub kind: ProviderKind,
    /// The provider's API key; `None` for a keyless server (a local
    /// Ollama or vLLM) or Bedrock (AWS credentials).
    pub api_key: Option<Secret>,
    /// Base URL without a trailing slash (Bedrock: an endpoint override, or empty).
    pub base_url: String,
    /// Extra headers sent on every call (values may be credentials: never
    /// printed).
    pub headers: Vec<(String, Secret)>,
    /// Models this provider lists (and serves by bare name when no other
    /// provider lists them).
    pub models: Vec<String>,
    /// Ask the server's `/models` for its list at start (OpenAI-compatible
    /// providers declared without `models`).
    pub discover_models: bool,
    /// Compatibility adjustments (OpenAI-compatible kinds).
    pub quirks: Quirks,
    /// Azure addressing (kind `azure`).
    pub azure: Option<AzureSettings>,
    /// AWS region, endpoint and credentials (kind `bedrock`).
    pub aws: Option<AwsSettings>,
    /// Time limits of its calls.
    pub timeouts: Timeouts,
    /// Retries on this provider before failing over.
    pub max_retries: u32,
}

impl ProviderConfig {
    /// The key of a provider that cannot be called without one.
    pub fn required_key(&self) -> Result<&str, crate::error::GatewayError> {
        self.api_key.as_ref().map(Secret::expose).ok_or_else(|| {
            crate::error::GatewayError::Internal(format!(
                "a {} provider needs an API key",
                self.kind.as_str()
            ))
        })
    }
}

/// Defaults every provider starts from.
pub(super) struct Defaults {
    pub timeouts: Timeouts,
    pub max_retries: u32,
}

/// Azure's GA data-plane version used when `api_version` is not given
/// with `deployments`.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// The built-in providers that have a key, and every declared provider.
pub(super) fn providers(
    var: &impl Fn(&str) -> Option<String>,
    file: &mut FileConfig,
    defaults: &Defaults,
) -> Result<BTreeMap<ProviderId, ProviderConfig>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, table) in &file.providers {
        check_name(name)?;
        if let Some(id) = ProviderId::from_prefix(name).filter(|id| id.is_builtin()) {
            check_builtin_table(id, name, table)?;
        }
    }
    for id in ProviderId::BUILTIN {
        let found = id
            .key_vars()
            .iter()
            .find_map(|name| var(name).map(|v| (*name, v)));
        let Some((key_var, key)) = found else {
            continue;
        };
        let Some((url_var, default_url)) = id.base_url_var() else {
            continue;
        };
        let table = file
            .providers
            .iter()
            .find(|(n, _)| ProviderId::from_prefix(n) == Some(id))
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        let kind = match id {
            ProviderId::ANTHROPIC => ProviderKind::Anthropic,
            ProviderId::GEMINI => ProviderKind::Gemini,
            _ => ProviderKind::OpenAi,
        };
        let mut config = common(id.as_str(), &table, kind, defaults)?;
        config.api_key = Some(Secret::new(check_header_safe(key_var, key)?));
        config.base_url = base_url(var, url_var, default_url)?;
        config.discover_models = false;
        out.insert(id, config);
    }
    for (name, table) in &file.providers {
        if ProviderId::from_prefix(name).is_some_and(|id| id.is_builtin()) {
            continue;
        }
        let kind = ProviderKind::parse(
            &format!("[providers.{name}]"),
            table.kind.as_deref().ok_or_else(|| {
                file_error(
                    &format!("[providers.{name}]"),
                    "needs kind = \"openai\" (or anthropic, gemini, azure, bedrock); the built-in providers are openai, anthropic, google",
                )
            })?,
        )?;
        let config = declared(var, name, table, kind, defaults)?;
        out.insert(ProviderId::declare(name), config);
    }
    // A provider's own prices are kept as `NAME/model`; `[pricing]` wins.
    let scoped: Vec<(String, crate::pricing::PriceFile)> = file
        .providers
        .iter()
        .filter_map(|(name, table)| Some((ProviderId::from_prefix(name)?, table)))
        .flat_map(|(id, table)| {
            table
                .pricing
                .iter()
                .map(move |(model, price)| (format!("{id}/{model}"), price.clone()))
        })
        .collect();
    for (name, price) in scoped {
        file.pricing.entry(name).or_insert(price);
    }
    Ok(out)
}

/// Names become `provider/model` prefixes, header values and metric labels.
fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
        && name != "per_key"
        && name != "other";
    if ok {
        Ok(())
    } else {
        Err(file_error(
            &format!("[providers.{name}]"),
            "a provider name is 1 to 32 of a-z 0-9 - _ (and not per_key or other)",
        ))
    }
}

/// The built-in three take their key and URL from their variables.
fn check_builtin_table(
    id: ProviderId,
    name: &str,
    table: &ProviderFile,
) -> Result<(), ConfigError> {
    let table_name = format!("[providers.{name}]");
    let fixed = [
        ("kind", table.kind.is_some()),
        ("base_url", table.base_url.is_some()),
        ("api_key_env", table.api_key_env.is_some()),
        ("api_version", table.api_version.is_some()),
        ("deployments", !table.deployments.is_empty()),
        ("region", table.region.is_some()),
    ];
    if let Some((field, _)) = fixed.iter().find(|(_, set)| *set) {
        let (url_var, _) = id.base_url_var().unwrap_or(("", ""));
        return Err(file_error(
            &table_name,
            format!(
                "{field} cannot be set for the built-in provider {id} (its key is {}, its URL {url_var}); declare another name with a kind",
                id.key_env_var()
            ),
        ));
    }
    Ok(())
}

/// The settings every kind shares: timeouts, retries, headers, models, quirks.
fn common(
    name: &str,
    table: &ProviderFile,
    kind: ProviderKind,
    defaults: &Defaults,
) -> Result<ProviderConfig, ConfigError> {
    let table_name = format!("[providers.{name}]");
    let field = |v: Option<f64>, field: &str, default: Duration| match v {
        None => Ok(default),
        Some(s) => checked_seconds(s)
            .ok_or_else(|| file_error(&table_name, format!("{field} must be between 0 and 86400"))),
    };
    let timeouts = Timeouts {
        first_byte: field(
            table.first_byte_timeout_seconds,
            "first_byte_timeout_seconds",
            defaults.timeouts.first_byte,
        )?,
        total: field(
            table.timeout_seconds,
            "timeout_seconds",
            defaults.timeouts.total,
        )?,
        idle: field(
            table.idle_timeout_seconds,
            "idle_timeout_seconds",
            defaults.timeouts.idle,
        )?,
    };
    let mut headers = Vec::new();
    for (header, value) in &table.headers {
        let valid = reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(value).is_ok();
        if !valid {
            return Err(file_error(
                &table_name,
                format!("headers: '{header}' is not a valid header name and value"),
            ));
        }
        headers.push((header.clone(), Secret::new(value.clone())));
    }
    if table.models.as_ref().is_some_and(|m| m.len() > 1_000) {
        return Err(file_error(&table_name, "lists more than 1000 models"));
    }
    if let Some(model) = table
        .models
        .iter()
        .flatten()
        .find(|m| m.is_empty() || m.len() > 256)
    {
        return Err(file_error(
            &table_name,
            format!("model '{model}' must be 1 to 256 characters"),
        ));
    }
    let quirks = Quirks {
        stream_options: table.stream_options.unwrap_or(true),
        max_tokens: match table.max_tokens_field.as_deref() {
            None => MaxTokensField::AsSent,
            Some("max_tokens") => MaxTokensField::MaxTokens,
            Some("max_completion_tokens") => MaxTokensField::MaxCompletionTokens,
            Some(other) => {
                return Err(file_error(
                    &table_name,
                    format!(
                        "max_tokens_field '{other}' is not max_tokens or max_completion_tokens"
                    ),
                ));
            }
        },
    };
    let openai_like = matches!(kind, ProviderKind::OpenAi | ProviderKind::Azure);
    if !openai_like && (table.stream_options.is_some() || table.max_tokens_field.is_some()) {
        return Err(file_error(
            &table_name,
            "stream_options and max_tokens_field apply to OpenAI-compatible kinds (openai, azure)",
        ));
    }
    Ok(ProviderConfig {
        kind,
        api_key: None,
        base_url: String::new(),
        headers,
        models: table.models.clone().unwrap_or_default(),
        discover_models: false,
        quirks,
        azure: None,
        aws: None,
        timeouts,
        max_retries: table.max_retries.unwrap_or(defaults.max_retries).min(10),
    })
}

/// A provider declared with a kind.
fn declared(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    table: &ProviderFile,
    kind: ProviderKind,
    defaults: &Defaults,
) -> Result<ProviderConfig, ConfigError> {
    let table_name = &format!("[providers.{name}]");
    let mut config = common(name, table, kind, defaults)?;
    let only = |field: &str, set: bool, kinds: &str| {
        if set {
            Err(file_error(
                table_name,
                format!("{field} applies to kind {kinds} only"),
            ))
        } else {
            Ok(())
        }
    };
    only(
        "api_version",
        table.api_version.is_some() && kind != ProviderKind::Azure,
        "azure",
    )?;
    only(
        "deployments",
        !table.deployments.is_empty() && kind != ProviderKind::Azure,
        "azure",
    )?;
    only(
        "region",
        table.region.is_some() && kind != ProviderKind::Bedrock,
        "bedrock",
    )?;

    config.api_key = match &table.api_key_env {
        None => None,
        Some(env) if kind == ProviderKind::Bedrock => {
            return Err(file_error(
                table_name,
                format!(
                    "api_key_env ({env}) does not apply to bedrock: it signs with AWS credentials"
                ),
            ));
        }
        Some(env) => {
            let key = var(env).ok_or_else(|| {
                file_error(
                    table_name,
                    format!("api_key_env names {env}, which is not set"),
                )
            })?;
            Some(Secret::new(check_header_safe(env, key)?))
        }
    };
    if config.api_key.is_none()
        && matches!(
            kind,
            ProviderKind::Anthropic | ProviderKind::Gemini | ProviderKind::Azure
        )
    {
        return Err(file_error(
            table_name,
            format!("kind {} needs api_key_env", kind.as_str()),
        ));
    }
    let url = |required: bool| -> Result<String, ConfigError> {
        match &table.base_url {
            Some(url) => {
                let lookup = |_: &str| Some(url.clone());
                base_url(&lookup, &format!("{table_name} base_url"), url)
            }
            None if required => Err(file_error(table_name, "needs base_url")),
            None => Ok(String::new()),
        }
    };
    match kind {
        ProviderKind::OpenAi | ProviderKind::Anthropic | ProviderKind::Gemini => {
            config.base_url = url(true)?;
            config.discover_models = kind == ProviderKind::OpenAi && table.models.is_none();
        }
        ProviderKind::Azure => {
            // The resource endpoint (`https://NAME.openai.azure.com`); the
            // surfaces below it are chosen by `api_version`.
            config.base_url = url(true)?;
            config.base_url = config
                .base_url
                .trim_end_matches("/openai/v1")
                .trim_end_matches("/openai")
                .to_owned();
            let api_version = match (&table.api_version, table.deployments.is_empty()) {
                (Some(v), _) if v == "v1" => None,
                (Some(v), _) => Some(v.clone()),
                (None, false) => Some(AZURE_API_VERSION.to_owned()),
                (None, true) => None,
            };
            if api_version.as_deref().is_some_and(|v| {
                !v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
            }) {
                return Err(file_error(
                    table_name,
                    "api_version is not a version string",
                ));
            }
            if let Some((model, _)) = table.deployments.iter().find(|(_, d)| {
                d.is_empty()
                    || !d
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            }) {
                return Err(file_error(
                    table_name,
                    format!("deployments.{model} is not a deployment name (A-Z a-z 0-9 - _ .)"),
                ));
            }
            for model in table.deployments.keys() {
                if !config.models.contains(model) {
                    config.models.push(model.clone());
                }
            }
            if config.models.is_empty() {
                return Err(file_error(
                    table_name,
                    "needs models or deployments (model name = deployment name)",
                ));
            }
            config.azure = Some(AzureSettings {
                api_version,
                deployments: table.deployments.clone(),
            });
        }
        ProviderKind::Bedrock => {
            config.base_url = url(false)?;
            let endpoint = Some(config.base_url.clone())
                .filter(|u| !u.is_empty())
                .or_else(|| var("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"))
                .or_else(|| var("AWS_ENDPOINT_URL"));
            config.aws = Some(AwsSettings {
                endpoint,
                region: table
                    .region
                    .clone()
                    .or_else(|| var("AWS_REGION"))
                    .or_else(|| var("AWS_DEFAULT_REGION")),
                access_key: var("AWS_ACCESS_KEY_ID").map(Secret::new),
                secret_key: var("AWS_SECRET_ACCESS_KEY").map(Secret::new),
                session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
            });
            if config.models.is_empty() {
                return Err(file_error(
                    table_name,
                    "needs models (Bedrock model or inference-profile ids)",
                ));
            }
        }
    }
    Ok(config)
}

fn file_error(table: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new("GATEWAY_CONFIG", format!("{table} {}", message.into()))
}
