//! The command line: `--help` and `--version` answer and exit, an unknown
//! argument is an error with the usage (it never starts a server), and
//! `check` validates the configuration without serving.

use std::process::{Command, Output};

fn gateway(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llm-gateway"))
        .args(args)
        .env_clear()
        .env("CACHE_ENABLED", "false")
        .envs(env.iter().copied())
        .output()
        .expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_answer_and_exit() {
    let out = gateway(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("llm-gateway {}", env!("CARGO_PKG_VERSION"))
    );
    let out = gateway(&["--help"], &[]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("usage: llm-gateway"));
}

#[test]
fn unknown_arguments_are_an_error_with_the_usage() {
    // PORT 1 cannot be bound: were it to serve, it would fail differently.
    let out = gateway(&["--port", "8080"], &[("PORT", "1")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown arguments: --port 8080"),
        "{stderr}"
    );
    assert!(stderr.contains("usage: llm-gateway"), "{stderr}");
}

#[test]
fn check_validates_without_serving() {
    let out = gateway(
        &["check"],
        &[
            ("OPENAI_API_KEY", "sk-check-0123456789"),
            ("GROQ_API_KEY", "gsk-check-0123456789"),
            ("AZURE_OPENAI_API_KEY", "az-check-0123456789"),
            ("GATEWAY_API_KEYS", "gw-check-client-key-01"),
            (
                "GATEWAY_CONFIG",
                concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gateway.toml"),
            ),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("configuration valid"), "{stdout}");
    assert!(
        stdout.contains("providers: openai, azure, bedrock, groq, ollama"),
        "{stdout}"
    );
    assert!(stdout.contains("auth: keys"), "{stdout}");
    let out = gateway(
        &["check"],
        &[("GATEWAY_CONFIG_TOML", "[limits.per_key]\nrpm = 1\n")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("GATEWAY_CONFIG_TOML"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_terminal_gets_a_banner_and_a_pipe_only_json() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
        .to_string();
    let run = |through_terminal: bool| {
        let binary = env!("CARGO_BIN_EXE_llm-gateway");
        // The gateway stops itself after a second (SIGINT: a graceful
        // shutdown); `script` gives it a pseudo-terminal as stdout.
        let line = format!("timeout -s INT 1 {binary}");
        let mut cmd = if through_terminal {
            let mut c = Command::new("script");
            c.args(["-qfc", &line, "/dev/null"]);
            c
        } else {
            let mut c = Command::new("timeout");
            c.args(["-s", "INT", "1", binary]);
            c
        };
        let out = cmd
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CACHE_ENABLED", "false")
            .env("PORT", &port)
            .env("OPENAI_API_KEY", "sk-banner-0123456789")
            .stderr(std::process::Stdio::null())
            .output()
            .expect("runs");
        text(&out.stdout)
    };
    let terminal = run(true);
    assert!(terminal.contains("llm-gateway "), "{terminal}");
    assert!(terminal.contains("providers  openai"), "{terminal}");
    let piped = run(false);
    assert!(!piped.contains("providers  openai"), "{piped}");
    assert!(
        piped
            .lines()
            .all(|l| l.trim().is_empty() || serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{piped}"
    );
}
