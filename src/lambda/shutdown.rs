//! Lambda's shutdown phase: the process gets SIGTERM (and about 500 ms)
//! before its execution environment goes away, but only when an extension
//! is registered. The gateway registers an internal one that subscribes to
//! nothing, and on SIGTERM writes or logs every cost record still pending.

use std::sync::Arc;
use std::time::Duration;

use crate::ledger::Ledger;

/// The extension's name (unique within the function).
const NAME: &str = "llm-gateway-shutdown";

/// Time given to pending writes and the backlog at shutdown, well inside
/// Lambda's 500 ms.
const BUDGET: Duration = Duration::from_millis(300);

/// Registers the internal extension and the SIGTERM handler. Without an
/// extensions API (some emulators) it logs why and carries on.
pub async fn register(ledger: Arc<Ledger>) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "no shutdown flush: HTTP client not built");
            return;
        }
    };
    let registered = client
        .post(format!("http://{api}/2020-01-01/extension/register"))
        .header("Lambda-Extension-Name", NAME)
        .body(r#"{"events":[]}"#)
        .send()
        .await;
    let id = match registered {
        Ok(r) if r.status().is_success() => r
            .headers()
            .get("Lambda-Extension-Identifier")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        Ok(r) => {
            tracing::warn!(
                status = r.status().as_u16(),
                "no shutdown flush: extension not registered"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "no shutdown flush: extension not registered");
            None
        }
    };
    let Some(id) = id else {
        return;
    };
    // Init ends once every extension has asked for its next event; with no
    // events subscribed, the request simply stays open.
    let waiting = reqwest::Client::new();
    tokio::spawn(async move {
        let _ = waiting
            .get(format!("http://{api}/2020-01-01/extension/event/next"))
            .header("Lambda-Extension-Identifier", id)
            .send()
            .await;
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            tracing::warn!("no shutdown flush: SIGTERM cannot be handled");
            return;
        };
        term.recv().await;
        tracing::info!("shutdown: writing pending cost records");
        ledger.in_flight().wait_idle(BUDGET / 2).await;
        ledger.flush_backlog_within(BUDGET / 2).await;
        std::process::exit(0);
    });
}
