//! Model resolution: which provider serves a model name, aliases, and the
//! list of models the gateway offers.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::types::ModelObject;
use crate::config::{ConfigError, FileConfig};
use crate::error::GatewayError;
use crate::providers::ProviderId;

/// Where a request goes: the provider and the model name it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The provider that serves the model.
    pub provider: ProviderId,
    /// The provider's own model name (no `provider/` prefix, alias resolved).
    pub model: String,
}

/// Built-in catalogue of current models, listed when their provider is configured.
const CATALOGUE: &[(ProviderId, &str)] = &[
    (ProviderId::OpenAi, "gpt-5.5"),
    (ProviderId::OpenAi, "gpt-5.4"),
    (ProviderId::OpenAi, "gpt-5.4-mini"),
    (ProviderId::OpenAi, "gpt-5.4-nano"),
    (ProviderId::OpenAi, "gpt-4.1"),
    (ProviderId::OpenAi, "gpt-4.1-mini"),
    (ProviderId::OpenAi, "gpt-4o"),
    (ProviderId::OpenAi, "gpt-4o-mini"),
    (ProviderId::OpenAi, "o4-mini"),
    (ProviderId::Anthropic, "claude-opus-5-5"),
    (ProviderId::Anthropic, "claude-sonnet-5-5"),
    (ProviderId::Anthropic, "claude-haiku-5-5"),
    (ProviderId::Anthropic, "claude-opus-4-8"),
    (ProviderId::Anthropic, "claude-sonnet-4-6"),
    (ProviderId::Anthropic, "claude-haiku-4-5"),
    (ProviderId::Gemini, "gemini-3.5-flash"),
    (ProviderId::Gemini, "gemini-3.1-pro-preview"),
    (ProviderId::Gemini, "gemini-3-flash-preview"),
    (ProviderId::Gemini, "gemini-2.5-pro"),
    (ProviderId::Gemini, "gemini-2.5-flash"),
];

/// Fixed `created` timestamp reported for listed models.
const LISTED_CREATED: u64 = 1_700_000_000;

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
fn resolve_name(model: &str) -> Option<Route> {
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

/// The routing table: aliases, configured providers, listed models.
#[derive(Debug, Clone)]
pub struct Routes {
    aliases: BTreeMap<String, Route>,
    configured: BTreeSet<ProviderId>,
    extra_models: Vec<(String, ProviderId)>,
}

impl Routes {
    /// Builds the table; every alias and listed model must resolve.
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
        let mut aliases = BTreeMap::new();
        for (alias, target) in &file.aliases {
            let route = resolve_name(target).ok_or_else(|| unresolvable("alias target", target))?;
            aliases.insert(alias.clone(), route);
        }
        let extra_models = file
            .models
            .iter()
            .map(|m| {
                resolve_name(m)
                    .map(|r| (m.clone(), r.provider))
                    .ok_or_else(|| unresolvable("model", m))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            aliases,
            configured: configured.into_iter().collect(),
            extra_models,
        })
    }

    /// Which provider and upstream model serve `model`.
    pub fn resolve(&self, model: &str) -> Result<Route, GatewayError> {
        let route = self
            .aliases
            .get(model)
            .cloned()
            .or_else(|| resolve_name(model))
            .ok_or_else(|| GatewayError::ModelNotFound {
                model: model.to_owned(),
            })?;
        if !self.configured.contains(&route.provider) {
            return Err(GatewayError::ProviderNotConfigured {
                model: model.to_owned(),
                provider: route.provider,
                env_var: route.provider.key_env_var(),
            });
        }
        Ok(route)
    }

    /// The models and aliases clients can use now, OpenAI list format.
    pub fn list(&self) -> Vec<ModelObject> {
        let object = |id: &str, owner: ProviderId| ModelObject {
            id: id.to_owned(),
            object: "model",
            created: LISTED_CREATED,
            owned_by: owner.as_str().to_owned(),
        };
        let mut seen = BTreeSet::new();
        let catalogue = CATALOGUE.iter().map(|(p, m)| (*m, *p));
        let extra = self.extra_models.iter().map(|(m, p)| (m.as_str(), *p));
        let aliases = self.aliases.iter().map(|(a, r)| (a.as_str(), r.provider));
        catalogue
            .chain(extra)
            .chain(aliases)
            .filter(|(_, p)| self.configured.contains(p))
            .filter(|(id, _)| seen.insert(*id))
            .map(|(id, p)| object(id, p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(aliases: &[(&str, &str)]) -> Routes {
        let file = FileConfig {
            aliases: aliases
                .iter()
                .map(|(a, t)| (a.to_string(), t.to_string()))
                .collect(),
            models: vec!["openai/ft:gpt-4o-mini:acme".into()],
        };
        Routes::new(&file, [ProviderId::OpenAi]).expect("valid")
    }

    #[test]
    fn names_route_by_family_and_prefix() {
        let r = routes(&[]);
        for (model, upstream) in [
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("o3-mini", "o3-mini"),
            ("o1", "o1"),
            ("chatgpt-4o-latest", "chatgpt-4o-latest"),
            ("openai/custom-model", "custom-model"),
        ] {
            let route = r.resolve(model).expect(model);
            assert_eq!(route.provider, ProviderId::OpenAi);
            assert_eq!(route.model, upstream);
        }
        assert!(matches!(
            r.resolve("llama-3"),
            Err(GatewayError::ModelNotFound { .. })
        ));
        assert!(matches!(
            r.resolve("openai/"),
            Err(GatewayError::ModelNotFound { .. })
        ));
        assert!(matches!(
            r.resolve("omni"),
            Err(GatewayError::ModelNotFound { .. })
        ));
    }

    #[test]
    fn unconfigured_provider_names_its_key() {
        let err = routes(&[])
            .resolve("claude-sonnet-4-6")
            .expect_err("not configured");
        assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
    }

    #[test]
    fn aliases_resolve_and_are_listed() {
        let r = routes(&[
            ("fast", "gpt-4o-mini"),
            ("smart", "anthropic/claude-opus-4-8"),
        ]);
        assert_eq!(r.resolve("fast").expect("alias").model, "gpt-4o-mini");
        let ids: Vec<String> = r.list().into_iter().map(|m| m.id).collect();
        assert!(ids.contains(&"fast".to_owned()));
        assert!(ids.contains(&"gpt-4o".to_owned()));
        assert!(ids.contains(&"openai/ft:gpt-4o-mini:acme".to_owned()));
        // Anthropic has no key: neither its models nor aliases to it are listed.
        assert!(
            !ids.iter()
                .any(|id| id.starts_with("claude") || id == "smart")
        );
    }

    #[test]
    fn bad_alias_target_is_a_config_error() {
        let file = FileConfig {
            aliases: [("x".to_string(), "mystery".to_string())].into(),
            models: vec![],
        };
        let err = Routes::new(&file, []).expect_err("unresolvable");
        assert_eq!(err.var, "GATEWAY_CONFIG");
    }
}
