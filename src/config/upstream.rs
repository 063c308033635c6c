//! How the upstream providers are called: the HTTP clients, time limits
//! and the retry policy every provider starts from.

use super::env::{flag, millis, parse_var, seconds};
use super::{ConfigError, RetryPolicy, Timeouts};
use crate::providers::clients::ClientSettings;

/// `UPSTREAM_*`, `RETRY_*` and `REQUEST_DEADLINE_SECONDS`.
pub(super) fn settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<(ClientSettings, Timeouts, RetryPolicy), ConfigError> {
    let upstream = ClientSettings {
        connect_timeout: seconds(var, "UPSTREAM_CONNECT_TIMEOUT_SECONDS", 10)?,
        h2c: flag(var, "UPSTREAM_HTTP2_PRIOR_KNOWLEDGE", false)?,
        lanes: parse_var(var, "UPSTREAM_CONNECTIONS", "16", "a whole number")?,
        streams_per_connection: parse_var(
            var,
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
        first_byte: seconds(var, "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", 60)?,
        total: seconds(var, "UPSTREAM_TIMEOUT_SECONDS", 300)?,
        idle: seconds(var, "UPSTREAM_IDLE_TIMEOUT_SECONDS", 60)?,
    };
    let retry = RetryPolicy {
        max_retries: parse_var(var, "UPSTREAM_MAX_RETRIES", "2", "a whole number")?,
        base_backoff: millis(var, "RETRY_BACKOFF_MS", 200)?,
        max_backoff: millis(var, "RETRY_MAX_BACKOFF_MS", 5_000)?,
        max_retry_after: seconds(var, "RETRY_AFTER_MAX_SECONDS", 20)?,
        deadline: seconds(var, "REQUEST_DEADLINE_SECONDS", 600)?,
    };
    if retry.max_retries > 10 {
        return Err(ConfigError::new(
            "UPSTREAM_MAX_RETRIES",
            "must be at most 10",
        ));
    }
    Ok((upstream, timeouts, retry))
}
