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
            Reply::Start { .. } => {}
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
            Reply::Start { streaming } => assert!(streaming, "a Function URL answer streams"),
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
    let errors = api.init_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("GATEWAY_API_KEYS")),
        "{errors:?}"
    );
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

/// The client key the payloads in `events/` carry.
const EVENT_KEY: &str = "gw-local-client-key-0123456789";

/// What came back for one invocation: whether it was streamed, and the
/// response's status, headers and body in either format.
struct Answer {
    streaming: bool,
    status: u64,
    headers: Value,
    body: String,
    raw: Vec<u8>,
    frames: usize,
}

async fn answer(rx: &mut UnboundedReceiver<Reply>) -> Answer {
    let mut streaming = None;
    let mut raw = Vec::new();
    let mut frames = 0;
    loop {
        match next_reply(rx).await {
            Reply::Start { streaming: s } => streaming = Some(s),
            Reply::Frame(data, _) => {
                frames += 1;
                raw.extend_from_slice(&data);
            }
            Reply::End => break,
            Reply::Error(e) => panic!("invocation error: {e}"),
        }
    }
    let streaming = streaming.expect("a response started");
    let (status, headers, body) = if streaming {
        let (prelude, body) = split_prelude(&raw).expect("prelude, eight NUL bytes, body");
        (
            prelude["statusCode"].as_u64().unwrap_or_default(),
            prelude["headers"].clone(),
            String::from_utf8_lossy(body).into_owned(),
        )
    } else {
        let reply: Value = serde_json::from_slice(&raw).expect("a buffered answer is JSON");
        (
            reply["statusCode"].as_u64().unwrap_or_default(),
            reply["headers"].clone(),
            reply["body"].as_str().unwrap_or_default().to_owned(),
        )
    };
    Answer {
        streaming,
        status,
        headers,
        body,
        raw,
        frames,
    }
}

#[tokio::test]
async fn every_event_payload_is_answered_in_its_origins_format() {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let _gateway = spawn_gateway(&api, &mock, Some(EVENT_KEY));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        let event: Value =
            serde_json::from_slice(&std::fs::read(dir.join(name)).expect("read")).expect("JSON");
        let mut rx = api.invoke(event).await;
        let answer = answer(&mut rx).await;
        // Function URLs and REST APIs stream; HTTP APIs and ALB cannot.
        let streams = name.starts_with("function-url") || name.starts_with("rest-api");
        assert_eq!(answer.streaming, streams, "{name}");
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        if name.contains("stream") {
            assert_eq!(
                answer.headers["content-type"], "text/event-stream",
                "{name}"
            );
            let events = sse_data(&answer.body);
            assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{name}");
            let text: String = events
                .iter()
                .filter_map(|e| serde_json::from_str::<Value>(e).ok())
                .filter_map(|c| {
                    c["choices"][0]["delta"]["content"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect();
            assert_eq!(text, "Echo: Say hello.", "{name}");
        } else if name.contains("health") {
            let health: Value = serde_json::from_str(&answer.body).expect("JSON");
            assert_eq!(health["status"], "ok", "{name}");
        } else if name.contains("models") {
            let list: Value = serde_json::from_str(&answer.body).expect("JSON");
            assert_eq!(list["object"], "list", "{name}");
        } else {
            let completion: Value = serde_json::from_str(&answer.body).expect("JSON");
            assert_eq!(
                completion["choices"][0]["message"]["content"], "Echo: Say hello.",
                "{name}"
            );
            assert_eq!(answer.headers["x-gateway-provider"], "openai", "{name}");
        }
    }
}

#[tokio::test]
async fn rest_api_streams_use_the_http_integration_format_byte_for_byte() {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let _gateway = spawn_gateway(&api, &mock, Some(EVENT_KEY));
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/rest-api-chat-stream.json");
    let event: Value = serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON");
    let mut rx = api.invoke(event).await;
    let answer = answer(&mut rx).await;
    assert!(answer.streaming);
    // The prelude is one JSON object, then exactly eight NUL bytes, then
    // the body's bytes as produced: SSE events in frames of their own.
    let nul = answer
        .raw
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("delimiter");
    let prelude: Value = serde_json::from_slice(&answer.raw[..nul]).expect("prelude JSON");
    assert_eq!(
        prelude.as_object().map(|o| {
            let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
            keys.sort_unstable();
            keys
        }),
        Some(vec!["cookies", "headers", "statusCode"])
    );
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["x-request-id"], "event-rest-chat-stream");
    let body = &answer.raw[nul + 8..];
    assert!(
        body.starts_with(b"data: {"),
        "{}",
        String::from_utf8_lossy(body)
    );
    assert!(body.ends_with(b"data: [DONE]\n\n"));
    assert!(answer.frames > 3, "streamed in frames: {}", answer.frames);
}

#[tokio::test]
async fn configuration_reaches_the_function_and_its_limits_apply() {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let config =
        "[aliases]\nquick = \"gpt-4o-mini\"\n\n[limits.per_key]\nrequests_per_minute = 1\n";
    let _gateway = Gateway(
        lambda_command(&api, &mock, Some(CLIENT_KEY))
            .env("GATEWAY_CONFIG_TOML", config)
            .spawn()
            .expect("gateway binary starts"),
    );
    let mut rx = api
        .invoke(chat_event(&chat_body("quick", "first"), CLIENT_KEY))
        .await;
    let (prelude, body, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 200, "{body}");
    assert_eq!(prelude["headers"]["x-gateway-model"], "gpt-4o-mini");
    let mut rx = api
        .invoke(chat_event(&chat_body("quick", "second"), CLIENT_KEY))
        .await;
    let (prelude, body, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 429, "{body}");
    assert!(prelude["headers"]["retry-after"].is_string(), "{prelude}");
    let error: Value = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    assert_eq!(mock.requests().len(), 1, "the limited request never left");
}

#[tokio::test]
async fn an_invalid_configuration_stops_the_function_with_the_key_named() {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let mut cmd = lambda_command(&api, &mock, Some(CLIENT_KEY));
    cmd.env(
        "GATEWAY_CONFIG_TOML",
        "[limits.per_key]\nrequests_per_mnute = 1\n",
    );
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joined")
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GATEWAY_CONFIG_TOML"), "{stderr}");
    assert!(stderr.contains("requests_per_mnute"), "{stderr}");
    // The Lambda service is told why, too.
    let errors = api.init_errors().await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error: Value = serde_json::from_str(&errors[0]).expect("JSON");
    assert_eq!(error["errorType"], "Runtime.ConfigurationError");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("GATEWAY_CONFIG_TOML")),
        "{error}"
    );
}

