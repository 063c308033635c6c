//! Operational endpoints: `/health` (liveness) and `/ready` (readiness).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::AppState;

/// Liveness: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: every configured backend is usable. 503 names the failing part.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut checks = BTreeMap::new();
    if state.providers.is_empty() {
        checks.insert(
            "providers",
            "no provider is configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY or GOOGLE_API_KEY"
                .to_owned(),
        );
    }
    for id in state.providers.keys() {
        checks.insert(id.as_str(), "ok".to_owned());
    }
    if let Some(redis) = &state.redis {
        let status = match redis.ping().await {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("redis unreachable: {e}"),
        };
        checks.insert("redis", status);
    }
    // The gateway serves without its cache, so a cache that is not ready
    // is reported but does not make the gateway unready.
    let ready = checks.values().all(|v| v == "ok");
    if let Some(cache) = &state.cache {
        let status = match cache.ready() {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("disabled until ready: {e}"),
        };
        checks.insert("cache", status);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": checks,
    });
    (status, Json(body))
}

/// Provider statistics and breaker states per route.
pub async fn metrics(State(state): State<AppState>) -> Json<Value> {
    let now = std::time::Instant::now();
    let routes: serde_json::Map<String, Value> = state
        .stats
        .snapshot()
        .into_iter()
        .map(|(route, snapshot)| {
            let mut value = serde_json::to_value(snapshot).unwrap_or(Value::Null);
            value["breaker"] = json!(state.breakers.state(&route, now));
            if let Some(shared) = &state.shared {
                let view = shared.view(&route);
                value["shared"] = json!({
                    "requests": view.requests,
                    "errors": view.errors,
                    "error_rate": view.error_rate,
                    "latency_ema_ms": view.latency_ema,
                    "ttft_ema_ms": view.ttft_ema,
                    "breaker": if view.open_until.is_some_and(|t| now < t) { "open" } else { "closed" },
                });
            }
            (route.to_string(), value)
        })
        .collect();
    let costs = state.ledger.metrics();
    let mut cache = state
        .cache
        .as_ref()
        .map_or(json!({"enabled": false}), |c| c.metrics());
    if state.cache.is_some() {
        cache["saved_usd"] = costs["saved_by_cache_usd"].clone();
    }
    Json(json!({
        "routes": routes,
        "default_strategy": state.config.strategy.as_str(),
        "cache": cache,
        "costs": costs,
        "rate_limits": state.ledger.limits().metrics(),
        "overhead_ms": state.overhead.metrics(),
    }))
}

/// `?days=N` for `/metrics/costs` (default 7, at most 90).
#[derive(Debug, serde::Deserialize)]
pub struct CostQuery {
    days: Option<u32>,
}

/// Global cost totals from the store (all instances): overall and per day,
/// per provider and model. 503 when the store cannot be read.
pub async fn costs(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<CostQuery>,
) -> (StatusCode, Json<Value>) {
    let days = query.days.unwrap_or(7).clamp(1, 90);
    match state.ledger.global_totals(days).await {
        Ok(totals) => (StatusCode::OK, Json(totals)),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"error": {"message": format!("cost totals unavailable: {e}"), "type": "api_error", "param": null, "code": "store_unavailable"}}),
            ),
        ),
    }
}
