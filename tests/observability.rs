//! Traces, log lines and the Lambda flush, seen from outside: the gateway
//! binary exports spans over OTLP/HTTP to an in-test receiver, and its
//! stdout is read line by line.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::otlp::{OtlpReceiver, SpanRecord};
use common::runtime_api::{Reply, RuntimeApi, function_url_event, split_prelude};
use common::{CLIENT_KEY, PROVIDER_KEY, chat_body};
use mock_upstream::MockUpstream;
use serde_json::{Value, json};

/// The gateway binary, killed when the test ends, its stdout kept.
struct Gateway {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Every stdout line so far.
    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// The request summary lines, parsed.
    fn request_lines(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "gateway::request")
            .collect()
    }
}

const SPAN_SERVER: i32 = 2;
const SPAN_CLIENT: i32 = 3;
const STATUS_ERROR: i32 = 2;

fn base_command(mock: &MockUpstream, otlp: &OtlpReceiver) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-gateway"));
    cmd.env_clear()
        .env("GATEWAY_API_KEYS", CLIENT_KEY)
        .env("OPENAI_API_KEY", PROVIDER_KEY)
        .env("OPENAI_BASE_URL", mock.openai_base())
        .env("ANTHROPIC_API_KEY", PROVIDER_KEY)
        .env("ANTHROPIC_BASE_URL", mock.url())
        .env("UPSTREAM_MAX_RETRIES", "1")
        .env("RETRY_BACKOFF_MS", "10")
        .env("CACHE_ENABLED", "false")
        .env("LOG_FORMAT", "json")
        .env("OTEL_ENABLED", "true")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
        .env("OTEL_SERVICE_NAME", "gateway-under-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

fn spawn(mut cmd: Command, url: String) -> Gateway {
    let mut child = cmd.spawn().expect("gateway binary starts");
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let stdout = child.stdout.take().expect("stdout piped");
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            kept.lock().expect("lock").push(line);
        }
    });
    Gateway { child, lines, url }
}

/// The gateway as a local HTTP server, ready to serve.
async fn server(mock: &MockUpstream, otlp: &OtlpReceiver, extra: &[(&str, &str)]) -> Gateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut cmd = base_command(mock, otlp);
    cmd.env("PORT", port.to_string())
        .env("OTEL_BSP_SCHEDULE_DELAY", "50");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let gateway = spawn(cmd, format!("http://127.0.0.1:{port}"));
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{}/health", gateway.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return gateway;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gateway did not start: {:?}", gateway.lines());
}

async fn post(gateway: &Gateway, body: &Value, traceparent: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gateway.url))
        .bearer_auth(CLIENT_KEY)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(tp) = traceparent {
        request = request.header("traceparent", tp);
    }
    request.send().await.expect("request sent")
}

fn children<'a>(spans: &'a [SpanRecord], parent: &SpanRecord) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id)
        .collect()
}

fn server_span(spans: &[SpanRecord]) -> Option<&SpanRecord> {
    spans.iter().find(|s| s.kind == SPAN_SERVER)
}

