//! Reading and validation of every setting and of the configuration file.

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
    assert!(cfg.provider(ProviderId::OPENAI).is_none());
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
    let openai = cfg.provider(ProviderId::OPENAI).expect("configured");
    assert_eq!(openai.base_url, "http://127.0.0.1:9/v1");
    assert!(!format!("{cfg:?}").contains("sk-test"));
    assert!(cfg.provider(ProviderId::ANTHROPIC).is_none());
}

#[test]
fn every_provider_reads_its_key_and_url() {
    let cfg = load(&[
        ("ANTHROPIC_API_KEY", "sk-ant-x"),
        ("GEMINI_API_KEY", "gem-key"),
        ("GEMINI_BASE_URL", "http://127.0.0.1:9"),
    ])
    .expect("valid");
    let anthropic = cfg.provider(ProviderId::ANTHROPIC).expect("anthropic");
    assert_eq!(anthropic.base_url, "https://api.anthropic.com");
    let gemini = cfg.provider(ProviderId::GEMINI).expect("gemini");
    assert_eq!(gemini.api_key.as_ref().map(Secret::expose), Some("gem-key"));
    assert_eq!(gemini.base_url, "http://127.0.0.1:9");
    let cfg = load(&[("GOOGLE_API_KEY", "g1"), ("GEMINI_API_KEY", "g2")]).expect("valid");
    assert_eq!(
        cfg.provider(ProviderId::GEMINI)
            .and_then(|p| p.api_key.as_ref())
            .map(Secret::expose),
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
    let anthropic = cfg.provider(ProviderId::ANTHROPIC).expect("anthropic");
    assert_eq!(anthropic.timeouts.first_byte, Duration::from_secs(5));
    assert_eq!(anthropic.max_retries, 0);
    let openai = cfg.provider(ProviderId::OPENAI).expect("openai");
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

fn with_file(name: &str, toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = std::env::temp_dir().join(format!("gw-cfg-decl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml).expect("write");
    let path = file.to_str().expect("utf8").to_owned();
    let mut pairs = vec![("GATEWAY_CONFIG", path.as_str())];
    pairs.extend_from_slice(env);
    load(&pairs)
}

#[test]
fn declared_providers_are_read_with_their_keys_models_quirks_and_prices() {
    let cfg = with_file(
        "declared",
        r#"
[providers.groq]
kind = "openai"
base_url = "https://api.groq.example/openai/v1/"
api_key_env = "GROQ_API_KEY"
models = ["llama-3.3-70b-versatile"]
headers = { "X-Title" = "gateway" }
stream_options = false
max_tokens_field = "max_tokens"
max_retries = 1
[providers.groq.pricing."llama-3.3-70b-versatile"]
input = 0.59
output = 0.79

[providers.ollama]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"

[providers.azure]
kind = "azure"
base_url = "https://acme.openai.azure.com/"
api_key_env = "AZURE_OPENAI_API_KEY"
deployments = { "gpt-4o" = "prod-gpt4o" }

[providers.bedrock]
kind = "bedrock"
region = "eu-west-1"
models = ["anthropic.claude-3-5-haiku-20241022-v1:0"]
"#,
        &[
            ("GROQ_API_KEY", "gsk-test"),
            ("AZURE_OPENAI_API_KEY", "az-test"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9"),
        ],
    )
    .expect("valid");
    let groq = cfg
        .provider(ProviderId::from_prefix("groq").expect("declared"))
        .expect("groq");
    assert_eq!(groq.kind, ProviderKind::OpenAi);
    assert_eq!(groq.base_url, "https://api.groq.example/openai/v1");
    assert_eq!(groq.api_key.as_ref().map(Secret::expose), Some("gsk-test"));
    assert_eq!(groq.models, ["llama-3.3-70b-versatile"]);
    assert_eq!(
        groq.headers,
        [("X-Title".to_owned(), Secret::new("gateway"))]
    );
    assert!(
        !format!("{groq:?}").contains("gsk-test") && !format!("{groq:?}").contains("\"gateway\""),
        "keys and header values never print"
    );
    assert!(!groq.quirks.stream_options && !groq.discover_models);
    assert_eq!(groq.quirks.max_tokens, MaxTokensField::MaxTokens);
    assert_eq!(groq.max_retries, 1);
    assert!(
        cfg.file
            .pricing
            .contains_key("groq/llama-3.3-70b-versatile")
    );

    let ollama = cfg
        .provider(ProviderId::from_prefix("ollama").expect("declared"))
        .expect("ollama");
    assert!(ollama.api_key.is_none() && ollama.discover_models);

    let azure = cfg
        .provider(ProviderId::from_prefix("azure").expect("declared"))
        .expect("azure");
    assert_eq!(azure.base_url, "https://acme.openai.azure.com");
    let settings = azure.azure.as_ref().expect("azure settings");
    assert_eq!(settings.api_version.as_deref(), Some(AZURE_API_VERSION));
    assert_eq!(settings.deployment("gpt-4o"), "prod-gpt4o");
    assert_eq!(azure.models, ["gpt-4o"]);

    let bedrock = cfg
        .provider(ProviderId::from_prefix("bedrock").expect("declared"))
        .expect("bedrock");
    let aws = bedrock.aws.as_ref().expect("aws settings");
    assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
    assert_eq!(aws.endpoint.as_deref(), Some("http://127.0.0.1:9"));
    assert!(bedrock.api_key.is_none());
}

#[test]
fn declared_providers_are_checked() {
    let cases = [
        (
            "[providers.groq]\nbase_url = \"https://x/v1\"\n",
            "needs kind",
        ),
        (
            "[providers.groq]\nkind = \"grpc\"\nbase_url = \"https://x/v1\"\n",
            "not one of",
        ),
        ("[providers.groq]\nkind = \"openai\"\n", "needs base_url"),
        (
            "[providers.groq]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\napi_key_env = \"NOT_SET_ANYWHERE\"\n",
            "NOT_SET_ANYWHERE",
        ),
        (
            "[providers.openai]\nbase_url = \"https://x/v1\"\n",
            "built-in",
        ),
        (
            "[providers.Groq]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\n",
            "a-z",
        ),
        ("[providers.b]\nkind = \"bedrock\"\n", "needs models"),
        (
            "[providers.a]\nkind = \"anthropic\"\nbase_url = \"https://x\"\napi_key_env = \"K\"\nstream_options = false\n",
            "OpenAI-compatible",
        ),
        (
            "[providers.z]\nkind = \"azure\"\nbase_url = \"https://x\"\napi_key_env = \"K\"\n",
            "needs models or deployments",
        ),
        (
            "[providers.g]\nkind = \"openai\"\nbase_url = \"https://x/v1\"\nregion = \"us-east-1\"\n",
            "bedrock only",
        ),
        (
            "[providers.g]\nkind = \"openai\"\nbase_url = \"ftp://x\"\n",
            "http(s)",
        ),
    ];
    for (i, (toml, expected)) in cases.iter().enumerate() {
        let err = with_file(&format!("bad{i}"), toml, &[("K", "key")]).expect_err(toml);
        assert!(err.message.contains(expected), "{toml}: {err}");
    }
}
