//! The client over real loopback HTTP against the testkit's fake server speaking the Messages
//! API: the retry table of its error bodies, the headers sent, typed outcomes, and the endpoint
//! named in connect and timeout errors. Drops and plain statuses are the same for every
//! provider and are tested in `rlm-http`.
//!
//! Real time with 1 ms backoffs; assertions are on outcomes and request counts, not durations.
//! Where the wait itself matters (Retry-After honoured), the client's hidden `sleep_hook`
//! records the waits it asks for (tokio's paused clock does not work with real sockets).

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rlm_anthropic::{AnthropicBuilderExt, AnthropicClient};
use rlm_core::{
    CompletionRequest, CompletionResponse, FinishReason, LanguageModel, LlmError, Message, Sampling,
};
use rlm_http::RetryPolicy;
use rlm_testkit::provider_tests::{self, Outcome, Waits, fast_policy};
use rlm_testkit::{FakeServer, Reply, Script};
use serde_json::json;

fn client_with(server: &FakeServer, policy: RetryPolicy) -> AnthropicClient {
    AnthropicClient::builder("claude-test")
        .base_url(server.url())
        .api_key("sk-ant-test-key")
        .retry_policy(policy)
        .build()
        .unwrap()
}

/// Runs one call against `replies` (then `ok` forever) and checks the outcome and how many
/// requests the server saw.
async fn check(name: &str, replies: Vec<Reply>, expected: Outcome, expected_requests: u64) {
    provider_tests::check(ok, client_with, name, replies, expected, expected_requests).await;
}

fn ok() -> Reply {
    Reply::anthropic_text("ok")
}

#[tokio::test]
async fn retry_table() {
    use Outcome::*;
    let err = Reply::anthropic_error;
    let spend = Reply::status(
        429,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited",
               "details": {"error_code": "enforced_spend_limit_reached"}}})
        .to_string(),
    );
    let cases: Vec<(&str, Vec<Reply>, Outcome, u64)> = vec![
        (
            "429 rate limit retried",
            vec![err(
                429,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization",
            )],
            Ok,
            2,
        ),
        (
            "500 api_error retried",
            vec![err(500, "api_error", "Internal server error")],
            Ok,
            2,
        ),
        (
            "529 overloaded retried",
            vec![err(529, "overloaded_error", "Overloaded")],
            Ok,
            2,
        ),
        (
            "two overloads then ok",
            vec![
                err(529, "overloaded_error", "Overloaded"),
                err(529, "overloaded_error", "Overloaded"),
            ],
            Ok,
            3,
        ),
        (
            "retries exhausted returns the last error",
            vec![err(529, "overloaded_error", "Overloaded"); 3],
            Http(529),
            3,
        ),
        (
            "400 not retried",
            vec![err(
                400,
                "invalid_request_error",
                "max_tokens: Input should be a valid integer",
            )],
            Http(400),
            1,
        ),
        (
            "404 not retried",
            vec![err(404, "not_found_error", "model: claude-nope")],
            Http(404),
            1,
        ),
        (
            "401 authentication",
            vec![err(401, "authentication_error", "invalid x-api-key")],
            Auth(401),
            1,
        ),
        (
            "403 authentication",
            vec![err(403, "permission_error", "no access to model")],
            Auth(403),
            1,
        ),
        ("429 spend limit by code", vec![spend], Quota, 1),
        (
            "429 spend limit by message",
            vec![err(
                429,
                "rate_limit_error",
                "This request would exceed your account's monthly spend limit. Please try again later.",
            )],
            Quota,
            1,
        ),
        (
            "400 credit balance",
            vec![err(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
            )],
            Quota,
            1,
        ),
        (
            "400 prompt too long",
            vec![err(
                400,
                "invalid_request_error",
                "prompt is too long: 209353 tokens > 199999 maximum",
            )],
            Context,
            1,
        ),
        (
            "retry-after above cap fails fast",
            vec![err(429, "rate_limit_error", "slow down").header("retry-after", "3600")],
            TooLong,
            1,
        ),
        (
            "x-should-retry false on 529",
            vec![err(529, "overloaded_error", "Overloaded").header("x-should-retry", "false")],
            Http(529),
            1,
        ),
        (
            "200 overloaded error object retried",
            vec![Reply::json(
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            )],
            Ok,
            2,
        ),
        (
            "200 invalid request error object not retried",
            vec![Reply::json(
                json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}),
            )],
            Http(400),
            1,
        ),
        (
            "200 max_tokens",
            vec![Reply::anthropic_text("half an ans").finish_reason(Some("max_tokens"))],
            Truncated,
            1,
        ),
        (
            "200 refusal",
            vec![Reply::anthropic_text("").finish_reason(Some("refusal"))],
            Filter,
            1,
        ),
        ("200 no text", vec![Reply::anthropic_text("")], Empty, 1),
        (
            "200 html body",
            vec![Reply::raw("<html><body>Welcome to nginx</body></html>")],
            Invalid,
            1,
        ),
    ];
    for (name, replies, expected, requests) in cases {
        check(name, replies, expected, requests).await;
    }
}