#[tokio::test]
async fn streamed_and_failed_over_requests_are_traced_end_to_end() {
    let otlp = OtlpReceiver::start().await;
    let mock = common::recording_mock().await;
    let gateway = server(&mock, &otlp, &[]).await;

    // A streamed request continuing the client's trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_parent = "00f067aa0ba902b7";
    let mut body = chat_body("gpt-4o-mini", "trace this stream");
    body["stream"] = json!(true);
    let response = post(
        &gateway,
        &body,
        Some(&format!("00-{trace_id}-{client_parent}-01")),
    )
    .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert!(text.contains("[DONE]"), "{text}");

    let spans = otlp
        .trace(trace_id, Duration::from_secs(10), |spans| {
            server_span(spans).is_some() && spans.iter().any(|s| s.kind == SPAN_CLIENT)
        })
        .await;
    let root = server_span(&spans).unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    assert_eq!(
        root.parent_span_id, client_parent,
        "continues the client's trace"
    );
    assert_eq!(root.name, "POST /v1/chat/completions");
    assert_eq!(root.attr("gen_ai.operation.name"), "chat");
    assert_eq!(root.attr("gen_ai.request.model"), "gpt-4o-mini");
    assert_eq!(root.attr("gen_ai.provider.name"), "openai");
    assert_eq!(root.attr("gateway.stream"), "true");
    assert_eq!(root.attributes["http.response.status_code"], json!(200));
    assert!(root.attributes["gen_ai.usage.output_tokens"].as_i64() > Some(0));
    assert_eq!(
        root.attributes["gen_ai.response.finish_reasons"],
        json!(["stop"])
    );
    assert_eq!(root.resource["service.name"], json!("gateway-under-test"));

    let attempts: Vec<&SpanRecord> = children(&spans, root)
        .into_iter()
        .filter(|s| s.kind == SPAN_CLIENT && s.name.starts_with("chat "))
        .collect();
    assert_eq!(attempts.len(), 1, "{spans:#?}");
    let attempt = attempts[0];
    assert_eq!(attempt.name, "chat gpt-4o-mini");
    assert_eq!(attempt.attr("gen_ai.provider.name"), "openai");
    assert_eq!(attempt.attr("gen_ai.request.model"), "gpt-4o-mini");
    assert!(!attempt.attr("gen_ai.response.model").is_empty());
    assert!(attempt.attributes["gen_ai.usage.input_tokens"].as_i64() > Some(0));
    assert!(attempt.attributes["gen_ai.usage.output_tokens"].as_i64() > Some(0));
    assert_eq!(
        attempt.attributes["gen_ai.response.finish_reasons"],
        json!(["stop"])
    );
    // The attempt's span lasts as long as the stream, within the request's.
    assert!(attempt.start_ns >= root.start_ns && attempt.end_ns <= root.end_ns);

    // The provider saw the attempt's span as its parent.
    let upstream = mock
        .requests()
        .into_iter()
        .find(|r| r.body.to_string().contains("trace this stream"))
        .expect("upstream request recorded");
    let sent = upstream
        .header("traceparent")
        .expect("traceparent sent upstream");
    assert_eq!(sent, format!("00-{trace_id}-{}-01", attempt.span_id));

    // A request that fails over: OpenAI fails twice (a retry), Anthropic answers.
    let response = post(
        &gateway,
        &chat_body("gpt-4o-mini", "fail over please mock:status=500@openai"),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(common::header(&response, "x-gateway-provider"), "anthropic");
    let failover_trace = otlp
        .spans()
        .into_iter()
        .find(|s| s.kind == SPAN_CLIENT && s.trace_id != trace_id)
        .map(|s| s.trace_id);
    let failover_trace = match failover_trace {
        Some(t) => t,
        None => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            otlp.spans()
                .into_iter()
                .find(|s| s.kind == SPAN_CLIENT && s.trace_id != trace_id)
                .map(|s| s.trace_id)
                .expect("failover spans exported")
        }
    };
    let spans = otlp
        .trace(&failover_trace, Duration::from_secs(10), |spans| {
            server_span(spans).is_some()
                && spans.iter().filter(|s| s.kind == SPAN_CLIENT).count() >= 3
        })
        .await;
    let root = server_span(&spans).unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    assert_eq!(root.parent_span_id, "", "a new trace");
    assert_eq!(root.attr("gen_ai.provider.name"), "anthropic");
    assert_eq!(root.attributes["gateway.attempts"], json!(3));
    let mut attempts: Vec<&SpanRecord> = children(&spans, root)
        .into_iter()
        .filter(|s| s.kind == SPAN_CLIENT && s.name.starts_with("chat "))
        .collect();
    attempts.sort_by_key(|s| s.start_ns);
    let described: Vec<(String, String, i32)> = attempts
        .iter()
        .map(|s| {
            (
                s.attr("gen_ai.provider.name"),
                s.attr("error.type"),
                s.status,
            )
        })
        .collect();
    assert_eq!(
        described,
        vec![
            ("openai".into(), "500".into(), STATUS_ERROR),
            ("openai".into(), "500".into(), STATUS_ERROR),
            ("anthropic".into(), String::new(), 0),
        ],
        "{spans:#?}"
    );
    assert_eq!(attempts[2].attr("gen_ai.request.model"), "claude-haiku-4-5");
}

