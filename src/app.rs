//! The application: shared state and the one axum router both front doors serve.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::{admin, chat, embeddings, models, ops, responses, usage};
use crate::auth::{self, Authenticator, OperatorGate};
use crate::cache::embed::{Embedder, OpenAiEmbedder, StaticEmbedder};
use crate::cache::index::VectorIndex;
use crate::cache::memory::MemoryIndex;
use crate::cache::redis::RedisIndex;
use crate::cache::verify::Verifier;
use crate::cache::{SemanticCache, Tier};
use crate::config::Embeddings;
use crate::config::{Config, ConfigError, ProviderConfig, ProviderKind, Secret};
use crate::error::GatewayError;
use crate::keys::Keys;
use crate::ledger::Ledger;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::providers::anthropic::Anthropic;
use crate::providers::bedrock::Bedrock;
use crate::providers::clients::HttpClients;
use crate::providers::gemini::Gemini;
use crate::providers::http::Upstream;
use crate::providers::openai::OpenAi;
use crate::providers::{Provider, ProviderId};
use crate::redis_client::RedisHandle;
use crate::routing::breaker::Breakers;
use crate::routing::dispatch::Dispatcher;
use crate::routing::shared::SharedHealth;
use crate::routing::stats::Stats;
use crate::routing::{Route, Routes};
use crate::store::Store;
use crate::store::dynamodb::DynamoStore;
use crate::store::memory::MemoryStore;

/// Everything a request handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Model resolution.
    pub routes: Arc<Routes>,
    /// Configured providers by id.
    pub providers: Arc<BTreeMap<ProviderId, Arc<dyn Provider>>>,
    /// Circuit breakers per route.
    pub breakers: Arc<Breakers>,
    /// Latency and error statistics per route.
    pub stats: Arc<Stats>,
    /// Redis, when `REDIS_URL` is set.
    pub redis: Option<RedisHandle>,
    /// Provider health shared across instances, when Redis is configured.
    pub shared: Option<Arc<SharedHealth>>,
    /// The semantic cache, when enabled.
    pub cache: Option<Arc<SemanticCache>>,
    /// Prices and this instance's spend.
    pub ledger: Arc<Ledger>,
    /// Virtual keys and their budgets.
    pub keys: Arc<Keys>,
    /// Request metrics (Prometheus, and EMF lines on Lambda).
    pub metrics: Arc<Metrics>,
    /// The static embedding table served as the local embedding model,
    /// loaded on first use.
    pub local_embedder: Arc<tokio::sync::OnceCell<Result<Arc<StaticEmbedder>, String>>>,
}

