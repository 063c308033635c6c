//! The Responses API: stored conversations shared by instances over the
//! DynamoDB emulator and scoped to the client key, streams that fail over
//! before their first event and fail with `response.failed` after it, and
//! the cost and headers every generated answer gets.

mod common;

use common::{CLIENT_KEY, Harness, json_of};
use serde_json::{Value, json};

async fn create(h: &Harness, body: &Value) -> reqwest::Response {
    h.http
        .post(h.url("/v1/responses"))
        .bearer_auth(CLIENT_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("sent")
}

/// The SSE events of a Responses stream: (type, data).
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut kind = String::new();
            let mut data = Value::Null;
            for line in e.lines() {
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = k.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).expect("JSON data");
                }
            }
            assert_eq!(data["type"], kind, "event name and type agree");
            (kind, data)
        })
        .collect()
}

#[tokio::test]
async fn a_conversation_continues_on_another_instance() {
    let env = common::dynamodb_env("responses-shared").await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = Harness::with_env(&env).await;
    let b = Harness::with_env(&env).await;
    let first = create(
        &a,
        &json!({"model": "gpt-4o-mini", "input": "My name is Ada."}),
    )
    .await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().contains_key("x-gateway-cost-usd"));
    let first = json_of(first).await;
    common::settled(&a).await;
    let id = first["id"].as_str().expect("id");
    let second = create(
        &b,
        &json!({"model": "gpt-4o-mini", "previous_response_id": id, "input": "What is my name? mock:inspect"}),
    )
    .await;
    let second = json_of(second).await;
    let seen: Value = serde_json::from_str(
        second["output"][0]["content"][0]["text"]
            .as_str()
            .expect("text"),
    )
    .expect("inspect summary");
    assert_eq!(
        seen["roles"],
        json!(["user", "assistant", "user"]),
        "{seen}"
    );
    assert_eq!(second["previous_response_id"], id);
    // Instance B reads it too, and A sees B's deletion.
    let got = b
        .http
        .get(b.url(&format!("/v1/responses/{id}")))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .expect("sent");
    assert_eq!(got.status(), 200);
    let deleted = b
        .http
        .delete(b.url(&format!("/v1/responses/{id}")))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .expect("sent");
    assert_eq!(json_of(deleted).await["deleted"], true);
    let gone = a
        .http
        .get(a.url(&format!("/v1/responses/{id}")))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .expect("sent");
    assert_eq!(gone.status(), 404);
    assert_eq!(json_of(gone).await["error"]["code"], "response_not_found");
}

