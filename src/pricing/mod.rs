//! Prices per model and the cost of a request, in exact integer
//! picodollars (10⁻¹² USD): a price of $0.075 per million tokens is 75,000
//! picodollars per token, so sums never drift.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::openai::Usage;

/// An amount of money in picodollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cost(pub u64);

impl Cost {
    /// Picodollars per USD.
    pub const PER_USD: u64 = 1_000_000_000_000;

    /// In USD, for metrics (display only; sums use the integer).
    pub fn usd(self) -> f64 {
        self.0 as f64 / Self::PER_USD as f64
    }
}

/// Exact decimal USD, trailing zeros trimmed: `0.000123`, `12`.
impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / Self::PER_USD;
        let frac = self.0 % Self::PER_USD;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:012}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Prices of one model, in picodollars per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens (reasoning tokens included, as providers bill them).
    pub output: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input: u64,
    /// Input tokens written to the provider's prompt cache (Anthropic).
    pub cache_write: u64,
    /// The price of a whole request whose prompt is longer.
    pub long: Option<LongPrice>,
}

/// A long-prompt price tier, in picodollars per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongPrice {
    /// Prompts over this many tokens pay this tier, for every token.
    pub above_prompt_tokens: u64,
    /// Uncached input.
    pub input: u64,
    /// Output.
    pub output: u64,
    /// Cached input.
    pub cached_input: u64,
    /// Cache writes.
    pub cache_write: u64,
}

/// A price in USD per million tokens: an entry of the embedded price list
/// (`prices.toml`) or of `[pricing."model"]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cached input (defaults to the input price).
    pub cached_input: Option<f64>,
    /// Cache writes (defaults to the input price).
    pub cache_write: Option<f64>,
    /// A higher price for long prompts.
    #[serde(default)]
    pub long_context: Option<LongContextFile>,
    /// The provider's page the price comes from.
    #[serde(default)]
    pub source: Option<String>,
    /// When it was last checked: `YYYY-MM-DD`, or `unverified`.
    #[serde(default)]
    pub as_of: Option<String>,
    /// A dated secondary report of the source the check relied on.
    #[serde(default)]
    pub via: Option<String>,
}

/// `long_context = { above_prompt_tokens, input, output, … }`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextFile {
    /// The threshold, in prompt tokens.
    pub above_prompt_tokens: u64,
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cached input (defaults to this tier's input).
    pub cached_input: Option<f64>,
    /// Cache writes (defaults to this tier's input).
    pub cache_write: Option<f64>,
}

/// The embedded price list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceList {
    models: BTreeMap<String, PriceFile>,
}

/// The price list built into the binary (`src/pricing/prices.toml`).
pub const PRICES_TOML: &str = include_str!("prices.toml");

/// The embedded price list, parsed once; an error names what is wrong.
pub fn list() -> Result<&'static BTreeMap<String, PriceFile>, String> {
    static LIST: std::sync::OnceLock<Result<BTreeMap<String, PriceFile>, String>> =
        std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        toml::from_str::<PriceList>(PRICES_TOML)
            .map(|l| l.models)
            .map_err(|e| format!("the embedded price list: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A catalogued model's list price, USD per million (input, output), for
/// routing by cost.
pub fn list_price(model: &str) -> Option<(f64, f64)> {
    list().ok()?.get(model).map(|p| (p.input, p.output))
}

/// The Anthropic model name inside a Bedrock model or inference-profile id.
fn bedrock_anthropic(model: &str) -> Option<&str> {
    let (_, rest) = model.split_once("anthropic.")?;
    let geo = &model[..model.len() - rest.len() - "anthropic.".len()];
    let geo_ok = geo.is_empty()
        || geo.strip_suffix('.').is_some_and(|g| {
            !g.is_empty() && g.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        });
    let (name, version) = rest.rsplit_once("-v")?;
    let version_ok = version
        .split(':')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    (geo_ok && version_ok && name.starts_with("claude-")).then_some(name)
}

/// `2024-07-18`, `20250514` or `001`: a dated or numbered snapshot.
fn is_snapshot_suffix(rest: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = rest.split('-');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d), None) => digits(y, 4) && digits(m, 2) && digits(d, 2),
        (Some(one), None, None, None) => digits(one, 8) || digits(one, 3),
        _ => false,
    }
}

/// USD per million tokens → picodollars per token (exact to 10⁻⁶ USD/Mtok).
fn per_token(usd_per_mtok: f64) -> Result<u64, String> {
    if !(0.0..=1_000_000.0).contains(&usd_per_mtok) {
        return Err(format!(
            "price {usd_per_mtok} must be between 0 and 1000000 USD per million tokens"
        ));
    }
    Ok((usd_per_mtok * 1_000_000.0).round() as u64)
}

