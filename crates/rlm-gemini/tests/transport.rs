//! The client over real loopback HTTP against the testkit's fake server speaking Gemini's
//! `generateContent`: the retry table of its error bodies, the headers sent, typed outcomes, and
//! the endpoint named in connect and timeout errors. Drops and plain statuses are the same for
//! every provider and are tested in `rlm-http`.
//!
//! Real time with 1 ms backoffs; assertions are on outcomes and request counts, not durations.
//! Where the wait itself matters (Retry-After honoured), the client's hidden `sleep_hook`
//! records the waits it asks for (tokio's paused clock does not work with real sockets).

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rlm_core::{
    CompletionRequest, CompletionResponse, FinishReason, LanguageModel, LlmError, Message, Sampling,
};
use rlm_gemini::GeminiClient;
use rlm_http::RetryPolicy;
use rlm_testkit::provider_tests::{self, Outcome, Waits, fast_policy, request};
use rlm_testkit::{FakeServer, Reply, Script};
use serde_json::json;

fn client_with(server: &FakeServer, policy: RetryPolicy) -> GeminiClient {
    GeminiClient::builder("gemini-test")
        .base_url(server.url())
        .api_key("AIza-test-key")
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
    Reply::gemini_text("ok")
}

#[tokio::test]
async fn retry_table() {
    use Outcome::*;
    let err = Reply::gemini_error;
    let per_minute = Reply::status(
        429,
        json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                         "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}]}})
        .to_string(),
    );
    let per_day = Reply::status(
        429,
        json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                         "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}})
        .to_string(),
    );
    let bad_key = Reply::status(
        400,
        json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "API key not valid. Please pass a valid API key.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}})
        .to_string(),
    );
    let cases: Vec<(&str, Vec<Reply>, Outcome, u64)> = vec![
        ("429 per-minute quota retried", vec![per_minute], Ok, 2),
        (
            "429 bare resource exhausted retried",
            vec![err(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            )],
            Ok,
            2,
        ),
        (
            "500 internal retried",
            vec![err(500, "INTERNAL", "An internal error has occurred.")],
            Ok,
            2,
        ),
        (
            "503 overloaded retried",
            vec![err(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
            )],
            Ok,
            2,
        ),
        (
            "504 deadline retried",
            vec![err(504, "DEADLINE_EXCEEDED", "Deadline expired")],
            Ok,
            2,
        ),
        (
            "retries exhausted returns the last error",
            vec![err(503, "UNAVAILABLE", "The model is overloaded."); 3],
            Http(503),
            3,
        ),
        (
            "400 not retried",
            vec![err(
                400,
                "INVALID_ARGUMENT",
                "Invalid value at 'generation_config.temperature'",
            )],
            Http(400),
            1,
        ),
        (
            "404 not retried",
            vec![err(
                404,
                "NOT_FOUND",
                "models/gemini-nope is not found for API version v1beta",
            )],
            Http(404),
            1,
        ),
        ("400 bad key is authentication", vec![bad_key], Auth(400), 1),
        (
            "403 authentication",
            vec![err(403, "PERMISSION_DENIED", "Permission denied")],
            Auth(403),
            1,
        ),
        ("429 daily quota", vec![per_day], Quota, 1),
        (
            "429 credits depleted",
            vec![err(
                429,
                "RESOURCE_EXHAUSTED",
                "Your prepayment credits are depleted. Please go to AI Studio to manage your project and billing.",
            )],
            Quota,
            1,
        ),
        (
            "400 input token count",
            vec![err(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1358426) exceeds the maximum number of tokens allowed (1048576).",
            )],
            Context,
            1,
        ),
        (
            "retry-after above cap fails fast",
            vec![err(429, "RESOURCE_EXHAUSTED", "slow down").header("retry-after", "3600")],
            TooLong,
            1,
        ),
        (
            "200 error object 503 retried",
            vec![Reply::json(
                json!({"error": {"code": 503, "status": "UNAVAILABLE", "message": "busy"}}),
            )],
            Ok,
            2,
        ),
        (
            "200 MAX_TOKENS",
            vec![Reply::gemini_text("half an ans").finish_reason(Some("MAX_TOKENS"))],
            Truncated,
            1,
        ),
        (
            "200 SAFETY",
            vec![Reply::gemini_text("").finish_reason(Some("SAFETY"))],
            Filter,
            1,
        ),
        (
            "200 prompt blocked",
            vec![Reply::json(
                json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}),
            )],
            Filter,
            1,
        ),
        ("200 no text", vec![Reply::gemini_text("")], Empty, 1),
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
async fn success_sends_the_generate_content_request_and_decodes_usage() {
    let server = FakeServer::start(Script::always(
        Reply::gemini_text("4").usage(3000, 1).cached_tokens(2000),
    ))
    .await;
    let client = GeminiClient::builder("gemini-default")
        .base_url(server.url())
        .api_key("AIza-test-key")
        .header("x-goog-user-project", "my-project")
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    assert_eq!(client.model_name(), "gemini-default");
    let req = CompletionRequest {
        messages: vec![Message::system("Be brief."), Message::user("2+2?")],
        sampling: Sampling {
            temperature: Some(0.0),
            max_tokens: Some(64),
            ..Sampling::default()
        },
        ..CompletionRequest::default()
    }
    .with_model("gemini-override");
    let resp = client.complete(req).await.unwrap();
    assert_eq!(resp.text, "4");
    assert_eq!(resp.model, "gemini-override");
    assert_eq!(resp.finish_reason, FinishReason::Stop);
    assert_eq!(
        (
            resp.usage.input_tokens,
            resp.usage.output_tokens,
            resp.usage.cached_tokens
        ),
        (3000, 1, 2000)
    );
    // The default model, and a name with its collection, go to their own URLs.
    client.complete(request()).await.unwrap();
    client
        .complete(request().with_model("models/gemini-x"))
        .await
        .unwrap();

    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/v1beta/models/gemini-override:generateContent",
            "/v1beta/models/gemini-default:generateContent",
            "/v1beta/models/gemini-x:generateContent",
        ]
    );
    let sent = &requests[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.header("x-goog-api-key"), Some("AIza-test-key"));
    assert_eq!(sent.header("x-goog-user-project"), Some("my-project"));
    assert_eq!(sent.header("authorization"), None);
    assert!(
        !sent.path.contains("key="),
        "the key must never be in the URL"
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert!(
        sent.header("user-agent")
            .is_some_and(|ua| ua.starts_with("rlm-gemini/"))
    );
    assert_eq!(
        sent.json,
        Some(
            json!({"contents": [{"role": "user", "parts": [{"text": "2+2?"}]}],
                    "systemInstruction": {"parts": [{"text": "Be brief."}]},
                    "generationConfig": {"temperature": 0.0, "maxOutputTokens": 64}})
        )
    );
}

