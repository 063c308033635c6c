//! The Lambda front door: the same router behind the Lambda runtime.
//! Answers to Function URLs (`InvokeMode: RESPONSE_STREAM`) and API Gateway
//! REST APIs (`ResponseTransferMode: STREAM`) are streamed, JSON and SSE
//! alike; HTTP APIs and ALB get the buffered format they expect.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::http::header;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use lambda_http::lambda_runtime::{FunctionResponse, MetadataPrelude, StreamResponse};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{LambdaEvent, RequestExt};
use serde_json::Value;

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
    let mode = state.config.lambda_response;
    tracing::info!(
        providers = ?state.providers.keys().map(|p| p.as_str()).collect::<Vec<_>>(),
        response_mode = ?mode,
        "gateway serving Lambda invocations"
    );
    shutdown::register(state.ledger.clone()).await;
    let router = if traces::enabled() {
        app::router(state).layer(axum::middleware::map_response(flush_after))
    } else {
        app::router(state)
    };
    let handler = lambda_http::service_fn(move |event: LambdaEvent<LambdaRequest>| {
        invoke(router.clone(), mode, event)
    });
    lambda_http::lambda_runtime::run(handler).await
}

/// One invocation's answer: streamed, or buffered for the origins that
/// cannot take a stream.
type Answer = FunctionResponse<Value, BodyDataStream>;

/// Runs one invocation through the router and answers in the origin's
/// format.
async fn invoke(
    router: Router,
    mode: ResponseMode,
    event: LambdaEvent<LambdaRequest>,
) -> Result<Answer, lambda_http::Error> {
    if !mode.streams(&event.payload) {
        let mut adapter = lambda_http::Adapter::from(router.map_request(request_path));
        let response = adapter.call(event).await?;
        return Ok(FunctionResponse::BufferedResponse(serde_json::to_value(
            response,
        )?));
    }
    let LambdaEvent { payload, context } = event;
    let request = lambda_http::Request::from(payload).with_lambda_context(context);
    let response = router.oneshot(request_path(request)).await?;
    Ok(FunctionResponse::StreamingResponse(stream_response(
        response,
    )))
}

/// The path the client asked for: API Gateway REST events carry the stage
/// apart (`/prod`), which `lambda_http` puts back in front of the path.
fn request_path(mut request: lambda_http::Request) -> lambda_http::Request {
    let raw = request.raw_http_path();
    if raw.starts_with('/') && raw != request.uri().path() {
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{raw}?{query}"),
            None => raw.to_owned(),
        };
        if let Ok(uri) = path_and_query.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// A response as Lambda's HTTP response stream: the metadata prelude
/// (status, headers, cookies), then the body as it is produced.
fn stream_response(response: Response) -> StreamResponse<BodyDataStream> {
    let (parts, body) = response.into_parts();
    let mut headers = parts.headers;
    let cookies = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned())
        .collect();
    headers.remove(header::SET_COOKIE);
    StreamResponse {
        metadata_prelude: MetadataPrelude {
            status_code: parts.status,
            headers,
            cookies,
        },
        stream: body.into_data_stream(),
    }
}

/// How answers go back to the invoking service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    /// Streamed to Function URLs and API Gateway REST APIs (which must use
    /// `ResponseTransferMode: STREAM`); buffered for HTTP APIs on their
    /// `execute-api` domain and for ALB, which cannot take a stream.
    #[default]
    Auto,
    /// Always streamed.
    Stream,
    /// Always buffered (at most 6 MB; a stream is sent whole at its end).
    Buffered,
}

impl ResponseMode {
    /// Whether the answer to `event` is streamed.
    pub fn streams(self, event: &LambdaRequest) -> bool {
        match self {
            Self::Stream => true,
            Self::Buffered => false,
            Self::Auto => match event {
                LambdaRequest::ApiGatewayV1(_) => true,
                LambdaRequest::ApiGatewayV2(e) => !e
                    .request_context
                    .domain_name
                    .as_deref()
                    .is_some_and(|d| d.contains(".execute-api.")),
                _ => false,
            },
        }
    }
}

impl std::str::FromStr for ResponseMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "stream" => Ok(Self::Stream),
            "buffered" => Ok(Self::Buffered),
            _ => Err(()),
        }
    }
}

/// When the invocation must be over: the Lambda context's deadline, less a
/// margin to answer in, for requests that came through the Lambda door. A
/// deadline already past as the request starts is not a real one (Lambda
/// never invokes after it; some emulators send a duration instead) and is
/// ignored.
pub fn invocation_deadline(extensions: &http::Extensions) -> Option<Instant> {
    let context = extensions.get::<lambda_http::Context>()?;
    let now_ms = crate::clock::unix_millis();
    let left = Duration::from_millis(context.deadline.checked_sub(now_ms).filter(|ms| *ms > 0)?);
    Some(Instant::now() + left.saturating_sub(ANSWER_MARGIN))
}

/// Tells the Lambda service why the function could not start (the Runtime
/// API's init error), so the failed invocation and the logs say why rather
/// than only that the process exited.
pub async fn report_init_error(message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({
        "errorType": "Runtime.ConfigurationError",
        "errorMessage": message,
    });
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header(
            "Lambda-Runtime-Function-Error-Type",
            "Runtime.ConfigurationError",
        )
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    if let Err(e) = sent {
        eprintln!("llm-gateway: could not report the init error: {e}");
    }
}

/// Time kept back from the invocation deadline to send an error.
const ANSWER_MARGIN: Duration = Duration::from_secs(1);

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
