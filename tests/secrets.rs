//! Keys from AWS Secrets Manager (the emulator): the real binary started
//! with neither the provider key nor the client keys in its environment
//! reads both from the secret at start and serves with them.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{CLIENT_KEY, PROVIDER_KEY, chat_body, dynamodb_url};

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn create_secret(endpoint: &str, name: &str, value: &str) {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("secret created");
}

fn spawn(endpoint: &str, secret: &str, mock_base: &str, port: u16) -> Gateway {
    let child = Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
        .env_clear()
        .env("GATEWAY_SECRETS_ARN", secret)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("OPENAI_BASE_URL", mock_base)
        .env("PORT", port.to_string())
        .env("CACHE_ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gateway binary starts");
    Gateway(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

#[tokio::test]
async fn keys_come_from_secrets_manager() {
    // The emulator serves Secrets Manager too.
    let endpoint = dynamodb_url();
    let name = format!("gateway-{}", uuid::Uuid::new_v4().simple());
    let secret = serde_json::json!({
        "OPENAI_API_KEY": PROVIDER_KEY,
        "GATEWAY_API_KEYS": CLIENT_KEY,
    });
    create_secret(&endpoint, &name, &secret.to_string()).await;
    let mock = common::recording_mock().await;
    let port = free_port();
    let _gateway = spawn(&endpoint, &name, &mock.openai_base(), port);
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let mut answered = None;
    for _ in 0..200 {
        if let Ok(r) = http
            .post(&url)
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
            .body(chat_body("gpt-4o-mini", "keys from the secret").to_string())
            .send()
            .await
        {
            answered = Some(r.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 200: the client key matched and the mock accepted the provider key.
    assert_eq!(answered.map(|s| s.as_u16()), Some(200));
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_missing_secret_stops_the_start_without_leaking() {
    let endpoint = dynamodb_url();
    let mock = common::recording_mock().await;
    let gateway = spawn(
        &endpoint,
        "no-such-secret",
        &mock.openai_base(),
        free_port(),
    );
    let output = tokio::task::spawn_blocking(move || {
        let mut gateway = gateway;
        let status = gateway.0.wait().expect("exits");
        let mut err = String::new();
        if let Some(mut stderr) = gateway.0.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut err);
        }
        (status, err)
    })
    .await
    .expect("joined");
    assert_eq!(output.0.code(), Some(2), "{}", output.1);
    assert!(output.1.contains("no-such-secret"), "{}", output.1);
}
