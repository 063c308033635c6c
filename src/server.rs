//! The local front door: a plain HTTP server with graceful shutdown.

use std::io;
use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::{self, AppState};
use crate::config::AuthMode;

/// Why the local server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No client keys on a non-loopback address.
    #[error(
        "refusing to serve on {0} without client keys: set GATEWAY_API_KEYS or GATEWAY_ADMIN_KEY, or bind HOST to a loopback address"
    )]
    Unprotected(SocketAddr),
    /// IAM auth needs the identity Lambda's callers verified.
    #[error(
        "GATEWAY_AUTH=iam identifies callers by the IAM identity AWS verified, which only the Lambda door has; use GATEWAY_API_KEYS locally"
    )]
    IamOffLambda,
    /// Binding or serving failed.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// What a person starting the gateway in a terminal wants to see first.
fn banner(state: &AppState, addr: SocketAddr) -> String {
    let config = &state.config;
    let providers: Vec<&str> = state.providers.keys().map(|p| p.as_str()).collect();
    let cache = match &config.cache {
        None => "off".to_owned(),
        Some(c) => format!(
            "on ({}, {:?} embeddings, index in {})",
            if c.semantic {
                "exact + semantic"
            } else {
                "exact"
            },
            c.embeddings,
            if config.redis_url.is_some() {
                "Redis"
            } else {
                "memory"
            },
        ),
    };
    let limits: Vec<&str> = config.file.limits.keys().map(String::as_str).collect();
    [
        format!("llm-gateway {} on http://{addr}", env!("CARGO_PKG_VERSION")),
        format!(
            "  providers  {}",
            if providers.is_empty() {
                "none (set OPENAI_API_KEY, ANTHROPIC_API_KEY or GOOGLE_API_KEY)".to_owned()
            } else {
                providers.join(", ")
            }
        ),
        format!(
            "  clients    {}",
            match config.auth.kind() {
                "keys" => "client keys required",
                "unset" | "none" => "authentication off (loopback only)",
                other => other,
            }
        ),
        format!("  cache      {cache}"),
        format!("  store      {}", state.ledger.store().kind()),
        format!(
            "  limits     {}",
            if limits.is_empty() || !config.rate_limits {
                "none".to_owned()
            } else {
                limits.join(", ")
            }
        ),
        format!(
            "  traces     {}",
            if config.otel_enabled { "OTLP" } else { "off" }
        ),
    ]
    .join("\n")
}

/// Binds `HOST:PORT` and serves until SIGINT/SIGTERM.
pub async fn run(state: AppState) -> Result<(), ServeError> {
    let addr = SocketAddr::new(state.config.host, state.config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Io { addr, source })?;
    serve(listener, state, shutdown_signal()).await
}

/// Serves on an already-bound listener (HTTP/1.1 and HTTP/2) until
/// `shutdown` resolves, then lets in-flight requests (streams included)
/// finish within the grace period.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    match state.config.auth {
        AuthMode::Unset | AuthMode::Disabled if !addr.ip().is_loopback() => {
            return Err(ServeError::Unprotected(addr));
        }
        AuthMode::Unset => tracing::warn!(
            %addr,
            "no GATEWAY_API_KEYS set: client authentication is off; serving on loopback only"
        ),
        AuthMode::Disabled => {
            tracing::warn!(%addr, "GATEWAY_AUTH=none: client authentication is off; serving on loopback only")
        }
        AuthMode::Iam => return Err(ServeError::IamOffLambda),
        AuthMode::Keys(_) => {}
    }
    let grace = state.config.shutdown_grace;
    let limits = state.config.connections;
    let providers: Vec<&str> = state.providers.keys().map(|p| p.as_str()).collect();
    tracing::info!(%addr, ?providers, "gateway listening");
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        println!("{}", banner(&state, addr));
    }

    let in_flight = state.ledger.in_flight().clone();
    let ledger = state.ledger.clone();
    let service = TowerToHyperService::new(app::router(state));
    let mut builder = Builder::new(TokioExecutor::new());
    // An HTTP/1.1 request head must fit in one 8 KB read buffer, which then
    // never grows: at 1,000 open streams that is 8 MB less than hyper's
    // default (the buffer doubles to 16 KB once a body is waiting in it).
    // A request head must arrive within the header timeout, which also
    // closes a keep-alive connection that sends nothing for that long.
    builder
        .http1()
        .max_buf_size(MAX_HEAD_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.body_read)
        .keep_alive_timeout(limits.header_read);
    let connections = GracefulShutdown::new();
    // One permit per open connection: at the cap, new clients wait in the
    // listen backlog instead of taking descriptors and memory.
    let permits = Arc::new(Semaphore::new(limits.max));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = async {
            let permit = permits.clone().acquire_owned().await;
            (permit, listener.accept().await)
        };
        let (permit, tcp) = tokio::select! {
            (permit, accepted) = accepted => match accepted {
                Ok((tcp, _)) => (permit, tcp),
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let builder = builder.clone();
        let service = service.clone();
        let watcher = connections.watcher();
        tokio::spawn(async move {
            // The protocol is read from the first bytes, before any HTTP
            // timer runs: a client that sends nothing is dropped here.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(limits.header_read, tcp.peek(&mut first)).await,
                Ok(Ok(1..))
            ) {
                return;
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                .into_owned();
            let _ = watcher.watch(connection).await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!(
        grace_seconds = grace.as_secs_f64(),
        "shutting down: draining in-flight requests"
    );
    tokio::select! {
        () = connections.shutdown() => {},
        () = tokio::time::sleep(grace) => {
            tracing::warn!("grace period over: closing remaining connections");
        }
    }
    // Cost records and cache stores still running after their responses.
    in_flight.wait_idle(grace).await;
    ledger.flush_backlog().await;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Largest HTTP/1.1 request head (request line and headers) accepted by the
/// local server, and its read buffer per connection; larger heads get 431.
pub const MAX_HEAD_BYTES: usize = 8192;

/// Accept errors are per-connection (the peer left) or resource limits (too
/// many open files): wait a little on the latter instead of spinning.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
