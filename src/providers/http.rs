//! The HTTP side every adapter shares: the pooled clients, timeouts, and the
//! mapping of transport failures and error bodies to `GatewayError`.

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;

use super::clients::{InFlight, Lanes};
use super::{ProviderId, redact};
use crate::config::{Secret, Timeouts};
use crate::error::GatewayError;

/// How an adapter reaches its provider.
#[derive(Clone)]
pub struct Upstream {
    /// Which provider this is.
    pub id: ProviderId,
    /// The process's pooled clients, with this provider's requests in
    /// flight on each.
    pub http: Lanes,
    /// Time limits of calls.
    pub timeouts: Timeouts,
    /// The provider key (redacted from every message that leaves; empty
    /// for keyless providers).
    pub api_key: Secret,
    /// Extra headers sent on every call (`[providers.NAME] headers`).
    pub headers: HeaderMap,
}

/// A 2xx response, counted in flight on its lane until dropped: keep it
/// while the body is read.
#[derive(Debug)]
pub struct Answer {
    /// The response, its body not yet read.
    pub response: reqwest::Response,
    /// The lane's count of this request.
    pub in_flight: InFlight,
}

impl Upstream {
    /// An upstream with clients of its own and default client settings
    /// (tests and benchmarks; the gateway shares one set of clients).
    pub fn standalone(
        id: ProviderId,
        timeouts: Timeouts,
        api_key: Secret,
    ) -> Result<Self, reqwest::Error> {
        use super::clients::{ClientSettings, HttpClients};
        let clients = std::sync::Arc::new(HttpClients::new(ClientSettings::default())?);
        Ok(Self {
            id,
            http: clients.counters(),
            timeouts,
            api_key,
            headers: HeaderMap::new(),
        })
    }

    /// One-second timeouts (unit tests).
    #[cfg(test)]
    pub fn for_tests(id: ProviderId, key: &str) -> Self {
        let second = std::time::Duration::from_secs(1);
        let timeouts = Timeouts {
            first_byte: second,
            total: second,
            idle: second,
        };
        Self::standalone(id, timeouts, Secret::new(key)).expect("client builds")
    }

