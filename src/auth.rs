//! Client authentication: gateway API keys compared in constant time, and
//! the request id every response carries.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::config::{AuthMode, Secret};
use crate::error::GatewayError;

/// Which configured key a request used: `key-1`, `key-2`, … (never the key
/// itself), or `anonymous` when auth is off. Used to scope data per tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub String);

/// The request id: the client's `x-request-id` if it is sane, else a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Header carrying the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Checks client keys.
#[derive(Debug, Clone)]
pub struct Authenticator {
    keys: Option<Vec<Secret>>,
}

impl Authenticator {
    /// From the configured mode; `Unset` and `Disabled` let every request in.
    pub fn new(mode: &AuthMode) -> Self {
        Self {
            keys: match mode {
                AuthMode::Keys(keys) => Some(keys.clone()),
                AuthMode::Unset | AuthMode::Disabled => None,
            },
        }
    }

    /// The tenant of a request, or `Unauthorized`. Every key is compared, so
    /// timing does not tell which key nearly matched.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Tenant, GatewayError> {
        let Some(keys) = &self.keys else {
            return Ok(Tenant("anonymous".to_owned()));
        };
        let presented = presented_key(headers).ok_or(GatewayError::Unauthorized)?;
        let mut matched = None;
        for (i, key) in keys.iter().enumerate() {
            if bool::from(key.expose().as_bytes().ct_eq(presented.as_bytes())) {
                matched = Some(i);
            }
        }
        matched
            .map(|i| Tenant(format!("key-{}", i + 1)))
            .ok_or(GatewayError::Unauthorized)
    }
}

/// `Authorization: Bearer <key>`, else `x-api-key: <key>`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, key) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| key.trim());
    }
    headers.get("x-api-key")?.to_str().ok().map(str::trim)
}

/// Middleware: rejects unauthenticated requests with a 401 OpenAI error.
pub async fn require_key(
    State(auth): State<std::sync::Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    match auth.authenticate(request.headers()) {
        Ok(tenant) => {
            request.extensions_mut().insert(tenant);
            next.run(request).await
        }
        Err(e) => {
            let response = e.into_response();
            crate::request_log::refused(response.status().as_u16(), started.elapsed());
            response
        }
    }
}

/// Middleware: assigns the request id and echoes it on the response.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let header_value = HeaderValue::from_str(&id);
    request.extensions_mut().insert(RequestId(id));
    let mut response = next.run(request).await;
    if let Ok(value) = header_value {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Ids the gateway echoes: 1–128 chars of `[A-Za-z0-9._:-]`; anything else
/// (control characters, header injection attempts) gets a fresh id.
fn is_sane_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn keys_are_checked() {
        let auth = Authenticator::new(&AuthMode::Keys(vec![
            Secret::new("key-aaaaaaaaaaaaaaaa"),
            Secret::new("key-bbbbbbbbbbbbbbbb"),
        ]));
        let ok = auth
            .authenticate(&headers(&[(
                "authorization",
                "Bearer key-bbbbbbbbbbbbbbbb",
            )]))
            .expect("valid key");
        assert_eq!(ok, Tenant("key-2".into()));
        let ok = auth
            .authenticate(&headers(&[("x-api-key", "key-aaaaaaaaaaaaaaaa")]))
            .expect("x-api-key");
        assert_eq!(ok, Tenant("key-1".into()));
        for bad in [
            vec![],
            vec![("authorization", "Bearer key-cccccccccccccccc")],
            vec![("authorization", "Basic key-aaaaaaaaaaaaaaaa")],
            vec![("authorization", "key-aaaaaaaaaaaaaaaa")],
            vec![("authorization", "Bearer key-aaaaaaaaaaaaaaa")],
        ] {
            assert!(matches!(
                auth.authenticate(&headers(&bad)),
                Err(GatewayError::Unauthorized)
            ));
        }
    }

    #[test]
    fn open_modes_let_everyone_in() {
        for mode in [AuthMode::Unset, AuthMode::Disabled] {
            let tenant = Authenticator::new(&mode)
                .authenticate(&HeaderMap::new())
                .expect("open");
            assert_eq!(tenant.0, "anonymous");
        }
    }

    #[test]
    fn request_ids_are_sanitised() {
        assert!(is_sane_id("abc-123_x.y:z"));
        assert!(!is_sane_id(""));
        assert!(!is_sane_id("a b"));
        assert!(!is_sane_id("a\r\nset-cookie: x"));
        assert!(!is_sane_id(&"a".repeat(129)));
    }
}
