//! Shared test setup: a mock upstream and an in-process gateway on loopback.

#![allow(dead_code)]

pub mod runtime_api;

use std::collections::HashMap;
use std::net::SocketAddr;

use llm_gateway::app::AppState;
use llm_gateway::config::Config;
use llm_gateway::server;
use mock_upstream::{MockOptions, MockUpstream};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Provider key the mock demands.
pub const PROVIDER_KEY: &str = "sk-provider-test-0123456789";
/// Client key the gateway demands.
pub const CLIENT_KEY: &str = "gw-client-key-0123456789";

/// A gateway serving on loopback in this process, with its mock upstream.
pub struct Harness {
    pub mock: MockUpstream,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<Result<(), server::ServeError>>>,
}

impl Harness {
    /// Gateway with client keys and OpenAI pointed at a recording mock.
    pub async fn start() -> Self {
        Self::with_env(&[]).await
    }

    /// Like `start`, with extra or overriding settings.
    pub async fn with_env(extra: &[(&str, &str)]) -> Self {
        let mock = MockUpstream::start(MockOptions {
            api_key: Some(PROVIDER_KEY.into()),
            record: true,
            ..MockOptions::default()
        })
        .await
        .expect("mock starts");
        let mut env: HashMap<String, String> = HashMap::from([
            ("GATEWAY_API_KEYS".into(), CLIENT_KEY.into()),
            ("OPENAI_API_KEY".into(), PROVIDER_KEY.into()),
            ("OPENAI_BASE_URL".into(), mock.openai_base()),
            ("UPSTREAM_TIMEOUT_SECONDS".into(), "2".into()),
            ("SHUTDOWN_GRACE_SECONDS".into(), "5".into()),
        ]);
        for (k, v) in extra {
            if v.is_empty() {
                env.remove(*k);
            } else {
                env.insert(k.to_string(), v.to_string());
            }
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid config");
        let state = AppState::new(config).expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            mock,
            addr,
            http: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// `http://ADDR` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// An authenticated POST of a chat request.
    pub async fn chat(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request sent")
    }

    /// Starts the graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A one-message chat request.
pub fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Splits an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Reads a response body as JSON.
pub async fn json_of(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}
