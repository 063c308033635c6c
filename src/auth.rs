//! Who is calling: client keys (static ones from `GATEWAY_API_KEYS`, or
//! virtual keys from the store), the operator's key, and the request id
//! every response carries.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::config::{AuthMode, Secret};
use crate::error::GatewayError;
use crate::keys::record::digest;
use crate::keys::{KeyRecord, Keys};

/// The client behind a request. `id` is stable for as long as the key
/// exists (never its position in a list): `sk_<16 hex of SHA-256(key)>`
/// for a static key, `vk_<id>` for a virtual key (unchanged by rotation),
/// `iam_<16 hex of SHA-256(ARN)>` for an IAM caller, `anonymous` when auth
/// is off. Cache entries, limits, spend and logs are
/// scoped by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The stable id.
    pub id: String,
    /// The virtual key's policy (models, limits, budgets), if it is one.
    pub key: Option<Arc<KeyRecord>>,
}

impl Tenant {
    /// A tenant without a policy.
    pub fn plain(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            key: None,
        }
    }
}

/// The tenant id of a static key.
pub fn static_tenant(key: &str) -> String {
    format!("sk_{}", &digest(key)[..16])
}

/// The request id: the client's `x-request-id` if it is sane, else a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Header carrying the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The tenant id of an IAM caller.
pub fn iam_tenant(arn: &str) -> String {
    format!("iam_{}", &digest(arn)[..16])
}

/// The caller's IAM identity (its ARN) that API Gateway or a Function URL
/// verified before invoking the function: REST APIs with IAM auth put it
/// in `requestContext.identity.userArn`, `AWS_IAM` Function URLs in
/// `requestContext.authorizer.iam.userArn`.
pub fn iam_identity(extensions: &axum::http::Extensions) -> Option<&str> {
    use lambda_http::request::RequestContext;
    let arn = match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV1(context) => context.identity.user_arn.as_deref(),
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .iam
            .as_ref()?
            .user_arn
            .as_deref(),
        _ => None,
    }?;
    (!arn.is_empty()).then_some(arn)
}

/// Checks client and operator keys.
pub struct Authenticator {
    /// Callers are their IAM identities (`GATEWAY_AUTH=iam`).
    iam: bool,
    /// Auth is off: requests without a valid key are `anonymous`.
    open: bool,
    /// Static keys by the SHA-256 of the key: their tenant ids.
    statics: HashMap<String, String>,
    /// SHA-256 of the operator's key.
    admin: Option<String>,
    keys: Arc<Keys>,
    /// Where refusals are counted.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Authenticator {
    /// From the configured mode, the operator key and the virtual keys.
    pub fn new(mode: &AuthMode, admin: Option<&Secret>, keys: Arc<Keys>) -> Self {
        let (open, statics) = match mode {
            AuthMode::Keys(list) => (
                false,
                list.iter()
                    .map(|k| (digest(k.expose()), static_tenant(k.expose())))
                    .collect(),
            ),
            AuthMode::Unset | AuthMode::Disabled => (true, HashMap::new()),
            AuthMode::Iam => (false, HashMap::new()),
        };
        Self {
            iam: *mode == AuthMode::Iam,
            open,
            statics,
            admin: admin.map(|k| digest(k.expose())),
            keys,
            metrics: None,
        }
    }

