//! Settings from AWS Secrets Manager, read once at cold start. When
//! `GATEWAY_SECRETS_ARN` is set, that secret — a JSON object of setting
//! name to value, e.g. `{"OPENAI_API_KEY": "…", "GATEWAY_API_KEYS": "…"}` —
//! supplies those settings and the environment the rest, so provider and
//! client keys never sit in the function's environment.

use std::collections::HashMap;

use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// The variable naming the secret.
pub const SECRETS_VAR: &str = "GATEWAY_SECRETS_ARN";

/// Reads the secret `arn` (or name) with the standard AWS chain; honours
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Errors never contain secret values.
pub async fn load(arn: &str) -> Result<HashMap<String, String>, String> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| format!("cannot read secret {arn}: {}", DisplayErrorContext(e)))?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("secret {arn} has no string value"))?;
    parse(text).map_err(|e| format!("secret {arn}: {e}"))
}

/// The secret's JSON object; every value must be a string.
pub fn parse(text: &str) -> Result<HashMap<String, String>, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| "is not a JSON object of setting names to strings".to_owned())?;
    let object = value
        .as_object()
        .ok_or_else(|| "is not a JSON object of setting names to strings".to_owned())?;
    object
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(v) => Ok((name.clone(), v.to_owned())),
            None => Err(format!("the value of {name} is not a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_of_strings_only() {
        let parsed = parse(r#"{"OPENAI_API_KEY":"sk-1","GATEWAY_API_KEYS":"a,b"}"#).expect("valid");
        assert_eq!(parsed["OPENAI_API_KEY"], "sk-1");
        let err = parse(r#"{"OPENAI_API_KEY":"sk-secret-value","N":1}"#).expect_err("number");
        assert!(!err.contains("sk-secret-value"));
        assert!(parse("sk-raw-value").is_err_and(|e| !e.contains("sk-raw")));
    }
}
