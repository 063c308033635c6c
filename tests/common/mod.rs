//! Shared test setup: a mock upstream and an in-process gateway on loopback.

#![allow(dead_code)]

pub mod otlp;
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
/// The operator's key (`/admin`, `/metrics`).
pub const ADMIN_KEY: &str = "gw-admin-key-0123456789abcdef";

/// A gateway serving on loopback in this process, with its mock upstream.
pub struct Harness {
    pub mock: MockUpstream,
    pub state: AppState,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<Result<(), server::ServeError>>>,
}

impl Harness {
    /// Gateway with client keys and all three providers pointed at one
    /// recording mock.
    pub async fn start() -> Self {
        Self::with_env(&[]).await
    }

    /// OpenAI only, without retries: single-provider behaviour.
    pub async fn openai_only() -> Self {
        Self::with_env(&[
            ("ANTHROPIC_API_KEY", ""),
            ("GOOGLE_API_KEY", ""),
            ("UPSTREAM_MAX_RETRIES", "0"),
        ])
        .await
    }

    /// All providers, but no retries and no cross-provider failover: each
    /// provider's own error mapping.
    pub async fn without_failover(extra: &[(&str, &str)]) -> Self {
        let file = config_file(
            "no-failover",
            "[routing]\ncross_provider_fallbacks = false\n",
        );
        let mut env = vec![
            ("GATEWAY_CONFIG", file.as_str()),
            ("UPSTREAM_MAX_RETRIES", "0"),
        ];
        env.extend_from_slice(extra);
        Self::with_env(&env).await
    }

    /// Like `start`, with extra or overriding settings (an empty value
    /// removes a setting).
    pub async fn with_env(extra: &[(&str, &str)]) -> Self {
        Self::with_mock(recording_mock().await, extra).await
    }

