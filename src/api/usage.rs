//! `GET /v1/usage`: a client key's own spend and tokens, by day and model.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::Extensions;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Tenant;
use crate::clock::{civil_day, today};
use crate::error::GatewayError;
use crate::keys::KeyRecord;
use crate::pricing::Cost;
use crate::store::Totals;

/// `?days=N`: how many days back (default 30, at most 90).
#[derive(Debug, serde::Deserialize)]
pub struct UsageQuery {
    days: Option<u32>,
}

impl UsageQuery {
    /// The days asked for.
    pub fn days(&self) -> Option<u32> {
        self.days
    }
}

/// The calling key's usage; there is no way to name another key here.
pub async fn own(
    State(state): State<AppState>,
    Query(query): Query<UsageQuery>,
    extensions: Extensions,
) -> Response {
    let Some(tenant) = extensions.get::<Tenant>() else {
        return GatewayError::Unauthorized.into_response();
    };
    match view(&state, &tenant.id, tenant.key.as_deref(), query.days).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A tenant's totals: all time, this month and the last `days` days, each
/// with cost (USD, exact decimal strings), requests and tokens by model;
/// with the key's budgets and what is left of them when it has any.
pub async fn view(
    state: &AppState,
    tenant: &str,
    key: Option<&KeyRecord>,
    days: Option<u32>,
) -> Result<Value, GatewayError> {
    let days = days.unwrap_or(30).clamp(1, 90);
    let today = today();
    let now_day = crate::clock::unix_day();
    let month = today.get(..7).unwrap_or_default().to_owned();
    let mut periods = vec!["TOTAL".to_owned(), format!("MONTH#{month}")];
    periods.extend((0..i64::from(days)).map(|d| format!("DAY#{}", civil_day(now_day - d))));
    let found = state
        .ledger
        .store()
        .tenant_totals(tenant, &periods)
        .await
        .map_err(|e| GatewayError::StoreUnavailable {
            what: "usage",
            detail: e.to_string(),
        })?;
    let get = |period: &str| {
        found
            .iter()
            .find(|(p, _)| p == period)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let total = get("TOTAL");
    let this_month = get(&format!("MONTH#{month}"));
    let today_totals = get(&format!("DAY#{today}"));
    let day_list: Vec<Value> = found
        .iter()
        .filter_map(|(p, t)| {
            let day = p.strip_prefix("DAY#")?;
            let mut v = scope(t);
            v["day"] = json!(day);
            Some(v)
        })
        .collect();
    let mut body = json!({
        "object": "gateway.usage",
        "tenant": tenant,
        "total": scope(&total),
        "month": {"month": month, "usage": scope(&this_month)},
        "days": day_list,
    });
    if let Some(key) = key.filter(|k| k.budgets.any()) {
        let budget = |limit: Option<u64>, spent: u64| {
            limit.map(|l| {
                json!({
                    "budget_usd": Cost(l).to_string(),
                    "spent_usd": Cost(spent).to_string(),
                    "remaining_usd": Cost(l.saturating_sub(spent)).to_string(),
                })
            })
        };
        body["budgets"] = json!({
            "daily": budget(key.budgets.daily, today_totals.picodollars),
            "monthly": budget(key.budgets.monthly, this_month.picodollars),
            "total": budget(key.budgets.total, total.picodollars),
        });
    }
    Ok(body)
}

/// One period's totals for people.
fn scope(t: &Totals) -> Value {
    let by_model: serde_json::Map<String, Value> = t
        .by_model
        .iter()
        .map(|(model, cost)| {
            (
                model.clone(),
                json!({
                    "cost_usd": Cost(*cost).to_string(),
                    "tokens": t.tokens_by_model.get(model).copied().unwrap_or(0),
                }),
            )
        })
        .collect();
    json!({
        "cost_usd": Cost(t.picodollars).to_string(),
        "requests": t.requests,
        "estimated_requests": t.estimated_requests,
        "prompt_tokens": t.prompt_tokens,
        "completion_tokens": t.completion_tokens,
        "by_model": by_model,
    })
}
