//! One error type for the whole gateway, mapped once to an HTTP status and the
//! OpenAI error body `{"error":{"message","type","param","code"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::providers::ProviderId;

/// Everything that can go wrong while serving a request.
///
/// Messages never carry secrets: provider messages are redacted by the
/// provider adapters before they become an `Upstream` error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed or violates the schema; `param` names the field.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    /// Missing or wrong gateway API key.
    #[error("invalid or missing API key")]
    Unauthorized,
    /// IAM auth is on and the request carries no verified IAM identity.
    #[error(
        "this gateway identifies callers by IAM: send a SigV4-signed request to its AWS_IAM Function URL or IAM-authorised REST API"
    )]
    IamIdentityRequired,
    /// A virtual key whose secret matched but that may no longer be used.
    #[error("this API key {reason}")]
    KeyRefused {
        /// `has been revoked` or `has expired`.
        reason: &'static str,
    },
    /// The key is valid but may not do this.
    #[error("{message}")]
    Forbidden {
        message: String,
        /// `model_not_allowed`, `operator_key_required`, …
        code: &'static str,
    },
    /// The key's budget for a period is spent.
    #[error("the {period} budget of this API key (${budget}) is spent")]
    BudgetExceeded {
        /// `daily`, `monthly` or `total`.
        period: &'static str,
        /// The budget, USD.
        budget: String,
        /// Seconds until the period ends, when it does.
        retry_after: Option<u64>,
    },
    /// No virtual key has this id.
    #[error("no key with id '{id}'")]
    KeyNotFound { id: String },
    /// No stored response with this id for this client (never stored,
    /// expired, deleted, or another client's).
    #[error("no response with id '{id}' is stored for this API key")]
    ResponseNotFound { id: String },
    /// The store holding keys or totals could not be read.
    #[error("{what} unavailable: {detail}")]
    StoreUnavailable { what: &'static str, detail: String },
    /// The request body did not arrive in time.
    #[error("the request body was not received in time")]
    RequestTimeout,
    /// The body is larger than `MAX_REQUEST_BYTES`.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// No provider or alias serves this model.
    #[error("the model '{model}' does not exist or is not served by this gateway")]
    ModelNotFound { model: String },
    /// The model belongs to a provider that has no API key configured.
    #[error("the model '{model}' is served by {provider}, which is not configured (set {env_var})")]
    ProviderNotConfigured {
        model: String,
        provider: ProviderId,
        env_var: &'static str,
    },
    /// No route matches the path.
    #[error("unknown endpoint {method} {path}")]
    UnknownEndpoint { method: String, path: String },
    /// The provider answered with an error status.
    #[error("{provider} returned HTTP {status}: {message}")]
    Upstream {
        provider: ProviderId,
        status: u16,
        message: String,
        /// Seconds from the provider's `Retry-After`, when it sent one.
        retry_after: Option<u64>,
    },
    /// The provider's content filter refused the prompt (Azure's
    /// `content_filter` error).
    #[error("{provider} filtered the request: {message}")]
    ContentFiltered {
        provider: ProviderId,
        message: String,
    },
    /// The provider did not answer in time.
    #[error("{provider} did not respond in time")]
    UpstreamTimeout { provider: ProviderId },
    /// The provider could not be reached or dropped the connection.
    #[error("{provider} could not be reached: {detail}")]
    UpstreamUnavailable {
        provider: ProviderId,
        detail: String,
    },
    /// The provider answered with something that is not its documented wire format.
    #[error("{provider} sent an invalid response: {detail}")]
    UpstreamProtocol {
        provider: ProviderId,
        detail: String,
    },
    /// A gateway rate limit (a provider's or the client key's) is reached.
    #[error("rate limit reached for {scope}; retry after {retry_after} s")]
    RateLimited {
        /// What is limited: a provider or `this API key`.
        scope: String,
        /// Seconds until a request could pass.
        retry_after: u64,
    },
    /// Every candidate provider failed; the summary says how.
    #[error("all providers failed: {summary}")]
    AllFailed { summary: String },
    /// A bug or an unexpected state inside the gateway.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// A 400 error naming the offending field.
    pub fn invalid(message: impl Into<String>, param: impl Into<Option<String>>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.into(),
        }
    }

    /// A 429 for `scope` from a limit's refusal (`Retry-After` ≥ 1 s).
    pub fn rate_limited(scope: impl Into<String>, denied: &crate::limits::Denied) -> Self {
        Self::RateLimited {
            scope: scope.into(),
            retry_after: denied.retry_after.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// The HTTP status the client receives.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } | Self::ContentFiltered { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::KeyRefused { .. } | Self::IamIdentityRequired => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BudgetExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ModelNotFound { .. }
            | Self::KeyNotFound { .. }
            | Self::ResponseNotFound { .. }
            | Self::ProviderNotConfigured { .. }
            | Self::UnknownEndpoint { .. } => StatusCode::NOT_FOUND,
            Self::Upstream { status, .. } => upstream_status(*status),
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::UpstreamUnavailable { .. } | Self::UpstreamProtocol { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Self::AllFailed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether trying again (same or another provider) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Upstream { status, .. } => {
                matches!(status, 408 | 429 | 500..=504 | 529)
            }
            Self::UpstreamTimeout { .. } | Self::UpstreamUnavailable { .. } => true,
            _ => false,
        }
    }

    /// Seconds the client should wait, when known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Upstream { retry_after, .. } => *retry_after,
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::BudgetExceeded { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider involved, if any.
    pub fn provider(&self) -> Option<ProviderId> {
        match self {
            Self::Upstream { provider, .. }
            | Self::UpstreamTimeout { provider }
            | Self::UpstreamUnavailable { provider, .. }
            | Self::UpstreamProtocol { provider, .. }
            | Self::ContentFiltered { provider, .. } => Some(*provider),
            Self::ProviderNotConfigured { provider, .. } => Some(*provider),
            _ => None,
        }
    }

    fn error_type(&self) -> &'static str {
        if let Self::BudgetExceeded { .. } = self {
            return "insufficient_quota";
        }
        match self.status().as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        }
    }

    fn code(&self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidRequest { .. } => return None,
            Self::Unauthorized | Self::KeyRefused { .. } => "invalid_api_key",
            Self::IamIdentityRequired => "iam_identity_required",
            Self::Forbidden { code, .. } => code,
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::KeyNotFound { .. } => "key_not_found",
            Self::ResponseNotFound { .. } => "response_not_found",
            Self::RequestTimeout => "request_timeout",
            Self::StoreUnavailable { .. } => "store_unavailable",
            Self::PayloadTooLarge { .. } => "request_too_large",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::ProviderNotConfigured { .. } => "provider_not_configured",
            Self::UnknownEndpoint { .. } => "unknown_url",
            Self::Upstream { status, .. } => match *status {
                401 | 403 => "upstream_auth_failed",
                429 => "rate_limit_exceeded",
                400..=499 => return None,
                _ => "upstream_error",
            },
            Self::ContentFiltered { .. } => "content_filter",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
            Self::UpstreamUnavailable { .. } => "upstream_unavailable",
            Self::UpstreamProtocol { .. } => "upstream_invalid_response",
            Self::AllFailed { .. } => "all_providers_failed",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::Internal(_) => "internal_error",
        })
    }

    /// The message shown to the client. Upstream auth failures are the gateway
    /// operator's problem: the client sees no provider text for them.
    pub fn client_message(&self) -> String {
        match self {
            Self::Upstream {
                provider,
                status: 401 | 403,
                ..
            } => format!(
                "{provider} rejected the gateway's credentials; the gateway operator must fix the provider API key"
            ),
            Self::Internal(_) => "internal error in the gateway".to_owned(),
            other => other.to_string(),
        }
    }

    /// The OpenAI-format error body.
    pub fn body(&self) -> ErrorBody {
        let param = match self {
            Self::InvalidRequest { param, .. } => param.clone(),
            Self::ModelNotFound { .. } | Self::ProviderNotConfigured { .. } => {
                Some("model".to_owned())
            }
            Self::ContentFiltered { .. } => Some("prompt".to_owned()),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                message: self.client_message(),
                r#type: self.error_type(),
                param,
                code: self.code(),
            },
        }
    }
}

