//! What the gateway knows about current models: provider, tier, prices,
//! limits and capabilities. Used to list models, pair equivalent tiers
//! across providers for failover, and score candidates for smart routing.

use crate::providers::ProviderId;

/// Equivalent models across providers share a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The strongest models.
    Flagship,
    /// Cheap, fast models.
    Fast,
}

/// One known model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelInfo {
    /// The provider's model name.
    pub id: &'static str,
    /// Who serves it.
    pub provider: ProviderId,
    /// Its tier.
    pub tier: Tier,
    /// Context window in tokens.
    pub context_window: u32,
    /// Accepts images.
    pub vision: bool,
    /// Relative capability, 0..1 (for the capability strategy).
    pub quality: f64,
    /// Typical latency of a short answer in ms, used until stats exist.
    pub latency_prior_ms: f64,
}

const fn m(
    id: &'static str,
    provider: ProviderId,
    tier: Tier,
    context_window: u32,
    quality: f64,
    latency_prior_ms: f64,
) -> ModelInfo {
    ModelInfo {
        id,
        provider,
        tier,
        context_window,
        vision: true,
        quality,
        latency_prior_ms,
    }
}

const A: ProviderId = ProviderId::ANTHROPIC;
const G: ProviderId = ProviderId::GEMINI;
const O: ProviderId = ProviderId::OPENAI;
use Tier::{Fast, Flagship};

impl ModelInfo {
    /// Supports a JSON response format through the gateway: translated for
    /// OpenAI and Gemini; Anthropic refuses it.
    pub fn json_mode(&self) -> bool {
        self.provider != ProviderId::ANTHROPIC
    }
}

/// Every known model, in listing order.
pub const MODELS: &[ModelInfo] = &[
    m("gpt-5.5", O, Flagship, 400_000, 0.95, 1200.0),
    m("gpt-5.4", O, Flagship, 400_000, 0.92, 1100.0),
    m("gpt-5.4-mini", O, Fast, 400_000, 0.80, 600.0),
    m("gpt-5.4-nano", O, Fast, 400_000, 0.65, 400.0),
    m("gpt-4.1", O, Flagship, 1_047_576, 0.85, 900.0),
    m("gpt-4.1-mini", O, Fast, 1_047_576, 0.75, 500.0),
    m("gpt-4o", O, Flagship, 128_000, 0.85, 800.0),
    m("gpt-4o-mini", O, Fast, 128_000, 0.70, 450.0),
    m("o4-mini", O, Flagship, 200_000, 0.88, 2500.0),
    m("claude-opus-5-5", A, Flagship, 200_000, 0.98, 1800.0),
    m("claude-sonnet-5-5", A, Flagship, 200_000, 0.95, 1200.0),
    m("claude-haiku-5-5", A, Fast, 200_000, 0.82, 600.0),
    m("claude-opus-4-8", A, Flagship, 200_000, 0.96, 1700.0),
    m("claude-sonnet-4-6", A, Flagship, 200_000, 0.93, 1100.0),
    m("claude-haiku-4-5", A, Fast, 200_000, 0.80, 550.0),
    m("gemini-3.5-flash", G, Fast, 1_048_576, 0.84, 500.0),
    m(
        "gemini-3.1-pro-preview",
        G,
        Flagship,
        1_048_576,
        0.95,
        1500.0,
    ),
    m("gemini-3-flash-preview", G, Fast, 1_048_576, 0.82, 500.0),
    m("gemini-2.5-pro", G, Flagship, 1_048_576, 0.90, 1400.0),
    m("gemini-2.5-flash", G, Fast, 1_048_576, 0.78, 450.0),
];

/// The default member of each tier per provider: what a failing model of
/// that tier fails over to, and what the built-in tier aliases list.
pub const TIER_DEFAULTS: &[(Tier, ProviderId, &str)] = &[
    (Flagship, O, "gpt-5.5"),
    (Flagship, A, "claude-opus-4-8"),
    (Flagship, G, "gemini-3.1-pro-preview"),
    (Fast, O, "gpt-5.4-mini"),
    (Fast, A, "claude-haiku-4-5"),
    (Fast, G, "gemini-2.5-flash"),
];

/// Built-in aliases for the tiers.
pub const TIER_ALIASES: &[(&str, Tier)] = &[("flagship", Flagship), ("fast", Fast)];

/// Looks a model up by provider and name.
pub fn find(provider: ProviderId, id: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.provider == provider && m.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_defaults_are_catalogued_in_their_tier() {
        for (tier, provider, id) in TIER_DEFAULTS {
            let info = find(*provider, id).expect("catalogued");
            assert_eq!(info.tier, *tier, "{id}");
        }
    }

    #[test]
    fn catalogue_values_are_sane() {
        for info in MODELS {
            let (input, output) = crate::pricing::list_price(info.id)
                .unwrap_or_else(|| panic!("{} has no entry in prices.toml", info.id));
            assert!(input > 0.0 && output >= input, "{}", info.id);
            assert!(
                (0.0..=1.0).contains(&info.quality) && info.latency_prior_ms > 0.0,
                "{}",
                info.id
            );
            assert!(info.context_window >= 100_000, "{}", info.id);
        }
    }
}
