//! Mock LLM provider upstreams for tests and benchmarks.
//!
//! The server speaks each provider's wire format (OpenAI chat completions
//! for now: JSON and SSE, error bodies) and injects faults on request.
//! Faults are asked for inside the last user message, so they work through
//! any client and any gateway, in parallel tests:
//!
//! | directive              | effect                                                     |
//! |------------------------|------------------------------------------------------------|
//! | `mock:status=429`      | error status with the provider's error body (`Retry-After` on 429) |
//! | `mock:delay_ms=N`      | wait N ms before answering                                 |
//! | `mock:chunk_delay_ms=N`| wait N ms between stream chunks                            |
//! | `mock:drop`            | close the connection without answering                    |
//! | `mock:cut_after=N`     | stream N content chunks, then reset the connection        |
//! | `mock:mid_error`       | stream one content chunk, then an in-band error event     |
//! | `mock:hold`            | stream the first content chunk, then wait for `release()` |
//! | `mock:garbage`         | answer 200 with a body that is not the wire format       |
//! | `mock:tool`            | call the first tool of the request                        |
//! | `mock:words=N`         | answer with N words                                       |
//! | `mock:inspect`         | answer with a JSON summary of what the mock received      |
//! | `mock:flaky=N`         | apply the other faults only to the first N such requests  |
//! | `…@openai` etc.        | apply a directive to one provider's endpoint only        |
//!
//! Embeddings (OpenAI `POST /v1/embeddings`, Gemini `:batchEmbedContents`)
//! are deterministic unit vectors of each text (64 dimensions unless
//! `dimensions` / `outputDimensionality` says otherwise); faults are read
//! from the first input.
//!
//! The answer is `Echo: <user text>`, split into one chunk per word when
//! streamed. Routes: OpenAI `POST /v1/chat/completions` and `GET /v1/models`;
//! Anthropic `POST /v1/messages`; Gemini `POST
//! /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`; Azure OpenAI `POST
//! /openai/deployments/{deployment}/chat/completions?api-version=…` and
//! `/openai/v1/chat/completions` (`api-key` header); Bedrock `POST
//! /model/{modelId}/converse` and `/converse-stream` (AWS event-stream
//! frames, SigV4 `Authorization` required). Each checks its provider's key
//! header and rejects request shapes the real API rejects.
//! `mock:filter=prompt` / `mock:filter=output` make a content filter act
//! (Azure's `content_filter` error or finish reason; Bedrock's
//! `guardrail_intervened` stop reason).

#![forbid(unsafe_code)]

mod anthropic;
mod azure;
mod bedrock;
mod directives;
mod gemini;
mod openai;
mod script;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use directives::Directives;

/// A response body the mock can cut mid-way (an `Err` frame resets the connection).
pub type MockBody = BoxBody<Bytes, io::Error>;

/// Returned by a handler to close the connection without a response.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Request path and query.
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// Parsed JSON body (`Null` when not JSON).
    pub body: Value,
    /// HTTP version the request came in on.
    pub version: hyper::Version,
}

impl RecordedRequest {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Shared state of one mock server.
#[derive(Debug, Default)]
pub struct MockState {
    api_key: Option<String>,
    requests: Mutex<Vec<RecordedRequest>>,
    release: watch::Sender<u64>,
    counter: AtomicU64,
    record: bool,
    seen: Mutex<HashMap<String, u64>>,
    trace_exports: AtomicU64,
    trace_bytes: AtomicU64,
    /// Streams being sent now.
    pub(crate) streams_open: AtomicU64,
    /// Streams whose reader went away before their end.
    pub(crate) streams_abandoned: AtomicU64,
    /// Connections accepted.
    connections: AtomicU64,
}

impl MockState {
    /// How often `key` was seen before; counts this sighting.
    pub(crate) fn seen(&self, key: &str) -> u64 {
        let Ok(mut seen) = self.seen.lock() else {
            return 0;
        };
        let count = seen.entry(key.to_owned()).or_insert(0);
        *count += 1;
        *count - 1
    }

    fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn record(&self, request: RecordedRequest) {
        if self.record
            && let Ok(mut requests) = self.requests.lock()
        {
            requests.push(request);
        }
    }
}

/// Options for [`MockUpstream::start`].
#[derive(Debug, Clone, Default)]
pub struct MockOptions {
    /// Port to bind on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// API key the mock demands (`Bearer` for OpenAI); `None` accepts any.
    pub api_key: Option<String>,
    /// Keep every request for inspection (off for benchmarks).
    pub record: bool,
    /// Concurrent HTTP/2 streams allowed per connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`; `None`: 10,000).
    pub h2_max_streams: Option<u32>,
}

/// A running mock server; stops when dropped.
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<MockState>,
    _stop: watch::Sender<()>,
}

