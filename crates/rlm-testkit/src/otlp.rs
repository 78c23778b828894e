//! [`OtlpReceiver`]: an OTLP/HTTP trace receiver stub on 127.0.0.1 that accepts
//! `POST /v1/traces` with protobuf bodies (what `opentelemetry-otlp`'s `http-proto` exporter
//! sends), decodes them with `opentelemetry-proto`'s types and keeps every span and raw body.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::http;

/// The path the receiver accepts.
pub const TRACES_PATH: &str = "/v1/traces";

/// One span as received, with ids in lower-case hex.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The resource's `service.name`.
    pub service_name: Option<String>,
    /// The instrumentation scope's name.
    pub scope: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits; `None` for a root span.
    pub parent_span_id: Option<String>,
    /// The span's name.
    pub name: String,
    /// OTLP's span kind (1 internal, 2 server, 3 client, ...).
    pub kind: i32,
    /// The attributes, values as JSON (strings, integers, floats, booleans, arrays).
    pub attributes: BTreeMap<String, Value>,
    /// The events: name and attributes.
    pub events: Vec<(String, BTreeMap<String, Value>)>,
    /// OTLP's status code (0 unset, 1 ok, 2 error) and message.
    pub status: (i32, String),
}

impl ReceivedSpan {
    /// An attribute as text (strings as they are, other values as JSON).
    pub fn attr(&self, key: &str) -> Option<String> {
        self.attributes.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// An integer attribute.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }
}

/// What the receiver got.
#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    bodies: Vec<Vec<u8>>,
    /// Requests refused (wrong path, method or body), as `METHOD PATH: reason`.
    refused: Vec<String>,
}

/// An OTLP/HTTP trace receiver on `127.0.0.1` and an ephemeral port.
///
/// ```no_run
/// # async fn demo() {
/// let receiver = rlm_testkit::OtlpReceiver::start().await;
/// // Export to receiver.base_url() (`http://127.0.0.1:PORT`; the exporter adds /v1/traces).
/// let chats: Vec<_> = receiver.spans().into_iter().filter(|s| s.name.starts_with("chat ")).collect();
/// # let _ = chats;
/// # }
/// ```
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    cancel: CancellationToken,
}

impl OtlpReceiver {
    /// Binds 127.0.0.1 on an ephemeral port and starts accepting.
    pub async fn start() -> Self {
        let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await {
            Ok(listener) => listener,
            Err(e) => panic!("otlp receiver: could not bind 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("otlp receiver: no local address: {e}"),
        };
        let received = Arc::new(Mutex::new(Received::default()));
        let cancel = CancellationToken::new();
        tokio::spawn(accept_loop(listener, received.clone(), cancel.clone()));
        Self {
            addr,
            received,
            cancel,
        }
    }

    /// The base URL, `http://127.0.0.1:PORT` (an exporter appends `/v1/traces`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.clone()
    }

    /// Every request body received so far, undecoded (to look for strings that must not be
    /// there).
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.lock().bodies.clone()
    }

    /// The requests refused so far (`METHOD PATH: reason`).
    pub fn refused(&self) -> Vec<String> {
        self.lock().refused.clone()
    }

    /// Waits until `check` holds for the spans received, polling every 20 ms for at most
    /// `within`; returns the spans either way (the caller asserts on them).
    pub async fn wait_for(
        &self,
        within: Duration,
        check: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let spans = self.spans();
            if check(&spans) || tokio::time::Instant::now() >= until {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    received: Arc<Mutex<Received>>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let received = received.clone();
                    let cancel = cancel.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = cancel.cancelled() => {}
                            () = serve(stream, received) => {}
                        }
                    });
                }
            }
        }
    }
}

async fn serve(mut stream: TcpStream, received: Arc<Mutex<Received>>) {
    let mut buf = Vec::new();
    while let Ok(Some(request)) = http::read_request(&mut stream, &mut buf).await {
        let status = handle(&request, &received);
        // An empty body is an empty `ExportTraceServiceResponse`: full success.
        let head = http::response_head(
            status,
            &[("content-type".into(), "application/x-protobuf".into())],
            0,
        );
        if stream.write_all(&head).await.is_err() || request.close {
            return;
        }
    }
}

fn handle(request: &http::RawRequest, received: &Mutex<Received>) -> u16 {
    let mut received = received.lock().unwrap_or_else(|e| e.into_inner());
    let mut refuse = |status: u16, reason: &str| {
        received
            .refused
            .push(format!("{} {}: {reason}", request.method, request.path));
        status
    };
    if request.method != "POST" || request.path != TRACES_PATH {
        return refuse(404, "not the traces endpoint");
    }
    let content_type = request
        .headers
        .iter()
        .find(|(name, _)| name == "content-type")
        .map(|(_, value)| value.as_str());
    if content_type != Some("application/x-protobuf") {
        return refuse(415, "not a protobuf body");
    }
    let Ok(export) = ExportTraceServiceRequest::decode(request.body.as_slice()) else {
        return refuse(400, "the body does not decode");
    };
    let mut received_now = Vec::new();
    for resource_spans in export.resource_spans {
        let service_name = resource_spans.resource.as_ref().and_then(|r| {
            attributes(&r.attributes)
                .get("service.name")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
            for span in scope_spans.spans {
                received_now.push(ReceivedSpan {
                    service_name: service_name.clone(),
                    scope: scope.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    name: span.name,
                    kind: span.kind,
                    attributes: attributes(&span.attributes),
                    events: span
                        .events
                        .iter()
                        .map(|e| (e.name.clone(), attributes(&e.attributes)))
                        .collect(),
                    status: span
                        .status
                        .map_or((0, String::new()), |s| (s.code, s.message)),
                });
            }
        }
    }
    received.spans.extend(received_now);
    received.bodies.push(request.body.clone());
    200
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(Value::Null, json_of),
            )
        })
        .collect()
}

fn json_of(value: &AnyValue) -> Value {
    match &value.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(json_of).collect())
        }
        Some(any_value::Value::KvlistValue(kvs)) => {
            Value::Object(attributes(&kvs.values).into_iter().collect())
        }
        Some(any_value::Value::BytesValue(b)) => json!(hex(b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
