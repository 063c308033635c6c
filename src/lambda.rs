//! The Lambda front door: the same router behind `lambda_http` response
//! streaming. Every answer, JSON or SSE, goes out through the streaming
//! adapter, so a Function URL with `InvokeMode: RESPONSE_STREAM` serves both.

use crate::app::{self, AppState};
use crate::config::AuthMode;

/// Environment variables the Lambda runtime needs (it panics without them).
const RUNTIME_VARS: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Whether this process was started by the Lambda runtime.
pub fn is_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Serves Lambda invocations until the runtime stops the process.
pub async fn run(state: AppState) -> Result<(), lambda_http::Error> {
    if state.config.auth == AuthMode::Unset {
        return Err(
            "refusing to start on Lambda without client keys: set GATEWAY_API_KEYS (or GATEWAY_AUTH=none to run open)"
                .into(),
        );
    }
    if let Some(missing) = RUNTIME_VARS.iter().find(|v| std::env::var_os(v).is_none()) {
        return Err(format!("{missing} is not set; the Lambda runtime needs it").into());
    }
    tracing::info!(
        providers = ?state.providers.keys().map(|p| p.as_str()).collect::<Vec<_>>(),
        "gateway serving Lambda invocations (response streaming)"
    );
    lambda_http::run_with_streaming_response(app::router(state)).await
}