#[tokio::test]
async fn streams_fail_over_before_their_first_event_and_fail_typed_after() {
    let h = Harness::start().await;
    // The first candidate fails before any content: the client sees one
    // clean stream from the next provider.
    let response = create(
        &h,
        &json!({"model": "gpt-4o-mini", "stream": true, "input": "Fail over mock:status=503@openai"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let provider = response.headers()["x-gateway-provider"].clone();
    assert_ne!(provider, "openai");
    let stream = events(&response.text().await.expect("body"));
    assert_eq!(stream[0].0, "response.created");
    assert_eq!(
        stream.last().map(|e| e.0.as_str()),
        Some("response.completed")
    );
    let numbers: Vec<u64> = stream
        .iter()
        .filter_map(|(_, d)| d["sequence_number"].as_u64())
        .collect();
    assert_eq!(numbers, (0..stream.len() as u64).collect::<Vec<_>>());
    // Cut after content: the stream ends with response.failed.
    let response = create(
        &h,
        &json!({"model": "openai/gpt-4o-mini", "stream": true, "input": "Start then break mock:mid_error"}),
    )
    .await;
    let stream = events(&response.text().await.expect("body"));
    let (last, data) = stream.last().expect("events");
    assert_eq!(last, "response.failed");
    assert_eq!(data["response"]["status"], "failed");
    assert!(data["response"]["error"]["message"].is_string(), "{data}");
}

#[tokio::test]
async fn bad_requests_name_the_parameter() {
    let h = Harness::start().await;
    for (body, param) in [
        (json!({"model": "gpt-4o-mini", "input": 5}), "input"),
        (
            json!({"model": "gpt-4o-mini", "input": "x", "tools": [{"type": "file_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "gpt-4o-mini", "input": [{"role": "robot", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"model": "gpt-4o-mini", "input": "x", "previous_response_id": "resp_nope"}),
            "previous_response_id",
        ),
    ] {
        let response = create(&h, &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error = json_of(response).await;
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    assert!(h.mock.requests().is_empty(), "nothing reached a provider");
}

#[tokio::test]
async fn a_repeated_response_is_answered_from_the_cache() {
    let h = Harness::with_cache(None, &[]).await;
    let body = json!({"model": "gpt-4o-mini", "input": "What is the capital of France?"});
    let first = create(&h, &body).await;
    assert_eq!(first.headers()["x-cache"], "MISS");
    let first = json_of(first).await;
    common::settled(&h).await;
    let calls = h.mock.requests().len();
    let second = create(&h, &body).await;
    assert_eq!(second.headers()["x-cache"], "HIT");
    let second = json_of(second).await;
    assert_eq!(h.mock.requests().len(), calls, "no upstream call");
    assert_eq!(
        second["output"][0]["content"][0]["text"],
        first["output"][0]["content"][0]["text"]
    );
    assert_ne!(second["id"], first["id"], "a new response");
    // Streamed, a hit is the same typed events.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let response = create(&h, &streamed).await;
    assert_eq!(response.headers()["x-cache"], "HIT");
    let stream = events(&response.text().await.expect("body"));
    assert_eq!(
        stream.last().map(|e| e.0.as_str()),
        Some("response.completed")
    );
}

/// Forwards DynamoDB calls, holding each write of a stored response for
/// `delay` first.
async fn slow_response_writes(
    upstream: std::net::SocketAddr,
    delay: std::time::Duration,
) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                while let Some(request) = common::read_message(&mut client).await {
                    let text = String::from_utf8_lossy(&request);
                    if text.contains("PutItem") && text.contains("#RESP#") {
                        tokio::time::sleep(delay).await;
                    }
                    if server.write_all(&request).await.is_err() {
                        return;
                    }
                    let Some(reply) = common::read_message(&mut server).await else {
                        return;
                    };
                    if client.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_response_is_stored_before_its_answer_arrives() {
    // The client may continue the conversation the moment it has the
    // answer: the stored response must already be there, however slow the
    // store's write.
    let emulator = common::dynamodb_url();
    common::create_table(&emulator, "responses-immediate").await;
    let upstream = emulator
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let proxy = slow_response_writes(upstream, std::time::Duration::from_millis(300)).await;
    let h = Harness::with_env(&[
        ("DYNAMODB_TABLE", "responses-immediate"),
        ("AWS_ENDPOINT_URL_DYNAMODB", &proxy),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("STORE_TIMEOUT_MS", "5000"),
    ])
    .await;
    // A client that does not wait for the connection: each request on a
    // new one, as soon as the previous answer is in.
    let post = |body: Value| {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let url = h.url("/v1/responses");
        async move {
            client
                .post(url)
                .bearer_auth(CLIENT_KEY)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("sent")
        }
    };
    for (i, stream) in [false, true, false].into_iter().enumerate() {
        let response =
            post(json!({"model": "gpt-4o-mini", "input": format!("Turn {i}."), "stream": stream}))
                .await;
        let id = if stream {
            let text = response.text().await.expect("body");
            let stream = events(&text);
            stream.last().expect("events").1["response"]["id"].clone()
        } else {
            json_of(response).await["id"].clone()
        };
        let next =
            post(json!({"model": "gpt-4o-mini", "previous_response_id": id, "input": "And then?"}))
                .await;
        assert_eq!(
            next.status(),
            200,
            "turn {i}: {}",
            next.text().await.unwrap_or_default()
        );
    }
}