impl MockUpstream {
    /// Binds and starts serving in the background.
    pub async fn start(options: MockOptions) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(MockState {
            api_key: options.api_key,
            record: options.record,
            ..MockState::default()
        });
        let (stop, stopped) = watch::channel(());
        let max_streams = options.h2_max_streams.unwrap_or(MAX_H2_STREAMS);
        tokio::spawn(accept_loop(listener, state.clone(), stopped, max_streams));
        Ok(Self {
            addr,
            state,
            _stop: stop,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OpenAI base URL (`…/v1`).
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far (when recording).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Streams being sent now, and streams whose reader left before their
    /// end (a gateway that cancels upstream calls when its client leaves).
    pub fn streams(&self) -> (u64, u64) {
        (
            self.state.streams_open.load(Ordering::Relaxed),
            self.state.streams_abandoned.load(Ordering::Relaxed),
        )
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// Lets every stream waiting on `mock:hold` continue.
    pub fn release(&self) {
        self.state.release.send_modify(|g| *g += 1);
    }
}

/// Concurrent HTTP/2 streams allowed on one connection by default: h2c
/// clients may hold thousands on one (hyper's default cap is 200).
const MAX_H2_STREAMS: u32 = 10_000;

async fn accept_loop(
    listener: TcpListener,
    state: Arc<MockState>,
    mut stopped: watch::Receiver<()>,
    max_streams: u32,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http2().max_concurrent_streams(max_streams);
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

async fn handle(
    state: Arc<MockState>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, DropConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let headers = req.headers().clone();
    let version = req.version();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let record = |state: &MockState| {
        state.record(RecordedRequest {
            path: if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            },
            headers: headers.clone(),
            body: body.clone(),
            version,
        })
    };

    match (method, path.as_str()) {
        (Method::POST, "/__mock/release") => {
            state.release.send_modify(|g| *g += 1);
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({"released": true}),
            ))
        }
        (Method::GET, "/__mock/requests") => {
            let recorded: Vec<Value> = state
                .requests
                .lock()
                .map(|r| {
                    r.iter()
                        .map(|r| serde_json::json!({"path": r.path, "body": r.body}))
                        .collect()
                })
                .unwrap_or_default();
            Ok(json_response(StatusCode::OK, &Value::Array(recorded)))
        }
        // An OTLP/HTTP trace sink (for benchmarks): accepts and counts.
        (Method::POST, "/v1/traces") => {
            state.trace_exports.fetch_add(1, Ordering::Relaxed);
            state
                .trace_bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            let mut response = Response::new(
                Full::new(Bytes::new())
                    .map_err(|e: Infallible| match e {})
                    .boxed(),
            );
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/x-protobuf"),
            );
            Ok(response)
        }
        (Method::GET, "/__mock/streams") => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "open": state.streams_open.load(Ordering::Relaxed),
                "abandoned": state.streams_abandoned.load(Ordering::Relaxed),
                "connections": state.connections.load(Ordering::Relaxed),
            }),
        )),
        (Method::GET, "/__mock/traces") => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "exports": state.trace_exports.load(Ordering::Relaxed),
                "bytes": state.trace_bytes.load(Ordering::Relaxed),
            }),
        )),
        (Method::POST, "/v1/chat/completions") => {
            record(&state);
            openai::chat(&state, &headers, body, "openai").await
        }
        (Method::POST, p) if p.starts_with("/openai/") => {
            record(&state);
            azure::chat(&state, &headers, p, &query, body).await
        }
        (Method::POST, p) if p.starts_with("/model/") => {
            record(&state);
            bedrock::converse(&state, &headers, p, body).await
        }
        (Method::GET, "/v1/models") => Ok(openai::models(&state, &headers)),
        (Method::POST, "/v1/embeddings") => {
            record(&state);
            openai::embeddings(&state, &headers, body).await
        }
        (Method::POST, "/v1/messages") => {
            record(&state);
            anthropic::messages(&state, &headers, body).await
        }
        (Method::POST, p) if p.starts_with("/v1beta/models/") => {
            record(&state);
            gemini::generate(&state, &headers, &path, &query, body).await
        }
        _ => Ok(json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": {"message": format!("no mock route for {path}")}}),
        )),
    }
}

/// A complete JSON response.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<MockBody> {
    let body = Full::new(Bytes::from(value.to_string()))
        .map_err(|e: Infallible| match e {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A deterministic unit vector for `text`: the same text always embeds
/// the same, different texts differently.
pub(crate) fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut seed = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Seconds since the epoch, for `created` fields.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