    /// Counts refused requests in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The tenant of a request to a client endpoint, or why not. With IAM
    /// auth, the caller's verified `identity` (see [`iam_identity`]). A
    /// static key is found by its digest (no comparison that could leak
    /// timing); a virtual key by the id inside it, then its digest is
    /// compared in constant time.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        identity: Option<&str>,
    ) -> Result<Tenant, GatewayError> {
        if self.iam {
            return identity
                .map(|arn| Tenant::plain(iam_tenant(arn)))
                .ok_or(GatewayError::IamIdentityRequired);
        }
        let Some(presented) = presented_key(headers) else {
            return if self.open {
                Ok(Tenant::plain("anonymous"))
            } else {
                Err(GatewayError::Unauthorized)
            };
        };
        if Keys::is_virtual(presented) {
            let record = self.keys.resolve(presented).await?;
            return Ok(Tenant {
                id: record.tenant(),
                key: Some(record),
            });
        }
        let hashed = digest(presented);
        if let Some(id) = self.statics.get(&hashed) {
            return Ok(Tenant::plain(id.clone()));
        }
        if self.open {
            return Ok(Tenant::plain("anonymous"));
        }
        if self.is_admin(&hashed) {
            return Err(GatewayError::Forbidden {
                message: "the operator key cannot call client endpoints; use a client key".into(),
                code: "client_key_required",
            });
        }
        Err(GatewayError::Unauthorized)
    }

    fn is_admin(&self, hashed: &str) -> bool {
        self.admin
            .as_ref()
            .is_some_and(|a| bool::from(a.as_bytes().ct_eq(hashed.as_bytes())))
    }

    /// Admits the operator to an operator endpoint. Without an operator
    /// key configured, `/metrics` is open only while client auth is off
    /// (`strict = false`), and `/admin` is closed.
    pub async fn operator(&self, headers: &HeaderMap, strict: bool) -> Result<(), GatewayError> {
        let presented = presented_key(headers);
        if self.admin.is_none() {
            if self.open && !strict {
                return Ok(());
            }
            return Err(GatewayError::Forbidden {
                message: "operator endpoints need GATEWAY_ADMIN_KEY to be configured".into(),
                code: "operator_key_required",
            });
        }
        let Some(presented) = presented else {
            return Err(GatewayError::Unauthorized);
        };
        if self.is_admin(&digest(presented)) {
            return Ok(());
        }
        match self.authenticate(headers, None).await {
            Ok(_) if !self.open => Err(GatewayError::Forbidden {
                message: "this endpoint needs the operator key".into(),
                code: "operator_key_required",
            }),
            Err(e @ (GatewayError::KeyRefused { .. } | GatewayError::StoreUnavailable { .. })) => {
                Err(e)
            }
            _ => Err(GatewayError::Unauthorized),
        }
    }
}

/// `Authorization: Bearer <key>`, else `x-api-key: <key>`: a request
/// signed with SigV4 (an `AWS_IAM` Function URL or REST API) has its
/// `Authorization` header taken by the signature, so its key travels in
/// `x-api-key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    bearer.or_else(|| headers.get("x-api-key")?.to_str().ok().map(str::trim))
}

/// Middleware: rejects requests without a valid client key (401, or 403
/// for the operator's key) with an OpenAI error.
pub async fn require_key(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let identity = iam_identity(request.extensions());
    match auth.authenticate(request.headers(), identity).await {
        Ok(tenant) => {
            request.extensions_mut().insert(tenant);
            next.run(request).await
        }
        Err(e) => {
            let response = e.into_response();
            if let Some(metrics) = &auth.metrics {
                metrics.refused(response.status().as_u16(), started.elapsed());
            }
            response
        }
    }
}

/// The operator gate's state: the keys, and whether it stays shut when no
/// operator key is configured.
#[derive(Clone)]
pub struct OperatorGate {
    /// The key checks.
    pub auth: Arc<Authenticator>,
    /// Shut without an operator key even while client auth is off.
    pub strict: bool,
}