/// A Function URL event for a request signed with SigV4 (as an `AWS_IAM`
/// URL receives it): the signature in `Authorization`, the client key, if
/// any, in `x-api-key`, and the identity AWS verified in the context.
fn signed_event(body: &Value, key: Option<&str>, caller_arn: &str) -> Value {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let host = "abcdefghij.lambda-url.us-east-1.on.aws";
    let text = body.to_string();
    let identity = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host.into()),
        ("content-type".into(), "application/json".into()),
    ];
    if let Some(key) = key {
        headers.push(("x-api-key".into(), key.into()));
    }
    let signable = SignableRequest::new(
        "POST",
        format!("https://{host}/v1/chat/completions"),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(text.as_bytes()),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    let mut request = http::Request::new(());
    instructions.apply_to_request_http1x(&mut request);
    for (name, value) in request.headers() {
        headers.push((
            name.as_str().to_owned(),
            value.to_str().expect("ascii").to_owned(),
        ));
    }
    let authorization = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .expect("signature");
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 "));
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut event = function_url_event("/v1/chat/completions", &pairs, &text);
    event["requestContext"]["authorizer"] = json!({"iam": {
        "accessKey": "AKIDEXAMPLE",
        "accountId": "123456789012",
        "callerId": "AROAEXAMPLE:app",
        "userArn": caller_arn,
        "userId": "AROAEXAMPLE:app"
    }});
    event
}

#[tokio::test]
async fn signed_requests_pass_with_their_key_in_x_api_key() {
    let (api, _mock, _gateway) = setup().await;
    let caller = "arn:aws:sts::123456789012:assumed-role/app/session";
    let body = chat_body("gpt-4o-mini", "signed");
    let mut rx = api
        .invoke(signed_event(&body, Some(CLIENT_KEY), caller))
        .await;
    let (prelude, body_text, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 200, "{body_text}");
    let mut rx = api.invoke(signed_event(&body, None, caller)).await;
    let (prelude, _, _) = collect(&mut rx).await;
    assert_eq!(
        prelude["statusCode"], 401,
        "a signature is not a client key"
    );
}

