//! The account of one chat request: the rate-limit reservations taken for
//! it, its usage, its cost, what the cache did, and the writes that must
//! finish before its response ends. Every reservation is handed here and
//! settled from here, once; the request is priced here, once.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;

use crate::cache::replay::{Collector, PendingStore};
use crate::ledger::{Ledger, Settlement, WriteGuard};
use crate::limits::Reservation;
use crate::openai::{ChatCompletion, ChatCompletionChunk, Usage};
use crate::pricing::Cost;
use crate::providers::ProviderId;
use crate::routing::Route;
use crate::traces::Span;

/// What the cache did for a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache is configured.
    #[default]
    Off,
    /// Answered from the cache.
    Hit,
    /// Looked up, not found (the answer is stored).
    Miss,
    /// Skipped: not cacheable, or the client asked so.
    Bypass,
}

impl CacheStatus {
    /// `off`, `hit`, `miss`, `bypass`: the log line's and span's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }

    /// The `x-cache` header's value, when the cache took part.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Off => None,
            Self::Hit => Some("HIT"),
            Self::Miss => Some("MISS"),
            Self::Bypass => Some("BYPASS"),
        }
    }
}

/// One request's money, limits and cache writes.
pub struct Account {
    request_id: String,
    tenant: String,
    ledger: Arc<Ledger>,
    trace: Span,
    stream: bool,
    request_bytes: u64,
    reservations: Vec<Reservation>,
    served_by: Option<(ProviderId, String)>,
    usage: Option<Usage>,
    usage_estimated: bool,
    relayed_chars: u64,
    cache: CacheStatus,
    store: Option<PendingStore>,
    collector: Option<Collector>,
    saved: Option<Cost>,
    cost: Option<Cost>,
    priced: bool,
    closed: bool,
}

/// What the account says of a request, for its log line and span.
pub struct Bill<'a> {
    /// Tokens used (reported, or estimated when `estimated`).
    pub usage: Option<&'a Usage>,
    /// The usage is the gateway's estimate: the stream ended before the
    /// provider's count.
    pub estimated: bool,
    /// What the request cost (zero for a cache hit); `None` without usage.
    pub cost: Option<Cost>,
    /// What a cache hit saved.
    pub saved: Option<Cost>,
    /// What the cache did.
    pub cache: CacheStatus,
}

impl Account {
    /// Opens the account of `request_id`, billed to `tenant`, priced in
    /// `ledger`; its writes run within `trace`.
    pub fn open(request_id: &str, tenant: &str, ledger: Arc<Ledger>, trace: Span) -> Self {
        Self {
            request_id: request_id.to_owned(),
            tenant: tenant.to_owned(),
            ledger,
            trace,
            stream: false,
            request_bytes: 0,
            reservations: Vec::new(),
            served_by: None,
            usage: None,
            usage_estimated: false,
            relayed_chars: 0,
            cache: CacheStatus::Off,
            store: None,
            collector: None,
            saved: None,
            cost: None,
            priced: false,
            closed: false,
        }
    }

    /// The request as read: its size (for a prompt estimate) and whether
    /// it streams.
    pub fn requested(&mut self, bytes: usize, stream: bool) {
        self.request_bytes = bytes as u64;
        self.stream = stream;
    }

    /// Keeps a reservation to settle against the real usage.
    pub fn hold(&mut self, reservation: Option<Reservation>) {
        self.reservations.extend(reservation);
    }

    /// Gives a reservation back at once: the call it was taken for used no
    /// tokens.
    pub fn refund(&self, reservation: Reservation) {
        let limits = self.ledger.limits().clone();
        let guard = self.ledger.track();
        tokio::spawn(async move {
            limits.settle(&reservation, None).await;
            drop(guard);
        });
    }

    /// Answered from the cache: costs nothing, and saved the stored
    /// answer's usage at its model's prices.
    pub fn cache_hit(&mut self, stored: &ChatCompletion) {
        self.cache = CacheStatus::Hit;
        self.saved = stored
            .usage
            .as_ref()
            .and_then(|u| self.ledger.record_saved(&stored.model, u));
    }

    /// Not in the cache: a complete answer is stored there.
    pub fn cache_miss(&mut self, store: PendingStore) {
        self.cache = CacheStatus::Miss;
        self.collector = self.stream.then(Collector::default);
        self.store = Some(store);
    }

    /// The cache was skipped for this request.
    pub fn cache_bypassed(&mut self) {
        self.cache = CacheStatus::Bypass;
    }

    /// What the cache did.
    pub fn cache(&self) -> CacheStatus {
        self.cache
    }

    /// The route whose provider answered: the request is billed at its
    /// model's price.
    pub fn served_by(&mut self, route: &Route) {
        self.served_by = Some((route.provider, route.model.clone()));
    }

