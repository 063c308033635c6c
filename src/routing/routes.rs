//! Model resolution: which provider serves a model name, aliases, routes
//! (ordered fallback chains), default cross-provider fallbacks, and the list
//! of models the gateway offers.

use std::collections::{BTreeMap, BTreeSet};

use super::catalog::{self, TIER_ALIASES, TIER_DEFAULTS, Tier};
use crate::config::{ConfigError, FileConfig};
use crate::error::GatewayError;
use crate::openai::ModelObject;
use crate::providers::ProviderId;

/// Where a request goes: the provider and the model name it knows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    /// The provider that serves the model.
    pub provider: ProviderId,
    /// The provider's own model name (no `provider/` prefix, alias resolved).
    pub model: String,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Fixed `created` timestamp reported for listed models.
const LISTED_CREATED: u64 = 1_700_000_000;

/// The model name that asks for smart routing unless configured otherwise.
pub const DEFAULT_SMART_ALIAS: &str = "smart-model";

/// The provider a bare model name belongs to, by its family prefix.
pub fn provider_for(model: &str) -> Option<ProviderId> {
    let b = model.as_bytes();
    if model.starts_with("gpt-")
        || model.starts_with("chatgpt-")
        || (b.len() >= 2 && b[0] == b'o' && b[1].is_ascii_digit())
    {
        Some(ProviderId::OpenAi)
    } else if model.starts_with("claude-") {
        Some(ProviderId::Anthropic)
    } else if model.starts_with("gemini-") {
        Some(ProviderId::Gemini)
    } else {
        None
    }
}

/// Resolves `provider/model` or a bare model name, without aliases.
pub fn resolve_name(model: &str) -> Option<Route> {
    if let Some((prefix, rest)) = model.split_once('/')
        && let Some(provider) = ProviderId::from_prefix(prefix)
    {
        return (!rest.is_empty()).then(|| Route {
            provider,
            model: rest.to_owned(),
        });
    }
    provider_for(model).map(|provider| Route {
        provider,
        model: model.to_owned(),
    })
}

/// How a name maps to candidates.
#[derive(Debug, Clone)]
enum Target {
    /// One model; its fallbacks apply.
    Model(Route),
    /// An ordered chain, used as given.
    Chain(Vec<Route>),
}

/// The routing table.
#[derive(Debug, Clone)]
pub struct Routes {
    names: BTreeMap<String, Target>,
    fallbacks: BTreeMap<Route, Vec<Route>>,
    cross_provider: bool,
    configured: BTreeSet<ProviderId>,
    extra_models: Vec<(String, ProviderId)>,
    smart_alias: String,
}

impl Routes {
    /// Builds the table; every name in the file must resolve.
    pub fn new(
        file: &FileConfig,
        configured: impl IntoIterator<Item = ProviderId>,
    ) -> Result<Self, ConfigError> {
        let unresolvable = |what: &str, name: &str| ConfigError {
            var: "GATEWAY_CONFIG".into(),
            message: format!(
                "{what} '{name}' names no known provider (use provider/model with openai, anthropic or google)"
            ),
        };
        let resolve =
            |what: &str, name: &str| resolve_name(name).ok_or_else(|| unresolvable(what, name));
        let chain = |what: &str, names: &[String]| -> Result<Vec<Route>, ConfigError> {
            names.iter().map(|n| resolve(what, n)).collect()
        };

        let mut names = BTreeMap::new();
        if file.routing.builtin_routes.unwrap_or(true) {
            for (alias, tier) in TIER_ALIASES {
                names.insert((*alias).to_owned(), Target::Chain(tier_members(*tier)));
            }
        }
        for (alias, target) in &file.aliases {
            names.insert(
                alias.clone(),
                Target::Model(resolve("alias target", target)?),
            );
        }
        for (name, targets) in &file.routes {
            if targets.is_empty() {
                return Err(unresolvable("route", name));
            }
            names.insert(name.clone(), Target::Chain(chain("route member", targets)?));
        }
        let mut fallbacks = BTreeMap::new();
        for (model, targets) in &file.fallbacks {
            fallbacks.insert(resolve("model", model)?, chain("fallback", targets)?);
        }
        let extra_models = file
            .models
            .iter()
            .map(|m| resolve("model", m).map(|r| (m.clone(), r.provider)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            names,
            fallbacks,
            cross_provider: file.routing.cross_provider_fallbacks.unwrap_or(true),
            configured: configured.into_iter().collect(),
            extra_models,
            smart_alias: file
                .routing
                .smart_alias
                .clone()
                .unwrap_or_else(|| DEFAULT_SMART_ALIAS.to_owned()),
        })
    }

