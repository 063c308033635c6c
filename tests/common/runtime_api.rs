//! A Lambda Runtime API emulator on loopback: hands out queued invocations on
//! `GET /2018-06-01/runtime/invocation/next` and relays each streamed
//! response, frame by frame as it arrives, to the test.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

/// What the function sent back for one invocation.
#[derive(Debug)]
pub enum Reply {
    /// The response began: streamed (`Lambda-Runtime-Function-Response-Mode:
    /// streaming`) or buffered.
    Start { streaming: bool },
    /// A frame of the response body, with its arrival time.
    Frame(Bytes, Instant),
    /// The response body ended.
    End,
    /// The function reported an invocation error.
    Error(String),
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Option<mpsc::Receiver<(String, Value, Duration)>>>,
    replies: Mutex<HashMap<String, mpsc::UnboundedSender<Reply>>>,
    init_errors: Mutex<Vec<String>>,
    extensions: Mutex<Vec<String>>,
}

/// The emulator.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    sender: mpsc::Sender<(String, Value, Duration)>,
    counter: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (sender, receiver) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Some(receiver)),
            ..Shared::default()
        });
        let serving = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            shared,
            sender,
            counter: Default::default(),
        }
    }

    /// Queues an invocation; its reply frames arrive on the returned channel.
    pub async fn invoke(&self, event: Value) -> mpsc::UnboundedReceiver<Reply> {
        self.invoke_within(event, Duration::from_secs(60)).await
    }

    /// Queues an invocation whose deadline is `limit` after it is handed
    /// out (the function's timeout).
    pub async fn invoke_within(
        &self,
        event: Value,
        limit: Duration,
    ) -> mpsc::UnboundedReceiver<Reply> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("invocation-{n}");
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.replies.lock().await.insert(id.clone(), tx);
        self.sender
            .send((id, event, limit))
            .await
            .expect("queue open");
        rx
    }

    /// Names of the extensions the function registered.
    pub async fn extensions(&self) -> Vec<String> {
        self.shared.extensions.lock().await.clone()
    }

    /// Errors the function reported at start-up.
    pub async fn init_errors(&self) -> Vec<String> {
        self.shared.init_errors.lock().await.clone()
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    // The Extensions API: registration, and a next event that never comes
    // (internal extensions get none; the process learns of shutdown by
    // SIGTERM).
    if path == "/2020-01-01/extension/register" {
        let name = req
            .headers()
            .get("lambda-extension-name")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        shared.extensions.lock().await.push(name);
        let mut response = reply(StatusCode::OK, "{}");
        response.headers_mut().insert(
            "lambda-extension-identifier",
            "ext-1".parse().expect("header"),
        );
        return Ok(response);
    }
    if path == "/2020-01-01/extension/event/next" {
        std::future::pending::<()>().await;
    }
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return Ok(reply(StatusCode::NOT_FOUND, "{}"));
    };
    if rest == "invocation/next" {
        let next = {
            let mut queue = shared.queue.lock().await;
            match queue.as_mut() {
                Some(rx) => rx.recv().await,
                None => None,
            }
        };
        let Some((id, event, limit)) = next else {
            return Ok(reply(StatusCode::GONE, "{}"));
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d + limit)
            .unwrap_or_default()
            .as_millis();
        let mut response = Response::new(Full::new(Bytes::from(event.to_string())));
        let headers = response.headers_mut();
        headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
        headers.insert(
            "lambda-runtime-deadline-ms",
            deadline.to_string().parse().expect("header"),
        );
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:gateway"
                .parse()
                .expect("header"),
        );
        headers.insert(
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793"
                .parse()
                .expect("header"),
        );
        return Ok(response);
    }
    if rest == "init/error" {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        shared
            .init_errors
            .lock()
            .await
            .push(String::from_utf8_lossy(&body).into_owned());
        return Ok(reply(StatusCode::ACCEPTED, "{}"));
    }
    let Some((id, kind)) = rest
        .strip_prefix("invocation/")
        .and_then(|r| r.split_once('/'))
    else {
        return Ok(reply(StatusCode::NOT_FOUND, "{}"));
    };
    let Some(tx) = shared.replies.lock().await.get(id).cloned() else {
        return Ok(reply(StatusCode::BAD_REQUEST, "{}"));
    };
    let streaming = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v == "streaming");
    let mut body = req.into_body();
    match kind {
        "response" => {
            let _ = tx.send(Reply::Start { streaming });
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            let _ = tx.send(Reply::Frame(data, Instant::now()));
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Reply::Error(e.to_string()));
                        break;
                    }
                }
            }
            let _ = tx.send(Reply::End);
        }
        _ => {
            let bytes = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let _ = tx.send(Reply::Error(String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"))
}

/// A Lambda Function URL event (payload format 2.0) for a POST.
pub fn function_url_event(path: &str, headers: &[(&str, &str)], body: &str) -> Value {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnop",
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnop",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "11111111-2222-3333-4444-555555555555",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:11:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// Splits a streamed Lambda HTTP response into its metadata prelude and body
/// (they are separated by eight NUL bytes).
pub fn split_prelude(bytes: &[u8]) -> Option<(Value, &[u8])> {
    let pos = bytes.windows(8).position(|w| w == [0u8; 8])?;
    let prelude = serde_json::from_slice(&bytes[..pos]).ok()?;
    Some((prelude, &bytes[pos + 8..]))
}