    /// A complete answer's usage.
    pub fn answered(&mut self, completion: &ChatCompletion) {
        self.usage.clone_from(&completion.usage);
    }

    /// The usage of an answer that is not a chat completion (embeddings).
    pub fn answered_usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    /// A relayed stream chunk: its usage when it carries it, its generated
    /// text (for an estimate should the stream end early), and the answer
    /// being collected for the cache.
    pub fn relayed(&mut self, chunk: &ChatCompletionChunk) {
        if let Some(collector) = &mut self.collector {
            collector.push(chunk);
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        self.relayed_chars += chunk.generated_chars();
    }

    /// Completes a stream that ended without the provider's usage (a
    /// server told not to send it): the estimate becomes its usage, and is
    /// returned for the client's usage chunk.
    pub fn estimate_missing_usage(&mut self) -> Option<Usage> {
        if self.usage.is_some() || !self.stream || self.served_by.is_none() {
            return None;
        }
        let usage = self.estimated_usage();
        self.usage = Some(usage.clone());
        self.usage_estimated = true;
        Some(usage)
    }

    /// Prices the request once (adding it to this instance's counters) and
    /// returns its cost: zero for a cache hit, `None` without usage or a
    /// price. A stream a provider started that ended without its usage is
    /// priced on an estimate, marked as such.
    pub fn cost(&mut self) -> Option<Cost> {
        if self.priced {
            return self.cost;
        }
        self.priced = true;
        if self.cache == CacheStatus::Hit {
            self.cost = Some(Cost(0));
            return self.cost;
        }
        if self.usage.is_none() && self.stream && self.served_by.is_some() {
            self.usage = Some(self.estimated_usage());
            self.usage_estimated = true;
        }
        self.cost = match (&self.served_by, &self.usage) {
            (Some((provider, model)), Some(usage)) => {
                self.ledger.record(provider.as_str(), model, usage)
            }
            _ => None,
        };
        self.cost
    }

    /// Tokens of a stream that ended before the provider's usage chunk
    /// (the client left, or the provider cut it): the prompt from the
    /// request's size, the completion from the text relayed, at ~4 bytes
    /// a token. The provider bills them all the same.
    fn estimated_usage(&self) -> Usage {
        let prompt_tokens = self.request_bytes.div_ceil(4);
        let completion_tokens = self.relayed_chars.div_ceil(4);
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Usage::default()
        }
    }

    /// Closes the account of a complete answer: the writes that must
    /// finish before the response ends (cost, limits, the answer into the
    /// cache: `answer` for a JSON one, the collected stream otherwise; and
    /// the endpoint's own `extra` write, such as a stored response).
    pub fn close(
        &mut self,
        answer: Option<ChatCompletion>,
        extra: Option<BoxFuture<'static, ()>>,
    ) -> Writes {
        let answer = answer.or_else(|| self.collector.take().and_then(Collector::finish));
        let store = self.store.take().zip(answer);
        let mut writes = self.settle();
        writes.store = store;
        writes.extra = extra;
        self.tracked(writes)
    }

    /// Closes the account of a request that did not end with a complete
    /// answer (an error, a client that left, a cut stream): cost and limits
    /// only, nothing stored.
    pub fn abandon(&mut self) -> Writes {
        self.store = None;
        let writes = self.settle();
        self.tracked(writes)
    }

    /// Counts the writes as in flight (for `/metrics` and shutdown) until
    /// they finish.
    fn tracked(&self, mut writes: Writes) -> Writes {
        if !writes.is_empty() {
            writes.guard = Some(self.ledger.track());
        }
        writes
    }

    fn settle(&mut self) -> Writes {
        if self.closed {
            return Writes::default();
        }
        self.closed = true;
        let cost = self.cost();
        let priced = match (&self.served_by, cost) {
            (Some((provider, model)), Some(cost)) if self.cache != CacheStatus::Hit => {
                Some((provider.as_str(), model.as_str(), cost))
            }
            _ => None,
        };
        let settlement = self.ledger.settlement(
            &self.request_id,
            &self.tenant,
            priced,
            self.usage.as_ref().map(|u| (u, self.usage_estimated)),
            std::mem::take(&mut self.reservations),
        );
        Writes {
            guard: None,
            settlement,
            store: None,
            extra: None,
            trace: self.trace.clone(),
        }
    }

    /// The request's usage, cost and cache status.
    pub fn bill(&mut self) -> Bill<'_> {
        let cost = self.cost();
        Bill {
            usage: self.usage.as_ref(),
            estimated: self.usage_estimated,
            cost,
            saved: self.saved,
            cache: self.cache,
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        // Never closed (a panic, a cancelled handler): what is owed is
        // still written, in the background.
        if !self.closed && tokio::runtime::Handle::try_current().is_ok() {
            drop(self.abandon().spawn());
        }
    }
}

