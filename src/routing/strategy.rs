//! Smart routing: exclude candidates that cannot serve a request, then rank
//! the rest by a weighted score of cost, latency and capability.

use std::fmt;
use std::str::FromStr;

use super::Route;
use super::catalog::{self, ModelInfo};
use crate::openai::{ChatCompletionRequest, ContentPart, MessageContent, ResponseFormat};

/// How candidates are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Cheapest first.
    Cost,
    /// Fastest first (measured latency, else the catalogue's prior).
    Latency,
    /// Cost 30 %, latency 40 %, capability 30 %.
    #[default]
    Balanced,
    /// Most capable first.
    Capability,
}

impl Strategy {
    /// Weights of (cost, latency, capability).
    pub fn weights(self) -> (f64, f64, f64) {
        match self {
            Self::Cost => (0.7, 0.15, 0.15),
            Self::Latency => (0.15, 0.7, 0.15),
            Self::Balanced => (0.3, 0.4, 0.3),
            Self::Capability => (0.15, 0.15, 0.7),
        }
    }

    /// The name used in headers and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cost => "cost",
            Self::Latency => "latency",
            Self::Balanced => "balanced",
            Self::Capability => "capability",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cost" => Ok(Self::Cost),
            "latency" => Ok(Self::Latency),
            "balanced" => Ok(Self::Balanced),
            "capability" => Ok(Self::Capability),
            _ => Err(()),
        }
    }
}

/// What a request needs from a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requirements {
    /// It defines tools.
    pub tools: bool,
    /// It carries images.
    pub images: bool,
    /// It asks for a JSON response format.
    pub json: bool,
    /// Estimated prompt tokens (4 bytes a token).
    pub prompt_tokens: u64,
    /// Output tokens it may need.
    pub output_tokens: u64,
}

/// Output tokens assumed when the request sets no limit.
const DEFAULT_OUTPUT_TOKENS: u64 = 1_000;

impl Requirements {
    /// Reads the requirements off a request.
    pub fn of(request: &ChatCompletionRequest) -> Self {
        let mut bytes = 0usize;
        let mut images = false;
        for m in &request.messages {
            match &m.content {
                Some(MessageContent::Text(t)) => bytes += t.len(),
                Some(MessageContent::Parts(parts)) => {
                    for p in parts {
                        match p {
                            ContentPart::Text { text, .. } => bytes += text.len(),
                            ContentPart::ImageUrl { .. } => images = true,
                            _ => {}
                        }
                    }
                }
                None => {}
            }
            for call in m.tool_calls.iter().flatten() {
                bytes += call.function.arguments.len() + call.function.name.len();
            }
        }
        Self {
            tools: request.tools.as_ref().is_some_and(|t| !t.is_empty()),
            images,
            json: matches!(
                request.response_format,
                Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
            ),
            prompt_tokens: (bytes / 4) as u64,
            output_tokens: request
                .max_output_tokens()
                .map_or(DEFAULT_OUTPUT_TOKENS, u64::from),
        }
    }

    /// Whether a catalogued model can serve the request.
    pub fn served_by(&self, info: &ModelInfo) -> bool {
        (!self.images || info.vision)
            && (!self.json || info.json_mode())
            && self.prompt_tokens + self.output_tokens <= u64::from(info.context_window)
    }

    /// Estimated USD cost of the request at `(input, output)` USD per
    /// million tokens.
    pub fn cost(&self, (input, output): (f64, f64)) -> f64 {
        (self.prompt_tokens as f64 * input + self.output_tokens as f64 * output) / 1_000_000.0
    }
}

/// A ranked candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The candidate.
    pub route: Route,
    /// Its weighted score, 0..1 (higher is better).
    pub score: f64,
}

/// Maps values to 0..1 across the candidates, 1 for the best: min–max on a
/// log scale where lower is better (prices and latencies span orders of
/// magnitude), linear where higher is better. Unknown values score 0.5;
/// when all known values are equal they score 1.
fn normalizer(values: &[Option<f64>], lower_is_better: bool) -> impl Fn(Option<f64>) -> f64 {
    let scale = move |v: f64| {
        if lower_is_better {
            v.max(1e-12).ln()
        } else {
            v
        }
    };
    let known: Vec<f64> = values.iter().flatten().map(|v| scale(*v)).collect();
    let min = known.iter().copied().fold(f64::INFINITY, f64::min);
    let max = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    move |value| match value {
        None => 0.5,
        Some(_) if max - min < 1e-12 => 1.0,
        Some(v) => {
            let t = (scale(v) - min) / (max - min);
            if lower_is_better { 1.0 - t } else { t }
        }
    }
}

