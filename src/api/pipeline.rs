//! The request pipeline, top to bottom, shared by the endpoints that
//! generate (`/v1/chat/completions`, `/v1/responses`): read, parse into the
//! canonical chat request, check the key's policy, plan, limit, look up the
//! cache, call with failover, and answer in the endpoint's [`Format`].

use std::convert::Infallible;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::account::{Account, CacheStatus, Writes};
use crate::app::AppState;
use crate::auth::{RequestId, Tenant};
use crate::cache::replay::{self, PendingStore};
use crate::cache::{self, Hit, Lookup};
use crate::error::GatewayError;
use crate::keys::KeyRecord;
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, StreamOptions};
use crate::pricing::Unpriced;
use crate::providers::ChunkStream;
use crate::providers::sse::data_event;
use crate::providers::stream::ChunkBuilder;
use crate::request_log::RequestLog;
use crate::routing::failover::{self, Output};
use crate::routing::strategy::Strategy;
use crate::routing::{self, Route};
use crate::traces::Span;
use crate::{lambda, limits};

/// Header naming the provider that served the request.
pub const PROVIDER_HEADER: &str = "x-gateway-provider";
/// Header naming the upstream model that served the request.
pub const MODEL_HEADER: &str = "x-gateway-model";
/// Header counting the upstream attempts (retries and failovers included).
pub const ATTEMPTS_HEADER: &str = "x-gateway-attempts";
/// Header with the smart-routing decision.
pub const ROUTING_HEADER: &str = "x-gateway-routing";
/// Header saying whether the cache answered: `HIT`, `MISS` or `BYPASS`.
pub const CACHE_HEADER: &str = "x-cache";
/// Header with how sure the cache is of a hit: `1` for an exact repeat,
/// else the verifier's probability.
pub const SIMILARITY_HEADER: &str = "x-cache-similarity";
/// Header with what a non-streamed request cost in USD (exact decimal;
/// `0` for a cache hit). Streams report cost in the log and `/metrics`.
pub const COST_HEADER: &str = "x-gateway-cost-usd";
/// Request header choosing a routing strategy.
pub const STRATEGY_HEADER: &str = "x-routing-strategy";

/// An endpoint's wire format around the canonical chat pipeline.
pub trait Format: Send + 'static {
    /// The span name, e.g. `POST /v1/chat/completions`.
    fn route(&self) -> &'static str;

    /// The canonical request from the body, for `tenant`.
    fn parse(
        &mut self,
        state: &AppState,
        tenant: &str,
        body: &[u8],
    ) -> impl Future<Output = Result<ChatCompletionRequest, GatewayError>> + Send;

    /// The body of a complete answer.
    fn json(&mut self, completion: &ChatCompletion) -> Result<Vec<u8>, GatewayError>;

    /// The SSE bytes for one chunk (none to skip it).
    fn events(&mut self, chunk: ChatCompletionChunk) -> Vec<Bytes>;

    /// The SSE bytes that end a complete stream.
    fn finish(&mut self) -> Vec<Bytes>;

    /// The SSE bytes that report a failure once the stream has started.
    fn failure(&mut self, error: &GatewayError) -> Vec<Bytes>;

    /// A write a complete answer owes besides cost, limits and cache (a
    /// stored response), finished before the response ends.
    fn store(&mut self) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

/// Serves one request in `format`.
pub async fn handle<F: Format>(state: AppState, request: Request, mut format: F) -> Response {
    let (parts, body) = request.into_parts();
    let tenant = parts.extensions.get::<Tenant>();
    let (mut exchange, trace) = Exchange::open(&state, &parts, format.route());
    exchange.log.log_prompts = state.config.log_prompts;
    let mut meta = RouteMeta::default();
    let result = trace
        .run(serve(
            &state,
            &parts,
            body,
            tenant,
            &mut exchange,
            &mut meta,
            &mut format,
        ))
        .await;
    let mut response = match result {
        Ok(Answer::Cached(hit)) => {
            if exchange.log.stream {
                let replay: ChunkStream = Box::pin(futures_util::stream::iter(
                    replay::chunks(&hit.completion).into_iter().map(Ok),
                ));
                sse_response(relay(replay, exchange, format))
            } else {
                json_response(replay::as_served(hit.completion), exchange, format)
            }
        }
        Ok(Answer::Upstream(Output::Json(completion))) => {
            json_response(*completion, exchange, format)
        }
        Ok(Answer::Upstream(Output::Stream(chunks))) => {
            sse_response(relay(chunks, exchange, format))
        }
        Err(e) => exchange.fail(e),
    };
    meta.apply(response.headers_mut());
    response
}