#[tokio::test]
async fn success_sends_the_messages_request_and_decodes_usage() {
    let server = FakeServer::start(
        Reply::anthropic_text("4")
            .usage(3000, 1)
            .cached_tokens(2000)
            .cache_creation_tokens(500),
    )
    .await;
    let client = AnthropicClient::builder("claude-default")
        .base_url(server.url())
        .api_key("sk-ant-test-key")
        .header("anthropic-beta", "context-1m-2025-08-07")
        .max_tokens(1024)
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    assert_eq!(client.model_name(), "claude-default");
    assert_eq!(client.wire().max_tokens(), 1024);
    let req = CompletionRequest {
        messages: vec![Message::system("Be brief."), Message::user("2+2?")],
        sampling: Sampling {
            temperature: Some(0.0),
            ..Sampling::default()
        },
        ..CompletionRequest::default()
    }
    .with_model("claude-override");
    let resp = client.complete(req).await.unwrap();
    assert_eq!(resp.text, "4");
    assert_eq!(resp.model, "claude-override");
    assert_eq!(resp.finish_reason, FinishReason::Stop);
    assert_eq!(
        (
            resp.usage.input_tokens,
            resp.usage.output_tokens,
            resp.usage.cached_tokens
        ),
        (3000, 1, 2000)
    );

    let sent = &server.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test-key"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("anthropic-beta"), Some("context-1m-2025-08-07"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert!(
        sent.header("user-agent")
            .is_some_and(|ua| ua.starts_with("rlm-anthropic/"))
    );
    assert_eq!(
        sent.json,
        Some(
            json!({"model": "claude-override", "max_tokens": 1024, "system": "Be brief.",
                    "messages": [{"role": "user", "content": "2+2?"}], "temperature": 0.0})
        )
    );
}

#[tokio::test]
async fn connect_refused_is_a_connect_error_naming_the_url() {
    let base = provider_tests::refused_base_url();
    let client = AnthropicClient::builder("m")
        .base_url(&base)
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    provider_tests::assert_connect_error(&client, &format!("{base}/v1/messages")).await;
}

#[tokio::test]
async fn stall_ends_in_timeout_at_the_call_deadline() {
    provider_tests::assert_stall_times_out(client_with, "/v1/messages").await;
}

/// A call whose waits between attempts are recorded (and skipped) through the client's test
/// hook: returns the result, the waits the client asked for, and the request count.
async fn recorded_call(
    replies: Vec<Reply>,
    policy: RetryPolicy,
) -> (Result<CompletionResponse, LlmError>, Vec<Duration>, u64) {
    let build = |server: &FakeServer, waits: &Waits| {
        AnthropicClient::builder("claude-test")
            .base_url(server.url())
            .retry_policy(policy)
            .sleep_hook(waits.hook())
            .build()
            .unwrap()
    };
    provider_tests::recorded_call(ok, build, replies).await
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (result, waits, requests) = recorded_call(
        vec![
            Reply::anthropic_error(529, "overloaded_error", "Overloaded")
                .header("retry-after", "2"),
            Reply::anthropic_error(429, "rate_limit_error", "slow").header("retry-after-ms", "250"),
        ],
        fast_policy(),
    )
    .await;
    assert_eq!(result.unwrap().text, "ok");
    assert_eq!(requests, 3);
    assert_eq!(
        waits,
        vec![Duration::from_secs(2), Duration::from_millis(250)]
    );
}

#[tokio::test]
async fn without_retry_after_the_policy_backoff_is_used() {
    let policy = RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    };
    let replies = vec![
        Reply::anthropic_error(529, "overloaded_error", "Overloaded"),
        Reply::anthropic_error(500, "api_error", "Internal server error"),
    ];
    let (result, waits, requests) = recorded_call(replies, policy).await;
    assert_eq!(result.unwrap().text, "ok");
    assert_eq!(requests, 3);
    assert_eq!(
        waits,
        vec![Duration::from_millis(500), Duration::from_secs(1)]
    );
}

#[tokio::test]
async fn a_spend_limit_is_not_retried_even_with_retry_after() {
    let (result, waits, requests) = recorded_call(
        vec![Reply::anthropic_error(
            429,
            "rate_limit_error",
            "This request would exceed your account's monthly spend limit. Please try again later.",
        )
        .header("retry-after", "5")],
        fast_policy(),
    )
    .await;
    assert!(
        matches!(result, Err(LlmError::QuotaExhausted { .. })),
        "{result:?}"
    );
    assert!(result.unwrap_err().is_fatal_for_run());
    assert_eq!(requests, 1);
    assert!(waits.is_empty());
}

/// The base URL is the API's root; one ending in `/v1` (the OpenAI habit) or in the whole
/// endpoint posts to `/v1/messages`, never `/v1/v1/messages`.
#[tokio::test]
async fn base_url_conventions_post_to_v1_messages() {
    let server = FakeServer::start(Script::always(Reply::anthropic_text("ok"))).await;
    let root = server.url();
    let cases = [
        (root.clone(), "/v1/messages"),
        (format!("{root}/"), "/v1/messages"),
        (format!("{root}/v1"), "/v1/messages"),
        (format!("{root}/v1/"), "/v1/messages"),
        (format!("{root}/v1/messages"), "/v1/messages"),
        (format!("{root}/anthropic"), "/anthropic/v1/messages"),
        (format!("{root}/anthropic/v1"), "/anthropic/v1/messages"),
    ];
    for (i, (base, path)) in cases.iter().enumerate() {
        let client = AnthropicClient::builder("claude-test")
            .base_url(base.as_str())
            .api_key("sk-ant-test-key")
            .retry_policy(fast_policy())
            .build()
            .unwrap();
        assert_eq!(client.endpoint(), format!("{root}{path}"), "{base}");
        let reply = client
            .complete(CompletionRequest::new(vec![Message::user("hi")]))
            .await
            .unwrap();
        assert_eq!(reply.text, "ok");
        assert_eq!(server.requests()[i].path, *path, "{base}");
    }
}

/// Streaming over real HTTP: deltas, usage, retries before the first byte, a cut stream, a
/// plain JSON answer (the shared cases of `rlm_testkit::stream_checks`).
#[tokio::test]
async fn streaming_over_sse() {
    rlm_testkit::stream_checks::check_streaming(rlm_testkit::Wire::Anthropic, client_with).await;
}