    /// Whether `model` asks for smart routing.
    pub fn is_smart(&self, model: &str) -> bool {
        model == self.smart_alias
    }

    /// Ordered candidates for `model`: the model (or route) first, then its
    /// fallbacks; only providers with keys. Asking for a model whose own
    /// provider has no key is an error naming the key, even if a fallback
    /// could serve.
    pub fn candidates(&self, model: &str) -> Result<Vec<Route>, GatewayError> {
        let chain = match self.names.get(model) {
            Some(Target::Chain(chain)) => chain.clone(),
            Some(Target::Model(route)) => self.with_fallbacks(route),
            None => {
                let route = resolve_name(model).ok_or_else(|| GatewayError::ModelNotFound {
                    model: model.to_owned(),
                })?;
                if !self.configured.contains(&route.provider) {
                    return Err(not_configured(model, route.provider));
                }
                self.with_fallbacks(&route)
            }
        };
        let mut seen = BTreeSet::new();
        let usable: Vec<Route> = chain
            .iter()
            .filter(|r| self.configured.contains(&r.provider) && seen.insert((*r).clone()))
            .cloned()
            .collect();
        match (usable.is_empty(), chain.first()) {
            (true, Some(first)) => Err(not_configured(model, first.provider)),
            (true, None) => Err(GatewayError::ModelNotFound {
                model: model.to_owned(),
            }),
            (false, _) => Ok(usable),
        }
    }

    /// Every catalogued model whose provider has a key: the smart-routing pool.
    pub fn smart_pool(&self) -> Vec<Route> {
        catalog::MODELS
            .iter()
            .filter(|m| self.configured.contains(&m.provider))
            .map(|m| Route {
                provider: m.provider,
                model: m.id.to_owned(),
            })
            .collect()
    }

    fn with_fallbacks(&self, route: &Route) -> Vec<Route> {
        let mut chain = vec![route.clone()];
        if let Some(explicit) = self.fallbacks.get(route) {
            chain.extend(explicit.iter().cloned());
        } else if self.cross_provider
            && let Some(info) = catalog::find(route.provider, &route.model)
        {
            chain.extend(
                tier_members(info.tier)
                    .into_iter()
                    .filter(|r| r.provider != route.provider),
            );
        }
        chain
    }

