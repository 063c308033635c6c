//! Operational endpoints: `/health` (liveness), `/ready` (readiness),
//! `/metrics` (OpenMetrics text for Prometheus, or JSON) and
//! `/metrics/costs` (the global totals).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::GatewayError;
use crate::metrics::RouteLabels;

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

/// `?format=` for `/metrics`: `prometheus` (default) or `json`.
#[derive(Debug, serde::Deserialize)]
pub struct MetricsQuery {
    format: Option<String>,
}

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// This instance's metrics: OpenMetrics text that Prometheus scrapes, or
/// with `?format=json` the JSON document (per-route statistics and breaker
/// states, cache, costs, limits, overhead percentiles).
pub async fn metrics(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<MetricsQuery>,
) -> Response {
    match query.format.as_deref() {
        None | Some("prometheus" | "openmetrics") => {
            refresh_gauges(&state);
            (
                [(header::CONTENT_TYPE, OPENMETRICS)],
                state.metrics.render(),
            )
                .into_response()
        }
        Some("json") => metrics_json(&state).into_response(),
        Some(_) => GatewayError::invalid(
            "format must be prometheus or json",
            Some("format".to_owned()),
        )
        .into_response(),
    }
}

/// Sets the point-in-time gauges from the ledger, limits and breakers.
fn refresh_gauges(state: &AppState) {
    let gauges = &state.metrics.gauges;
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    gauges
        .pending_cost_records
        .set(to_i64(state.ledger.pending() as u64));
    gauges
        .writes_in_flight
        .set(to_i64(state.ledger.in_flight().count()));
    gauges
        .alerts_raised
        .set(to_i64(state.ledger.alerts_raised()));
    gauges
        .rate_limited
        .set(to_i64(state.ledger.limits().denied()));
    let now = std::time::Instant::now();
    for (route, _) in state.stats.snapshot() {
        let open = state.breakers.state(&route, now) == "open"
            || state.shared.as_ref().is_some_and(|s| s.is_open(&route));
        gauges
            .circuit_open
            .get_or_create(&RouteLabels {
                provider: route.provider.as_str().to_owned(),
                model: route.model.clone(),
            })
            .set(i64::from(open));
    }
}

/// The JSON document of `/metrics?format=json`.
fn metrics_json(state: &AppState) -> Json<Value> {
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
        "overhead_ms": state.metrics.overhead_samples.metrics(),
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
