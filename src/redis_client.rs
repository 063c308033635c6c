//! The process's Redis connection (`REDIS_URL`), established in the
//! background so start-up never waits for it. Until it is up, and whenever
//! Redis fails, features that use it fail open.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{ConfigError, Secret};

/// Bound on one Redis command; callers treat a timeout as "Redis is down".
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

/// A lazily connected, auto-reconnecting Redis connection.
#[derive(Clone)]
pub struct RedisHandle {
    conn: Arc<OnceLock<ConnectionManager>>,
}

impl RedisHandle {
    /// Checks the URL and starts connecting in the background (needs a
    /// Tokio runtime).
    pub fn connect(url: &Secret) -> Result<Self, ConfigError> {
        let client = redis::Client::open(url.expose()).map_err(|e| ConfigError {
            var: "REDIS_URL".into(),
            message: format!("not a valid Redis URL ({})", e.category()),
        })?;
        let conn = Arc::new(OnceLock::new());
        let slot = conn.clone();
        tokio::spawn(async move {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(COMMAND_TIMEOUT))
                .set_number_of_retries(2)
                .set_max_delay(Duration::from_secs(2));
            let mut wait = Duration::from_millis(100);
            loop {
                match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                    Ok(manager) => {
                        let _ = slot.set(manager);
                        tracing::info!("connected to Redis");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = e.category(), "Redis not reachable yet; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
        Ok(Self { conn })
    }

    /// The connection, once established.
    pub fn get(&self) -> Option<ConnectionManager> {
        self.conn.get().cloned()
    }

    /// `PING`, for readiness.
    pub async fn ping(&self) -> Result<(), String> {
        let mut conn = self.get().ok_or_else(|| "not connected yet".to_owned())?;
        let reply: Result<String, _> = tokio::time::timeout(
            COMMAND_TIMEOUT * 2,
            redis::cmd("PING").query_async(&mut conn),
        )
        .await
        .map_err(|_| "timed out".to_owned())?;
        reply.map(|_| ()).map_err(|e| e.category().to_owned())
    }
}
