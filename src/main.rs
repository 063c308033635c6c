//! Starts the gateway: the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is
//! set, else the local HTTP server.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use llm_gateway::app::AppState;
use llm_gateway::config::Config;
use llm_gateway::{lambda, secrets, server, telemetry, traces};

#[tokio::main]
async fn main() -> ExitCode {
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
            if lambda::is_lambda() {
                lambda::report_init_error(&e.to_string()).await;
            }
            return ExitCode::from(2);
        }
    };
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