/// A request in progress: its account (money, limits, cache writes) and
/// its log line, which observes. Ended once; a request dropped before its
/// end (the client left) is ended as 499, what it owes still written.
pub(crate) struct Exchange {
    pub(crate) account: Account,
    pub(crate) log: RequestLog,
    started: Instant,
    ended: bool,
}

impl Exchange {
    /// Opens the exchange of a request now: its id and tenant as the
    /// middleware set them, the server span named `route` (returned too),
    /// the log line and the account.
    pub(crate) fn open(
        state: &AppState,
        parts: &axum::http::request::Parts,
        route: &'static str,
    ) -> (Self, Span) {
        let started = Instant::now();
        let id = parts
            .extensions
            .get::<RequestId>()
            .map_or("", |r| r.0.as_str());
        let tenant_id = parts
            .extensions
            .get::<Tenant>()
            .map_or("", |t| t.id.as_str());
        let trace = Span::server(&parts.headers, route);
        let mut log = RequestLog::start(id, tenant_id, started, state.metrics.clone());
        log.trace = trace.clone();
        let account = Account::open(id, tenant_id, state.ledger.clone(), trace.clone());
        let exchange = Self {
            account,
            log,
            started,
            ended: false,
        };
        (exchange, trace)
    }

    /// Ends the request: whatever the account still owes is written in the
    /// background, and the line is written.
    pub(crate) fn end(&mut self, status: u16, error: Option<&str>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        drop(self.account.abandon().spawn());
        self.log.finish(status, error, &self.account.bill());
    }

    /// Ends the request with an error response.
    pub(crate) fn fail(mut self, error: GatewayError) -> Response {
        self.end(error.status().as_u16(), Some(&error.to_string()));
        error.into_response()
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        // The client went away before the response ended (HTTP 499 by convention).
        self.end(499, Some("client disconnected"));
    }
}

/// What answers a request: the pipeline's result.
enum Answer {
    /// The upstream's answer.
    Upstream(Output),
    /// A stored answer.
    Cached(Box<Hit>),
}

/// A JSON answer. When writes are owed (cost, limits, the cache), the
/// whole answer is sent first and the writes finish before the body ends:
/// Lambda may freeze the process once the response is over, so nothing may
/// be left running.
fn json_response<F: Format>(
    completion: ChatCompletion,
    mut exchange: Exchange,
    mut format: F,
) -> Response {
    exchange.account.answered(&completion);
    exchange.log.answered(&completion);
    let cost = exchange.account.cost();
    let body = match format.json(&completion) {
        Ok(body) => body,
        Err(e) => return exchange.fail(e),
    };
    // A stored response must be readable (`previous_response_id`) by the
    // time the client has the answer: it is written before the body goes
    // out; cost, limits and the cache after it.
    let stored = format.store().map(tokio::spawn);
    let writes = exchange.account.close(Some(completion), None);
    exchange.end(200, None);
    let mut response = json_then_writes_after(body, writes, stored);
    if let Some(cost) = cost.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
        response.headers_mut().insert(COST_HEADER, cost);
    }
    response
}

/// A JSON body whose response ends only once `writes` are done.
pub(crate) fn json_then_writes(body: Vec<u8>, writes: Writes) -> Response {
    json_then_writes_after(body, writes, None)
}