    /// The gateway in front of `mock`, with `extra` settings.
    pub async fn with_mock(mock: MockUpstream, extra: &[(&str, &str)]) -> Self {
        let mut env: HashMap<String, String> = HashMap::from([
            ("GATEWAY_API_KEYS".into(), CLIENT_KEY.into()),
            ("GATEWAY_ADMIN_KEY".into(), ADMIN_KEY.into()),
            ("OPENAI_API_KEY".into(), PROVIDER_KEY.into()),
            ("OPENAI_BASE_URL".into(), mock.openai_base()),
            ("ANTHROPIC_API_KEY".into(), PROVIDER_KEY.into()),
            ("ANTHROPIC_BASE_URL".into(), mock.url()),
            ("GOOGLE_API_KEY".into(), PROVIDER_KEY.into()),
            ("GEMINI_BASE_URL".into(), mock.url()),
            ("UPSTREAM_TIMEOUT_SECONDS".into(), "2".into()),
            ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS".into(), "2".into()),
            ("RETRY_BACKOFF_MS".into(), "10".into()),
            ("CACHE_ENABLED".into(), "false".into()),
            ("RETRY_MAX_BACKOFF_MS".into(), "40".into()),
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
        let server = tokio::spawn(server::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            mock,
            state,
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

/// A mock upstream that demands `PROVIDER_KEY` and records requests.
pub async fn recording_mock() -> MockUpstream {
    MockUpstream::start(MockOptions {
        api_key: Some(PROVIDER_KEY.into()),
        record: true,
        ..MockOptions::default()
    })
    .await
    .expect("mock starts")
}

/// The model used for each provider in cross-provider tests.
pub const MODELS: [(&str, &str); 3] = [
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-6"),
    ("google", "gemini-2.5-flash"),
];

/// The content and tool-call pieces of an SSE body, plus its finish reason.
pub struct Streamed {
    pub content: String,
    pub tool_names: Vec<String>,
    pub tool_indexes: Vec<u64>,
    pub arguments: String,
    pub finish: Option<String>,
    pub chunks: Vec<Value>,
    pub done: bool,
}

/// Parses a whole SSE body of OpenAI chunks.
pub fn parse_stream(body: &str) -> Streamed {
    let mut s = Streamed {
        content: String::new(),
        tool_names: Vec::new(),
        tool_indexes: Vec::new(),
        arguments: String::new(),
        finish: None,
        chunks: Vec::new(),
        done: false,
    };
    for event in sse_data(body) {
        if event == "[DONE]" {
            s.done = true;
            continue;
        }
        let chunk: Value =
            serde_json::from_str(&event).unwrap_or_else(|e| panic!("chunk JSON ({e}): {event}"));
        let choice = &chunk["choices"][0];
        if let Some(text) = choice["delta"]["content"].as_str() {
            s.content.push_str(text);
        }
        for call in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(name) = call["function"]["name"].as_str() {
                s.tool_names.push(name.to_owned());
                s.tool_indexes
                    .push(call["index"].as_u64().unwrap_or(u64::MAX));
            }
            s.arguments
                .push_str(call["function"]["arguments"].as_str().unwrap_or(""));
        }
        if let Some(finish) = choice["finish_reason"].as_str() {
            s.finish = Some(finish.to_owned());
        }
        s.chunks.push(chunk);
    }
    s
}

/// Writes a gateway TOML config for a test; returns its path.
pub fn config_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gw-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("config written");
    path.to_string_lossy().into_owned()
}

/// A service for tests: `$var` when the test command started one, else one
/// started with `infra/local/{script} start PORT DIR` on a free port.
fn service_url(var: &str, script: &str, url: impl Fn(u16) -> String) -> String {
    if let Ok(url) = std::env::var(var) {
        return url;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let root = env!("CARGO_MANIFEST_DIR");
    let name = script.trim_end_matches(".sh");
    let dir = format!("{root}/target/test-{name}-{port}");
    let status = std::process::Command::new(format!("{root}/infra/local/{script}"))
        .args(["start", &port.to_string(), &dir])
        .status()
        .unwrap_or_else(|e| panic!("{script} runs: {e}"));
    assert!(status.success(), "{script} started a server");
    url(port)
}

/// A Redis Stack URL for tests (`REDIS_TEST_URL`, else one started once
/// per test binary).
pub fn redis_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        service_url("REDIS_TEST_URL", "redis-stack.sh", |port| {
            format!("redis://127.0.0.1:{port}")
        })
    })
    .clone()
}

/// The cache's models (static table and verifier), shipped in the repository.
pub fn model_dir() -> String {
    format!("{}/models/cache", env!("CARGO_MANIFEST_DIR"))
}

impl Harness {
    /// A gateway with the cache at its defaults (exact and semantic tiers;
    /// memory index, or Redis with `redis`), ready to serve hits.
    pub async fn with_cache(redis: Option<&str>, extra: &[(&str, &str)]) -> Self {
        let dir = model_dir();
        // A namespace of its own: runs over one Redis never see each
        // other's answers (a test may name a shared one in `extra`).
        let namespace = format!(
            "t{}-{}",
            std::process::id(),
            NAMESPACES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut env = vec![
            ("GATEWAY_NAMESPACE", namespace.as_str()),
            ("CACHE_ENABLED", "true"),
            ("CACHE_MODEL_DIR", dir.as_str()),
            // The semantic tier is on by default: not set here.
            ("CACHE_VERIFIER_PRELOAD", "true"),
            (
                "GATEWAY_API_KEYS",
                "gw-client-key-0123456789,gw-other-tenant-key-0123",
            ),
        ];
        if let Some(url) = redis {
            env.push(("REDIS_URL", url));
        }
        env.extend_from_slice(extra);
        let h = Self::with_env(&env).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while h.state.cache.as_ref().is_some_and(|c| c.ready().is_err())
            || redis.is_some() && h.state.redis.as_ref().and_then(|r| r.get()).is_none()
        {
            assert!(std::time::Instant::now() < deadline, "cache ready");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        h
    }
}

/// Numbers the namespaces of cache harnesses within one test binary.
static NAMESPACES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A response header as text (empty when absent).
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A DynamoDB emulator URL for tests (`DYNAMODB_TEST_URL`, else one
/// started once per test binary); it serves Secrets Manager too.
pub fn dynamodb_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        service_url("DYNAMODB_TEST_URL", "dynamodb-emulator.sh", |port| {
            format!("http://127.0.0.1:{port}")
        })
    })
    .clone()
}

/// Creates `table` on the emulator at `url` unless it exists.
pub async fn create_table(url: &str, table: &str) {
    let aws = llm_gateway::config::AwsSettings {
        endpoint: Some(url.to_owned()),
        region: Some("us-east-1".into()),
        access_key: Some(llm_gateway::config::Secret::new("test")),
        secret_key: Some(llm_gateway::config::Secret::new("test")),
        session_token: None,
    };
    llm_gateway::store::dynamodb::DynamoStore::new(
        table.to_owned(),
        std::time::Duration::from_secs(5),
        aws,
    )
    .create_table_if_missing()
    .await
    .expect("table created");
}

/// Settings pointing the gateway at `table` on the emulator (created here).
pub async fn dynamodb_env(table: &str) -> Vec<(String, String)> {
    let url = dynamodb_url();
    create_table(&url, table).await;
    vec![
        ("DYNAMODB_TABLE".into(), table.to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB".into(), url),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        // The emulator answers in a few ms, but serially: bursts of
        // concurrent writes queue up.
        ("STORE_TIMEOUT_MS".into(), "5000".into()),
    ]
}

/// Waits until the writes that run after responses (cache stores, cost
/// records, limit settlements) are done: JSON answers reach the client
/// before them.
pub async fn settled(h: &Harness) {
    h.state
        .ledger
        .in_flight()
        .wait_idle(std::time::Duration::from_secs(30))
        .await;
}

/// Resident memory of a process (`self` or a pid), in KiB.
pub fn rss_kib(process: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `GET /metrics/costs?days=1` with the operator key: status and body.
pub async fn cost_totals(h: &Harness) -> (u16, Value) {
    let response = h
        .http
        .get(h.url("/metrics/costs?days=1"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

/// `GET /metrics?format=json` with the operator key.
pub async fn metrics(h: &Harness) -> Value {
    let response = h
        .http
        .get(h.url("/metrics?format=json"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("metrics");
    json_of(response).await
}

/// A Redis Stack or DynamoDB emulator of one test's own, on a fixed port,
/// that the test can stop and start again (faults).
pub struct OwnService {
    script: &'static str,
    pub port: u16,
    dir: String,
}

impl OwnService {
    /// Starts `script` (`redis-stack.sh` or `dynamodb-emulator.sh`).
    pub fn start(script: &'static str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let name = script.trim_end_matches(".sh");
        let dir = format!(
            "{}/target/test-own-{name}-{port}",
            env!("CARGO_MANIFEST_DIR")
        );
        let service = Self { script, port, dir };
        service.up();
        service
    }

    fn run(&self, args: &[&str]) -> bool {
        std::process::Command::new(format!(
            "{}/infra/local/{}",
            env!("CARGO_MANIFEST_DIR"),
            self.script
        ))
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
    }

    /// Starts it again (empty: neither keeps data).
    pub fn up(&self) {
        assert!(
            self.run(&["start", &self.port.to_string(), &self.dir]),
            "{} started",
            self.script
        );
    }

    /// Stops it and waits until its port refuses connections.
    pub fn down(&self) {
        self.run(&["stop", &self.dir]);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("{} still answering after stop", self.script);
    }
}

impl OwnService {
    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the service: its port still
    /// takes connections, but nothing is answered meanwhile, and nothing
    /// it holds is lost.
    pub fn freeze(&self, frozen: bool) {
        let pid = std::fs::read_dir(&self.dir)
            .expect("service dir")
            .filter_map(Result::ok)
            .find(|e| e.path().extension().is_some_and(|x| x == "pid"))
            .and_then(|e| std::fs::read_to_string(e.path()).ok())
            .expect("pid file");
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, pid.trim()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal} {pid}");
    }
}

impl Drop for OwnService {
    fn drop(&mut self) {
        self.run(&["stop", &self.dir]);
    }
}

/// An exact decimal USD amount (`0.000123`) in picodollars.
pub fn picodollars(usd: &str) -> u128 {
    let (whole, frac) = usd.split_once('.').unwrap_or((usd, ""));
    let frac = format!("{frac:0<12}");
    whole.parse::<u128>().expect("whole dollars") * 1_000_000_000_000
        + frac[..12].parse::<u128>().expect("fraction")
}

/// Reads one HTTP/1.1 message (head and a `content-length` body).
pub async fn read_message(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::io::AsyncReadExt::read(stream, &mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        out.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while out.len() < head_end + length {
        let n = tokio::io::AsyncReadExt::read(stream, &mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Some(out)
}
