//! [`GenAiSpans`]: the last touch before export. It gives each LLM-call span its GenAI
//! semantic-convention name and kind, marks failed calls, and drops secret-looking attributes.
//!
//! The runtime's `tracing` spans keep their stable names (`gen_ai.chat`, which logs and
//! `RUST_LOG` filters use); the OpenTelemetry conventions want the span named
//! `{gen_ai.operation.name} {gen_ai.request.model}` (`chat gpt-5-mini`) with kind `CLIENT`,
//! and a failed call to carry `error.type` and an error status. Doing that here, on the ended
//! span, keeps one name per purpose: the log name for logs, the convention's name on the wire.

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use rlm_limits::spans;

/// The message of the event [`rlm_limits::Traced`] records in a failed call's span.
const FAILED_CALL_EVENT: &str = "llm call failed";

/// Attribute names (their last dot-separated part, lower-cased) never exported: a key or a
/// credential has no business in a span, whatever code put it there.
const SECRET_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "api_key",
    "api-key",
    "apikey",
    "x-api-key",
    "x-goog-api-key",
    "key",
    "password",
    "secret",
    "token",
    "access_token",
    "bearer",
    "cookie",
];

/// Integer attributes that `tracing-opentelemetry` exports as text when they are recorded after
/// the span opened (usage, retry attempt): the conventions want integers.
const INTEGER_ATTRIBUTES: &[&str] = &[
    spans::INPUT_TOKENS,
    spans::OUTPUT_TOKENS,
    "gen_ai.usage.cache_read.input_tokens",
    spans::RETRY_ATTEMPT,
    "rlm.depth",
    "rlm.iteration",
    "code.bytes",
];

/// A [`SpanProcessor`] that rewrites ended spans as the GenAI conventions want them, then hands
/// them to the wrapped processor (the batch exporter).
#[derive(Debug)]
pub struct GenAiSpans<P> {
    inner: P,
}

impl<P> GenAiSpans<P> {
    /// Wraps `inner`, which receives every span after the rewrite.
    pub fn new(inner: P) -> Self {
        Self { inner }
    }
}

impl<P: SpanProcessor> SpanProcessor for GenAiSpans<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        rewrite(&mut span);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The rewrite of one ended span (see the module docs).
pub(crate) fn rewrite(span: &mut SpanData) {
    span.attributes.retain(|kv| !is_secret(&kv.key, &kv.value));
    for event in span.events.events.iter_mut() {
        event.attributes.retain(|kv| !is_secret(&kv.key, &kv.value));
    }
    for kv in span.attributes.iter_mut() {
        let key = kv.key.as_str();
        if INTEGER_ATTRIBUTES.contains(&key)
            && let Value::String(text) = &kv.value
            && let Ok(number) = text.as_str().parse::<i64>()
        {
            kv.value = Value::I64(number);
        } else if key == spans::FINISH_REASONS
            && let Value::String(text) = &kv.value
        {
            kv.value = Value::Array(opentelemetry::Array::String(vec![finish_reason(
                text.as_str(),
            )]));
        }
    }
    if span.name != spans::LLM_CALL {
        return;
    }
    let text = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    };
    let operation = text("gen_ai.operation.name").unwrap_or_else(|| "chat".to_string());
    span.name = Cow::Owned(match text("gen_ai.request.model") {
        Some(model) => format!("{operation} {model}"),
        None => operation,
    });
    span.span_kind = SpanKind::Client;
    let failure = span
        .events
        .events
        .iter()
        .find(|e| e.name == FAILED_CALL_EVENT)
        .map(|e| {
            e.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "error.kind")
                .map_or_else(|| "_OTHER".to_string(), |kv| kv.value.as_str().into_owned())
        });
    if let Some(kind) = failure {
        span.attributes
            .push(KeyValue::new("error.type", kind.clone()));
        if matches!(span.status, Status::Unset) {
            span.status = Status::error(kind);
        }
    }
}

/// The convention's finish reason (`stop`, `length`, `content_filter`, `tool_calls`) of the
/// runtime's `FinishReason` as `tracing` recorded it (its `Debug` form: `Stop`, `Other("x")`).
fn finish_reason(recorded: &str) -> opentelemetry::StringValue {
    if let Some(other) = recorded
        .strip_prefix("Other(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
    {
        return other.to_string().into();
    }
    let mut snake = String::new();
    for (i, c) in recorded.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            snake.push('_');
        }
        snake.push(c.to_ascii_lowercase());
    }
    snake.into()
}