/// [`json_then_writes`], the body sent only once `before` has finished.
fn json_then_writes_after(
    body: Vec<u8>,
    writes: Writes,
    before: Option<tokio::task::JoinHandle<()>>,
) -> Response {
    let after = writes.spawn();
    let mut response = match (before, after) {
        (None, None) => (StatusCode::OK, body).into_response(),
        (before, after) => {
            // The body declares its length, so clients have the whole
            // answer at once; the stream itself ends only after the
            // writes, so a Lambda invocation is not over before they are.
            let length = body.len();
            let bytes = futures_util::stream::once(async move {
                if let Some(before) = before {
                    let _ = before.await;
                }
                Ok::<_, Infallible>(Bytes::from(body))
            });
            let after = futures_util::stream::once(async move {
                if let Some(after) = after {
                    let _ = after.await;
                }
            })
            .filter_map(|()| async { None::<Result<Bytes, Infallible>> });
            let mut response = Response::new(Body::from_stream(bytes.chain(after)));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            response
        }
    };
    set_json(response.headers_mut());
    response
}

/// An SSE response around a relayed stream.
fn sse_response(
    events: impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Routing and cache facts reported in response headers.
#[derive(Default)]
struct RouteMeta {
    route: Option<Route>,
    attempts: usize,
    decision: Option<String>,
    cache: CacheStatus,
    similarity: Option<f32>,
}

impl RouteMeta {
    fn apply(&self, headers: &mut HeaderMap) {
        if let Some(route) = &self.route {
            headers.insert(
                PROVIDER_HEADER,
                HeaderValue::from_static(route.provider.as_str()),
            );
            if let Ok(model) = HeaderValue::from_str(&route.model) {
                headers.insert(MODEL_HEADER, model);
            }
        }
        if self.attempts > 0 {
            headers.insert(ATTEMPTS_HEADER, HeaderValue::from(self.attempts));
        }
        if let Some(status) = self.cache.header() {
            headers.insert(CACHE_HEADER, HeaderValue::from_static(status));
        }
        if let Some(similarity) = self
            .similarity
            .and_then(|s| HeaderValue::from_str(&format!("{s:.4}")).ok())
        {
            headers.insert(SIMILARITY_HEADER, similarity);
        }
        if let Some(decision) = self
            .decision
            .as_deref()
            .and_then(|d| HeaderValue::from_str(d).ok())
        {
            headers.insert(ROUTING_HEADER, decision);
        }
    }
}

/// The pipeline: read, validate, plan, cache lookup, call with failover
/// (within the request deadline, and on Lambda the invocation's).
async fn serve(
    state: &AppState,
    parts: &http::request::Parts,
    body: Body,
    tenant: Option<&Tenant>,
    exchange: &mut Exchange,
    meta: &mut RouteMeta,
    format: &mut impl Format,
) -> Result<Answer, GatewayError> {
    let headers = &parts.headers;
    let bytes = read_body(
        headers,
        body,
        state.config.max_request_bytes,
        state.config.connections.body_read,
    )
    .await?;
    let key = tenant.and_then(|t| t.key.as_deref());
    let tenant = tenant.map_or("", |t| t.id.as_str());
    let mut request = format.parse(state, tenant, &bytes).await?;
    let Exchange {
        account,
        log,
        started,
        ..
    } = exchange;
    log.requested(&request.model);
    log.stream = request.is_stream();
    account.requested(bytes.len(), log.stream);
    admit(state, key, &request.model).await?;
    if log.log_prompts {
        log.prompt = serde_json::to_string(&request.messages).ok();
    }
    let asked = requested_strategy(headers)?;
    let mut plan = routing::plan(
        &state.routes,
        |r| state.latency_ms(r),
        &request,
        asked,
        state.config.strategy,
        |r| {
            state
                .ledger
                .pricing()
                .per_million(r.provider.as_str(), &r.model)
        },
    )?;
    if state.ledger.pricing().unpriced() == Unpriced::Refuse {
        refuse_unpriced(state, &request.model, &mut plan.candidates)?;
    }
    meta.decision = plan.decision.as_ref().map(|d| d.summary());
    meta.route = plan.candidates.first().cloned();
    prepare_upstream(&mut request);
    match state
        .ledger
        .limits()
        .tenant(tenant, key.and_then(|k| k.limits()), || {
            limits::estimate(&request)
        })
        .await
    {
        Ok(reservation) => account.hold(reservation),
        Err(denied) => {
            return Err(GatewayError::rate_limited("this API key", &denied));
        }
    }

    if let Some(cache) = &state.cache {
        match cache.lookup(&request, tenant, cache::mode(headers)).await {
            Lookup::Hit(hit) => {
                meta.similarity = Some(hit.similarity);
                meta.route = None;
                account.cache_hit(&hit.completion);
                meta.cache = account.cache();
                log.answered(&hit.completion);
                log.model = Some(hit.completion.model.clone());
                return Ok(Answer::Cached(hit));
            }
            Lookup::Miss(key, vector) => account.cache_miss(PendingStore {
                cache: cache.clone(),
                key,
                vector,
            }),
            Lookup::Bypass => account.cache_bypassed(),
        }
        meta.cache = account.cache();
    }

    let deadline = *started + state.config.retry.deadline;
    let deadline =
        lambda::invocation_deadline(&parts.extensions).map_or(deadline, |d| d.min(deadline));
    let result = failover::run(
        &state.dispatcher(),
        account,
        &mut request,
        &plan.candidates,
        deadline,
    )
    .await;
    let (output, route, attempts) = match result {
        Ok(answered) => {
            account.served_by(&answered.route);
            account.hold(answered.reservation);
            log.add_upstream(answered.waited);
            (Ok(answered.output), Some(answered.route), answered.attempts)
        }
        Err(failed) => {
            log.add_upstream(failed.waited);
            (Err(failed.error), None, failed.attempts)
        }
    };
    meta.attempts = attempts.iter().filter(|a| a.called()).count();
    meta.route = route
        .or_else(|| attempts.last().map(|a| a.route.clone()))
        .or(meta.route.take());
    log.attempts = meta.attempts;
    if let Some(route) = &meta.route {
        log.provider = Some(route.provider);
        log.model = Some(route.model.clone());
    }
    Ok(Answer::Upstream(output?))
}

/// A virtual key's policy before any work: the model must be on its list
/// (403 `model_not_allowed`) and its budgets unspent (429).
pub(crate) async fn admit(
    state: &AppState,
    key: Option<&KeyRecord>,
    model: &str,
) -> Result<(), GatewayError> {
    let Some(key) = key else {
        return Ok(());
    };
    if !key.allows(model) {
        return Err(GatewayError::Forbidden {
            message: format!(
                "this API key may not use the model '{}'",
                model.chars().take(200).collect::<String>()
            ),
            code: "model_not_allowed",
        });
    }
    state.keys.check_budget(key).await
}

/// Drops candidates without a price; none left is a 400 that says how to
/// price the model.
fn refuse_unpriced(
    state: &AppState,
    model: &str,
    candidates: &mut Vec<Route>,
) -> Result<(), GatewayError> {
    let pricing = state.ledger.pricing();
    let first = candidates.first().map(|r| r.model.clone());
    candidates.retain(|r| pricing.price_at(r.provider.as_str(), &r.model).is_some());
    if candidates.is_empty() {
        let unpriced = first.unwrap_or_else(|| model.to_owned());
        let unpriced: String = unpriced.chars().take(200).collect();
        return Err(GatewayError::invalid(
            format!(
                "the model '{unpriced}' has no price and this gateway refuses unpriced models: add [pricing.\"{unpriced}\"] with input and output (USD per million tokens) to GATEWAY_CONFIG, or set UNPRICED_MODELS=charge:IN,OUT"
            ),
            Some("model".to_owned()),
        ));
    }
    Ok(())
}

/// The strategy asked for in `x-routing-strategy`, if any.
fn requested_strategy(headers: &HeaderMap) -> Result<Option<Strategy>, GatewayError> {
    let Some(value) = headers.get(STRATEGY_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<Strategy>().ok())
        .map(Some)
        .ok_or_else(|| {
            GatewayError::invalid(
                "the x-routing-strategy header must be one of cost, latency, balanced, capability",
                Some(STRATEGY_HEADER.to_owned()),
            )
        })
}

/// Reads the body, refusing more than `limit` bytes (413) and a body that
/// is not complete within `patience` (408): a client trickling bytes holds
/// no memory or task for long.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    patience: std::time::Duration,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    let collected = tokio::time::timeout(patience, Limited::new(body, limit).collect())
        .await
        .map_err(|_| GatewayError::RequestTimeout)?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(GatewayError::PayloadTooLarge { limit }),
        Err(e) => Err(GatewayError::invalid(
            format!("could not read the request body: {e}"),
            None,
        )),
    }
}