#[tokio::test]
async fn connect_refused_is_a_connect_error_naming_the_url() {
    let base = provider_tests::refused_base_url();
    let client = GeminiClient::builder("m")
        .base_url(&base)
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    provider_tests::assert_connect_error(
        &client,
        &format!("{base}/v1beta/models/m:generateContent"),
    )
    .await;
}

#[tokio::test]
async fn stall_ends_in_timeout_at_the_call_deadline() {
    provider_tests::assert_stall_times_out(client_with, ":generateContent").await;
}

/// A call whose waits between attempts are recorded (and skipped) through the client's test
/// hook: returns the result, the waits the client asked for, and the request count.
async fn recorded_call(
    replies: Vec<Reply>,
    policy: RetryPolicy,
) -> (Result<CompletionResponse, LlmError>, Vec<Duration>, u64) {
    let build = |server: &FakeServer, waits: &Waits| {
        GeminiClient::builder("gemini-test")
            .base_url(server.url())
            .retry_policy(policy)
            .sleep_hook(waits.hook())
            .build()
            .unwrap()
    };
    provider_tests::recorded_call(ok, build, replies).await
}

#[tokio::test]
async fn retry_after_and_retry_delay_are_honoured() {
    let per_minute = Reply::status(
        429,
        json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}})
        .to_string(),
    );
    let (result, waits, requests) = recorded_call(
        vec![
            Reply::gemini_error(503, "UNAVAILABLE", "busy").header("retry-after", "2"),
            per_minute,
        ],
        fast_policy(),
    )
    .await;
    assert_eq!(result.unwrap().text, "ok");
    assert_eq!(requests, 3);
    assert_eq!(waits, vec![Duration::from_secs(2), Duration::from_secs(7)]);
}

#[tokio::test]
async fn without_retry_after_the_policy_backoff_is_used() {
    let policy = RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    };
    let replies = vec![
        Reply::gemini_error(503, "UNAVAILABLE", "busy"),
        Reply::gemini_error(500, "INTERNAL", "oops"),
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
async fn a_daily_quota_is_not_retried_even_with_a_retry_delay() {
    let per_day = Reply::status(
        429,
        json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                 "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"}]}})
        .to_string(),
    );
    let (result, waits, requests) = recorded_call(vec![per_day], fast_policy()).await;
    assert!(
        matches!(result, Err(LlmError::QuotaExhausted { .. })),
        "{result:?}"
    );
    assert!(result.unwrap_err().is_fatal_for_run());
    assert_eq!(requests, 1);
    assert!(waits.is_empty());
}

/// The base URL is the API's root; one ending in an API version (`/v1beta`, `/v1`) is cut back
/// to it, and that version is used (never `/v1beta/v1beta/...`).
#[tokio::test]
async fn base_url_conventions_keep_one_api_version() {
    let server = FakeServer::start(Script::always(Reply::gemini_text("ok"))).await;
    let root = server.url();
    let method = "models/gemini-test:generateContent";
    let cases = [
        (root.clone(), format!("/v1beta/{method}")),
        (format!("{root}/"), format!("/v1beta/{method}")),
        (format!("{root}/v1beta"), format!("/v1beta/{method}")),
        (format!("{root}/v1beta/"), format!("/v1beta/{method}")),
        (format!("{root}/v1"), format!("/v1/{method}")),
        (
            format!("{root}/gw/v1alpha"),
            format!("/gw/v1alpha/{method}"),
        ),
        (format!("{root}/gw"), format!("/gw/v1beta/{method}")),
    ];
    for (i, (base, path)) in cases.iter().enumerate() {
        let client = GeminiClient::builder("gemini-test")
            .base_url(base.as_str())
            .api_key("AIza-test-key")
            .retry_policy(fast_policy())
            .build()
            .unwrap();
        assert_eq!(client.endpoint(), format!("{root}{path}"), "{base}");
        let reply = client.complete(request()).await.unwrap();
        assert_eq!(reply.text, "ok");
        assert_eq!(server.requests()[i].path, *path, "{base}");
    }
}

/// Streaming over real HTTP: deltas, usage, retries before the first byte, a cut stream, a
/// plain JSON answer (the shared cases of `rlm_testkit::stream_checks`).
#[tokio::test]
async fn streaming_over_sse() {
    rlm_testkit::stream_checks::check_streaming(rlm_testkit::Wire::Gemini, client_with).await;
}
