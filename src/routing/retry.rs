//! When to try again and how long to wait first.

use std::time::Duration;

use crate::config::RetryPolicy;
use crate::error::GatewayError;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the same provider again (after a backoff).
    Retry,
    /// Move on to the next candidate.
    Failover,
    /// Stop: the request itself is at fault and would fail anywhere.
    Stop,
}

/// Classifies an error: 408, 429, 5xx, 529, timeouts and connection errors
/// are retried; provider auth failures, unknown models, broken responses and
/// requests a provider cannot express fail over; other 4xx stop.
pub fn next_step(error: &GatewayError) -> Next {
    match error {
        e if e.is_retryable() => Next::Retry,
        GatewayError::Upstream {
            status: 401 | 403 | 404,
            ..
        }
        | GatewayError::UpstreamProtocol { .. }
        | GatewayError::InvalidRequest { .. } => Next::Failover,
        _ => Next::Stop,
    }
}

/// Whether the error says something about the provider's health (counts
/// against its circuit breaker). Rate limits and client errors do not.
pub fn is_health_failure(error: &GatewayError) -> bool {
    match error {
        GatewayError::Upstream { status, .. } => *status >= 500,
        GatewayError::UpstreamTimeout { .. }
        | GatewayError::UpstreamUnavailable { .. }
        | GatewayError::UpstreamProtocol { .. } => true,
        _ => false,
    }
}

/// The wait before retry number `retry` (0-based): the provider's
/// `Retry-After` (capped), else exponential backoff with equal jitter.
pub fn backoff(policy: &RetryPolicy, retry: u32, retry_after: Option<u64>) -> Duration {
    if let Some(seconds) = retry_after {
        return Duration::from_secs(seconds).min(policy.max_retry_after);
    }
    let exp = policy
        .base_backoff
        .saturating_mul(1u32 << retry.min(16))
        .min(policy.max_backoff);
    let half = exp / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderId;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
        }
    }

    fn upstream(status: u16) -> GatewayError {
        GatewayError::Upstream {
            provider: ProviderId::OPENAI,
            status,
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn classification() {
        for status in [408, 429, 500, 502, 503, 504, 529] {
            assert_eq!(next_step(&upstream(status)), Next::Retry, "{status}");
        }
        for status in [401, 403, 404] {
            assert_eq!(next_step(&upstream(status)), Next::Failover, "{status}");
        }
        for status in [400, 413, 422] {
            assert_eq!(next_step(&upstream(status)), Next::Stop, "{status}");
        }
        assert_eq!(
            next_step(&GatewayError::UpstreamTimeout {
                provider: ProviderId::GEMINI
            }),
            Next::Retry
        );
        // Another provider would only be a way around the operator's filter.
        let filtered = GatewayError::ContentFiltered {
            provider: ProviderId::declare("azure-test"),
            message: String::new(),
        };
        assert_eq!(next_step(&filtered), Next::Stop);
        assert!(
            is_health_failure(&upstream(503))
                && !is_health_failure(&upstream(429))
                && !is_health_failure(&upstream(400))
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let p = policy();
        for retry in 0..6 {
            let wait = backoff(&p, retry, None);
            let exp = (100u64 << retry).min(1000);
            assert!(
                wait >= Duration::from_millis(exp / 2) && wait <= Duration::from_millis(exp),
                "{retry}: {wait:?}"
            );
        }
        assert_eq!(backoff(&p, 0, Some(2)), Duration::from_secs(2));
        assert_eq!(backoff(&p, 0, Some(120)), Duration::from_secs(5), "capped");
    }
}