#[tokio::test]
async fn log_lines_are_json_with_the_documented_fields_and_no_secrets() {
    let otlp = OtlpReceiver::start().await;
    let mock = common::recording_mock().await;
    let gateway = server(&mock, &otlp, &[("EMF_METRICS", "true")]).await;
    let secret_text = "the private question 7f3a";
    let response = post(&gateway, &chat_body("gpt-4o-mini", secret_text), None).await;
    assert_eq!(response.status(), 200);
    let mut body = chat_body("gpt-4o-mini", "a streamed one");
    body["stream"] = json!(true);
    let response = post(&gateway, &body, None).await;
    let _ = response.text().await;
    // A rejected key: logged without the key.
    let wrong = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gateway.url))
        .bearer_auth("gw-wrong-key-that-must-not-be-logged")
        .header("content-type", "application/json")
        .body(chat_body("gpt-4o-mini", "x").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 401);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let lines = gateway.lines();
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not JSON: {line}");
        for secret in [
            PROVIDER_KEY,
            CLIENT_KEY,
            "gw-wrong-key-that-must-not-be-logged",
        ] {
            assert!(!line.contains(secret), "key material logged: {line}");
        }
        assert!(
            !line.contains(secret_text),
            "prompt logged without LOG_PROMPTS: {line}"
        );
    }
    let requests = gateway.request_lines();
    assert_eq!(requests.len(), 2, "{lines:?}");
    for fields in &requests {
        for field in [
            "timestamp",
            "request_id",
            "tenant",
            "requested_model",
            "provider",
            "model",
            "attempts",
            "cache",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "latency_ms",
            "upstream_ms",
            "overhead_ms",
            "trace_id",
        ] {
            assert!(!fields[field].is_null(), "{field} missing: {fields}");
        }
        assert_eq!(
            fields["tenant"],
            llm_gateway::auth::static_tenant(common::CLIENT_KEY)
        );
        assert_eq!(fields["status"], 200);
        assert!(fields["prompt"].is_null() && fields["completion"].is_null());
    }
    // The EMF lines the template's alarms read: one per request, the
    // refused one included.
    let emf: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| !v["_aws"].is_null())
        .collect();
    assert_eq!(emf.len(), 3, "{lines:?}");
    for line in &emf {
        llm_gateway::metrics::emf::validate(line).expect("a valid EMF line");
        let metrics = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], "LlmGateway");
        assert_eq!(metrics["Dimensions"], json!([["Stack"]]));
        let names: Vec<&str> = metrics["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        for name in [
            "Requests",
            "ServerErrors",
            "LatencyMs",
            "CostUsd",
            "InputTokens",
        ] {
            assert!(names.contains(&name), "{names:?}");
        }
        assert_eq!(line["Stack"], "gateway");
        assert_eq!(line["Requests"], 1);
        assert_eq!(line["ServerErrors"], 0);
        assert!(line["LatencyMs"].as_f64() > Some(0.0));
    }
    let streamed = requests
        .iter()
        .find(|r| r["stream"] == true)
        .expect("stream line");
    assert!(streamed["ttft_ms"].as_f64() > Some(0.0), "{streamed}");
    assert_eq!(streamed["finish_reasons"], "stop");

    // With LOG_PROMPTS=true the text is there, still without keys.
    let gateway = server(&mock, &otlp, &[("LOG_PROMPTS", "true")]).await;
    let response = post(&gateway, &chat_body("gpt-4o-mini", secret_text), None).await;
    assert_eq!(response.status(), 200);
    let mut body = chat_body("gpt-4o-mini", "stream the prompt");
    body["stream"] = json!(true);
    let _ = post(&gateway, &body, None).await.text().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = gateway.request_lines();
    assert_eq!(requests.len(), 2, "{:?}", gateway.lines());
    assert!(
        requests[0]["prompt"]
            .as_str()
            .is_some_and(|p| p.contains(secret_text))
    );
    assert_eq!(
        requests[0]["completion"],
        format!("Echo: {secret_text}").as_str()
    );
    assert_eq!(requests[1]["completion"], "Echo: stream the prompt");
    for line in gateway.lines() {
        assert!(!line.contains(PROVIDER_KEY) && !line.contains(CLIENT_KEY));
    }
}

