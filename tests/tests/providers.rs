//! One conformance suite for every provider: the same cases run against `rlm-openai`,
//! `rlm-anthropic` and `rlm-gemini` through `Arc<dyn LanguageModel>`, each over real loopback
//! HTTP against the testkit's fake server speaking that provider's wire format.
//!
//! A provider is one line in [`providers`]: its name, its wire format (which picks the
//! testkit's reply builders) and a factory that builds its client for a server and a key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use rlm_anthropic::AnthropicClient;
use rlm_core::{CompletionRequest, LanguageModel, LlmError, Message, Usage};
use rlm_gemini::GeminiClient;
use rlm_limits::RetryPolicy;
use rlm_openai::OpenAiClient;
use rlm_testkit::{FakeServer, Reply, Script, Wire};

const MODEL: &str = "conformance-model";
const KEY: &str = "conformance-SENTINEL-key-42";

type Factory = fn(&FakeServer, &str) -> Arc<dyn LanguageModel>;

/// A provider under test.
struct Provider {
    name: &'static str,
    /// Its OpenTelemetry `gen_ai.provider.name`.
    otel_name: &'static str,
    wire: Wire,
    client: Factory,
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        call_timeout: Some(Duration::from_secs(30)),
        ..RetryPolicy::default()
    }
}

#[rustfmt::skip]
fn providers() -> Vec<Provider> {
    vec![
        Provider { name: "openai", otel_name: "openai", wire: Wire::OpenAi, client: |s, key| Arc::new(OpenAiClient::builder(MODEL).base_url(s.base_url()).api_key(key).retry_policy(policy()).build().unwrap()) },
        Provider { name: "anthropic", otel_name: "anthropic", wire: Wire::Anthropic, client: |s, key| Arc::new(AnthropicClient::builder(MODEL).base_url(s.url()).api_key(key).retry_policy(policy()).build().unwrap()) },
        Provider { name: "gemini", otel_name: "gcp.gemini", wire: Wire::Gemini, client: |s, key| Arc::new(GeminiClient::builder(MODEL).base_url(s.url()).api_key(key).retry_policy(policy()).build().unwrap()) },
    ]
}

/// The provider's replies, from the testkit's builders for its wire format.
impl Provider {
    fn text(&self, text: &str) -> Reply {
        Reply::completion(self.wire, text)
    }

    /// An error response in the provider's shape.
    fn error(&self, status: u16, message: &str) -> Reply {
        error_reply(self.wire, status, message)
    }

    /// The provider's own way of saying the prompt does not fit.
    fn context_length(&self) -> Reply {
        match self.wire {
            Wire::OpenAi => Reply::openai_error(
                400,
                "context_length_exceeded",
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 131000 tokens.",
            ),
            Wire::Anthropic => self.error(400, "prompt is too long: 209353 tokens > 200000 maximum"),
            Wire::Gemini => self.error(
                400,
                "The input token count (1358426) exceeds the maximum number of tokens allowed (1048576).",
            ),
            other => panic!("no context error for {other:?}"),
        }
    }

    /// An HTTP 200 whose answer the provider's content filter withheld.
    fn content_filter(&self) -> Reply {
        let reason = match self.wire {
            Wire::OpenAi => "content_filter",
            Wire::Anthropic => "refusal",
            Wire::Gemini => "SAFETY",
            other => panic!("no content filter for {other:?}"),
        };
        self.text("").finish_reason(Some(reason))
    }

    /// The account is out of money (not a rate limit).
    fn quota(&self) -> Reply {
        match self.wire {
            Wire::OpenAi => {
                Reply::openai_error(429, "insufficient_quota", "You exceeded your current quota")
            }
            Wire::Anthropic => self.error(
                429,
                "This request would exceed your account's monthly spend limit. Please try again later.",
            ),
            Wire::Gemini => self.error(
                429,
                "Your prepayment credits are depleted. Please go to AI Studio to manage your project and billing.",
            ),
            other => panic!("no quota error for {other:?}"),
        }
    }
}

/// An error response in the shape of `wire`.
fn error_reply(wire: Wire, status: u16, message: &str) -> Reply {
    match wire {
        Wire::OpenAi => Reply::openai_error(status, error_kind(status), message),
        Wire::Anthropic => Reply::anthropic_error(status, anthropic_kind(status), message),
        Wire::Gemini => Reply::gemini_error(status, google_status(status), message),
        other => panic!("no error shape for {other:?}"),
    }
}

