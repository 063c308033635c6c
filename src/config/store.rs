//! Where limits, totals, keys and stored responses live.

use std::time::Duration;

use super::Secret;

/// Where limits, totals and alert flags live.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `DYNAMODB_TABLE`: the table, or memory when unset.
    pub dynamodb_table: Option<String>,
    /// `STORE_TIMEOUT_MS`: bound on each store call on the request path.
    pub timeout: Duration,
    /// `STORE_WRITE_TIMEOUT_MS`: bound on a cost write (after the response).
    pub write_timeout: Duration,
    /// `DYNAMODB_CREATE_TABLE`: create the table at start (local work).
    pub create_table: bool,
    /// The standard AWS variables, read like every other setting; what is
    /// unset comes from the SDK's default chain (profile, container, IMDS).
    pub aws: AwsSettings,
}

/// The standard AWS settings the DynamoDB and Bedrock clients honour.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// The service's endpoint override (`AWS_ENDPOINT_URL_DYNAMODB`,
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`).
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key: Option<Secret>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<Secret>,
}

impl AwsSettings {
    /// The SDK configuration: these settings over the default chain
    /// (credentials from the environment, profile, or the function's role).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let (Some(key), Some(secret)) = (&self.access_key, &self.secret_key) {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                key.expose(),
                secret.expose(),
                self.session_token.as_ref().map(|t| t.expose().to_owned()),
                None,
                "environment",
            ));
        }
        loader.load().await
    }
}

/// `DYNAMODB_TABLE`, `STORE_*` and the AWS settings of the store.
pub(super) fn settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<StoreConfig, super::ConfigError> {
    use super::env::{flag, millis};
    Ok(StoreConfig {
        dynamodb_table: var("DYNAMODB_TABLE"),
        timeout: millis(var, "STORE_TIMEOUT_MS", 500)?,
        write_timeout: millis(var, "STORE_WRITE_TIMEOUT_MS", 15_000)?,
        create_table: flag(var, "DYNAMODB_CREATE_TABLE", false)?,
        aws: AwsSettings {
            endpoint: var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            access_key: var("AWS_ACCESS_KEY_ID").map(Secret::new),
            secret_key: var("AWS_SECRET_ACCESS_KEY").map(Secret::new),
            session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
        },
    })
}
