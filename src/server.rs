//! The local front door: a plain HTTP server with graceful shutdown.

use std::io;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::app::{self, AppState};
use crate::config::AuthMode;

/// Why the local server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No client keys on a non-loopback address.
    #[error(
        "refusing to serve on {0} without client keys: set GATEWAY_API_KEYS, bind HOST to a loopback address, or set GATEWAY_AUTH=none"
    )]
    Unprotected(SocketAddr),
    /// Binding or serving failed.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Binds `HOST:PORT` and serves until SIGINT/SIGTERM.
pub async fn run(state: AppState) -> Result<(), ServeError> {
    let addr = SocketAddr::new(state.config.host, state.config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Io { addr, source })?;
    serve(listener, state, shutdown_signal()).await
}

/// Serves on an already-bound listener until `shutdown` resolves, then lets
/// in-flight requests (streams included) finish within the grace period.
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
        AuthMode::Unset if !addr.ip().is_loopback() => return Err(ServeError::Unprotected(addr)),
        AuthMode::Unset => tracing::warn!(
            %addr,
            "no GATEWAY_API_KEYS set: client authentication is off; serving on loopback only"
        ),
        AuthMode::Disabled => {
            tracing::warn!(%addr, "GATEWAY_AUTH=none: client authentication is off")
        }
        AuthMode::Keys(_) => {}
    }
    let grace = state.config.shutdown_grace;
    let providers: Vec<&str> = state.providers.keys().map(|p| p.as_str()).collect();
    tracing::info!(%addr, ?providers, "gateway listening");

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!(
            grace_seconds = grace.as_secs_f64(),
            "shutting down: draining in-flight requests"
        );
        let _ = stopping_tx.send(());
    };
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let in_flight = state.ledger.in_flight().clone();
    let ledger = state.ledger.clone();
    let server = axum::serve(listener, app::router(state)).with_graceful_shutdown(signal);
    let deadline = async {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.map_err(|source| ServeError::Io { addr, source })?,
        () = deadline => tracing::warn!("grace period over: closing remaining connections"),
    }
    // Cost records and cache stores still running after their responses.
    in_flight.wait_idle(grace).await;
    ledger.flush_backlog().await;
    tracing::info!("gateway stopped");
    Ok(())
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