    /// Sends a prepared request. Resolves with a 2xx response (the body not
    /// yet read) or the provider's error mapped to a `GatewayError`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        stream: bool,
    ) -> Result<Answer, GatewayError> {
        let request = if self.headers.is_empty() {
            request
        } else {
            request.headers(self.headers.clone())
        };
        // The attempt's span continues in the provider (W3C traceparent).
        let request = if crate::traces::enabled() {
            let mut trace = HeaderMap::new();
            crate::traces::inject(&mut trace);
            request.headers(trace)
        } else {
            request
        };
        // Non-streaming answers arrive with their headers, so only the total
        // bounds them; a stream must at least start within the first-byte limit.
        let (request, headers_within) = if stream {
            (request, self.timeouts.first_byte)
        } else {
            (request.timeout(self.timeouts.total), self.timeouts.total)
        };
        let request = request.build().map_err(|e| self.transport_error(e))?;
        let (client, in_flight) = self.http.pick();
        let response = tokio::time::timeout(headers_within, client.execute(request))
            .await
            .map_err(|_| GatewayError::UpstreamTimeout { provider: self.id })?
            .map_err(|e| self.transport_error(e))?;
        if response.status().is_success() {
            return Ok(Answer {
                response,
                in_flight,
            });
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // Only the head of an error body is read: it holds the message.
        let body = tokio::time::timeout(
            self.timeouts.first_byte,
            read_capped(response, MAX_ERROR_BODY_BYTES, true),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        Err(self.error_from_body(status, &headers, &body))
    }

    /// Reads a whole 2xx body as `T`; a body that is not `T` is a protocol error.
    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        answer: Answer,
    ) -> Result<T, GatewayError> {
        self.read_json_capped(answer, MAX_BODY_BYTES).await
    }

    /// [`Self::read_json`] with a smaller cap.
    pub async fn read_json_capped<T: serde::de::DeserializeOwned>(
        &self,
        answer: Answer,
        limit: usize,
    ) -> Result<T, GatewayError> {
        let bytes = read_capped(answer.response, limit, false)
            .await
            .map_err(|e| match e {
                Capped::Transport(e) => self.transport_error(e),
                Capped::TooLarge => {
                    self.protocol(format!("the response is larger than {limit} bytes"))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.protocol(format!("unexpected response body: {e}")))
    }

    /// Maps an error status and body. All three providers put a message at
    /// `error.message`; Gemini's `status` and retry delay are used too.
    pub fn error_from_body(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        let envelope = serde_json::from_slice::<ErrorEnvelope>(body).ok();
        let detail = envelope.as_ref().map(|e| &e.error);
        let message = match detail.and_then(|d| d.message.as_deref()) {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => {
                let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
                if text.trim().is_empty() {
                    format!("HTTP {status} with no error body")
                } else {
                    text
                }
            }
        };
        // Gemini answers a bad key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
        let key_rejected = detail.is_some_and(|d| {
            d.details
                .iter()
                .any(|x| x.get("reason").and_then(|r| r.as_str()) == Some("API_KEY_INVALID"))
        });
        let status = if key_rejected { 401 } else { status };
        // Azure OpenAI's content filter refusing the prompt.
        if detail
            .is_some_and(|d| d.code.as_ref().and_then(|c| c.as_str()) == Some("content_filter"))
        {
            return GatewayError::ContentFiltered {
                provider: self.id,
                message: client_text(status, &redact(&message, self.api_key.expose())),
            };
        }
        let retry_after =
            retry_after(headers).or_else(|| detail.and_then(ErrorDetail::retry_delay));
        GatewayError::Upstream {
            provider: self.id,
            status,
            message: client_text(status, &redact(&message, self.api_key.expose())),
            retry_after,
        }
    }

    /// A transport failure (connect, reset, timeout) as a gateway error.
    pub fn transport_error(&self, e: reqwest::Error) -> GatewayError {
        if e.is_timeout() {
            return GatewayError::UpstreamTimeout { provider: self.id };
        }
        let detail = if e.is_connect() {
            "connection failed".to_owned()
        } else if e.is_body() || e.is_decode() {
            "the connection was lost while reading the response".to_owned()
        } else {
            redact(&e.without_url().to_string(), self.api_key.expose())
        };
        GatewayError::UpstreamUnavailable {
            provider: self.id,
            detail,
        }
    }

    /// The provider broke its own wire format.
    pub fn protocol(&self, detail: impl Into<String>) -> GatewayError {
        GatewayError::UpstreamProtocol {
            provider: self.id,
            detail: detail.into(),
        }
    }

    /// An in-band error event inside a stream.
    pub fn stream_error(&self, status: u16, message: &str) -> GatewayError {
        GatewayError::Upstream {
            provider: self.id,
            status,
            message: client_text(status, &redact(message, self.api_key.expose())),
            retry_after: None,
        }
    }
}

/// Largest whole (non-streamed) answer read from a provider.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Most of an error body read: its message is at the start.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Longest provider error message passed on to clients.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Why a body was not read whole.
enum Capped {
    Transport(reqwest::Error),
    TooLarge,
}

/// Reads a body up to `limit` bytes: past it, the body is cut there
/// (`truncate`) or refused.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    truncate: bool,
) -> Result<bytes::Bytes, Capped> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Transport)? {
        if body.len() + chunk.len() > limit {
            if truncate {
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
            }
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A provider's error message as clients see it: quota and rate-limit
/// messages (which name organisations, projects and usage figures) become
/// a plain sentence; others lose every word that looks like an account,
/// project or organisation id, and are cut to [`MAX_MESSAGE_CHARS`].
pub fn client_text(status: u16, message: &str) -> String {
    if status == 429 {
        return "the provider's rate limit or quota for the gateway's account is reached".into();
    }
    let id_like = |word: &str| {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let lower = w.to_ascii_lowercase();
        [
            "org-",
            "org_",
            "proj_",
            "proj-",
            "project_",
            "user-",
            "user_",
            "acct_",
            "projects/",
            "organizations/",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
            || lower.contains("project_number")
            || w.len() >= 9 && w.bytes().all(|b| b.is_ascii_digit())
    };
    let mut out = String::new();
    for word in message.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(if id_like(word) { "[redacted]" } else { word });
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        out = out.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
    }
    out
}

/// A header value that must not show up in debug output.
pub fn sensitive_header(value: &str) -> Result<HeaderValue, GatewayError> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| GatewayError::Internal("provider key is not a valid header value".into()))?;
    header.set_sensitive(true);
    Ok(header)
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
    /// A string (`"content_filter"`) for OpenAI and Azure, a number for Gemini.
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    details: Vec<serde_json::Value>,
}

