//! `POST /v1/embeddings`: OpenAI (passed through), Gemini
//! (`batchEmbedContents`, translated) and the local static embedding table
//! served as the model `local/minilm-static` (free, no upstream call), with
//! the key's policy, rate limits, retries, cost and the request log.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::api::pipeline::{self, COST_HEADER, Exchange, MODEL_HEADER, PROVIDER_HEADER};
use crate::app::AppState;
use crate::auth::Tenant;
use crate::cache::embed::{Embedder, StaticEmbedder};
use crate::error::GatewayError;
use crate::openai::Usage;
use crate::openai::embeddings::{self, EmbeddingsRequest};
use crate::providers::{Embedded, ProviderId};
use crate::routing::Route;
use crate::routing::retry::{Next, backoff, next_step};

/// The model id of the in-process embedding table.
pub const LOCAL_MODEL: &str = "local/minilm-static";

/// Where a model's embeddings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Backend {
    Local,
    Provider(Route),
}

/// The backend of `model`: `local/minilm-static`; `openai/…` or OpenAI's
/// `text-embedding-3-*` / `text-embedding-ada-*`; `google/…` or Gemini's
/// `gemini-embedding-*`, `text-embedding-0*`, `embedding-*`.
fn backend(model: &str) -> Result<Backend, GatewayError> {
    if model == LOCAL_MODEL {
        return Ok(Backend::Local);
    }
    let route = |provider, model: &str| {
        Ok(Backend::Provider(Route {
            provider,
            model: model.to_owned(),
        }))
    };
    if let Some((prefix, rest)) = model.split_once('/')
        && let Some(provider) = ProviderId::from_prefix(prefix)
    {
        return route(provider, rest);
    }
    if model.starts_with("text-embedding-3") || model.starts_with("text-embedding-ada") {
        return route(ProviderId::OPENAI, model);
    }
    if model.starts_with("gemini-embedding")
        || model.starts_with("text-embedding-0")
        || model.starts_with("embedding-")
    {
        return route(ProviderId::GEMINI, model);
    }
    Err(GatewayError::ModelNotFound {
        model: model.chars().take(200).collect(),
    })
}

/// The handler.
pub async fn create(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let tenant = parts.extensions.get::<Tenant>();
    let (mut exchange, trace) = Exchange::open(&state, &parts, "POST /v1/embeddings");
    let result = trace
        .run(embed(&state, &parts, body, tenant, &mut exchange))
        .await;
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => return exchange.fail(e),
    };
    let cost = exchange.account.cost();
    let body = match serde_json::to_vec(&answer.body) {
        Ok(body) => body,
        Err(e) => return exchange.fail(GatewayError::Internal(e.to_string())),
    };
    let writes = exchange.account.close(None, None);
    exchange.end(200, None);
    let mut response = pipeline::json_then_writes(body, writes);
    let headers = response.headers_mut();
    if let Some(provider) = answer.provider {
        headers.insert(PROVIDER_HEADER, HeaderValue::from_static(provider.as_str()));
    }
    if let Ok(model) = HeaderValue::from_str(&answer.model) {
        headers.insert(MODEL_HEADER, model);
    }
    if let Some(cost) = cost.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
        headers.insert(COST_HEADER, cost);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What answered.
struct Answer {
    body: serde_json::Value,
    provider: Option<ProviderId>,
    model: String,
}