/// The writes a request owes once it is over: its cost record and limit
/// settlement, and the answer into the cache.
#[derive(Default)]
#[must_use]
pub struct Writes {
    settlement: Settlement,
    store: Option<(PendingStore, ChatCompletion)>,
    extra: Option<BoxFuture<'static, ()>>,
    guard: Option<WriteGuard>,
    trace: Span,
}

impl Writes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.settlement.is_empty() && self.store.is_none() && self.extra.is_none()
    }

    /// Runs them in a task of their own, so a client that leaves cannot
    /// cancel them; await the handle to end a response only after them.
    pub fn spawn(self) -> Option<JoinHandle<()>> {
        if self.is_empty() {
            return None;
        }
        let Self {
            settlement,
            store,
            extra,
            guard,
            trace,
        } = self;
        Some(tokio::spawn(trace.run_owned(async move {
            let cache = async {
                if let Some((pending, answer)) = store {
                    pending.run(&answer).await;
                }
            };
            let extra = async {
                if let Some(extra) = extra {
                    extra.await;
                }
            };
            tokio::join!(cache, settlement.run(), extra);
            drop(guard);
        })))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::ledger::DEFAULT_TIERS;
    use crate::limits::{FailMode, Limits};
    use crate::pricing::Pricing;
    use crate::providers::ProviderId;
    use crate::store::Store;
    use crate::store::memory::MemoryStore;

    fn ledger() -> Arc<Ledger> {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let limits = Arc::new(Limits::new(
            store.clone(),
            BTreeMap::new(),
            None,
            FailMode::Open,
            true,
        ));
        let pricing = Pricing::new(&BTreeMap::new()).expect("prices");
        Arc::new(Ledger::new(pricing, store, limits, DEFAULT_TIERS.to_vec()))
    }

    fn route() -> Route {
        Route {
            provider: ProviderId::OPENAI,
            model: "gpt-4o-mini".into(),
        }
    }

    fn chunk(value: Value) -> ChatCompletionChunk {
        serde_json::from_value(value).expect("chunk")
    }

    async fn overall(ledger: &Ledger) -> Value {
        ledger.in_flight().wait_idle(Duration::from_secs(5)).await;
        ledger.global_totals(1).await.expect("totals")["overall"].clone()
    }

    #[tokio::test]
    async fn a_stream_cut_before_its_usage_is_billed_on_an_estimate_once() {
        let ledger = ledger();
        let mut account = Account::open("req-1", "sk_t", ledger.clone(), Span::default());
        account.requested(4_000, true);
        account.served_by(&route());
        account.relayed(&chunk(json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": "x".repeat(400)}}]
        })));
        let cost = account.cost().expect("priced");
        assert!(cost.0 > 0);
        let bill = account.bill();
        assert!(bill.estimated);
        let usage = bill.usage.expect("usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (1_000, 100));
        assert_eq!(account.cost(), Some(cost), "priced once");
        account
            .abandon()
            .spawn()
            .expect("writes")
            .await
            .expect("ran");
        assert!(account.abandon().is_empty(), "closed once");
        drop(account);
        let totals = overall(&ledger).await;
        assert_eq!(totals["requests"], 1);
        assert_eq!(totals["estimated_requests"], 1);
        assert_eq!(totals["cost_usd"], cost.to_string());
    }

    #[tokio::test]
    async fn a_cache_hit_costs_nothing_and_writes_no_cost() {
        let ledger = ledger();
        let mut account = Account::open("req-2", "sk_t", ledger.clone(), Span::default());
        account.requested(100, false);
        let stored: ChatCompletion = serde_json::from_value(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
        }))
        .expect("completion");
        account.cache_hit(&stored);
        assert_eq!(account.cost(), Some(Cost(0)));
        let bill = account.bill();
        assert_eq!(bill.cache, CacheStatus::Hit);
        assert!(bill.saved.is_some_and(|s| s.0 > 0));
        assert!(account.close(Some(stored), None).is_empty());
        assert_eq!(overall(&ledger).await["requests"], 0);
    }

    #[tokio::test]
    async fn an_account_dropped_unclosed_still_writes_what_it_owes() {
        let ledger = ledger();
        {
            let mut account = Account::open("req-3", "sk_t", ledger.clone(), Span::default());
            account.requested(100, false);
            account.served_by(&route());
            account.answered(
                &serde_json::from_value(json!({
                    "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                    "choices": [],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                }))
                .expect("completion"),
            );
        }
        let totals = overall(&ledger).await;
        assert_eq!(totals["requests"], 1);
        assert_eq!(totals["estimated_requests"], 0);
    }
}