/// Excludes catalogued candidates that cannot serve `needs`, then ranks the
/// rest best first. `latency_ms` gives the measured latency of a route, if
/// any, and `price` its USD per million (input, output) tokens, if priced.
/// What is unknown of a route (capability outside the catalogue, a price,
/// a latency) scores neutrally (0.5).
pub fn rank(
    candidates: &[Route],
    needs: &Requirements,
    strategy: Strategy,
    latency_ms: impl Fn(&Route) -> Option<f64>,
    price: impl Fn(&Route) -> Option<(f64, f64)>,
) -> Vec<Scored> {
    let infos: Vec<(Route, Option<&ModelInfo>)> = candidates
        .iter()
        .map(|r| (r.clone(), catalog::find(r.provider, &r.model)))
        .filter(|(_, info)| info.is_none_or(|i| needs.served_by(i)))
        .collect();
    let costs: Vec<Option<f64>> = infos
        .iter()
        .map(|(r, _)| price(r).map(|p| needs.cost(p)))
        .collect();
    let latencies: Vec<Option<f64>> = infos
        .iter()
        .map(|(r, i)| latency_ms(r).or(i.map(|i| i.latency_prior_ms)))
        .collect();
    let qualities: Vec<Option<f64>> = infos.iter().map(|(_, i)| i.map(|i| i.quality)).collect();
    let (wc, wl, wq) = strategy.weights();
    let cost = normalizer(&costs, true);
    let latency = normalizer(&latencies, true);
    let quality = normalizer(&qualities, false);
    let mut scored: Vec<Scored> = infos
        .into_iter()
        .enumerate()
        .map(|(i, (route, _))| {
            let score =
                wc * cost(costs[i]) + wl * latency(latencies[i]) + wq * quality(qualities[i]);
            Scored { route, score }
        })
        .collect();
    // Stable: equal scores keep the configured order.
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderId;

    fn route(provider: ProviderId, model: &str) -> Route {
        Route {
            provider,
            model: model.into(),
        }
    }

    fn pool() -> Vec<Route> {
        vec![
            route(ProviderId::OPENAI, "gpt-5.5"),
            route(ProviderId::ANTHROPIC, "claude-opus-4-8"),
            route(ProviderId::GEMINI, "gemini-2.5-flash"),
            route(ProviderId::OPENAI, "gpt-5.4-nano"),
        ]
    }

    fn listed(route: &Route) -> Option<(f64, f64)> {
        crate::pricing::list_price(&route.model)
    }

    fn needs() -> Requirements {
        Requirements {
            prompt_tokens: 500,
            output_tokens: 500,
            ..Requirements::default()
        }
    }

    #[test]
    fn strategies_favour_their_criterion() {
        let none = |_: &Route| None;
        let cost = rank(&pool(), &needs(), Strategy::Cost, none, listed);
        assert_eq!(cost[0].route.model, "gpt-5.4-nano");
        let capability = rank(&pool(), &needs(), Strategy::Capability, none, listed);
        assert_eq!(
            capability.last().map(|s| s.route.model.as_str()),
            Some("gpt-5.4-nano")
        );
        let spread: Vec<Route> = pool()
            .into_iter()
            .filter(|r| r.model != "gpt-5.5")
            .collect();
        let capability = rank(&spread, &needs(), Strategy::Capability, none, listed);
        assert_eq!(capability[0].route.model, "claude-opus-4-8");
        // Measured latency beats the priors: seed gpt-5.5 as the fastest.
        let seeded = |r: &Route| (r.model == "gpt-5.5").then_some(50.0);
        let latency = rank(&pool(), &needs(), Strategy::Latency, seeded, listed);
        assert_eq!(latency[0].route.model, "gpt-5.5");
        let balanced = rank(&pool(), &needs(), Strategy::Balanced, none, listed);
        assert_eq!(balanced.len(), 4);
        assert!(balanced.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn incapable_candidates_are_excluded() {
        let json = Requirements {
            json: true,
            ..needs()
        };
        let ranked = rank(&pool(), &json, Strategy::Capability, |_| None, listed);
        assert!(
            ranked
                .iter()
                .all(|s| s.route.provider != ProviderId::ANTHROPIC)
        );
        let huge = Requirements {
            prompt_tokens: 600_000,
            ..needs()
        };
        let ranked = rank(&pool(), &huge, Strategy::Cost, |_| None, listed);
        assert_eq!(ranked.len(), 1, "only the 1M-context model fits");
        assert_eq!(ranked[0].route.model, "gemini-2.5-flash");
    }

    #[test]
    fn requirements_are_read_from_the_request() {
        let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({
            "model": "x", "max_tokens": 64, "response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "abcdefgh"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]
        }))
        .expect("valid");
        let needs = Requirements::of(&req);
        assert!(needs.tools && needs.images && needs.json);
        assert_eq!((needs.prompt_tokens, needs.output_tokens), (2, 64));
        assert_eq!("Latency".parse::<Strategy>(), Ok(Strategy::Latency));
        assert!("fastest".parse::<Strategy>().is_err());
    }
}
