//! `/admin/keys`: the operator creates, lists, shows, updates, rotates and
//! revokes virtual keys. A key's secret is returned once, when it is made
//! (or rotated); only its SHA-256 is stored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::api::usage::{self, UsageQuery};
use crate::app::AppState;
use crate::clock::unix_seconds;
use crate::error::GatewayError;
use crate::keys::record::{self, digest, parse_time, parse_usd};
use crate::keys::{Budgets, KeyRecord};

/// Longest key name.
const MAX_NAME: usize = 200;
/// Most models on one key, and the longest name of one.
const MAX_MODELS: usize = 200;
const MAX_MODEL_NAME: usize = 256;

/// Present-and-null (`Some(None)`, clear it) apart from absent (`None`,
/// keep it).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The fields of a create or update; absent fields are left as they are,
/// `null` clears one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default, deserialize_with = "nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    rpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "nullable")]
    budget_daily_usd: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    budget_monthly_usd: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    budget_total_usd: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    expires_at: Option<Option<Value>>,
}

fn invalid(field: &str, message: &str) -> GatewayError {
    GatewayError::invalid(format!("'{field}' {message}"), Some(field.to_owned()))
}

fn usd(field: &str, value: &Value) -> Result<u64, GatewayError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    parse_usd(&text).ok_or_else(|| {
        invalid(
            field,
            "must be a USD amount from 0 to 1000000000, at most 12 decimals",
        )
    })
}

impl Fields {
    fn parse(body: &[u8]) -> Result<Self, GatewayError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            GatewayError::invalid(
                format!("invalid key fields: {}", e.into_inner()),
                (path != ".").then_some(path),
            )
        })
    }

    /// Applies the fields to `key`, checking each.
    fn apply(self, key: &mut KeyRecord) -> Result<(), GatewayError> {
        if let Some(name) = self.name {
            if name
                .as_ref()
                .is_some_and(|n| n.len() > MAX_NAME || n.chars().any(char::is_control))
            {
                return Err(invalid(
                    "name",
                    "must be at most 200 bytes without control characters",
                ));
            }
            key.name = name;
        }
        if let Some(models) = self.models {
            if let Some(list) = &models
                && (list.is_empty()
                    || list.len() > MAX_MODELS
                    || list
                        .iter()
                        .any(|m| m.is_empty() || m.len() > MAX_MODEL_NAME))
            {
                return Err(invalid(
                    "models",
                    "must list 1 to 200 model names or aliases (or be null for any)",
                ));
            }
            key.models = models;
        }
        for (field, value, slot) in [
            ("rpm", self.rpm, &mut key.rpm),
            ("tpm", self.tpm, &mut key.tpm),
        ] {
            if let Some(value) = value {
                if value == Some(0) {
                    return Err(invalid(field, "must be at least 1 (or null for none)"));
                }
                *slot = value;
            }
        }
        let Budgets {
            daily,
            monthly,
            total,
        } = &mut key.budgets;
        for (field, value, slot) in [
            ("budget_daily_usd", self.budget_daily_usd, daily),
            ("budget_monthly_usd", self.budget_monthly_usd, monthly),
            ("budget_total_usd", self.budget_total_usd, total),
        ] {
            if let Some(value) = value {
                *slot = value.map(|v| usd(field, &v)).transpose()?;
            }
        }
        if let Some(expires) = self.expires_at {
            key.expires_at = expires
                .map(|v| {
                    parse_time(&v).ok_or_else(|| {
                        invalid(
                            "expires_at",
                            "must be Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                        )
                    })
                })
                .transpose()?;
        }
        Ok(())
    }
}

fn store_error(e: crate::store::StoreError) -> GatewayError {
    GatewayError::StoreUnavailable {
        what: "the key store",
        detail: e.to_string(),
    }
}

/// A key by id from the store (never from cache: the operator sees the
/// truth); ids that cannot exist are not looked up.
async fn load(state: &AppState, id: &str) -> Result<KeyRecord, GatewayError> {
    let not_found = || GatewayError::KeyNotFound {
        id: id.chars().take(64).collect(),
    };
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    state
        .ledger
        .store()
        .get_key(id)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)
}