/// Asks the upstream for usage on every stream (cost needs it; whether
/// the client sees it is the format's business). The model name is set per
/// candidate by the failover loop.
fn prepare_upstream(request: &mut ChatCompletionRequest) {
    if request.is_stream() {
        request
            .stream_options
            .get_or_insert_with(StreamOptions::default)
            .include_usage = Some(true);
    }
}

/// Relays upstream chunks as the format's SSE events, chunk by chunk: a
/// failure event if the upstream fails mid-stream, the closing events only
/// after a complete stream, and only once the writes it owes (cost,
/// limits, the cache, a stored response) are done.
fn relay<F: Format>(
    chunks: ChunkStream,
    exchange: Exchange,
    format: F,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    futures_util::stream::unfold(
        Some((chunks, exchange, format, None)),
        move |state| async move {
            let (mut chunks, mut exchange, mut format, mut head): (_, _, _, Option<ChunkBuilder>) =
                state?;
            loop {
                let waiting = Instant::now();
                let next = chunks.next().await;
                exchange.log.add_upstream(waiting.elapsed());
                match next {
                    Some(Ok(chunk)) => {
                        exchange.account.relayed(&chunk);
                        exchange.log.relayed(&chunk);
                        if head.is_none() {
                            head = Some(ChunkBuilder {
                                id: chunk.id.clone(),
                                model: chunk.model.clone(),
                                created: chunk.created,
                            });
                        }
                        let events = format.events(chunk);
                        if events.is_empty() {
                            continue;
                        }
                        let state = Some((chunks, exchange, format, head));
                        return Some((Ok(events.concat().into()), state));
                    }
                    Some(Err(error)) => {
                        let events = format.failure(&error);
                        if let Some(after) = exchange.account.abandon().spawn() {
                            let _ = after.await;
                        }
                        exchange.end(error.status().as_u16(), Some(&error.to_string()));
                        return Some((Ok(events.concat().into()), None));
                    }
                    None => {
                        // A server that sends no usage (`stream_options = false`)
                        // still gives the client a usage chunk: the estimate billed.
                        let mut events = match (exchange.account.estimate_missing_usage(), head) {
                            (Some(usage), Some(head)) => format.events(head.usage(usage)),
                            _ => Vec::new(),
                        };
                        events.extend(format.finish());
                        let writes = exchange.account.close(None, format.store());
                        if let Some(after) = writes.spawn() {
                            let _ = after.await;
                        }
                        exchange.end(200, None);
                        return Some((Ok(events.concat().into()), None));
                    }
                }
            }
        },
    )
}