#[tokio::test]
async fn lambda_invocations_export_their_spans_before_they_end() {
    let otlp = OtlpReceiver::start().await;
    let mock = common::recording_mock().await;
    let api = RuntimeApi::start().await;
    let mut cmd = base_command(&mock, &otlp);
    cmd.env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "gateway")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        // Only the per-invocation flush can deliver within the test.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000");
    let _gateway = spawn(cmd, String::new());

    for stream in [false, true] {
        let trace_id = if stream {
            "0af7651916cd43dd8448eb211c80319c"
        } else {
            "1af7651916cd43dd8448eb211c80319d"
        };
        let mut body = chat_body("gpt-4o-mini", "lambda spans");
        body["stream"] = json!(stream);
        let traceparent = format!("00-{trace_id}-b7ad6b7169203331-01");
        let event = function_url_event(
            "/v1/chat/completions",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {CLIENT_KEY}")),
                ("traceparent", &traceparent),
            ],
            &body.to_string(),
        );
        let mut rx = api.invoke(event).await;
        let mut bytes = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("the function answers in time")
                .expect("reply channel open")
            {
                Reply::Frame(data, _) => bytes.extend_from_slice(&data),
                Reply::End => break,
                Reply::Start { .. } => {}
                Reply::Error(e) => panic!("invocation error: {e}"),
            }
        }
        let (prelude, _) = split_prelude(&bytes).expect("prelude");
        assert_eq!(prelude["statusCode"], 200);
        // The invocation is over: its spans are already at the receiver.
        let spans: Vec<SpanRecord> = otlp
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let root = server_span(&spans)
            .unwrap_or_else(|| panic!("spans not flushed with the invocation: {spans:#?}"));
        assert_eq!(root.parent_span_id, "b7ad6b7169203331");
        assert_eq!(root.resource["faas.name"], json!("gateway"));
        assert!(
            children(&spans, root)
                .iter()
                .any(|s| s.kind == SPAN_CLIENT && s.attr("gen_ai.provider.name") == "openai"),
            "{spans:#?}"
        );
    }
}