impl AppState {
    /// Builds the providers (pooled HTTP clients shared by all) and routes.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let clients = HttpClients::new(config.upstream.clone()).map_err(|e| ConfigError {
            var: "HTTP client".into(),
            message: e.to_string(),
        })?;
        let clients = Arc::new(clients);
        let http = clients.first().clone();
        let mut providers: BTreeMap<ProviderId, Arc<dyn Provider>> = BTreeMap::new();
        for (&id, provider) in &config.providers {
            let adapter = build_provider(id, provider, &clients).map_err(|e| ConfigError {
                var: format!("provider {id}"),
                message: e.to_string(),
            })?;
            // Calls to providers are spans when tracing is on.
            let adapter: Arc<dyn Provider> = if crate::traces::enabled() {
                Arc::new(crate::providers::traced::TracedProvider(adapter))
            } else {
                adapter
            };
            providers.insert(id, adapter);
        }
        let routes = Routes::with_listed(
            &config.file,
            providers.keys().copied(),
            config
                .providers
                .iter()
                .map(|(id, p)| (*id, p.models.as_slice())),
        )?;
        let pricing = Pricing::new(&config.file.pricing)
            .map_err(|message| ConfigError {
                var: "GATEWAY_CONFIG [pricing]".into(),
                message,
            })?
            .with_unpriced(config.unpriced);
        let store: Arc<dyn Store> = match &config.store.dynamodb_table {
            Some(table) => {
                let dynamo = Arc::new(
                    DynamoStore::new(
                        table.clone(),
                        config.store.timeout,
                        config.store.aws.clone(),
                    )
                    .with_write_timeout(config.store.write_timeout)
                    .with_namespace(&config.namespace),
                );
                if config.store.create_table {
                    let creating = dynamo.clone();
                    tokio::spawn(async move {
                        if let Err(e) = creating.create_table_if_missing().await {
                            tracing::warn!(error = %e, "DynamoDB table not created");
                        }
                    });
                }
                dynamo
            }
            None => Arc::new(MemoryStore::default()),
        };
        // Calls to DynamoDB are spans; the memory store's take microseconds.
        let store: Arc<dyn Store> = if crate::traces::enabled() && store.kind() != "memory" {
            Arc::new(crate::store::traced::TracedStore(store))
        } else {
            store
        };
        let mut provider_limits = BTreeMap::new();
        let mut per_key = None;
        for (name, limit) in &config.file.limits {
            match ProviderId::from_prefix(name) {
                Some(id) => {
                    provider_limits.insert(id, *limit);
                }
                None => per_key = Some(*limit),
            }
        }
        let limits = Arc::new(Limits::new(
            store.clone(),
            provider_limits,
            per_key,
            config.limit_fail,
            config.rate_limits,
        ));
        let redis = config
            .redis_url
            .as_ref()
            .map(RedisHandle::connect)
            .transpose()?;
        let shared = redis
            .clone()
            .map(|r| SharedHealth::new(r, config.breaker, config.shared_cache));
        let cache = config.cache.as_ref().map(|c| {
            let embedder: Arc<dyn Embedder> =
                match (c.embeddings, config.provider(ProviderId::OPENAI)) {
                    (Embeddings::OpenAi, Some(openai)) => Arc::new(OpenAiEmbedder::new(
                        http.clone(),
                        &openai.base_url,
                        openai.api_key.clone().unwrap_or_else(|| Secret::new("")),
                    )),
                    // Config validation requires the OpenAI key for `openai`;
                    // the table loads only when the semantic tier is on.
                    (Embeddings::Local | Embeddings::OpenAi, _) => {
                        Arc::new(StaticEmbedder::new(c.model_dir.clone()))
                    }
                };
            let index: Arc<dyn VectorIndex> = match &redis {
                Some(redis) => Arc::new(RedisIndex::new(
                    redis.clone(),
                    &config.namespace,
                    embedder.id(),
                    embedder.dim(),
                )),
                None => Arc::new(MemoryIndex::new(c.max_entries)),
            };
            // Calls to the index and the embedder are spans when tracing is on.
            let (index, embedder): (Arc<dyn VectorIndex>, Arc<dyn Embedder>) =
                if crate::traces::enabled() {
                    (
                        Arc::new(crate::cache::traced::TracedIndex(index)),
                        Arc::new(crate::cache::traced::TracedEmbedder(embedder)),
                    )
                } else {
                    (index, embedder)
                };
            let semantic = c.semantic.then(|| {
                embedder.start();
                let verifier = Verifier::new(
                    c.model_dir.clone(),
                    c.verifier_threshold,
                    c.verifier_concurrency,
                );
                if c.verifier_preload {
                    verifier.preload();
                }
                Tier { embedder, verifier }
            });
            Arc::new(SemanticCache::new(index, semantic, c))
        });
        let keys = Arc::new(Keys::new(
            store.clone(),
            config.key_cache_ttl,
            config.limit_fail,
        ));
        let ledger = Arc::new(
            Ledger::new(pricing, store, limits, config.alert_tiers.clone())
                .with_keys(keys.clone())
                .with_stack(&config.namespace),
        );
        ledger.start_retries();
        let priced = crate::pricing::list()
            .map(|l| l.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(config.file.pricing.keys().cloned())
            .collect();
        let metrics = Arc::new(Metrics::new(
            priced,
            config.emf_metrics.then(|| config.namespace.clone()),
        ));
        Ok(Self {
            metrics,
            local_embedder: Arc::default(),
            ledger,
            keys,
            cache,
            redis,
            shared,
            breakers: Arc::new(Breakers::new(config.breaker)),
            stats: Arc::new(Stats::default()),
            config: Arc::new(config),
            routes: Arc::new(routes),
            providers: Arc::new(providers),
        }
        .discover_models())
    }

    /// Reads the model lists of providers declared without one, in the
    /// background (a server that does not answer in time lists nothing;
    /// `provider/model` reaches it anyway).
    fn discover_models(self) -> Self {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self;
        };
        for (id, settings) in &self.config.providers {
            let Some(provider) = self
                .providers
                .get(id)
                .filter(|_| settings.discover_models)
                .cloned()
            else {
                continue;
            };
            let (id, routes) = (*id, self.routes.clone());
            runtime.spawn(async move {
                match provider.list_models().await {
                    Ok(models) => {
                        tracing::info!(provider = %id, models = models.len(), "models discovered");
                        routes.add_listed(id, &models);
                    }
                    Err(e) => tracing::warn!(provider = %id, error = %e, "models not discovered"),
                }
            });
        }
        self
    }

    /// Measured latency of a route: all instances' when shared, else ours.
    pub fn latency_ms(&self, route: &Route) -> Option<f64> {
        let shared = self.shared.as_ref().map(|s| s.view(route));
        shared
            .and_then(|v| v.ttft_ema.or(v.latency_ema))
            .or_else(|| self.stats.latency_ms(route))
    }

    /// The failover loop's narrow view: providers, health and limits.
    pub fn dispatcher(&self) -> Dispatcher<'_> {
        Dispatcher {
            providers: &self.providers,
            settings: &self.config.providers,
            retry: &self.config.retry,
            breakers: &self.breakers,
            stats: &self.stats,
            shared: self.shared.as_ref(),
            limits: self.ledger.limits(),
        }
    }
}

