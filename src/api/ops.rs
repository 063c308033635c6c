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
    let ready = checks.values().all(|v| v == "ok");
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