/// Writes an updated key and applies it on this instance at once.
async fn save(state: &AppState, key: &KeyRecord) -> Result<(), GatewayError> {
    let stored = state
        .ledger
        .store()
        .put_key(key, false)
        .await
        .map_err(store_error)?;
    if !stored {
        return Err(GatewayError::KeyNotFound { id: key.id.clone() });
    }
    state.keys.updated(key);
    Ok(())
}

fn respond(result: Result<(StatusCode, Value), GatewayError>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /admin/keys` → `201` with `id` and `key` (the secret, shown only
/// here).
pub async fn create(State(state): State<AppState>, body: Bytes) -> Response {
    let made = async {
        let fields = Fields::parse(&body)?;
        let id = record::new_id();
        let secret = record::new_secret(&id);
        let mut key = KeyRecord {
            id,
            name: None,
            secret_sha256: digest(&secret),
            created_at: unix_seconds(),
            expires_at: None,
            revoked_at: None,
            models: None,
            rpm: None,
            tpm: None,
            budgets: Budgets::default(),
        };
        fields.apply(&mut key)?;
        let stored = state
            .ledger
            .store()
            .put_key(&key, true)
            .await
            .map_err(store_error)?;
        if !stored {
            return Err(GatewayError::Internal("key id collision".into()));
        }
        tracing::info!(target: "gateway::admin", key = %key.id, "key created");
        let mut view = key.view();
        view["key"] = json!(secret);
        Ok((StatusCode::CREATED, view))
    };
    respond(made.await)
}

/// `GET /admin/keys`: every key, oldest first, without secrets.
pub async fn list(State(state): State<AppState>) -> Response {
    let listed = async {
        let mut keys = state
            .ledger
            .store()
            .list_keys()
            .await
            .map_err(store_error)?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let data: Vec<Value> = keys.iter().map(KeyRecord::view).collect();
        Ok((StatusCode::OK, json!({"object": "list", "data": data})))
    };
    respond(listed.await)
}

/// `GET /admin/keys/{id}`.
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(load(&state, &id).await.map(|k| (StatusCode::OK, k.view())))
}

/// `PATCH /admin/keys/{id}`: changes the given fields.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let updated = async {
        let fields = Fields::parse(&body)?;
        let mut key = load(&state, &id).await?;
        fields.apply(&mut key)?;
        save(&state, &key).await?;
        tracing::info!(target: "gateway::admin", key = %key.id, "key updated");
        Ok((StatusCode::OK, key.view()))
    };
    respond(updated.await)
}

/// `DELETE /admin/keys/{id}`: revokes the key (kept, for its usage).
pub async fn revoke(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let revoked = async {
        let mut key = load(&state, &id).await?;
        key.revoked_at.get_or_insert_with(unix_seconds);
        save(&state, &key).await?;
        tracing::info!(target: "gateway::admin", key = %key.id, "key revoked");
        Ok((StatusCode::OK, key.view()))
    };
    respond(revoked.await)
}

/// `POST /admin/keys/{id}/rotate`: a new secret for the same key (same
/// id, policy and usage); the old secret stops working.
pub async fn rotate(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let rotated = async {
        let mut key = load(&state, &id).await?;
        if key.revoked_at.is_some() {
            return Err(GatewayError::invalid(
                "a revoked key cannot be rotated",
                None,
            ));
        }
        let secret = record::new_secret(&key.id);
        key.secret_sha256 = digest(&secret);
        save(&state, &key).await?;
        tracing::info!(target: "gateway::admin", key = %key.id, "key rotated");
        let mut view = key.view();
        view["key"] = json!(secret);
        Ok((StatusCode::OK, view))
    };
    respond(rotated.await)
}

/// `GET /admin/keys/{id}/usage`: a key's usage as its holder sees it.
pub async fn usage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<UsageQuery>,
) -> Response {
    let read = async {
        let key = load(&state, &id).await?;
        let body = usage::view(&state, &key.tenant(), Some(&key), query.days()).await?;
        Ok((StatusCode::OK, body))
    };
    respond(read.await)
}
