//! Where requests go: model resolution, fallback chains, smart strategies,
//! retries, failover, circuit breakers and provider statistics.

pub mod breaker;
pub mod catalog;
pub mod dispatch;
pub mod failover;
pub mod retry;
pub mod routes;
pub mod shared;
pub mod stats;
pub mod strategy;

pub use routes::{Route, Routes};

use crate::error::GatewayError;
use crate::openai::ChatCompletionRequest;
use strategy::{Requirements, Scored, Strategy, rank};

/// The ordered candidates for one request, and how they were chosen.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Candidates, best first.
    pub candidates: Vec<Route>,
    /// The smart-routing decision, when a strategy ranked them.
    pub decision: Option<Decision>,
}

/// A smart-routing decision.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The strategy used.
    pub strategy: Strategy,
    /// Every eligible candidate with its score, best first.
    pub ranked: Vec<Scored>,
}

impl Decision {
    /// `strategy=…; score=…; runner-ups=route:score,…` for headers and logs.
    pub fn summary(&self) -> String {
        let score = self.ranked.first().map_or(0.0, |s| s.score);
        let runner_ups: Vec<String> = self
            .ranked
            .iter()
            .skip(1)
            .take(3)
            .map(|s| format!("{}:{:.3}", s.route, s.score))
            .collect();
        format!(
            "strategy={}; score={score:.3}; runner-ups={}",
            self.strategy,
            runner_ups.join(",")
        )
    }
}

/// Plans a request: the smart alias or an explicit strategy ranks the pool
/// (or the model's chain) with measured latencies and prices; otherwise the model's chain is used in order,
/// minus catalogued candidates that cannot serve the request (tools,
/// images, JSON mode, context length).
pub fn plan(
    routes: &Routes,
    latency_ms: impl Fn(&Route) -> Option<f64>,
    request: &ChatCompletionRequest,
    asked: Option<Strategy>,
    default: Strategy,
    price: impl Fn(&Route) -> Option<(f64, f64)>,
) -> Result<Plan, GatewayError> {
    let needs = Requirements::of(request);
    let smart = routes.is_smart(&request.model);
    if smart || asked.is_some() {
        let pool = if smart {
            routes.smart_pool()
        } else {
            routes.candidates(&request.model)?
        };
        let strategy = asked.unwrap_or(default);
        let ranked = rank(&pool, &needs, strategy, latency_ms, price);
        if ranked.is_empty() {
            return Err(GatewayError::invalid(
                "no configured model can serve this request (check images, response_format and context length)",
                Some("model".to_owned()),
            ));
        }
        let decision = Decision { strategy, ranked };
        tracing::info!(model = %request.model, decision = %decision.summary(), "routing decision");
        return Ok(Plan {
            candidates: decision.ranked.iter().map(|s| s.route.clone()).collect(),
            decision: Some(decision),
        });
    }
    let chain = routes.candidates(&request.model)?;
    let capable: Vec<Route> = chain
        .iter()
        .filter(|r| catalog::find(r.provider, &r.model).is_none_or(|info| needs.served_by(info)))
        .cloned()
        .collect();
    Ok(Plan {
        // If nothing in the chain qualifies, try it anyway: the provider's own
        // error tells the client what is wrong.
        candidates: if capable.is_empty() { chain } else { capable },
        decision: None,
    })
}
