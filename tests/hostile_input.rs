//! A fixed suite of hostile requests: each gets the right 4xx as an OpenAI
//! error object, nothing reaches a provider, the gateway keeps serving, and
//! its memory does not grow with the abuse.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{CLIENT_KEY, Harness, chat_body, json_of};
use serde_json::{Value, json};

/// Sends raw bytes as the body of an authenticated chat request.
async fn post_bytes(h: &Harness, body: Vec<u8>) -> reqwest::Response {
    h.http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent")
}

/// Asserts an OpenAI-format error with `status` (and `param` when given).
async fn assert_error(response: reqwest::Response, status: u16, param: Option<&str>, case: &str) {
    assert_eq!(response.status().as_u16(), status, "{case}");
    let body = json_of(response).await;
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{case}: {body}"
    );
    assert!(error["type"].is_string(), "{case}: {body}");
    if let Some(param) = param {
        assert_eq!(error["param"], param, "{case}: {body}");
    }
    assert!(!body.to_string().contains(CLIENT_KEY), "{case}");
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Bad bodies, each with its expected status and `param`.
fn bad_bodies() -> Vec<(&'static str, Vec<u8>, u16, Option<&'static str>)> {
    let user = |content: Value| json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]});
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"role": "user", "content": format!("m{i}")}))
        .collect();
    vec![
        ("not JSON", b"{not json".to_vec(), 400, None),
        ("empty body", Vec::new(), 400, None),
        ("JSON but an array", b"[1,2,3]".to_vec(), 400, None),
        (
            "invalid UTF-8 in a string",
            b"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}".to_vec(),
            400,
            None,
        ),
        (
            "deeply nested content",
            format!(
                r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":{}}}]}}"#,
                nested(100_000)
            )
            .into_bytes(),
            400,
            None,
        ),
        (
            "deeply nested unknown field",
            format!(
                r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"x"}}],"metadata":{}}}"#,
                nested(5_000)
            )
            .into_bytes(),
            400,
            None,
        ),
        (
            "messages is an object",
            json!({"model": "gpt-4o-mini", "messages": {}}).to_string().into_bytes(),
            400,
            Some("messages"),
        ),
        (
            "model is a number",
            json!({"model": 5, "messages": [{"role": "user", "content": "x"}]}).to_string().into_bytes(),
            400,
            Some("model"),
        ),
        (
            "temperature is a string",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"})
                .to_string()
                .into_bytes(),
            400,
            Some("temperature"),
        ),
        (
            "stream is a string",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": "yes"})
                .to_string()
                .into_bytes(),
            400,
            Some("stream"),
        ),
        (
            "negative max_tokens",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5})
                .to_string()
                .into_bytes(),
            400,
            Some("max_tokens"),
        ),
        (
            "unknown role",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]})
                .to_string()
                .into_bytes(),
            400,
            Some("messages[0].role"),
        ),
        (
            "no messages",
            json!({"model": "gpt-4o-mini", "messages": []}).to_string().into_bytes(),
            400,
            Some("messages"),
        ),
        (
            "assistant message without content",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}, {"role": "assistant"}]})
                .to_string()
                .into_bytes(),
            400,
            Some("messages[1].content"),
        ),
        (
            "content part of an unknown type",
            user(json!([{"type": "hologram", "data": "x"}])).to_string().into_bytes(),
            400,
            None,
        ),
        (
            "10,000 messages",
            json!({"model": "gpt-4o-mini", "messages": many}).to_string().into_bytes(),
            400,
            Some("messages"),
        ),
        (
            "a model name of 1 MB",
            json!({"model": "m".repeat(1 << 20), "messages": [{"role": "user", "content": "x"}]})
                .to_string()
                .into_bytes(),
            400,
            Some("model"),
        ),
        (
            "a body over the size limit",
            user(json!("x".repeat(3 << 20))).to_string().into_bytes(),
            413,
            None,
        ),
        (
            "an unknown model",
            user(json!("x")).to_string().replace("gpt-4o-mini", "no-such-model").into_bytes(),
            404,
            Some("model"),
        ),
    ]
}

fn rss_kib() -> u64 {
    common::rss_kib("self")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_openai_errors_and_reach_no_provider() {
    let h = Harness::with_env(&[("MAX_REQUEST_BYTES", "2097152")]).await;
    for (case, body, status, param) in bad_bodies() {
        if status == 413 {
            // A declared length over the limit is refused before the body
            // is read; a client still writing it may see the connection
            // close before it reads the 413. The server closes that
            // connection, so it must not go back to the client's pool.
            let sent = h
                .http
                .post(h.url("/v1/chat/completions"))
                .bearer_auth(CLIENT_KEY)
                .header("content-type", "application/json")
                .header("connection", "close")
                .body(body)
                .send()
                .await;
            if let Ok(response) = sent {
                assert_error(response, status, param, case).await;
            }
            continue;
        }
        let response = post_bytes(&h, body).await;
        assert_error(response, status, param, case).await;
    }
    assert!(
        h.mock.requests().is_empty(),
        "a bad request reached the mock"
    );

    // A large but allowed prompt is served.
    let big = chat_body("gpt-4o-mini", &"y".repeat(1 << 20));
    let response = h.chat(&big).await;
    assert_eq!(response.status(), 200);

    // Memory: the same abuse again and again does not grow the process.
    let small: Vec<(&str, Vec<u8>, u16, Option<&str>)> = bad_bodies()
        .into_iter()
        .filter(|(_, body, _, _)| body.len() < 300_000)
        .collect();
    for (_, body, _, _) in small.iter().cycle().take(400) {
        let _ = post_bytes(&h, body.clone()).await.bytes().await;
    }
    let before = rss_kib();
    for (_, body, _, _) in small.iter().cycle().take(3_000) {
        let _ = post_bytes(&h, body.clone()).await.bytes().await;
    }
    let after = rss_kib();
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB over 3,000 bad requests"
    );

    // Still serving.
    let response = h.chat(&chat_body("gpt-4o-mini", "still here?")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await["choices"][0]["message"]["content"],
        "Echo: still here?"
    );
}

