//! The Lambda front door: the same router behind `lambda_http` response
//! streaming. Every answer, JSON or SSE, goes out through the streaming
//! adapter, so a Function URL with `InvokeMode: RESPONSE_STREAM` serves both.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;

mod shutdown;

use crate::app::{self, AppState};
use crate::config::AuthMode;
use crate::traces;

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
    shutdown::register(state.ledger.clone()).await;
    let router = if traces::enabled() {
        app::router(state).layer(axum::middleware::map_response(flush_after))
    } else {
        app::router(state)
    };
    lambda_http::run_with_streaming_response(router).await
}

/// Exports the spans of an invocation before it ends: the body's last step
/// is the flush, and the invocation ends with the body (the process may be
/// frozen right after).
async fn flush_after(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let flushed = futures_util::stream::once(traces::flush())
        .filter_map(|()| async { None::<Result<Bytes, axum::Error>> });
    Response::from_parts(
        parts,
        Body::from_stream(body.into_data_stream().chain(flushed)),
    )
}