impl PriceFile {
    /// Input and output prices only.
    pub fn plain(input: f64, output: f64) -> Self {
        Self {
            input,
            output,
            cached_input: None,
            cache_write: None,
            long_context: None,
            source: None,
            as_of: None,
            via: None,
        }
    }

    fn to_price(&self) -> Result<Price, String> {
        let input = per_token(self.input)?;
        let long = self
            .long_context
            .map(|l| -> Result<LongPrice, String> {
                let input = per_token(l.input)?;
                let or_input =
                    |v: Option<f64>| v.map(per_token).transpose().map(|v| v.unwrap_or(input));
                Ok(LongPrice {
                    above_prompt_tokens: l.above_prompt_tokens,
                    input,
                    output: per_token(l.output)?,
                    cached_input: or_input(l.cached_input)?,
                    cache_write: or_input(l.cache_write)?,
                })
            })
            .transpose()?;
        Ok(Price {
            long,
            input,
            output: per_token(self.output)?,
            cached_input: self
                .cached_input
                .map(per_token)
                .transpose()?
                .unwrap_or(input),
            cache_write: self
                .cache_write
                .map(per_token)
                .transpose()?
                .unwrap_or(input),
        })
    }
}

/// What happens to a model without a price (`UNPRICED_MODELS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpriced {
    /// Refused with 400 before any upstream call.
    Refuse,
    /// Served and charged at this price.
    ChargeAt(Price),
}

impl Unpriced {
    /// `refuse`, `charge` (the price list's highest input and output
    /// prices) or `charge:IN,OUT` (USD per million tokens).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "refuse" => Ok(Self::Refuse),
            "charge" => {
                let list = list()?;
                let max = |f: fn(&PriceFile) -> f64| list.values().map(f).fold(0.0, f64::max);
                PriceFile::plain(max(|p| p.input), max(|p| p.output))
                    .to_price()
                    .map(Self::ChargeAt)
            }
            other => {
                let (input, output) = other
                    .strip_prefix("charge:")
                    .and_then(|p| p.split_once(','))
                    .and_then(|(i, o)| Some((i.trim().parse().ok()?, o.trim().parse().ok()?)))
                    .ok_or_else(|| {
                        format!("'{other}' is not refuse, charge or charge:IN,OUT (USD per million tokens)")
                    })?;
                PriceFile::plain(input, output)
                    .to_price()
                    .map(Self::ChargeAt)
            }
        }
    }
}

/// The pricing table: the embedded list prices, then the config file's;
/// and the policy for models in neither.
#[derive(Debug, Clone)]
pub struct Pricing {
    table: BTreeMap<String, Price>,
    /// Prices set for one provider's model (`NAME/model`), by provider.
    scoped: BTreeMap<String, BTreeMap<String, Price>>,
    unpriced: Unpriced,
}

impl Pricing {
    /// The embedded price list with `overrides` (model name → prices) applied.
    pub fn new(overrides: &BTreeMap<String, PriceFile>) -> Result<Self, String> {
        let mut table: BTreeMap<String, Price> = list()?
            .iter()
            .map(|(model, file)| {
                let price = file
                    .to_price()
                    .map_err(|e| format!("the embedded price of {model}: {e}"))?;
                Ok((model.clone(), price))
            })
            .collect::<Result<_, String>>()?;
        let mut scoped: BTreeMap<String, BTreeMap<String, Price>> = BTreeMap::new();
        for (model, file) in overrides {
            let price = file.to_price().map_err(|e| format!("{model}: {e}"))?;
            if let Some((provider, name)) = model.split_once('/') {
                scoped
                    .entry(provider.to_owned())
                    .or_default()
                    .insert(name.to_owned(), price);
            }
            table.insert(model.clone(), price);
        }
        Ok(Self {
            scoped,
            table,
            unpriced: Unpriced::parse("charge")?,
        })
    }

    /// The same table with `policy` for unpriced models.
    #[must_use]
    pub fn with_unpriced(mut self, policy: Unpriced) -> Self {
        self.unpriced = policy;
        self
    }

    /// The policy for unpriced models.
    pub fn unpriced(&self) -> Unpriced {
        self.unpriced
    }