    /// The models and aliases clients can use now, OpenAI list format.
    pub fn list(&self) -> Vec<ModelObject> {
        let object = |id: &str, owner: &str| ModelObject {
            id: id.to_owned(),
            object: "model",
            created: LISTED_CREATED,
            owned_by: owner.to_owned(),
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let catalogue = catalog::MODELS.iter().map(|m| (m.id, m.provider));
        let extra = self.extra_models.iter().map(|(m, p)| (m.as_str(), *p));
        for (id, provider) in catalogue.chain(extra) {
            if self.configured.contains(&provider) && seen.insert(id.to_owned()) {
                out.push(object(id, provider.as_str()));
            }
        }
        for (name, target) in &self.names {
            let servable = match target {
                Target::Model(r) => self.configured.contains(&r.provider),
                Target::Chain(c) => c.iter().any(|r| self.configured.contains(&r.provider)),
            };
            if servable && seen.insert(name.clone()) {
                out.push(object(name, "llm-gateway"));
            }
        }
        if !self.configured.is_empty() && seen.insert(self.smart_alias.clone()) {
            out.push(object(&self.smart_alias, "llm-gateway"));
        }
        out
    }
}

fn not_configured(model: &str, provider: ProviderId) -> GatewayError {
    GatewayError::ProviderNotConfigured {
        model: model.to_owned(),
        provider,
        env_var: provider.key_env_var(),
    }
}

/// The default members of a tier, one per provider, in provider order.
fn tier_members(tier: Tier) -> Vec<Route> {
    TIER_DEFAULTS
        .iter()
        .filter(|(t, _, _)| *t == tier)
        .map(|(_, provider, model)| Route {
            provider: *provider,
            model: (*model).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(aliases: &[(&str, &str)]) -> FileConfig {
        FileConfig {
            aliases: aliases
                .iter()
                .map(|(a, t)| (a.to_string(), t.to_string()))
                .collect(),
            models: vec!["openai/ft:gpt-4o-mini:acme".into()],
            ..FileConfig::default()
        }
    }

    fn all() -> [ProviderId; 3] {
        ProviderId::ALL
    }

    fn names(routes: &[Route]) -> Vec<String> {
        routes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn names_route_by_family_and_prefix() {
        let r = Routes::new(&file(&[]), [ProviderId::OpenAi]).expect("valid");
        for (model, upstream) in [
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("o3-mini", "o3-mini"),
            ("o1", "o1"),
            ("chatgpt-4o-latest", "chatgpt-4o-latest"),
            ("openai/custom-model", "custom-model"),
        ] {
            let route = &r.candidates(model).expect(model)[0];
            assert_eq!(route.provider, ProviderId::OpenAi);
            assert_eq!(route.model, upstream);
        }
        for bad in ["llama-3", "openai/", "omni"] {
            assert!(
                matches!(r.candidates(bad), Err(GatewayError::ModelNotFound { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn unconfigured_provider_names_its_key_even_with_fallbacks() {
        let r = Routes::new(&file(&[]), [ProviderId::OpenAi]).expect("valid");
        let err = r.candidates("claude-opus-4-8").expect_err("not configured");
        assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
    }

    #[test]
    fn catalogued_models_fail_over_to_their_tier_elsewhere() {
        let r = Routes::new(&file(&[]), all()).expect("valid");
        assert_eq!(
            names(&r.candidates("claude-sonnet-4-6").expect("chain")),
            [
                "anthropic/claude-sonnet-4-6",
                "openai/gpt-5.5",
                "google/gemini-3.1-pro-preview"
            ]
        );
        assert_eq!(
            names(&r.candidates("gpt-4o-mini").expect("chain")),
            [
                "openai/gpt-4o-mini",
                "anthropic/claude-haiku-4-5",
                "google/gemini-2.5-flash"
            ]
        );
        // Unknown models have no default fallbacks.
        assert_eq!(
            names(&r.candidates("gpt-3.5-turbo").expect("chain")),
            ["openai/gpt-3.5-turbo"]
        );
        // Built-in tier routes, filtered to configured providers.
        let partial =
            Routes::new(&file(&[]), [ProviderId::Gemini, ProviderId::Anthropic]).expect("valid");
        assert_eq!(
            names(&partial.candidates("fast").expect("chain")),
            ["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"]
        );
    }

    #[test]
    fn config_routes_fallbacks_and_switches() {
        let mut f = file(&[("quick", "gpt-4o-mini")]);
        f.routes.insert(
            "fast".into(),
            vec![
                "google/gemini-2.5-flash".into(),
                "openai/gpt-4o-mini".into(),
            ],
        );
        f.fallbacks
            .insert("gpt-4o".into(), vec!["anthropic/claude-sonnet-4-6".into()]);
        let r = Routes::new(&f, all()).expect("valid");
        assert_eq!(
            names(&r.candidates("fast").expect("chain")),
            ["google/gemini-2.5-flash", "openai/gpt-4o-mini"]
        );
        assert_eq!(
            names(&r.candidates("gpt-4o").expect("chain")),
            ["openai/gpt-4o", "anthropic/claude-sonnet-4-6"]
        );
        assert_eq!(
            r.candidates("quick").expect("alias").len(),
            3,
            "an alias keeps its target's fallbacks"
        );

        f.routing.cross_provider_fallbacks = Some(false);
        f.routing.builtin_routes = Some(false);
        f.routes.clear();
        let r = Routes::new(&f, all()).expect("valid");
        assert_eq!(
            names(&r.candidates("gpt-4o-mini").expect("chain")),
            ["openai/gpt-4o-mini"]
        );
        assert!(r.candidates("flagship").is_err());
    }

    #[test]
    fn listing_covers_models_aliases_routes_and_the_smart_alias() {
        let r = Routes::new(
            &file(&[
                ("fast2", "gpt-4o-mini"),
                ("smart", "anthropic/claude-opus-4-8"),
            ]),
            [ProviderId::OpenAi],
        )
        .expect("valid");
        let ids: Vec<String> = r.list().into_iter().map(|m| m.id).collect();
        for id in [
            "fast2",
            "gpt-4o",
            "openai/ft:gpt-4o-mini:acme",
            "flagship",
            "fast",
            "smart-model",
        ] {
            assert!(ids.contains(&id.to_owned()), "{id} in {ids:?}");
        }
        assert!(
            !ids.iter()
                .any(|id| id.starts_with("claude") || id == "smart"),
            "{ids:?}"
        );
        assert!(r.is_smart("smart-model"));
    }

    #[test]
    fn bad_names_are_config_errors() {
        let err = Routes::new(&file(&[("x", "mystery")]), []).expect_err("unresolvable");
        assert_eq!(err.var, "GATEWAY_CONFIG");
        let mut f = file(&[]);
        f.routes.insert("empty".into(), vec![]);
        assert!(Routes::new(&f, []).is_err());
    }
}