fn error_kind(status: u16) -> &'static str {
    match status {
        401 => "invalid_api_key",
        429 => "rate_limit_exceeded",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

fn anthropic_kind(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn google_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        500..=599 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

fn request() -> CompletionRequest {
    CompletionRequest::new(vec![Message::system("Be brief."), Message::user("hello")])
}

/// One call of `provider` against `script`; returns the result and the server.
async fn call(
    provider: &Provider,
    script: impl Into<Script>,
) -> (Result<rlm_core::CompletionResponse, LlmError>, FakeServer) {
    let server = FakeServer::start(script).await;
    let model = (provider.client)(&server, KEY);
    assert_eq!(model.model_name(), MODEL, "{}", provider.name);
    assert_eq!(
        model.provider_name(),
        provider.otel_name,
        "{}",
        provider.name
    );
    let result = model.complete(request()).await;
    (result, server)
}

#[tokio::test]
async fn plain_completion_with_usage() {
    for p in providers() {
        let reply = p.text("hi there").usage(120, 7).cached_tokens(100);
        let (result, server) = call(&p, reply).await;
        let response = result.unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_eq!(response.text, "hi there", "{}", p.name);
        assert_eq!(response.model, MODEL, "{}", p.name);
        assert_eq!(
            response.usage,
            Usage {
                input_tokens: 120,
                output_tokens: 7,
                cached_tokens: 100,
                cost: None,
                calls: 1,
            },
            "{}",
            p.name
        );
        let sent = &server.requests()[0];
        assert_eq!(sent.method, "POST", "{}", p.name);
        assert_eq!(sent.model(), Some(MODEL), "{}", p.name);
        assert_eq!(
            sent.message_contents().last().map(String::as_str),
            Some("hello"),
            "{}",
            p.name
        );
        assert!(
            sent.headers.iter().any(|(_, v)| v.contains(KEY)),
            "{}: the key was not sent",
            p.name
        );
        assert!(!sent.path.contains(KEY), "{}: key in the URL", p.name);
    }
}

#[tokio::test]
async fn a_500_then_success_is_retried() {
    for p in providers() {
        let script = Script::queue([p.error(500, "internal error")]).then_fn({
            let ok = p.text("recovered");
            move |_| ok.clone()
        });
        let (result, server) = call(&p, script).await;
        assert_eq!(
            result.map(|r| r.text).map_err(|e| e.to_string()),
            Ok("recovered".to_string()),
            "{}",
            p.name
        );
        assert_eq!(server.request_count(), 2, "{}", p.name);
    }
}

#[tokio::test]
async fn a_401_is_a_typed_authentication_error_and_not_retried() {
    for p in providers() {
        let (result, server) = call(&p, Script::always(p.error(401, "invalid api key"))).await;
        match &result {
            Err(e @ LlmError::Authentication { status: 401, .. }) => {
                assert!(e.is_fatal_for_run(), "{}", p.name)
            }
            other => panic!("{}: {other:?}", p.name),
        }
        assert_eq!(server.request_count(), 1, "{}", p.name);
    }
}

#[tokio::test]
async fn exhausted_quota_is_typed_and_not_retried() {
    for p in providers() {
        let (result, server) = call(&p, Script::always(p.quota())).await;
        assert!(
            matches!(result, Err(LlmError::QuotaExhausted { .. })),
            "{}: {result:?}",
            p.name
        );
        assert_eq!(server.request_count(), 1, "{}", p.name);
    }
}

#[tokio::test]
async fn the_key_never_appears_in_errors() {
    for p in providers() {
        // Every header value the server got (the key among them, whatever its header) comes
        // back in the error body, for each kind of error.
        for status in [400, 401, 403, 404, 429, 500] {
            let wire = p.wire;
            let echo = Script::from_fn(move |req| {
                let all: Vec<&str> = req.headers.iter().map(|(_, v)| v.as_str()).collect();
                error_reply(wire, status, &format!("echo {}", all.join(" ")))
            });
            let (result, _server) = call(&p, echo).await;
            let err = result.expect_err(p.name);
            for shown in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
                assert!(!shown.contains(KEY), "{} {status}: {shown}", p.name);
            }
        }
    }
}

#[tokio::test]
async fn context_length_is_typed_and_not_retried() {
    for p in providers() {
        let (result, server) = call(&p, Script::always(p.context_length())).await;
        assert!(
            matches!(result, Err(LlmError::ContextLengthExceeded { .. })),
            "{}: {result:?}",
            p.name
        );
        assert_eq!(server.request_count(), 1, "{}", p.name);
    }
}

#[tokio::test]
async fn content_filter_is_typed() {
    for p in providers() {
        let (result, server) = call(&p, Script::always(p.content_filter())).await;
        assert_eq!(result, Err(LlmError::ContentFilter), "{}", p.name);
        assert_eq!(server.request_count(), 1, "{}", p.name);
    }
}