/// The adapter for one configured provider, on the shared clients.
fn build_provider(
    id: ProviderId,
    config: &ProviderConfig,
    clients: &Arc<HttpClients>,
) -> Result<Arc<dyn Provider>, GatewayError> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &config.headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| GatewayError::Internal(format!("header name '{name}'")))?;
        headers.insert(
            name,
            crate::providers::http::sensitive_header(value.expose())?,
        );
    }
    let upstream = Upstream {
        id,
        http: clients.counters(),
        timeouts: config.timeouts,
        api_key: config.api_key.clone().unwrap_or_else(|| Secret::new("")),
        headers,
    };
    Ok(match config.kind {
        ProviderKind::OpenAi | ProviderKind::Azure => Arc::new(OpenAi::new(upstream, config)?),
        ProviderKind::Anthropic => Arc::new(Anthropic::new(upstream, config)?),
        ProviderKind::Gemini => Arc::new(Gemini::new(upstream, config)?),
        ProviderKind::Bedrock => Arc::new(Bedrock::new(id, config)),
    })
}

/// The gateway's routes and middleware. `/v1/*` needs a client key when
/// keys are configured; `/admin/*` and the metrics (spend and traffic are
/// the operator's business) need the operator's key; `/health` and
/// `/ready` need nothing.
pub fn router(state: AppState) -> Router {
    let authenticator = Arc::new(
        Authenticator::new(
            &state.config.auth,
            state.config.admin_key.as_ref(),
            state.keys.clone(),
        )
        .with_metrics(state.metrics.clone()),
    );
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/chat/completions", post(chat::completions))
        .route("/v1/responses", post(responses::create))
        .route("/v1/embeddings", post(embeddings::create))
        .route(
            "/v1/responses/{id}",
            get(responses::retrieve).delete(responses::delete),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(responses::input_items),
        )
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::retrieve))
        .route("/v1/usage", get(usage::own))
        .route_layer(middleware::from_fn_with_state(
            authenticator.clone(),
            auth::require_key,
        ));
    let metrics = Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/metrics/costs", get(ops::costs))
        .route_layer(middleware::from_fn_with_state(
            OperatorGate {
                auth: authenticator.clone(),
                strict: false,
            },
            auth::require_operator,
        ));
    let operator = Router::new()
        .route("/admin/keys", post(admin::create).get(admin::list))
        .route(
            "/admin/keys/{id}",
            get(admin::show).patch(admin::update).delete(admin::revoke),
        )
        .route("/admin/keys/{id}/rotate", post(admin::rotate))
        .route("/admin/keys/{id}/usage", get(admin::usage))
        .route_layer(middleware::from_fn_with_state(
            OperatorGate {
                auth: authenticator,
                strict: true,
            },
            auth::require_operator,
        ));
    Router::new()
        .merge(v1)
        .merge(metrics)
        .merge(operator)
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(unknown_endpoint)
        .layer(middleware::from_fn(auth::request_id))
        .with_state(state)
}

async fn unknown_endpoint(request: Request) -> Response {
    GatewayError::UnknownEndpoint {
        method: request.method().to_string(),
        path: request.uri().path().chars().take(200).collect(),
    }
    .into_response()
}