/// How an upstream status is shown to the client: client errors keep their
/// meaning, auth failures at the provider are a gateway-side (502) problem.
fn upstream_status(status: u16) -> StatusCode {
    match status {
        400 | 404 | 409 | 413 | 422 | 429 => {
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
        }
        408 | 504 => StatusCode::GATEWAY_TIMEOUT,
        503 | 529 => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// `{"error": {...}}` as OpenAI sends it.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inner OpenAI error object.
#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub message: String,
    pub r#type: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, status = status.as_u16(), "request failed");
        }
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // The body was not read to its end, so the connection cannot carry
        // another request: say so, or a client may reuse it and fail.
        if matches!(self, Self::PayloadTooLarge { .. } | Self::RequestTimeout) {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        // OpenAI's SDKs honour this: retrying cannot help a spent budget
        // or a refused permission.
        if matches!(self, Self::BudgetExceeded { .. } | Self::Forbidden { .. }) {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(err: &GatewayError) -> serde_json::Value {
        serde_json::to_value(err.body()).expect("serializable")
    }

    #[test]
    fn invalid_request_names_the_field() {
        let err = GatewayError::invalid("messages: must not be empty", Some("messages".into()));
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let body = body_json(&err);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "messages");
        assert_eq!(body["error"]["message"], "messages: must not be empty");
        assert!(body["error"]["code"].is_null());
    }

    #[test]
    fn upstream_statuses_map_to_client_statuses() {
        let up = |status| GatewayError::Upstream {
            provider: ProviderId::OPENAI,
            status,
            message: "x".into(),
            retry_after: None,
        };
        assert_eq!(up(400).status(), StatusCode::BAD_REQUEST);
        assert_eq!(up(401).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(up(403).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(up(404).status(), StatusCode::NOT_FOUND);
        assert_eq!(up(429).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(up(500).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(up(503).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(up(529).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(up(504).status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(up(429).is_retryable() && up(529).is_retryable() && up(502).is_retryable());
        assert!(!up(400).is_retryable() && !up(401).is_retryable());
    }

    #[test]
    fn upstream_auth_failure_hides_provider_text() {
        let err = GatewayError::Upstream {
            provider: ProviderId::OPENAI,
            status: 401,
            message: "Incorrect API key provided: sk-abc".into(),
            retry_after: None,
        };
        let body = body_json(&err);
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("openai"));
        assert!(!message.contains("sk-abc"));
        assert_eq!(body["error"]["code"], "upstream_auth_failed");
    }

    #[test]
    fn upstream_client_errors_keep_provider_message() {
        let err = GatewayError::Upstream {
            provider: ProviderId::OPENAI,
            status: 400,
            message: "Invalid value for 'temperature'".into(),
            retry_after: None,
        };
        let body = body_json(&err);
        assert_eq!(
            body["error"]["message"],
            "openai returned HTTP 400: Invalid value for 'temperature'"
        );
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let err = GatewayError::Internal("stack trace at foo.rs:12".into());
        assert_eq!(
            body_json(&err)["error"]["message"],
            "internal error in the gateway"
        );
    }

    #[test]
    fn retry_after_header_is_set() {
        let err = GatewayError::Upstream {
            provider: ProviderId::OPENAI,
            status: 429,
            message: "slow down".into(),
            retry_after: Some(7),
        };
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }
}
