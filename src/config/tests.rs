use super::*;
use std::collections::HashMap;

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn configuration_toml_can_be_given_inline_but_not_twice() {
    let toml = "[limits.per_key]\nrequests_per_minute = 1\n";
    let cfg = load(&[("GATEWAY_CONFIG_TOML", toml)]).expect("inline TOML");
    assert!(cfg.file.limits.contains_key("per_key"));
    let err = load(&[("GATEWAY_CONFIG_TOML", "[limitz]\n")]).expect_err("typo");
    assert_eq!(err.var, "GATEWAY_CONFIG_TOML");
    assert!(err.to_string().contains("limitz"), "{err}");
    let err = load(&[
        ("GATEWAY_CONFIG_TOML", toml),
        ("GATEWAY_CONFIG", "/etc/gateway.toml"),
    ])
    .expect_err("both");
    assert!(err.to_string().contains("not both"), "{err}");
}

#[test]
fn the_deployed_configuration_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/gateway.toml");
    let cfg = load(&[("GATEWAY_CONFIG", path)]).expect("deploy/gateway.toml is valid");
    assert!(cfg.file.limits.contains_key("per_key"));
}

#[test]
fn defaults() {
    let cfg = load(&[]).expect("defaults are valid");
    assert_eq!(cfg.host.to_string(), "127.0.0.1");
    assert_eq!(cfg.port, 3000);
    assert_eq!(cfg.max_request_bytes, 10 * 1024 * 1024);
    assert_eq!(cfg.auth, AuthMode::Unset);
    assert!(cfg.provider(ProviderId::OpenAi).is_none());
}

#[test]
fn bad_values_name_the_variable() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("HOST", "not-an-ip"),
        ("MAX_REQUEST_BYTES", "-1"),
        ("LOG_FORMAT", "xml"),
        ("GATEWAY_AUTH", "maybe"),
        ("GATEWAY_API_KEYS", "short"),
        ("UPSTREAM_TIMEOUT_SECONDS", "0"),
        ("UPSTREAM_MAX_RETRIES", "50"),
        ("ROUTING_STRATEGY", "fastest"),
        ("RETRY_BACKOFF_MS", "soon"),
        ("CACHE_ENABLED", "maybe"),
        ("CACHE_SIMILARITY_THRESHOLD", "2"),
        ("EMBEDDINGS", "openai"),
        ("GATEWAY_CONFIG", "/nonexistent/gateway.toml"),
    ] {
        let err = load(&[(var, value)]).expect_err(var);
        assert_eq!(err.var, var, "{err}");
    }
    let err =
        load(&[("OPENAI_API_KEY", "sk-x"), ("OPENAI_BASE_URL", "ftp://x")]).expect_err("bad url");
    assert_eq!(err.var, "OPENAI_BASE_URL");
}

#[test]
fn keys_and_provider() {
    let cfg = load(&[
        (
            "GATEWAY_API_KEYS",
            " key-aaaaaaaaaaaaaaaa , key-bbbbbbbbbbbbbbbb ",
        ),
        ("OPENAI_API_KEY", "sk-test"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
    ])
    .expect("valid");
    assert!(matches!(&cfg.auth, AuthMode::Keys(k) if k.len() == 2));
    let openai = cfg.provider(ProviderId::OpenAi).expect("configured");
    assert_eq!(openai.base_url, "http://127.0.0.1:9/v1");
    assert!(!format!("{cfg:?}").contains("sk-test"));
    assert!(cfg.provider(ProviderId::Anthropic).is_none());
}

#[test]
fn every_provider_reads_its_key_and_url() {
    let cfg = load(&[
        ("ANTHROPIC_API_KEY", "sk-ant-x"),
        ("GEMINI_API_KEY", "gem-key"),
        ("GEMINI_BASE_URL", "http://127.0.0.1:9"),
    ])
    .expect("valid");
    let anthropic = cfg.provider(ProviderId::Anthropic).expect("anthropic");
    assert_eq!(anthropic.base_url, "https://api.anthropic.com");
    let gemini = cfg.provider(ProviderId::Gemini).expect("gemini");
    assert_eq!(gemini.api_key.expose(), "gem-key");
    assert_eq!(gemini.base_url, "http://127.0.0.1:9");
    let cfg = load(&[("GOOGLE_API_KEY", "g1"), ("GEMINI_API_KEY", "g2")]).expect("valid");
    assert_eq!(
        cfg.provider(ProviderId::Gemini).map(|p| p.api_key.expose()),
        Some("g1")
    );
}

#[test]
fn provider_overrides_and_breaker_from_the_file() {
    let dir = std::env::temp_dir().join(format!("gw-cfg-prov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        "[providers.anthropic]\nfirst_byte_timeout_seconds = 5\nmax_retries = 0\n[breaker]\ncooldown_seconds = 2\n",
    )
    .expect("write");
    let cfg = load(&[
        ("GATEWAY_CONFIG", file.to_str().expect("utf8")),
        ("ANTHROPIC_API_KEY", "k"),
        ("OPENAI_API_KEY", "k"),
        ("UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", "7"),
    ])
    .expect("valid");
    let anthropic = cfg.provider(ProviderId::Anthropic).expect("anthropic");
    assert_eq!(anthropic.timeouts.first_byte, Duration::from_secs(5));
    assert_eq!(anthropic.max_retries, 0);
    let openai = cfg.provider(ProviderId::OpenAi).expect("openai");
    assert_eq!(openai.timeouts.first_byte, Duration::from_secs(7));
    assert_eq!(openai.max_retries, 2);
    assert_eq!(cfg.breaker.cooldown, Duration::from_secs(2));
    std::fs::write(&file, "[providers.mistral]\nmax_retries = 1\n").expect("write");
    let err =
        load(&[("GATEWAY_CONFIG", file.to_str().expect("utf8"))]).expect_err("unknown provider");
    assert!(err.message.contains("mistral"), "{err}");
}

#[test]
fn auth_none_conflicts_with_keys() {
    let err = load(&[
        ("GATEWAY_AUTH", "none"),
        ("GATEWAY_API_KEYS", "key-aaaaaaaaaaaaaaaa"),
    ])
    .expect_err("conflict");
    assert_eq!(err.var, "GATEWAY_AUTH");
    assert_eq!(
        load(&[("GATEWAY_AUTH", "none")]).expect("ok").auth,
        AuthMode::Disabled
    );
}

#[test]
fn config_file_is_parsed_and_checked() {
    let dir = std::env::temp_dir().join(format!("gw-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "models = [\"openai/gpt-x\"]\n[aliases]\nfast = \"gpt-4o-mini\"\n",
    )
    .expect("write");
    let cfg = load(&[("GATEWAY_CONFIG", good.to_str().expect("utf8"))]).expect("valid");
    assert_eq!(cfg.file.aliases["fast"], "gpt-4o-mini");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[aliasses]\nfast = 1\n").expect("write");
    let err = load(&[("GATEWAY_CONFIG", bad.to_str().expect("utf8"))]).expect_err("typo");
    assert_eq!(err.var, "GATEWAY_CONFIG");
    assert!(err.message.contains("aliasses"), "{}", err.message);
}
