//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Extensions;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::auth::Tenant;
use crate::error::GatewayError;
use crate::openai::{ModelList, ModelObject};

/// The models served now (their provider has a key) that the caller's key
/// may use.
fn visible(state: &AppState, extensions: &Extensions) -> Vec<ModelObject> {
    let key = extensions.get::<Tenant>().and_then(|t| t.key.as_deref());
    let mut models = state.routes.list();
    if let Some(key) = key {
        models.retain(|m| key.allows(&m.id));
    }
    models
}

/// Lists the models and aliases served now that the caller may use.
pub async fn list(State(state): State<AppState>, extensions: Extensions) -> Json<ModelList> {
    Json(ModelList {
        object: "list",
        data: visible(&state, &extensions),
    })
}

/// One listed model, or 404 in OpenAI format.
pub async fn retrieve(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    match visible(&state, &extensions)
        .into_iter()
        .find(|m| m.id == id)
    {
        Some(model) => Json(model).into_response(),
        None => GatewayError::ModelNotFound { model: id }.into_response(),
    }
}