/// An SSE event carrying an OpenAI error object.
pub fn error_event(error: &GatewayError) -> Bytes {
    data_event(&serde_json::to_vec(&error.body()).unwrap_or_default())
}

fn set_json(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_request_always_asks_for_stream_usage() {
        let mut req = crate::api::chat::parse_request(
            br#"{"model":"fast","messages":[{"role":"user","content":"x"}],"stream":true}"#,
        )
        .expect("valid");
        prepare_upstream(&mut req);
        assert_eq!(req.stream_options.and_then(|o| o.include_usage), Some(true));
        let mut req = crate::api::chat::parse_request(
            br#"{"model":"x","messages":[{"role":"user","content":"x"}]}"#,
        )
        .expect("valid");
        prepare_upstream(&mut req);
        assert!(req.stream_options.is_none());
    }

    #[test]
    fn strategy_header_is_checked() {
        let mut headers = HeaderMap::new();
        assert_eq!(requested_strategy(&headers).ok(), Some(None));
        headers.insert(STRATEGY_HEADER, HeaderValue::from_static("Cost"));
        assert_eq!(
            requested_strategy(&headers).ok(),
            Some(Some(Strategy::Cost))
        );
        headers.insert(STRATEGY_HEADER, HeaderValue::from_static("cheapest"));
        assert!(
            matches!(requested_strategy(&headers), Err(GatewayError::InvalidRequest { param: Some(p), .. }) if p == STRATEGY_HEADER)
        );
    }
}
