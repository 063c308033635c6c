//! Typed reading of environment variables: each helper names the variable
//! in its error.

use std::time::Duration;

use super::{BreakerConfig, BreakerFile, ConfigError, Secret};

/// One of a fixed set of words (`options`), `default` when unset; the
/// error lists the words.
pub(super) fn choice<T: Copy>(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    options: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(raw) = var(name) else {
        return Ok(default);
    };
    options
        .iter()
        .find(|(word, _)| *word == raw)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
            ConfigError::new(name, format!("'{raw}' is not one of {}", words.join(", ")))
        })
}

pub(super) fn parse_var<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: &str,
    what: &str,
) -> Result<T, ConfigError> {
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    raw.parse()
        .map_err(|_| ConfigError::new(name, format!("'{raw}' is not {what}")))
}

pub(super) fn seconds(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs: f64 = parse_var(var, name, &default.to_string(), "a number of seconds")?;
    checked_seconds(secs)
        .ok_or_else(|| ConfigError::new(name, "must be between 0 and 86400 seconds"))
}

/// A `true`/`false` (or `1`/`0`) variable.
pub(super) fn flag(
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

pub(super) fn millis(
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

pub(super) fn checked_seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs > 0.0 && secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
}

pub(super) fn base_url(
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

pub(super) fn parse_keys(list: &str) -> Result<Vec<Secret>, ConfigError> {
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
pub(super) fn check_header_safe(name: &str, value: String) -> Result<String, ConfigError> {
    if value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            name,
            "must contain printable ASCII characters only",
        ))
    }
}

pub(super) fn breaker_config(file: &BreakerFile) -> Result<BreakerConfig, ConfigError> {
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
