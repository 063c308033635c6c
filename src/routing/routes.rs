//! Model resolution: which provider serves a model name, aliases, routes
//! (ordered fallback chains), default cross-provider fallbacks, and the list
//! of models the gateway offers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

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
        Some(ProviderId::OPENAI)
    } else if model.starts_with("claude-") {
        Some(ProviderId::ANTHROPIC)
    } else if model.starts_with("gemini-") {
        Some(ProviderId::GEMINI)
    } else {
        None
    }
}

/// Bare model names listed by configured providers (`models`, or read
/// from a server's `/models`), and who lists each.
type Listed = BTreeMap<String, Vec<ProviderId>>;

/// Most model names one provider may add to the listing.
pub const MAX_LISTED_MODELS: usize = 1_000;

/// What a name resolves to.
#[derive(Debug)]
enum Resolved {
    /// One route.
    Route(Route),
    /// Several providers list the bare name and none owns its family.
    Ambiguous(Vec<ProviderId>),
    /// Nothing serves it.
    Unknown,
}

/// Resolves `provider/model`, or a bare name: its family's provider when
/// that is configured, else the one provider that lists it.
fn resolve_in(listed: &Listed, configured: &BTreeSet<ProviderId>, name: &str) -> Resolved {
    if let Some((prefix, rest)) = name.split_once('/')
        && let Some(provider) = ProviderId::from_prefix(prefix)
    {
        return if rest.is_empty() {
            Resolved::Unknown
        } else {
            Resolved::Route(Route {
                provider,
                model: rest.to_owned(),
            })
        };
    }
    let route = |provider| {
        Resolved::Route(Route {
            provider,
            model: name.to_owned(),
        })
    };
    let family = provider_for(name);
    if let Some(family) = family.filter(|f| configured.contains(f)) {
        return route(family);
    }
    match listed.get(name).map(Vec::as_slice).unwrap_or_default() {
        [one] => route(*one),
        [] => family.map_or(Resolved::Unknown, route),
        many => Resolved::Ambiguous(many.to_vec()),
    }
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
    smart_models: Vec<Route>,
    listed: Arc<RwLock<Listed>>,
    smart_alias: String,
}

impl Routes {
    /// Builds the table; every name in the file must resolve.
    pub fn new(
        file: &FileConfig,
        configured: impl IntoIterator<Item = ProviderId>,
    ) -> Result<Self, ConfigError> {
        Self::with_listed(file, configured, std::iter::empty())
    }

