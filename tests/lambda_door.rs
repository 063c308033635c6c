//! The Lambda front door: the real gateway binary driven by a Runtime API
//! emulator, answering Function URL events through response streaming.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::runtime_api::{Reply, RuntimeApi, function_url_event, split_prelude};
use common::{CLIENT_KEY, PROVIDER_KEY, chat_body, sse_data};
use mock_upstream::{MockOptions, MockUpstream};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

/// Kills the gateway process when the test ends.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_gateway(api: &RuntimeApi, mock: &MockUpstream, client_keys: Option<&str>) -> Gateway {
    Gateway(
        lambda_command(api, mock, client_keys)
            .spawn()
            .expect("gateway binary starts"),
    )
}

/// The gateway binary as the Lambda runtime starts it (stdout dropped,
/// stderr piped), with `client_keys` if given.
fn lambda_command(api: &RuntimeApi, mock: &MockUpstream, client_keys: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-gateway"));
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "gateway")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("OPENAI_API_KEY", PROVIDER_KEY)
        .env("OPENAI_BASE_URL", mock.openai_base())
        .env("CACHE_ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(keys) = client_keys {
        cmd.env("GATEWAY_API_KEYS", keys);
    }
    cmd
}

async fn setup() -> (RuntimeApi, MockUpstream, Gateway) {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let gateway = spawn_gateway(&api, &mock, Some(CLIENT_KEY));
    (api, mock, gateway)
}

fn chat_event(body: &Value, key: &str) -> Value {
    let auth = format!("Bearer {key}");
    function_url_event(
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
            ("x-request-id", "lambda-req-1"),
        ],
        &body.to_string(),
    )
}

async fn next_reply(rx: &mut UnboundedReceiver<Reply>) -> Reply {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("the function answers in time")
        .expect("reply channel open")
}

/// Collects the rest of a streamed response; returns (bytes, frame count).
async fn collect_raw(rx: &mut UnboundedReceiver<Reply>) -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    let mut frames = 0;
    loop {
        match next_reply(rx).await {
            Reply::Frame(data, _) => {
                frames += 1;
                bytes.extend_from_slice(&data);
            }
            Reply::End => break,
            Reply::Error(e) => panic!("invocation error: {e}"),
        }
    }
    (bytes, frames)
}

/// Collects a whole streamed response; returns (prelude, body, frame count).
async fn collect(rx: &mut UnboundedReceiver<Reply>) -> (Value, String, usize) {
    let (bytes, frames) = collect_raw(rx).await;
    let (prelude, body) = split_prelude(&bytes).expect("prelude then body");
    (prelude, String::from_utf8_lossy(body).into_owned(), frames)
}

#[tokio::test]
async fn lambda_door_serves_json_streams_and_errors() {
    let (api, mock, _gateway) = setup().await;

    // A non-streaming answer goes through the streaming adapter too.
    let mut rx = api
        .invoke(chat_event(
            &chat_body("gpt-4o-mini", "hello lambda"),
            CLIENT_KEY,
        ))
        .await;
    let (prelude, body, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 200, "{prelude}");
    assert_eq!(prelude["headers"]["content-type"], "application/json");
    assert_eq!(prelude["headers"]["x-gateway-provider"], "openai");
    assert_eq!(prelude["headers"]["x-request-id"], "lambda-req-1");
    let json: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(
        json["choices"][0]["message"]["content"],
        "Echo: hello lambda"
    );

    // A stream arrives chunk by chunk: the first content frame comes while
    // the upstream still holds the rest.
    let mut body = chat_body("gpt-4o-mini", "streamed over lambda mock:hold");
    body["stream"] = json!(true);
    let mut rx = api.invoke(chat_event(&body, CLIENT_KEY)).await;
    let mut seen = Vec::new();
    let mut frames_before_release = 0;
    while !String::from_utf8_lossy(&seen).contains("Echo:") {
        match next_reply(&mut rx).await {
            Reply::Frame(data, _) => {
                frames_before_release += 1;
                seen.extend_from_slice(&data);
            }
            other => panic!("stream ended early: {other:?}"),
        }
    }
    assert!(!String::from_utf8_lossy(&seen).contains("[DONE]"));
    mock.release();
    let (rest, frames_after) = collect_raw(&mut rx).await;
    seen.extend_from_slice(&rest);
    let (prelude, stream_body) = split_prelude(&seen).expect("prelude");
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "text/event-stream");
    let events = sse_data(&String::from_utf8_lossy(stream_body));
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        frames_before_release >= 2 && frames_after >= 2,
        "{frames_before_release} + {frames_after} frames"
    );
    let text: String = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Echo: streamed over lambda");

    // Errors keep their status and OpenAI body.
    let mut rx = api
        .invoke(chat_event(
            &chat_body("gpt-4o-mini", "hi"),
            "wrong-key-0123456789",
        ))
        .await;
    let (prelude, body, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 401);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["error"]["code"],
        "invalid_api_key"
    );
    assert!(api.init_errors().await.is_empty());
    assert_eq!(
        mock.requests().len(),
        2,
        "the 401 never reached the upstream"
    );
}

#[tokio::test]
async fn lambda_door_refuses_to_start_without_client_keys() {
    let api = RuntimeApi::start().await;
    let mock = MockUpstream::start(MockOptions::default())
        .await
        .expect("mock");
    let gateway = spawn_gateway(&api, &mock, None);
    let output = tokio::task::spawn_blocking(move || {
        let mut gateway = gateway;
        let status = gateway.0.wait().expect("exits");
        let mut stderr = String::new();
        if let Some(mut pipe) = gateway.0.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (status, stderr)
    });
    let (status, stderr) = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .expect("exits in time")
        .expect("joined");
    assert!(!status.success());
    assert!(stderr.contains("GATEWAY_API_KEYS"), "{stderr}");
}

/// Lambda's shutdown phase: the gateway registers an internal extension so
/// it gets SIGTERM, and then logs every cost record the store did not take
/// (here: a store that cannot be reached) for reconciliation, and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_shutdown_logs_every_pending_cost_record() {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let mut cmd = lambda_command(&api, &mock, Some(CLIENT_KEY));
    // A store nobody answers on: every cost write fails at once.
    cmd.env("DYNAMODB_TABLE", "gone")
        .env("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut gateway = Gateway(cmd.spawn().expect("gateway binary starts"));
    let stdout = gateway.0.stdout.take().expect("stdout");
    let lines =
        tokio::task::spawn_blocking(move || std::io::read_to_string(stdout).unwrap_or_default());

    let mut rx = api
        .invoke(chat_event(&chat_body("gpt-4o-mini", "bill me"), CLIENT_KEY))
        .await;
    let (prelude, body, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 200, "{body}");
    assert_eq!(api.extensions().await, ["llm-gateway-shutdown"]);

    let pid = gateway.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || gateway.0.wait().expect("exits"));
    let status = tokio::time::timeout(Duration::from_secs(5), status)
        .await
        .expect("exits within Lambda's shutdown time")
        .expect("joined");
    assert!(status.success(), "{status:?}");
    let log = lines.await.expect("log read");
    let reconcile: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reconcile from this line"))
        .collect();
    assert_eq!(reconcile.len(), 1, "{log}");
    assert!(reconcile[0].contains("lambda-req-1"), "{}", reconcile[0]);
    assert!(reconcile[0].contains("gpt-4o-mini"), "{}", reconcile[0]);
}