/// Writes a raw HTTP/1.1 request and returns the status line and head.
fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The server may answer and close before all is written: read anyway.
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") && out.len() > 64 {
                    // Enough of the head and a small body.
                    std::thread::sleep(Duration::from_millis(50));
                    if let Ok(n) = stream.read(&mut buf) {
                        out.extend_from_slice(&buf[..n]);
                    }
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_are_checked_and_never_echoed_unsafely() {
    let h = Harness::with_env(&[("MAX_REQUEST_BYTES", "65536")]).await;
    let addr = h.addr;
    let body = chat_body("gpt-4o-mini", "hi").to_string();

    // Request ids: a sane one is echoed, anything else is replaced.
    for (sent, echoed) in [
        ("req-42.a:b_c", true),
        ("has spaces in it", false),
        ("<script>alert(1)</script>", false),
        (&*"a".repeat(129), false),
    ] {
        let response = h
            .http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
            .header("x-request-id", sent)
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        let id = common::header(&response, "x-request-id");
        if echoed {
            assert_eq!(id, sent);
        } else {
            assert_eq!(id.len(), 32, "a fresh id for {sent:?}: {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
    // Bytes no client library sends (obs-text, a bare CR inside a value).
    let head = tokio::task::spawn_blocking(move || {
        let mut request = Vec::new();
        request.extend_from_slice(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n");
        request.extend_from_slice(format!("authorization: Bearer {CLIENT_KEY}\r\n").as_bytes());
        request.extend_from_slice(b"x-request-id: abc\xff\xfe-evil\r\n");
        request.extend_from_slice(b"content-type: application/json\r\n");
        request.extend_from_slice(
            format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(body.as_bytes());
        raw(addr, &request)
    })
    .await
    .expect("raw request");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.contains("evil"), "{head}");

    // A body over the limit without a declared length is cut off at the limit.
    let head = tokio::task::spawn_blocking(move || {
        let mut request = Vec::new();
        request.extend_from_slice(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n");
        request.extend_from_slice(format!("authorization: Bearer {CLIENT_KEY}\r\n").as_bytes());
        request.extend_from_slice(b"content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
        let chunk = vec![b'a'; 32 * 1024];
        for _ in 0..4 {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(&chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        raw(addr, &request)
    })
    .await
    .expect("raw request");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("request_too_large"), "{head}");

    // Authentication variants.
    let cases: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![], 401),
        (vec![("authorization", "Bearer".into())], 401),
        (vec![("authorization", "Bearer ".into())], 401),
        (vec![("authorization", format!("Basic {CLIENT_KEY}"))], 401),
        (
            vec![("authorization", "Bearer gw-wrong-key-0123456789".into())],
            401,
        ),
        (
            vec![("authorization", format!("Bearer {CLIENT_KEY}x"))],
            401,
        ),
        (
            vec![("authorization", format!("Bearer {}", &CLIENT_KEY[1..]))],
            401,
        ),
        (vec![("x-api-key", "gw-wrong-key-0123456789".into())], 401),
        (vec![("authorization", format!("bearer {CLIENT_KEY}"))], 200),
        (
            vec![("authorization", format!("Bearer  {CLIENT_KEY} "))],
            200,
        ),
        (vec![("x-api-key", CLIENT_KEY.into())], 200),
    ];
    for (headers, status) in cases {
        let mut request = h
            .http
            .post(h.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(chat_body("gpt-4o-mini", "auth").to_string());
        for (k, v) in &headers {
            request = request.header(*k, v);
        }
        let response = request.send().await.expect("sent");
        if status == 200 {
            assert_eq!(response.status(), 200, "{headers:?}");
        } else {
            assert_error(response, status, None, &format!("{headers:?}")).await;
        }
    }
    // Non-UTF-8 bytes in the key.
    let head = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \xff\xfe\xfd\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
    })
    .await
    .expect("raw request");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

/// The local server reads a request head into one 8 KB buffer: a head that
/// fits is served, a larger one is refused with 431 and reaches nothing.
#[tokio::test]
async fn request_heads_past_8_kb_are_refused() {
    let h = Harness::start().await;
    let body = chat_body("gpt-4o-mini", "hi").to_string();
    let send = async |padding: usize| {
        h.http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
            .header("x-padding", "p".repeat(padding))
            .body(body.clone())
            .send()
            .await
            .map(|r| r.status().as_u16())
    };
    assert_eq!(send(7 * 1024).await.ok(), Some(200));
    let refused = send(llm_gateway::server::MAX_HEAD_BYTES).await;
    assert_eq!(refused.ok(), Some(431));
    assert_eq!(
        h.mock.requests().len(),
        1,
        "only the head that fits went upstream"
    );
}