impl ErrorDetail {
    /// Gemini's `RetryInfo.retryDelay` ("30s"), rounded up to whole seconds.
    fn retry_delay(&self) -> Option<u64> {
        self.details.iter().find_map(|d| {
            let delay = d.get("retryDelay")?.as_str()?.strip_suffix('s')?;
            delay.parse::<f64>().ok().map(|s| s.ceil().max(0.0) as u64)
        })
    }
}

/// `Retry-After` in seconds (or OpenAI's `retry-after-ms`), rounded up.
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some((ms / 1000.0).ceil().max(0.0) as u64);
    }
    get(RETRY_AFTER.as_str()).and_then(|v| v.trim().parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(id: ProviderId, key: &str) -> Upstream {
        Upstream::for_tests(id, key)
    }

    #[test]
    fn error_text_carries_no_account_details() {
        let openai = "Rate limit reached for gpt-4o in organization org-AbC123xyz on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.";
        let text = client_text(429, openai);
        assert!(!text.contains("org-") && !text.contains("30000"), "{text}");
        let gemini = "Permission denied on resource project projects/123456789012 for consumer 'project_number:123456789012'.";
        let text = client_text(403, gemini);
        assert!(!text.contains("123456789012"), "{text}");
        assert!(text.starts_with("Permission denied on resource project"));
        let useful = "This model's maximum context length is 128000 tokens.";
        assert_eq!(client_text(400, useful), useful);
        let long = "word ".repeat(500);
        assert!(client_text(400, &long).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_a_cap() {
        let response = |n: usize| reqwest::Response::from(http::Response::new(vec![b'x'; n]));
        let whole = read_capped(response(100), 100, false).await;
        assert_eq!(whole.ok().map(|b| b.len()), Some(100));
        assert!(matches!(
            read_capped(response(101), 100, false).await,
            Err(Capped::TooLarge)
        ));
        let cut = read_capped(response(5000), 100, true).await;
        assert_eq!(cut.ok().map(|b| b.len()), Some(100));
    }

    fn parts(err: GatewayError) -> (u16, String, Option<u64>) {
        match err {
            GatewayError::Upstream {
                status,
                message,
                retry_after,
                ..
            } => (status, message, retry_after),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn openai_error_is_parsed_and_redacted() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-live-abcdefghijkl","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let (status, message, retry) = parts(
            upstream(ProviderId::OPENAI, "sk-live-abcdefghijkl")
                .error_from_body(401, &headers, body),
        );
        assert_eq!(status, 401);
        assert_eq!(message, "Incorrect API key provided: [redacted]");
        assert_eq!(retry, Some(3));
    }

    #[test]
    fn anthropic_overloaded_keeps_its_status() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let (status, message, _) = parts(upstream(ProviderId::ANTHROPIC, "k").error_from_body(
            529,
            &HeaderMap::new(),
            body,
        ));
        assert_eq!((status, message.as_str()), (529, "Overloaded"));
    }

    #[test]
    fn gemini_bad_key_is_an_auth_failure_and_retry_delay_is_read() {
        let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        let (status, _, _) =
            parts(upstream(ProviderId::GEMINI, "k").error_from_body(400, &HeaderMap::new(), body));
        assert_eq!(status, 401);
        let body = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"27.5s"}]}}"#;
        let (status, _, retry) =
            parts(upstream(ProviderId::GEMINI, "k").error_from_body(429, &HeaderMap::new(), body));
        assert_eq!((status, retry), (429, Some(28)));
    }

    #[test]
    fn azure_content_filter_is_its_own_error() {
        let body = br#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}"#;
        let err = upstream(ProviderId::OPENAI, "k").error_from_body(400, &HeaderMap::new(), body);
        assert!(
            matches!(err, GatewayError::ContentFiltered { .. }),
            "{err:?}"
        );
        assert_eq!(err.status().as_u16(), 400);
        assert!(!err.is_retryable());
        let body = serde_json::to_value(err.body()).expect("json");
        assert_eq!(body["error"]["code"], "content_filter");
        assert_eq!(body["error"]["param"], "prompt");
    }

    #[test]
    fn retry_after_ms_wins_and_rounds_up() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        headers.insert("retry-after", HeaderValue::from_static("9"));
        assert_eq!(retry_after(&headers), Some(2));
    }

    #[test]
    fn non_json_error_body_is_kept_short() {
        let body = "x".repeat(1000);
        let (_, message, _) = parts(upstream(ProviderId::OPENAI, "k").error_from_body(
            502,
            &HeaderMap::new(),
            body.as_bytes(),
        ));
        assert_eq!(message.len(), 200);
    }
}