#[tokio::test]
async fn with_iam_auth_the_verified_caller_is_the_tenant() {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let _gateway = Gateway(
        lambda_command(&api, &mock, None)
            .env("GATEWAY_AUTH", "iam")
            .env(
                "GATEWAY_CONFIG_TOML",
                "[limits.per_key]\nrequests_per_minute = 1\n",
            )
            .spawn()
            .expect("gateway binary starts"),
    );
    let body = chat_body("gpt-4o-mini", "as a role");
    let app = "arn:aws:sts::123456789012:assumed-role/app/session";
    let other = "arn:aws:sts::123456789012:assumed-role/batch/session";
    let status = |event: Value| {
        let api = &api;
        async move {
            let mut rx = api.invoke(event).await;
            let (prelude, body, _) = collect(&mut rx).await;
            (prelude["statusCode"].as_u64().unwrap_or_default(), body)
        }
    };
    assert_eq!(status(signed_event(&body, None, app)).await.0, 200);
    // Limits are per caller: the same role is over its one request a
    // minute, another role is not.
    assert_eq!(status(signed_event(&body, None, app)).await.0, 429);
    assert_eq!(status(signed_event(&body, None, other)).await.0, 200);
    // Without an identity (a URL without AWS_IAM), nobody gets in.
    let (code, text) = status(chat_event(&body, CLIENT_KEY)).await;
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("iam_identity_required"), "{text}");
}

#[tokio::test]
async fn each_request_is_an_emf_line_with_the_stacks_dimensions() {
    let api = RuntimeApi::start().await;
    let mock = common::recording_mock().await;
    let mut child = lambda_command(&api, &mock, Some(CLIENT_KEY))
        .env("EMF_METRICS", "true")
        .env("GATEWAY_NAMESPACE", "stack-a")
        .stdout(Stdio::piped())
        .spawn()
        .expect("gateway binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let _gateway = Gateway(child);
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut rx = api
        .invoke(chat_event(&chat_body("gpt-4o-mini", "metered"), CLIENT_KEY))
        .await;
    let (prelude, _, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 200);
    let mut rx = api
        .invoke(chat_event(
            &chat_body("gpt-4o-mini", "refused"),
            "wrong-key-0123456789",
        ))
        .await;
    let (prelude, _, _) = collect(&mut rx).await;
    assert_eq!(prelude["statusCode"], 401);
    let mut emf = Vec::new();
    while emf.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.recv())
            .await
            .expect("an EMF line in time")
            .expect("stdout open");
        if let Ok(value) = serde_json::from_str::<Value>(&line)
            && value.get("_aws").is_some()
        {
            llm_gateway::metrics::emf::validate(&value).expect("a valid EMF line");
            emf.push(value);
        }
    }
    let served = &emf[0];
    assert_eq!(served["Stack"], "stack-a");
    assert_eq!(served["Provider"], "openai");
    assert_eq!(served["Model"], "gpt-4o-mini");
    assert_eq!(served["Requests"], 1);
    assert!(served["InputTokens"].as_u64().is_some_and(|n| n > 0));
    assert!(served["CostUsd"].as_f64().is_some_and(|c| c > 0.0));
    let refused = &emf[1];
    assert_eq!(refused["Provider"], "none");
    assert_eq!(refused["ClientErrors"], 1);
}

#[tokio::test]
async fn the_invocation_deadline_ends_a_request_with_an_error_in_time() {
    let (api, _mock, _gateway) = setup().await;
    let started = std::time::Instant::now();
    let mut rx = api
        .invoke_within(
            chat_event(
                &chat_body("gpt-4o-mini", "slow mock:delay_ms=8000"),
                CLIENT_KEY,
            ),
            Duration::from_secs(3),
        )
        .await;
    let (prelude, body, _) = collect(&mut rx).await;
    let took = started.elapsed();
    // One second before the function's timeout, the client gets an OpenAI
    // error instead of a connection cut by Lambda.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    assert!(
        prelude["statusCode"].as_u64().is_some_and(|s| s >= 500),
        "{prelude} {body}"
    );
    let error: Value = serde_json::from_str(&body).expect("JSON error");
    assert!(error["error"]["message"].is_string(), "{error}");
}
