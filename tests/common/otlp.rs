//! An OTLP/HTTP trace receiver on loopback: decodes each
//! `ExportTraceServiceRequest` with the `opentelemetry-proto` types and
//! keeps the spans, flattened, for assertions.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A received span, ids as hex.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// OTLP kind: 1 internal, 2 server, 3 client.
    pub kind: i32,
    pub start_ns: u64,
    pub end_ns: u64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
    pub attributes: BTreeMap<String, Value>,
    pub events: Vec<String>,
    /// The exporting process's resource attributes.
    pub resource: BTreeMap<String, Value>,
}

impl SpanRecord {
    /// A string attribute, or "" when absent.
    pub fn attr(&self, key: &str) -> String {
        match self.attributes.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }
}

/// The receiver: `endpoint()` is what `OTEL_EXPORTER_OTLP_ENDPOINT` takes.
pub struct OtlpReceiver {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<SpanRecord>>>,
    pub exports: Arc<Mutex<usize>>,
}

fn value(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(value).collect()),
        _ => Value::Null,
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, value)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans: Arc<Mutex<Vec<SpanRecord>>> = Arc::default();
        let exports: Arc<Mutex<usize>> = Arc::default();
        let (kept, counted) = (spans.clone(), exports.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (kept, counted) = (kept.clone(), counted.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let (kept, counted) = (kept.clone(), counted.clone());
                        async move {
                            let path = request.uri().path().to_owned();
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let decoded = ExportTraceServiceRequest::decode(body.as_ref());
                            let status = match (path.as_str(), decoded) {
                                ("/v1/traces", Ok(export)) => {
                                    *counted.lock().expect("lock") += 1;
                                    let mut out = kept.lock().expect("lock");
                                    for rs in export.resource_spans {
                                        let resource = rs
                                            .resource
                                            .as_ref()
                                            .map(|r| attributes(&r.attributes))
                                            .unwrap_or_default();
                                        for ss in rs.scope_spans {
                                            for s in ss.spans {
                                                out.push(SpanRecord {
                                                    name: s.name.clone(),
                                                    trace_id: hex(&s.trace_id),
                                                    span_id: hex(&s.span_id),
                                                    parent_span_id: hex(&s.parent_span_id),
                                                    kind: s.kind,
                                                    start_ns: s.start_time_unix_nano,
                                                    end_ns: s.end_time_unix_nano,
                                                    status: s
                                                        .status
                                                        .as_ref()
                                                        .map_or(0, |st| st.code),
                                                    attributes: attributes(&s.attributes),
                                                    events: s
                                                        .events
                                                        .iter()
                                                        .map(|e| e.name.clone())
                                                        .collect(),
                                                    resource: resource.clone(),
                                                });
                                            }
                                        }
                                    }
                                    200
                                }
                                _ => 400,
                            };
                            let reply = ExportTraceServiceResponse::default().encode_to_vec();
                            let response = Response::builder()
                                .status(status)
                                .header("content-type", "application/x-protobuf")
                                .body(Full::new(Bytes::from(reply)))
                                .expect("response");
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            spans,
            exports,
        }
    }

    /// `http://ADDR` (the exporter appends `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.spans.lock().expect("lock").clone()
    }

    /// The spans of one trace, waiting up to `within` until `done` holds.
    pub async fn trace(
        &self,
        trace_id: &str,
        within: Duration,
        done: impl Fn(&[SpanRecord]) -> bool,
    ) -> Vec<SpanRecord> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let spans: Vec<SpanRecord> = self
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect();
            if done(&spans) || tokio::time::Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