/// Whether an attribute looks like a credential: by its name, or a value that is an HTTP
/// `Authorization` credential.
fn is_secret(key: &opentelemetry::Key, value: &Value) -> bool {
    let name = key
        .as_str()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if SECRET_NAMES.contains(&name.as_str()) {
        return true;
    }
    let Value::String(text) = value else {
        return false;
    };
    let text = text.as_str().trim_start();
    ["bearer ", "basic "].iter().any(|scheme| {
        text.len() >= scheme.len() && text[..scheme.len()].eq_ignore_ascii_case(scheme)
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use opentelemetry::InstrumentationScope;
    use opentelemetry::trace::{Event, SpanContext, SpanId};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    fn span(name: &'static str, attributes: Vec<KeyValue>, events: Vec<Event>) -> SpanData {
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(name),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes,
            dropped_attributes_count: 0,
            events: span_events,
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn keys(span: &SpanData) -> Vec<&str> {
        span.attributes.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[test]
    fn llm_call_spans_get_the_convention_name_and_kind() {
        let mut call = span(
            spans::LLM_CALL,
            vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", "gpt-5-mini"),
                KeyValue::new("gen_ai.usage.input_tokens", "12"),
                KeyValue::new("gen_ai.response.finish_reasons", "ContentFilter"),
            ],
            Vec::new(),
        );
        rewrite(&mut call);
        assert_eq!(call.name, "chat gpt-5-mini");
        assert_eq!(call.span_kind, SpanKind::Client);
        assert_eq!(call.status, Status::Unset);
        assert_eq!(
            call.attributes[2..],
            [
                KeyValue::new("gen_ai.usage.input_tokens", 12),
                KeyValue::new(
                    "gen_ai.response.finish_reasons",
                    Value::Array(vec![opentelemetry::StringValue::from("content_filter")].into())
                ),
            ]
        );
        assert_eq!(finish_reason("Other(\"eos\")").as_str(), "eos");
        assert_eq!(finish_reason("Stop").as_str(), "stop");

        let mut run = span(
            "rlm.run",
            vec![KeyValue::new("gen_ai.request.model", "m")],
            Vec::new(),
        );
        rewrite(&mut run);
        assert_eq!(
            (run.name.as_ref(), run.span_kind),
            ("rlm.run", SpanKind::Internal)
        );
    }

    #[test]
    fn a_failed_call_carries_error_type_and_an_error_status() {
        let failed = Event::new(
            FAILED_CALL_EVENT,
            SystemTime::UNIX_EPOCH,
            vec![
                KeyValue::new("error.kind", "rate_limit"),
                KeyValue::new("status", 429),
            ],
            0,
        );
        let mut call = span(
            spans::LLM_CALL,
            vec![KeyValue::new("gen_ai.request.model", "m")],
            vec![failed],
        );
        rewrite(&mut call);
        assert_eq!(call.name, "chat m");
        assert_eq!(call.status, Status::error("rate_limit"));
        assert!(
            call.attributes
                .contains(&KeyValue::new("error.type", "rate_limit"))
        );
    }

    #[test]
    fn secret_looking_attributes_never_leave() {
        let event = Event::new(
            "request",
            SystemTime::UNIX_EPOCH,
            vec![
                KeyValue::new("http.request.header.authorization", "Bearer sk-live"),
                KeyValue::new("note", "basic  dXNlcjpwYXNz"),
                KeyValue::new("retry", 1),
            ],
            0,
        );
        let mut s = span(
            "rlm.run",
            vec![
                KeyValue::new("api_key", "sk-1"),
                KeyValue::new("x-api-key", "sk-2"),
                KeyValue::new("header", "bearer sk-3"),
                KeyValue::new("gen_ai.usage.input_tokens", 3),
                KeyValue::new("gen_ai.request.model", "m"),
            ],
            vec![event],
        );
        rewrite(&mut s);
        assert_eq!(
            keys(&s),
            ["gen_ai.usage.input_tokens", "gen_ai.request.model"]
        );
        let event_keys: Vec<_> = s.events.events[0]
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(event_keys, ["retry"]);
    }
}