    /// Builds the table with the models each provider lists; every name in
    /// the file must resolve.
    pub fn with_listed<'a>(
        file: &FileConfig,
        configured: impl IntoIterator<Item = ProviderId>,
        listed: impl IntoIterator<Item = (ProviderId, &'a [String])>,
    ) -> Result<Self, ConfigError> {
        let configured: BTreeSet<ProviderId> = configured.into_iter().collect();
        let mut listing = Listed::new();
        for (provider, models) in listed {
            add_listed(&mut listing, provider, models);
        }
        let unresolvable = |what: &str, name: &str, why: String| ConfigError {
            var: "GATEWAY_CONFIG".into(),
            message: format!("{what} '{name}' {why}"),
        };
        let resolve = |what: &str, name: &str| match resolve_in(&listing, &configured, name) {
            Resolved::Route(route) => Ok(route),
            Resolved::Ambiguous(by) => Err(unresolvable(
                what,
                name,
                format!("is listed by {}; use provider/model", join(&by)),
            )),
            Resolved::Unknown => Err(unresolvable(
                what,
                name,
                "names no known provider (use provider/model with a configured provider)".into(),
            )),
        };
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
                return Err(unresolvable("route", name, "lists no model".into()));
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
        let smart_models = chain("smart model", &file.routing.smart_models)?;
        Ok(Self {
            names,
            fallbacks,
            smart_models,
            cross_provider: file.routing.cross_provider_fallbacks.unwrap_or(true),
            configured,
            extra_models,
            listed: Arc::new(RwLock::new(listing)),
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
                let route = self.resolve(model)?;
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

    /// The route of a name outside the table.
    fn resolve(&self, model: &str) -> Result<Route, GatewayError> {
        let resolved = match self.listed.read() {
            Ok(listed) => resolve_in(&listed, &self.configured, model),
            Err(poisoned) => resolve_in(&poisoned.into_inner(), &self.configured, model),
        };
        match resolved {
            Resolved::Route(route) => Ok(route),
            Resolved::Ambiguous(by) => Err(GatewayError::invalid(
                format!(
                    "the model '{model}' is served by {}; name one as provider/model",
                    join(&by)
                ),
                Some("model".to_owned()),
            )),
            Resolved::Unknown => Err(GatewayError::ModelNotFound {
                model: model.to_owned(),
            }),
        }
    }

    /// Adds models a provider lists (read from its `/models` after start).
    pub fn add_listed(&self, provider: ProviderId, models: &[String]) {
        let mut listed = match self.listed.write() {
            Ok(listed) => listed,
            Err(poisoned) => poisoned.into_inner(),
        };
        add_listed(&mut listed, provider, models);
    }

    /// Every catalogued model whose provider has a key, and the models of
    /// `[routing] smart_models`: the smart-routing pool.
    pub fn smart_pool(&self) -> Vec<Route> {
        let catalogued = catalog::MODELS.iter().map(|m| Route {
            provider: m.provider,
            model: m.id.to_owned(),
        });
        let mut seen = BTreeSet::new();
        catalogued
            .chain(self.smart_models.iter().cloned())
            .filter(|r| self.configured.contains(&r.provider) && seen.insert(r.clone()))
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
        let listed: Vec<(String, ProviderId)> = match self.listed.read() {
            Ok(listed) => listed
                .iter()
                .flat_map(|(m, by)| by.iter().map(|p| (m.clone(), *p)))
                .collect(),
            Err(_) => Vec::new(),
        };
        let catalogue = catalog::MODELS.iter().map(|m| (m.id, m.provider));
        let extra = self.extra_models.iter().map(|(m, p)| (m.as_str(), *p));
        let listed = listed.iter().map(|(m, p)| (m.as_str(), *p));
        for (id, provider) in catalogue.chain(extra).chain(listed) {
            if !self.configured.contains(&provider) {
                continue;
            }
            // A name another provider also lists is offered as provider/model.
            let name = if seen.contains(id) {
                format!("{provider}/{id}")
            } else {
                id.to_owned()
            };
            if seen.insert(name.clone()) {
                out.push(object(&name, provider.as_str()));
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

fn add_listed(listed: &mut Listed, provider: ProviderId, models: &[String]) {
    for model in models.iter().take(MAX_LISTED_MODELS) {
        let by = listed.entry(model.clone()).or_default();
        if !by.contains(&provider) {
            by.push(provider);
        }
    }
}

fn join(providers: &[ProviderId]) -> String {
    let names: Vec<&str> = providers.iter().map(|p| p.as_str()).collect();
    names.join(", ")
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
        ProviderId::BUILTIN
    }

    fn names(routes: &[Route]) -> Vec<String> {
        routes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn names_route_by_family_and_prefix() {
        let r = Routes::new(&file(&[]), [ProviderId::OPENAI]).expect("valid");
        for (model, upstream) in [
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("o3-mini", "o3-mini"),
            ("o1", "o1"),
            ("chatgpt-4o-latest", "chatgpt-4o-latest"),
            ("openai/custom-model", "custom-model"),
        ] {
            let route = &r.candidates(model).expect(model)[0];
            assert_eq!(route.provider, ProviderId::OPENAI);
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
        let r = Routes::new(&file(&[]), [ProviderId::OPENAI]).expect("valid");
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
            Routes::new(&file(&[]), [ProviderId::GEMINI, ProviderId::ANTHROPIC]).expect("valid");
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
            [ProviderId::OPENAI],
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