#[tokio::test]
async fn cache_lookup_embedding_and_store_are_spans_of_the_request() {
    let otlp = OtlpReceiver::start().await;
    let mock = common::recording_mock().await;
    let model = common::model_dir();
    let gateway = server(
        &mock,
        &otlp,
        &[
            ("CACHE_ENABLED", "true"),
            ("CACHE_MODEL_DIR", model.as_str()),
            ("CACHE_SEMANTIC", "true"),
        ],
    )
    .await;
    let trace_id = "5bf92f3577b34da6a3ce929d0e0e4737";
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b8-01");
    // The model loads in the background: wait until the cache is ready.
    let http = reqwest::Client::new();
    for _ in 0..400 {
        let ready = http
            .get(format!("{}/ready", gateway.url))
            .send()
            .await
            .expect("ready answers");
        if common::json_of(ready).await["checks"]["cache"] == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let body = chat_body("gpt-4o-mini", "What is the capital of France?");
    let response = post(&gateway, &body, Some(&traceparent)).await;
    assert_eq!(common::header(&response, "x-cache"), "MISS");
    let _ = response.text().await;
    let spans = otlp
        .trace(trace_id, Duration::from_secs(10), |spans| {
            server_span(spans).is_some() && spans.iter().any(|s| s.name == "cache insert")
        })
        .await;
    let root = server_span(&spans).unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    assert_eq!(root.attr("gateway.cache.status"), "miss");
    let under_root = children(&spans, root);
    let lookup = under_root
        .iter()
        .find(|s| s.name == "cache lookup")
        .unwrap_or_else(|| panic!("no lookup span: {spans:#?}"));
    let mut inside: Vec<String> = children(&spans, lookup)
        .iter()
        .map(|s| s.name.clone())
        .collect();
    inside.sort();
    assert_eq!(
        inside,
        ["cache get", "cache search", "embeddings"],
        "{spans:#?}"
    );
    let embedding = spans
        .iter()
        .find(|s| s.name == "embeddings")
        .expect("embedding span");
    assert_eq!(embedding.attr("gen_ai.operation.name"), "embeddings");
    assert!(embedding.end_ns > embedding.start_ns);
    let store = under_root
        .iter()
        .find(|s| s.name == "cache store")
        .unwrap_or_else(|| panic!("no store span: {spans:#?}"));
    let mut writes: Vec<(String, String)> = children(&spans, store)
        .iter()
        .map(|s| (s.attr("db.system.name"), s.attr("db.operation.name")))
        .collect();
    writes.sort();
    assert_eq!(
        writes,
        [
            ("memory".to_owned(), "insert".to_owned()),
            ("memory".to_owned(), "set".to_owned())
        ],
        "{spans:#?}"
    );
}

#[tokio::test]
async fn dynamodb_store_calls_are_client_spans_of_the_request() {
    let otlp = OtlpReceiver::start().await;
    let mock = common::recording_mock().await;
    let env = common::dynamodb_env("observability").await;
    let config = common::config_file(
        "observability-limits",
        "[limits.openai]\nrequests_per_minute = 1000\ntokens_per_minute = 1000000\n",
    );
    let mut extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    extra.push(("GATEWAY_CONFIG", config.as_str()));
    let gateway = server(&mock, &otlp, &extra).await;
    let trace_id = "6bf92f3577b34da6a3ce929d0e0e4738";
    let response = post(
        &gateway,
        &chat_body("gpt-4o-mini", "count me in the store"),
        Some(&format!("00-{trace_id}-00f067aa0ba902b9-01")),
    )
    .await;
    assert_eq!(response.status(), 200);
    let _ = response.text().await;
    let spans = otlp
        .trace(trace_id, Duration::from_secs(10), |spans| {
            server_span(spans).is_some()
                && ["store take", "store add_cost", "store adjust"]
                    .iter()
                    .all(|name| spans.iter().any(|s| s.name == *name))
        })
        .await;
    let root = server_span(&spans).unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    for name in ["store take", "store add_cost", "store adjust"] {
        let span = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span: {spans:#?}"));
        assert_eq!(
            span.parent_span_id, root.span_id,
            "{name} under the request"
        );
        assert_eq!(span.kind, SPAN_CLIENT);
        assert_eq!(span.attr("db.system.name"), "aws.dynamodb");
        assert_eq!(span.status, 0, "{span:#?}");
    }
}

#[tokio::test]
async fn a_full_run_leaks_no_key_in_logs_error_bodies_or_traces() {
    let otlp = OtlpReceiver::start().await;
    let mock = common::recording_mock().await;
    // OpenAI's key is wrong: the mock answers 401 echoing it masked, as
    // OpenAI does; the gateway fails over to Anthropic.
    let wrong_key = "sk-wrong-provider-key-QzX9";
    let gateway = server(
        &mock,
        &otlp,
        &[
            ("OPENAI_API_KEY", wrong_key),
            ("LOG_PROMPTS", "true"),
            ("EMF_METRICS", "true"),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let mut seen = String::new();
    let mut keep = async |response: reqwest::Response| {
        for (name, value) in response.headers() {
            seen.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        seen.push_str(&response.text().await.unwrap_or_default());
    };
    keep(post(&gateway, &chat_body("gpt-4o-mini", "json please"), None).await).await;
    let mut body = chat_body("gpt-4o-mini", "a stream please");
    body["stream"] = json!(true);
    keep(post(&gateway, &body, None).await).await;
    keep(
        post(
            &gateway,
            &chat_body("claude-haiku-4-5", "boom mock:status=500"),
            None,
        )
        .await,
    )
    .await;
    keep(
        post(
            &gateway,
            &chat_body("gpt-4o-mini", "bad mock:status=400@anthropic"),
            None,
        )
        .await,
    )
    .await;
    let unauthorised = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gateway.url))
        .bearer_auth(format!("{CLIENT_KEY}-nope"))
        .header("content-type", "application/json")
        .body(chat_body("gpt-4o-mini", "x").to_string())
        .send()
        .await
        .expect("sent");
    keep(unauthorised).await;
    keep(
        reqwest::Client::new()
            .get(format!("{}/metrics", gateway.url))
            .bearer_auth(CLIENT_KEY)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert!(seen.contains("Echo: json please"), "{seen}");
    // Every span of the run has arrived: four chat requests.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while otlp
        .spans()
        .iter()
        .filter(|s| s.kind == SPAN_SERVER)
        .count()
        < 4
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans = format!("{:?}", otlp.spans());
    assert!(spans.contains("gen_ai.provider.name"), "spans arrived");
    let logs = gateway.lines().join("\n");
    assert!(logs.contains("attempt failed"), "the 401 was logged");
    for (place, text) in [("responses", &seen), ("logs", &logs), ("traces", &spans)] {
        for secret in [PROVIDER_KEY, CLIENT_KEY, wrong_key, "QzX9"] {
            assert!(
                !text.contains(secret),
                "{secret:?} found in {place}: {text}"
            );
        }
    }
    // The provider's words about the gateway's key are for the operator
    // (logs, traces, redacted), never for clients.
    assert!(logs.contains("Incorrect API key"), "the operator sees why");
    assert!(!seen.contains("Incorrect API key"), "{seen}");
}