async fn embed(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
    tenant: Option<&Tenant>,
    exchange: &mut Exchange,
) -> Result<Answer, GatewayError> {
    let bytes = pipeline::read_body(
        &parts.headers,
        body,
        state.config.max_request_bytes,
        state.config.connections.body_read,
    )
    .await?;
    let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
    let request: EmbeddingsRequest =
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            GatewayError::invalid(
                format!("invalid request body: {}", e.into_inner()),
                (path != ".").then_some(path),
            )
        })?;
    request.validate().map_err(|(param, message)| {
        GatewayError::invalid(format!("'{param}' {message}"), Some(param))
    })?;
    exchange.log.requested(&request.model);
    exchange.account.requested(bytes.len(), false);
    let key = tenant.and_then(|t| t.key.as_deref());
    pipeline::admit(state, key, &request.model).await?;
    let backend = backend(&request.model)?;
    let tokens = request.chars().div_ceil(4);
    let tenant_id = tenant.map_or("", |t| t.id.as_str());
    match state
        .ledger
        .limits()
        .tenant(tenant_id, key.and_then(|k| k.limits()), || tokens)
        .await
    {
        Ok(reservation) => exchange.account.hold(reservation),
        Err(denied) => {
            return Err(GatewayError::rate_limited("this API key", &denied));
        }
    }
    let route = match backend {
        Backend::Local => {
            let body = local(state, &request).await?;
            exchange.log.model = Some(LOCAL_MODEL.to_owned());
            return Ok(Answer {
                body,
                provider: None,
                model: LOCAL_MODEL.to_owned(),
            });
        }
        Backend::Provider(route) => route,
    };
    let dispatch = state.dispatcher();
    let Some((provider, settings)) = dispatch.candidate(&route) else {
        return Err(GatewayError::ProviderNotConfigured {
            model: route.model.chars().take(200).collect(),
            provider: route.provider,
            env_var: route.provider.key_env_var(),
        });
    };
    exchange.log.provider = Some(route.provider);
    exchange.log.model = Some(route.model.clone());
    let mut upstream = request.clone();
    upstream.model.clone_from(&route.model);
    let mut attempts = 0;
    let embedded: Embedded = loop {
        attempts += 1;
        let reservation = dispatch
            .reserve(&route, || tokens)
            .await
            .map_err(|denied| {
                GatewayError::rate_limited(route.provider.as_str().to_owned(), &denied)
            })?;
        let waiting = Instant::now();
        let result = provider.embed(&upstream).await;
        exchange.log.add_upstream(waiting.elapsed());
        match result {
            Ok(embedded) => {
                exchange.account.hold(reservation);
                break embedded;
            }
            Err(error) => {
                if let Some(reservation) = reservation {
                    exchange.account.refund(reservation);
                }
                if next_step(&error) != Next::Retry || attempts > settings.max_retries {
                    exchange.log.attempts = attempts as usize;
                    return Err(error);
                }
                let retry_after = match &error {
                    GatewayError::Upstream { retry_after, .. } => *retry_after,
                    _ => None,
                };
                let wait = backoff(dispatch.retry, attempts - 1, retry_after);
                tokio::time::sleep(wait).await;
                exchange.log.add_upstream(wait);
            }
        }
    };
    exchange.log.attempts = attempts as usize;
    exchange.account.served_by(&route);
    exchange.account.answered_usage(Usage {
        prompt_tokens: embedded.prompt_tokens,
        completion_tokens: 0,
        total_tokens: embedded.prompt_tokens,
        ..Usage::default()
    });
    Ok(Answer {
        body: embedded.body,
        provider: Some(route.provider),
        model: route.model,
    })
}

/// The local table: loaded on first use, each text embedded in
/// microseconds; `dimensions` below the table's keeps the leading
/// components, renormalised.
async fn local(
    state: &AppState,
    request: &EmbeddingsRequest,
) -> Result<serde_json::Value, GatewayError> {
    let Some(texts) = request.texts() else {
        return Err(GatewayError::invalid(
            "the local model takes text, not token ids",
            Some("input".to_owned()),
        ));
    };
    let dir = state.config.model_dir.clone();
    let embedder = state
        .local_embedder
        .get_or_init(|| async move {
            tokio::task::spawn_blocking(move || StaticEmbedder::load_now(&dir).map(Arc::new))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        })
        .await
        .clone()
        .map_err(|e| GatewayError::StoreUnavailable {
            what: "the local embedding model",
            detail: format!("not loaded from CACHE_MODEL_DIR: {e}"),
        })?;
    let dim = embedder.dim();
    let keep = match request.dimensions {
        Some(d) if d as usize > dim => {
            return Err(GatewayError::invalid(
                format!("'dimensions' is at most {dim} for {LOCAL_MODEL}"),
                Some("dimensions".to_owned()),
            ));
        }
        Some(d) => d as usize,
        None => dim,
    };
    let texts: Vec<String> = texts.into_iter().map(str::to_owned).collect();
    let vectors = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|t| {
                embedder.embed_blocking(t).map(|mut v| {
                    v.truncate(keep);
                    crate::cache::embed::normalize(v)
                })
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| GatewayError::Internal(e.to_string()))?
    .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let tokens = request.chars().div_ceil(4);
    Ok(embeddings::response(
        LOCAL_MODEL,
        &vectors,
        request.encoding_format,
        tokens,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_name_their_backend() {
        let provider = |p, m: &str| {
            Backend::Provider(Route {
                provider: p,
                model: m.to_owned(),
            })
        };
        for (model, expected) in [
            (LOCAL_MODEL, Backend::Local),
            (
                "text-embedding-3-small",
                provider(ProviderId::OPENAI, "text-embedding-3-small"),
            ),
            (
                "openai/my-embedder",
                provider(ProviderId::OPENAI, "my-embedder"),
            ),
            (
                "gemini-embedding-001",
                provider(ProviderId::GEMINI, "gemini-embedding-001"),
            ),
            (
                "text-embedding-004",
                provider(ProviderId::GEMINI, "text-embedding-004"),
            ),
            (
                "google/gemini-embedding-001",
                provider(ProviderId::GEMINI, "gemini-embedding-001"),
            ),
        ] {
            assert_eq!(backend(model).ok(), Some(expected), "{model}");
        }
        assert!(matches!(
            backend("claude-embed"),
            Err(GatewayError::ModelNotFound { .. })
        ));
    }
}
