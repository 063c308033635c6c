//! Starts the gateway: the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is
//! set, else the local HTTP server. `--help`, `--version` and `check` (the
//! configuration validated, nothing served) answer and exit.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use llm_gateway::app::AppState;
use llm_gateway::config::Config;
use llm_gateway::{lambda, secrets, server, telemetry, traces};

const USAGE: &str = "\
usage: llm-gateway [check | --help | --version]

  (no argument)  serve: on Lambda when AWS_LAMBDA_RUNTIME_API is set, else on HOST:PORT
  check          validate the environment, the secret and the configuration file, then exit
                 (0 when valid, 2 with the offending setting named otherwise)
  --help, -h     this text
  --version, -V  the version

Settings come from the environment (and GATEWAY_SECRETS_ARN); see .env.example
and docs/configuration.md.
";

/// What the command line asks for.
enum Mode {
    Serve,
    Check,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Mode::Serve,
        ["check" | "--check-config"] => Mode::Check,
        ["--help" | "-h" | "help"] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        ["--version" | "-V"] => {
            println!("llm-gateway {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!(
                "llm-gateway: unknown arguments: {}\n\n{USAGE}",
                args.join(" ")
            );
            return ExitCode::from(2);
        }
    };
    // Keys from Secrets Manager, read once at cold start (when configured).
    let secrets = match std::env::var(secrets::SECRETS_VAR) {
        Ok(arn) => match secrets::load(&arn).await {
            Ok(values) => values,
            Err(e) => {
                eprintln!("llm-gateway: {e}");
                if lambda::is_lambda() {
                    lambda::report_init_error(&e.to_string()).await;
                }
                return ExitCode::from(2);
            }
        },
        Err(_) => Default::default(),
    };
    let config = Config::from_lookup(|name| {
        secrets
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    });
    let state = match config.and_then(|config| {
        telemetry::init(config.log_format);
        if config.otel_enabled
            && let Err(e) = traces::init()
        {
            // Traces are optional: the gateway serves without them.
            tracing::error!(error = %e, "tracing disabled");
        }
        AppState::new(config)
    }) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("llm-gateway: {e}");
            if lambda::is_lambda() && matches!(mode, Mode::Serve) {
                lambda::report_init_error(&e.to_string()).await;
            }
            return ExitCode::from(2);
        }
    };
    if let Mode::Check = mode {
        let providers: Vec<&str> = state.providers.keys().map(|p| p.as_str()).collect();
        println!(
            "llm-gateway: configuration valid; providers: {}; store: {}; cache: {}; auth: {}",
            if providers.is_empty() {
                "none".to_owned()
            } else {
                providers.join(", ")
            },
            state.ledger.store().kind(),
            if state.cache.is_some() { "on" } else { "off" },
            state.config.auth.kind(),
        );
        return ExitCode::SUCCESS;
    }
    let result = if lambda::is_lambda() {
        let result = lambda::run(state).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            lambda::report_init_error(e).await;
        }
        result
    } else {
        server::run(state).await.map_err(|e| e.to_string())
    };
    traces::shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gateway stopped with an error");
            eprintln!("llm-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