    /// Prices of `model` from the table: the exact name, else the longest
    /// known name followed only by a snapshot date (`-2024-07-18`,
    /// `-20250514`) or a version number (`-001`), so `gpt-4o-mini-2024-07-18`
    /// is `gpt-4o-mini` but `gpt-4o-audio-preview` is not `gpt-4o`.
    /// Gemini's `models/` prefix is ignored.
    ///
    /// An Anthropic model on Bedrock (`[geo.]anthropic.NAME-vN[:M]`, e.g.
    /// `us.anthropic.claude-haiku-4-5-20251001-v1:0`) has its Anthropic
    /// list price, as AWS lists it for on-demand and cross-region use.
    pub fn price(&self, model: &str) -> Option<&Price> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        if let Some(price) = self.table.get(model) {
            return Some(price);
        }
        if let Some(anthropic) = bedrock_anthropic(model) {
            return self.price(anthropic);
        }
        self.table
            .iter()
            .filter(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(is_snapshot_suffix)
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }

    /// Prices of `model` at `provider`: a price set for that provider's
    /// model (`[providers.NAME.pricing]`, kept as `NAME/model`) first, then
    /// the model's own.
    pub fn price_at(&self, provider: &str, model: &str) -> Option<&Price> {
        self.scoped
            .get(provider)
            .and_then(|models| models.get(model))
            .or_else(|| self.price(model))
    }

    /// USD per million (input, output) tokens of `model` at `provider`, for
    /// routing by cost.
    pub fn per_million(&self, provider: &str, model: &str) -> Option<(f64, f64)> {
        self.price_at(provider, model)
            .map(|p| (p.input as f64 / 1e6, p.output as f64 / 1e6))
    }

    /// The price a request on `model` is charged: the table's, else the
    /// unpriced policy's (`true` when it is that fallback); `None` when
    /// unpriced models are refused.
    pub fn charge(&self, model: &str) -> Option<(&Price, bool)> {
        self.charged(self.price(model))
    }

