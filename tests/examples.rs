//! The examples stay true: `.env.example` names every setting the gateway
//! reads (and nothing else) with its real default, and
//! `examples/gateway.toml` uses every section of the configuration file
//! and loads.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use llm_gateway::config::Config;

/// Settings read outside `Config` (the process, logging, tracing).
const ELSEWHERE: &[&str] = &[
    "GATEWAY_SECRETS_ARN",
    "RUST_LOG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
];

/// Aliases, read only when their setting is unset.
const ALIASES: &[&str] = &["GEMINI_API_KEY"];

/// Values in `.env.example` that are examples rather than defaults.
const EXAMPLES: &[&str] = &[
    "GATEWAY_API_KEYS",
    "GATEWAY_ADMIN_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "GATEWAY_CONFIG",
    "GROQ_API_KEY",
    "AZURE_OPENAI_API_KEY",
];

/// (set, commented-out) settings of `.env.example`.
fn env_example() -> (BTreeMap<String, String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example");
    let mut set = BTreeMap::new();
    let mut commented = BTreeSet::new();
    for line in text.lines() {
        let (is_comment, rest) = match line.strip_prefix("# ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((name, value)) = rest.split_once('=') else {
            continue;
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        if is_comment {
            commented.insert(name.to_owned());
        } else {
            set.insert(name.to_owned(), value.to_owned());
        }
    }
    (set, commented)
}

#[test]
fn the_env_example_names_every_setting_with_its_default() {
    let (set, commented) = env_example();
    let read = RefCell::new(BTreeSet::new());
    let all = Config::from_lookup(|name| {
        read.borrow_mut().insert(name.to_owned());
        set.get(name).cloned()
    })
    .expect(".env.example loads");
    let read = read.into_inner();
    let documented: BTreeSet<String> = set.keys().chain(&commented).cloned().collect();
    let undocumented: Vec<&String> = read.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from .env.example: {undocumented:?}"
    );
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|n| {
            !read.contains(*n) && !ELSEWHERE.contains(&n.as_str()) && !ALIASES.contains(&n.as_str())
        })
        .collect();
    assert!(
        unknown.is_empty(),
        ".env.example names settings nothing reads: {unknown:?}"
    );
    // Every other value is the default: loading only the examples gives
    // the same configuration.
    let only_examples = Config::from_lookup(|name| {
        EXAMPLES
            .contains(&name)
            .then(|| set.get(name).cloned())
            .flatten()
    })
    .expect("loads");
    assert_eq!(format!("{all:?}"), format!("{only_examples:?}"));
}

#[test]
fn the_example_configuration_uses_every_section_and_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/gateway.toml");
    let text = std::fs::read_to_string(path).expect("examples/gateway.toml");
    let table: toml::Table = toml::from_str(&text).expect("TOML");
    let sections: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    for section in [
        "models",
        "aliases",
        "routes",
        "fallbacks",
        "routing",
        "providers",
        "breaker",
        "pricing",
        "limits",
    ] {
        assert!(
            sections.contains(section),
            "examples/gateway.toml lacks [{section}]"
        );
    }
    let config = Config::from_lookup(|name| match name {
        "GATEWAY_CONFIG" => Some(path.to_owned()),
        "OPENAI_API_KEY"
        | "ANTHROPIC_API_KEY"
        | "GOOGLE_API_KEY"
        | "GROQ_API_KEY"
        | "AZURE_OPENAI_API_KEY" => Some("sk-example-0123456789".into()),
        _ => None,
    })
    .expect("examples/gateway.toml loads");
    assert!(config.file.limits.contains_key("per_key"));
    for (name, kind) in [
        ("groq", "openai"),
        ("ollama", "openai"),
        ("azure", "azure"),
        ("bedrock", "bedrock"),
    ] {
        let id = llm_gateway::providers::ProviderId::from_prefix(name).expect("declared");
        assert_eq!(config.providers[&id].kind.as_str(), kind);
    }
    assert_eq!(config.file.aliases["quick"], "gpt-5.4-mini");
}
