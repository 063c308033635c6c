//! Azure OpenAI: the chat-completions format at deployment URLs, with an
//! `api-key` header and (for deployments) a required `api-version`.

use std::sync::Arc;

use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

use crate::{DropConnection, MockBody, MockState, json_response};

fn error(status: StatusCode, code: &str, message: &str) -> Response<MockBody> {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// `POST /openai/deployments/{deployment}/chat/completions?api-version=…`
/// or `POST /openai/v1/chat/completions`.
pub(crate) async fn chat(
    state: &Arc<MockState>,
    headers: &HeaderMap,
    path: &str,
    query: &str,
    mut body: Value,
) -> Result<Response<MockBody>, DropConnection> {
    let key = headers.get("api-key").and_then(|v| v.to_str().ok());
    if let Some(expected) = &state.api_key
        && key != Some(expected.as_str())
    {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        ));
    }
    if headers.contains_key(hyper::header::AUTHORIZATION) {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "send the key as api-key, not Authorization (mock)",
        ));
    }
    let deployment = match path.strip_prefix("/openai/deployments/") {
        Some(rest) => {
            let Some(deployment) = rest.strip_suffix("/chat/completions") else {
                return Ok(error(StatusCode::NOT_FOUND, "404", "Resource not found"));
            };
            let version = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("api-version="));
            if version.is_none_or(str::is_empty) {
                return Ok(error(
                    StatusCode::NOT_FOUND,
                    "404",
                    "Resource not found (the api-version query parameter is required)",
                ));
            }
            deployment.to_owned()
        }
        None if path == "/openai/v1/chat/completions" => {
            body["model"].as_str().unwrap_or_default().to_owned()
        }
        None => return Ok(error(StatusCode::NOT_FOUND, "404", "Resource not found")),
    };
    if !deployment.starts_with("deploy-") {
        return Ok(error(
            StatusCode::NOT_FOUND,
            "DeploymentNotFound",
            &format!(
                "The API deployment {deployment} for this resource does not exist (mock deployments start with deploy-)."
            ),
        ));
    }
    // The chat format itself is OpenAI's; the key was checked above.
    body["model"] = json!(deployment);
    let mut forwarded = headers.clone();
    if let Some(key) = key
        && let Ok(value) = hyper::header::HeaderValue::from_str(&format!("Bearer {key}"))
    {
        forwarded.insert(hyper::header::AUTHORIZATION, value);
    }
    crate::openai::chat(state, &forwarded, body, "azure").await
}