    fn charged<'a>(&'a self, found: Option<&'a Price>) -> Option<(&'a Price, bool)> {
        match (found, &self.unpriced) {
            (Some(price), _) => Some((price, false)),
            (None, Unpriced::ChargeAt(price)) => Some((price, true)),
            (None, Unpriced::Refuse) => None,
        }
    }

    /// What `usage` on `model` costs; `None` for an unpriced model.
    /// Cached reads and cache writes are part of `prompt_tokens` and are
    /// priced once each; reasoning tokens are part of `completion_tokens`.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<Cost> {
        let (price, _) = self.charge(model)?;
        Some(Self::priced(price, usage))
    }

    /// [`Self::cost`] of `model` served by `provider` ([`Self::price_at`]).
    pub fn cost_at(&self, provider: &str, model: &str, usage: &Usage) -> Option<Cost> {
        let (price, _) = self.charged(self.price_at(provider, model))?;
        Some(Self::priced(price, usage))
    }

    fn priced(price: &Price, usage: &Usage) -> Cost {
        // A long prompt pays the long tier on every token of the request.
        let price = match price.long {
            Some(long) if usage.prompt_tokens > long.above_prompt_tokens => &Price {
                input: long.input,
                output: long.output,
                cached_input: long.cached_input,
                cache_write: long.cache_write,
                long: None,
            },
            _ => price,
        };
        let cached = usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        let written = usage
            .extra
            .get("cache_creation_input_tokens")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let cached = cached.min(usage.prompt_tokens);
        let written = written.min(usage.prompt_tokens - cached);
        let plain = usage.prompt_tokens - cached - written;
        let total = u128::from(plain) * u128::from(price.input)
            + u128::from(cached) * u128::from(price.cached_input)
            + u128::from(written) * u128::from(price.cache_write)
            + u128::from(usage.completion_tokens) * u128::from(price.output);
        Cost(u64::try_from(total).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::PromptTokensDetails;

    #[test]
    fn anthropic_models_on_bedrock_have_their_list_price() {
        let pricing = Pricing::new(&BTreeMap::new()).expect("prices");
        let direct = pricing.price("claude-haiku-4-5").expect("listed");
        for id in [
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "global.anthropic.claude-haiku-4-5-20251001-v1",
        ] {
            assert_eq!(pricing.price(id), Some(direct), "{id}");
        }
        for id in [
            "amazon.nova-lite-v1:0",
            "anthropic.claude-haiku-4-5-20251001",
            "evil.anthropic.claude-haiku-4-5-v1:0x",
            "US.anthropic.claude-haiku-4-5-v1:0",
        ] {
            assert_eq!(pricing.price(id), None, "{id}");
        }
    }

    fn usage(prompt: u64, completion: u64, cached: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(cached),
                extra: Default::default(),
            }),
            ..Usage::default()
        }
    }

    #[test]
    fn only_snapshots_of_a_priced_model_share_its_price() {
        let pricing = Pricing::new(&BTreeMap::new())
            .expect("catalogue prices")
            .with_unpriced(Unpriced::Refuse);
        for priced in [
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "models/gemini-2.5-flash",
            "gemini-2.5-flash-001",
        ] {
            assert!(pricing.charge(priced).is_some(), "{priced}");
        }
        for unpriced in ["gpt-4o-mini-audio-preview", "gpt-4o-mini-x", "claude-nope"] {
            assert!(pricing.charge(unpriced).is_none(), "{unpriced}");
        }
        assert!(
            matches!(Unpriced::parse("charge:1.5,2"), Ok(Unpriced::ChargeAt(p)) if p.input == 1_500_000 && p.output == 2_000_000)
        );
        assert!(Unpriced::parse("free").is_err());
        assert!(Unpriced::parse("charge:1").is_err());
    }

    #[test]
    fn costs_are_exact_decimals() {
        let pricing = Pricing::new(&BTreeMap::new()).expect("catalogue prices");
        // gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cached per million.
        let cost = pricing
            .cost("gpt-4o-mini", &usage(1000, 500, 0))
            .expect("priced");
        assert_eq!(cost.to_string(), "0.00045");
        let cached = pricing
            .cost("gpt-4o-mini-2024-07-18", &usage(1000, 0, 400))
            .expect("snapshot priced");
        assert_eq!(cached.to_string(), "0.00012");
        assert_eq!(Cost(0).to_string(), "0");
        assert_eq!(Cost(3 * Cost::PER_USD).to_string(), "3");
        // An unknown model is charged at the list's highest prices.
        assert_eq!(
            pricing
                .cost("no-such-model", &usage(1, 1, 0))
                .map(|c| c.to_string()),
            Some("0.000035".to_owned())
        );
        assert!(pricing.price("models/gemini-2.5-flash").is_some());
    }

    #[test]
    fn anthropic_cache_writes_are_priced_once() {
        let pricing = Pricing::new(&BTreeMap::new()).expect("catalogue prices");
        let mut u = usage(1000, 0, 200);
        u.extra
            .insert("cache_creation_input_tokens".into(), 300.into());
        // claude-sonnet-4-6: $3 in, $0.30 cache read, $3.75 cache write.
        let cost = pricing.cost("claude-sonnet-4-6", &u).expect("priced");
        let expected = 500 * 3_000_000 + 200 * 300_000 + 300 * 3_750_000;
        assert_eq!(cost, Cost(expected));
    }

    #[test]
    fn the_embedded_list_dates_and_sources_every_price() {
        let list = list().expect("prices.toml parses");
        for info in crate::routing::catalog::MODELS {
            assert!(list.contains_key(info.id), "{} has no price", info.id);
        }
        for (model, price) in list {
            let source = price.source.as_deref().unwrap_or_default();
            assert!(source.starts_with("https://"), "{model}: source");
            let as_of = price.as_of.as_deref().unwrap_or_default();
            let dated = as_of.len() == 10
                && as_of.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            assert!(dated || as_of == "unverified", "{model}: as_of {as_of}");
            assert!(price.to_price().is_ok(), "{model}");
        }
    }

    #[test]
    fn long_prompts_pay_the_long_tier_on_every_token() {
        let pricing = Pricing::new(&BTreeMap::new()).expect("prices");
        // claude-haiku-5-5: $0.10 / $0.50, over 100,000 prompt tokens $0.50 / $2.50.
        let short = pricing
            .cost("claude-haiku-5-5", &usage(100_000, 1_000, 0))
            .expect("priced");
        assert_eq!(short.to_string(), "0.0105");
        let long = pricing
            .cost("claude-haiku-5-5", &usage(100_001, 1_000, 0))
            .expect("priced");
        assert_eq!(long.to_string(), "0.0525005");
    }

    #[test]
    fn overrides_replace_and_add() {
        let mut overrides = BTreeMap::new();
        overrides.insert("my-model".to_owned(), PriceFile::plain(1.0, 2.0));
        let pricing = Pricing::new(&overrides).expect("valid");
        assert_eq!(
            pricing.cost("my-model", &usage(1_000_000, 1_000_000, 0)),
            Some(Cost(3 * Cost::PER_USD))
        );
        overrides.get_mut("my-model").expect("present").input = -1.0;
        assert!(Pricing::new(&overrides).is_err());
    }
}
