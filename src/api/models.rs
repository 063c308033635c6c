//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use crate::api::types::ModelList;
use crate::app::AppState;
use crate::error::GatewayError;

/// Lists the models and aliases served now (their provider has a key).
pub async fn list(State(state): State<AppState>) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: state.routes.list(),
    })
}

/// One listed model, or 404 in OpenAI format.
pub async fn retrieve(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.routes.list().into_iter().find(|m| m.id == id) {
        Some(model) => Json(model).into_response(),
        None => GatewayError::ModelNotFound { model: id }.into_response(),
    }
}
