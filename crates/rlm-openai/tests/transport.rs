//! The client over real loopback HTTP against the testkit's fake server: the OpenAI error
//! bodies and HTTP 200 bodies as typed outcomes, the request sent, and the endpoint named in
//! connect and timeout errors. The provider-neutral transport cases (retries, `Retry-After`,
//! deadlines) are `rlm-http`'s tests.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rlm_core::{CompletionRequest, FinishReason, LanguageModel, Sampling};
use rlm_http::RetryPolicy;
use rlm_openai::{MaxTokensField, OpenAiBuilderExt, OpenAiClient};
use rlm_testkit::provider_tests::{self, Outcome, fast_policy, request};
use rlm_testkit::{FakeServer, Reply};
use serde_json::json;

fn client_with(server: &FakeServer, policy: RetryPolicy) -> OpenAiClient {
    OpenAiClient::builder("gpt-test")
        .base_url(server.base_url())
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
    Reply::text("ok")
}

fn error_json(message: &str) -> String {
    json!({"error": {"message": message, "type": "invalid_request_error", "code": null}})
        .to_string()
}

#[tokio::test]
async fn retry_table() {
    use Outcome::*;
    let quota = Reply::openai_error(429, "insufficient_quota", "You exceeded your current quota");
    let context = Reply::openai_error(
        400,
        "context_length_exceeded",
        "This model's maximum context length is 8192 tokens",
    );
    let cases: Vec<(&str, Vec<Reply>, Outcome, u64)> = vec![
        (
            "401 authentication",
            vec![Reply::status(401, error_json("Incorrect API key"))],
            Auth(401),
            1,
        ),
        (
            "403 authentication",
            vec![Reply::status(403, "forbidden")],
            Auth(403),
            1,
        ),
        ("429 insufficient_quota", vec![quota], Quota, 1),
        ("400 context length", vec![context], Context, 1),
        (
            "200 error object 503 retried",
            vec![Reply::json(
                json!({"object": "error", "message": "busy", "code": 503}),
            )],
            Ok,
            2,
        ),
        (
            "200 error object 400 not retried",
            vec![Reply::json(
                json!({"error": {"message": "bad", "code": 400}}),
            )],
            Http(400),
            1,
        ),
        (
            "200 content null",
            vec![Reply::json(
                json!({"choices": [{"message": {"content": null}, "finish_reason": "stop"}]}),
            )],
            Empty,
            1,
        ),
        (
            "200 empty choices",
            vec![Reply::json(json!({"choices": []}))],
            Empty,
            1,
        ),
        (
            "200 length",
            vec![Reply::text("half an ans").finish_reason(Some("length"))],
            Truncated,
            1,
        ),
        (
            "200 content_filter",
            vec![Reply::text("").finish_reason(Some("content_filter"))],
            Filter,
            1,
        ),
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
async fn success_decodes_usage_and_sends_the_request() {
    let server =
        FakeServer::start(Reply::text("4").usage(30, 1).cached_tokens(16).cost(0.001)).await;
    let client = OpenAiClient::builder("default-model")
        .base_url(server.base_url())
        .max_tokens_field(MaxTokensField::MaxCompletionTokens)
        .header("HTTP-Referer", "https://example.test")
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    assert_eq!(client.model_name(), "default-model");
    let req = CompletionRequest {
        sampling: Sampling {
            max_tokens: Some(64),
            temperature: Some(0.0),
            ..Sampling::default()
        },
        ..request()
    }
    .with_model("override");
    let resp = client.complete(req).await.unwrap();
    assert_eq!(resp.text, "4");
    assert_eq!(resp.model, "override"); // echoed by the server
    assert_eq!(resp.finish_reason, FinishReason::Stop);
    assert_eq!(
        (
            resp.usage.input_tokens,
            resp.usage.output_tokens,
            resp.usage.cached_tokens
        ),
        (30, 1, 16)
    );
    assert_eq!((resp.usage.cost, resp.usage.calls), (Some(0.001), 1));

    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("http-referer"), Some("https://example.test"));
    assert!(
        sent.header("user-agent")
            .is_some_and(|ua| ua.starts_with("rlm-openai/"))
    );
    assert_eq!(
        sent.header("authorization"),
        None,
        "no key configured, none sent"
    );
    assert_eq!(
        sent.json,
        Some(
            json!({"model": "override", "messages": [{"role": "user", "content": "hello"}],
                    "temperature": 0.0, "max_completion_tokens": 64})
        )
    );
}

#[tokio::test]
async fn connect_refused_is_a_connect_error_naming_the_url() {
    let port = provider_tests::refused_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = OpenAiClient::builder("m")
        .base_url(&base)
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    let err =
        provider_tests::assert_connect_error(&client, &format!("{base}/chat/completions")).await;
    let shown = err.to_string();
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
}

#[tokio::test]
async fn stall_ends_in_timeout_at_the_call_deadline() {
    provider_tests::assert_stall_times_out(client_with, "/v1/chat/completions").await;
}

/// Streaming over real HTTP: deltas, usage, retries before the first byte, a cut stream, a
/// plain JSON answer (the shared cases of `rlm_testkit::stream_checks`).
#[tokio::test]
async fn streaming_over_sse() {
    rlm_testkit::stream_checks::check_streaming(rlm_testkit::Wire::OpenAi, client_with).await;
}
