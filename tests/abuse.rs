//! Abuse bounded: slow clients cannot hold connections or memory, client
//! chosen model names cannot grow per-route state, and one client's long
//! requests cannot open a breaker for everyone.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{CLIENT_KEY, Harness, PROVIDER_KEY, chat_body, json_of, recording_mock};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A request head cut before its end, as a slow-loris client sends it.
const PARTIAL_HEAD: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_hold_neither_connections_nor_memory() {
    let mock = recording_mock().await;
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
        .env_clear()
        .env("PORT", port.to_string())
        .env("GATEWAY_API_KEYS", CLIENT_KEY)
        .env("OPENAI_API_KEY", PROVIDER_KEY)
        .env("OPENAI_BASE_URL", mock.openai_base())
        .env("CACHE_ENABLED", "false")
        .env("MAX_CONNECTIONS", "32")
        .env("HEADER_READ_TIMEOUT_SECONDS", "1")
        .env("BODY_READ_TIMEOUT_SECONDS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway starts");
    let gateway = Gateway(child);
    let pid = gateway.0.id().to_string();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "gateway up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let baseline = common::rss_kib(&pid);

    // 200 clients that never finish their heads, and 20 that never send
    // a byte, all at once.
    let attack = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        for i in 0..220 {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            if i % 11 != 0 {
                let _ = s.write_all(PARTIAL_HEAD);
            }
            held.push(s);
        }
        held
    });
    let held = attack.await.expect("attack");
    assert!(held.len() >= 200, "connected: {}", held.len());

    // A real client still gets its answer once the slow ones are dropped
    // (at most 32 are served at once; each is cut after 1 s).
    let mut peak = 0;
    let answer = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .header("content-type", "application/json")
        .body(chat_body("gpt-4o-mini", "still there?").to_string())
        .timeout(Duration::from_secs(20))
        .send();
    let sample = async {
        loop {
            peak = peak.max(common::rss_kib(&pid));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let response = tokio::select! {
        r = answer => r.expect("answered while under attack"),
        () = sample => unreachable!(),
    };
    assert_eq!(response.status(), 200);
    assert!(
        peak < baseline + 32 * 1024,
        "RSS stayed bounded: {baseline} KiB → {peak} KiB"
    );

    // Every slow client was closed by the server.
    let closed = tokio::task::spawn_blocking(move || {
        held.into_iter()
            .filter(|s| {
                let mut s = s.try_clone().expect("clone");
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 512];
                // Closed: EOF, or a 408 the server sent before closing.
                s.read(&mut buf).is_ok()
            })
            .count()
    })
    .await
    .expect("checked");
    assert!(closed >= 200, "closed by the server: {closed}");

    // A body that trickles is refused once its time is up: 408.
    let trickle = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CLIENT_KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"model\""
        );
        s.write_all(head.as_bytes()).expect("head");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let started = Instant::now();
        let mut out = String::new();
        let mut buf = [0u8; 4096];
        if let Ok(n) = s.read(&mut buf) {
            out.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        (out, started.elapsed())
    });
    let (answer, took) = trickle.await.expect("trickle");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn auth_off_is_refused_off_loopback() {
    let mut h = Harness::with_env(&[]).await;
    h.shutdown();
    for auth in [&[("GATEWAY_AUTH", "none")][..], &[][..]] {
        let mut env: Vec<(&str, &str)> = vec![("GATEWAY_API_KEYS", ""), ("GATEWAY_ADMIN_KEY", "")];
        env.extend_from_slice(auth);
        let map: std::collections::HashMap<&str, &str> = env.into_iter().collect();
        let config = llm_gateway::config::Config::from_lookup(|k| {
            map.get(k)
                .filter(|v| !v.is_empty())
                .map(|v| (*v).to_owned())
        })
        .expect("config");
        let state = llm_gateway::app::AppState::new(config).expect("state");
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
            .await
            .expect("bind");
        let served = llm_gateway::server::serve(listener, state, async {}).await;
        assert!(
            matches!(served, Err(llm_gateway::server::ServeError::Unprotected(_))),
            "{served:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_chosen_model_names_cannot_grow_per_route_state() {
    let h = Harness::openai_only().await;
    // Names no provider serves are refused before anything is recorded.
    for i in 0..200 {
        let response = h
            .chat(&chat_body(&format!("no-such-model-{i}"), "hi"))
            .await;
        assert_eq!(response.status(), 404);
    }
    assert!(h.state.stats.snapshot().is_empty());
    // Names a provider's prefix routes are called, but tracked only up to
    // the bound.
    let total = llm_gateway::routing::stats::MAX_ROUTES + 100;
    let answers = futures_util::future::join_all((0..total).map(|i| {
        let h = &h;
        async move {
            h.chat(&chat_body(&format!("gpt-made-up-{i}"), "hi"))
                .await
                .status()
        }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 200));
    let tracked = h.state.stats.snapshot().len();
    assert_eq!(tracked, llm_gateway::routing::stats::MAX_ROUTES);
    let metrics = common::metrics(&h).await;
    assert!(metrics["costs"]["by_model"].as_array().map_or(0, Vec::len) <= 1001);
}

#[tokio::test]
async fn deadline_cut_requests_do_not_open_the_breaker() {
    let h = Harness::without_failover(&[
        ("ANTHROPIC_API_KEY", ""),
        ("GOOGLE_API_KEY", ""),
        ("REQUEST_DEADLINE_SECONDS", "0.3"),
        ("UPSTREAM_TIMEOUT_SECONDS", "5"),
        ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", "5"),
    ])
    .await;
    // One client's long requests, each cut by the request deadline.
    for _ in 0..8 {
        let response = h
            .chat(&chat_body("gpt-4o-mini", "think long mock:delay_ms=1000"))
            .await;
        assert_eq!(response.status(), 504);
        assert_eq!(json_of(response).await["error"]["code"], "upstream_timeout");
    }
    // Everyone else is still served: the breaker stayed closed.
    let response = h.chat(&chat_body("gpt-4o-mini", "quick one")).await;
    assert_eq!(response.status(), 200);
    let metrics = common::metrics(&h).await;
    assert_eq!(
        metrics["routes"]["openai/gpt-4o-mini"]["breaker"], "closed",
        "{metrics}"
    );
}