/// Middleware: operator endpoints need the operator's key (403 for a
/// client key, 401 for none or a wrong one).
pub async fn require_operator(
    State(gate): State<OperatorGate>,
    request: Request,
    next: Next,
) -> Response {
    match gate.auth.operator(request.headers(), gate.strict).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
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
    use std::time::Duration;

    use super::*;
    use crate::limits::FailMode;
    use crate::store::memory::MemoryStore;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn keys() -> Arc<Keys> {
        Arc::new(Keys::new(
            Arc::new(MemoryStore::default()),
            Duration::from_secs(5),
            FailMode::Open,
        ))
    }

    fn auth(list: &[&str], admin: Option<&str>) -> Authenticator {
        let mode = AuthMode::Keys(list.iter().map(|k| Secret::new(*k)).collect());
        Authenticator::new(&mode, admin.map(Secret::new).as_ref(), keys())
    }

    #[tokio::test]
    async fn tenants_come_from_the_key_not_its_position() {
        let a = "key-aaaaaaaaaaaaaaaa";
        let b = "key-bbbbbbbbbbbbbbbb";
        let one = auth(&[a, b], None);
        let other_order = auth(&[b, "key-cccccccccccccccc", a], None);
        for presented in [
            headers(&[("authorization", "Bearer key-bbbbbbbbbbbbbbbb")]),
            headers(&[("x-api-key", "key-bbbbbbbbbbbbbbbb")]),
        ] {
            let t1 = one.authenticate(&presented, None).await.expect("valid");
            let t2 = other_order
                .authenticate(&presented, None)
                .await
                .expect("valid");
            assert_eq!(t1, t2);
            assert_eq!(t1.id, static_tenant(b));
            assert!(t1.id.starts_with("sk_") && !t1.id.contains("bbbb"));
        }
        for bad in [
            vec![],
            vec![("authorization", "Bearer key-cccccccccccccccc")],
            vec![("authorization", "Basic key-aaaaaaaaaaaaaaaa")],
            vec![("authorization", "key-aaaaaaaaaaaaaaaa")],
            vec![("authorization", "Bearer key-aaaaaaaaaaaaaaa")],
        ] {
            assert!(matches!(
                one.authenticate(&headers(&bad), None).await,
                Err(GatewayError::Unauthorized)
            ));
        }
    }

    #[tokio::test]
    async fn signed_requests_carry_their_key_in_x_api_key() {
        let one = auth(&["key-aaaaaaaaaaaaaaaa"], None);
        let signed = headers(&[
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd",
            ),
            ("x-api-key", "key-aaaaaaaaaaaaaaaa"),
        ]);
        let tenant = one
            .authenticate(&signed, None)
            .await
            .expect("key in x-api-key");
        assert_eq!(tenant.id, static_tenant("key-aaaaaaaaaaaaaaaa"));
        let unsigned_bearer = headers(&[
            ("authorization", "Bearer key-bbbbbbbbbbbbbbbb"),
            ("x-api-key", "key-aaaaaaaaaaaaaaaa"),
        ]);
        assert!(matches!(
            one.authenticate(&unsigned_bearer, None).await,
            Err(GatewayError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn iam_callers_are_their_verified_identity() {
        let iam = Authenticator::new(&AuthMode::Iam, None, keys());
        let arn = "arn:aws:iam::123456789012:role/app";
        let tenant = iam
            .authenticate(&HeaderMap::new(), Some(arn))
            .await
            .expect("identity");
        assert_eq!(tenant.id, iam_tenant(arn));
        assert!(tenant.id.starts_with("iam_") && !tenant.id.contains("123456789012"));
        // A key is no substitute for the identity.
        assert!(matches!(
            iam.authenticate(
                &headers(&[("authorization", "Bearer key-aaaaaaaaaaaaaaaa")]),
                None
            )
            .await,
            Err(GatewayError::IamIdentityRequired)
        ));
    }

    #[tokio::test]
    async fn the_operator_key_opens_operator_endpoints_only() {
        let gate = auth(&["key-aaaaaaaaaaaaaaaa"], Some("admin-0123456789abcdef"));
        let admin = headers(&[("authorization", "Bearer admin-0123456789abcdef")]);
        let client = headers(&[("authorization", "Bearer key-aaaaaaaaaaaaaaaa")]);
        assert!(gate.operator(&admin, true).await.is_ok());
        assert!(matches!(
            gate.operator(&client, true).await,
            Err(GatewayError::Forbidden { .. })
        ));
        assert!(matches!(
            gate.operator(&HeaderMap::new(), false).await,
            Err(GatewayError::Unauthorized)
        ));
        assert!(matches!(
            gate.authenticate(&admin, None).await,
            Err(GatewayError::Forbidden { .. })
        ));
        // No operator key: metrics are closed once client keys exist.
        let none = auth(&["key-aaaaaaaaaaaaaaaa"], None);
        assert!(none.operator(&client, false).await.is_err());
    }

    #[tokio::test]
    async fn open_modes_let_everyone_in() {
        for mode in [AuthMode::Unset, AuthMode::Disabled] {
            let open = Authenticator::new(&mode, None, keys());
            let tenant = open
                .authenticate(&HeaderMap::new(), None)
                .await
                .expect("open");
            assert_eq!(tenant.id, "anonymous");
            assert!(open.operator(&HeaderMap::new(), false).await.is_ok());
            assert!(open.operator(&HeaderMap::new(), true).await.is_err());
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
