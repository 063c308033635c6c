//! How clients and the operator authenticate: `GATEWAY_AUTH`,
//! `GATEWAY_API_KEYS` and `GATEWAY_ADMIN_KEY`, checked against each other.

use super::env::{check_header_safe, parse_keys};
use super::{AuthMode, ConfigError, Secret};

/// The client auth mode and the operator's key.
pub(super) fn settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<(AuthMode, Option<Secret>), ConfigError> {
    let auth = match (var("GATEWAY_AUTH").as_deref(), var("GATEWAY_API_KEYS")) {
        (Some("none"), Some(_)) => {
            return Err(ConfigError::new(
                "GATEWAY_AUTH",
                "is 'none' but GATEWAY_API_KEYS is set; choose one",
            ));
        }
        (Some("none"), None) => AuthMode::Disabled,
        (Some("iam"), Some(_)) => {
            return Err(ConfigError::new(
                "GATEWAY_AUTH",
                "is 'iam' (callers are their IAM identities) but GATEWAY_API_KEYS is set; choose one",
            ));
        }
        (Some("iam"), None) => AuthMode::Iam,
        (Some(other), _) if other != "keys" => {
            return Err(ConfigError::new(
                "GATEWAY_AUTH",
                format!("'{other}' is not one of keys, iam, none"),
            ));
        }
        (_, Some(list)) => AuthMode::Keys(parse_keys(&list)?),
        (_, None) => AuthMode::Unset,
    };
    let admin_key = var("GATEWAY_ADMIN_KEY")
        .map(|k| check_header_safe("GATEWAY_ADMIN_KEY", k))
        .transpose()?
        .map(Secret::new);
    if let Some(admin) = &admin_key {
        if admin.expose().len() < 16 {
            return Err(ConfigError::new(
                "GATEWAY_ADMIN_KEY",
                "must be at least 16 characters",
            ));
        }
        if matches!(&auth, AuthMode::Keys(keys) if keys.contains(admin)) {
            return Err(ConfigError::new(
                "GATEWAY_ADMIN_KEY",
                "must not also be a client key in GATEWAY_API_KEYS",
            ));
        }
    }
    // An operator key alone means virtual keys only: clients need one.
    let auth = match auth {
        AuthMode::Unset if admin_key.is_some() => AuthMode::Keys(Vec::new()),
        other => other,
    };
    Ok((auth, admin_key))
}
