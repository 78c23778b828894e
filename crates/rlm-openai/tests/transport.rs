//! The client over real loopback HTTP against the testkit's fake server: the retry table, the
//! call deadline, and typed outcomes of HTTP 200 bodies.
//!
//! Tests use real time with 1 ms backoffs and assert on outcomes and request counts, not
//! durations. Where the wait itself matters (Retry-After honoured), the client's hidden
//! `sleep_hook` records the waits it asks for. (A paused clock does not work here: tokio
//! auto-advances to the next timer whenever the runtime parks, even while a loopback socket is
//! about to become readable, so the call deadline fired early on keep-alive connections.)

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use rlm_core::{CompletionRequest, CompletionResponse, FinishReason, LanguageModel, LlmError};
use rlm_limits::RetryPolicy;
use rlm_openai::{MaxTokensField, OpenAiClient};
use rlm_testkit::provider_tests::{self, Outcome, Waits, fast_policy, request};
use rlm_testkit::{FakeServer, Reply, Script};
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
        ("408 retried", vec![Reply::status(408, "timeout")], Ok, 2),
        ("409 retried", vec![Reply::status(409, "conflict")], Ok, 2),
        (
            "429 retried",
            vec![Reply::status(429, error_json("Rate limit reached"))],
            Ok,
            2,
        ),
        ("500 retried", vec![Reply::status(500, "oops")], Ok, 2),
        (
            "502 retried",
            vec![Reply::status(502, "<html>bad gateway</html>")],
            Ok,
            2,
        ),
        ("503 retried", vec![Reply::status(503, "busy")], Ok, 2),
        ("529 retried", vec![Reply::status(529, "overloaded")], Ok, 2),
        (
            "two 5xx then ok",
            vec![Reply::status(500, "a"), Reply::status(503, "b")],
            Ok,
            3,
        ),
        (
            "400 not retried",
            vec![Reply::status(400, error_json("bad temperature"))],
            Http(400),
            1,
        ),
        (
            "404 not retried",
            vec![Reply::status(404, error_json("model not found"))],
            Http(404),
            1,
        ),
        (
            "422 not retried",
            vec![Reply::status(422, "unprocessable")],
            Http(422),
            1,
        ),
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
            "retry-after above cap fails fast",
            vec![Reply::status(429, "slow down").header("retry-after", "3600")],
            TooLong,
            1,
        ),
        (
            "retry-after-ms above cap fails fast",
            vec![Reply::status(503, "slow down").header("retry-after-ms", "61000")],
            TooLong,
            1,
        ),
        (
            "x-should-retry false on 500",
            vec![Reply::status(500, "no").header("x-should-retry", "false")],
            Http(500),
            1,
        ),
        (
            "x-should-retry true on 400",
            vec![Reply::status(400, "yes").header("x-should-retry", "true")],
            Ok,
            2,
        ),
        (
            "retries exhausted returns the last error",
            vec![
                Reply::status(500, "a"),
                Reply::status(502, "b"),
                Reply::status(503, "c"),
            ],
            Http(503),
            3,
        ),
        (
            "drop before headers retried",
            vec![Reply::drop_before_headers()],
            Ok,
            2,
        ),
        ("drop mid body retried", vec![Reply::drop_mid_body()], Ok, 2),
        (
            "garbage instead of http retried",
            vec![Reply::raw_http("HELLO\r\n\r\n")],
            Ok,
            2,
        ),
        (
            "always dropped ends in connect error",
            vec![Reply::drop_before_headers(); 3],
            Connect,
            3,
        ),
        (
            "always cut ends in truncated",
            vec![Reply::drop_mid_body(); 3],
            Truncated,
            3,
        ),
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
        max_tokens: Some(64),
        temperature: Some(0.0),
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
async fn one_client_serves_concurrent_calls() {
    let server = FakeServer::builder()
        .default_latency(Duration::from_millis(50))
        .start(Script::always(Reply::text("ok")))
        .await;
    let client = std::sync::Arc::new(client_with(&server, fast_policy()));
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = std::sync::Arc::clone(&client);
            tokio::spawn(async move { client.complete(request()).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().text, "ok");
    }
    assert_eq!(server.request_count(), 10);
    assert_eq!(server.peak_concurrency(), 10);
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

#[tokio::test]
async fn trickling_body_is_bounded_by_the_call_deadline() {
    let server =
        FakeServer::start(Reply::text("x".repeat(200)).trickle(1, Duration::from_millis(20))).await;
    let client = OpenAiClient::builder("m")
        .base_url(server.base_url())
        .retry_policy(fast_policy())
        .timeout(Duration::from_millis(300)) // overrides the policy's 30 s
        .build()
        .unwrap();
    assert_eq!(
        client.retry_policy().call_timeout,
        Some(Duration::from_millis(300))
    );
    assert!(matches!(
        client.complete(request()).await,
        Err(LlmError::Timeout { .. })
    ));
    assert_eq!(server.request_count(), 1);
}

/// A call whose waits between attempts are recorded (and skipped) through the client's test
/// hook: returns the result, the waits the client asked for, and the request count.
async fn recorded_call(
    replies: Vec<Reply>,
    policy: RetryPolicy,
) -> (Result<CompletionResponse, LlmError>, Vec<Duration>, u64) {
    let build = |server: &FakeServer, waits: &Waits| {
        OpenAiClient::builder("gpt-test")
            .base_url(server.base_url())
            .retry_policy(policy)
            .sleep_hook(waits.hook())
            .build()
            .unwrap()
    };
    provider_tests::recorded_call(ok, build, replies).await
}

#[tokio::test]
async fn retry_after_ms_is_honoured() {
    let (result, waits, requests) = recorded_call(
        vec![Reply::status(429, "wait").header("retry-after-ms", "1500")],
        fast_policy(),
    )
    .await;
    assert_eq!(result.unwrap().text, "ok");
    assert_eq!(requests, 2);
    assert_eq!(waits, vec![Duration::from_millis(1500)]);
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let (result, waits, requests) = recorded_call(
        vec![
            Reply::status(503, "wait").header("retry-after", "2"),
            Reply::status(429, "w").header("retry-after", "0.25"),
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
async fn retry_after_http_date_is_honoured() {
    // HTTP dates have whole seconds, so a date 3 s ahead asks for a wait in (1 s, 3 s].
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    let (result, waits, requests) = recorded_call(
        vec![Reply::status(429, "wait").header("retry-after", date)],
        fast_policy(),
    )
    .await;
    assert_eq!(result.unwrap().text, "ok");
    assert_eq!(requests, 2);
    assert_eq!(waits.len(), 1);
    assert!(
        waits[0] > Duration::from_secs(1) && waits[0] <= Duration::from_secs(3),
        "{waits:?}"
    );
}

#[tokio::test]
async fn without_retry_after_the_policy_backoff_is_used() {
    let policy = RetryPolicy {
        jitter: false,
        ..RetryPolicy::default()
    };
    let replies = vec![
        Reply::status(500, "a"),
        Reply::status(502, "b").header("retry-after", "0"),
    ];
    let (result, waits, requests) = recorded_call(replies, policy).await;
    assert_eq!(result.unwrap().text, "ok");
    assert_eq!(requests, 3);
    assert_eq!(
        waits,
        vec![Duration::from_millis(500), Duration::from_secs(1)]
    );

    let jittered = RetryPolicy::default();
    let (_, waits, _) = recorded_call(vec![Reply::status(500, "a")], jittered).await;
    assert!(
        waits[0] >= Duration::from_millis(375) && waits[0] <= Duration::from_millis(500),
        "{waits:?}"
    );
}

#[tokio::test]
async fn a_wait_past_the_deadline_returns_the_last_error_at_once() {
    let policy = RetryPolicy {
        call_timeout: Some(Duration::from_secs(5)),
        ..fast_policy()
    };
    let (result, waits, requests) = recorded_call(
        vec![Reply::status(429, "wait").header("retry-after", "30")],
        policy,
    )
    .await;
    assert!(
        matches!(result, Err(LlmError::Http { status: 429, retry_after: Some(d), .. }) if d == Duration::from_secs(30)),
        "{result:?}"
    );
    assert_eq!(requests, 1);
    assert!(waits.is_empty());
}

#[tokio::test]
async fn the_deadline_covers_retries_and_backoff() {
    // Every attempt answers 500 after 100 ms, and 10 retries are allowed; a 250 ms deadline
    // ends the call after 2 or 3 attempts: in the third attempt (Timeout), or, when the second
    // ends so close to the deadline that the backoff would pass it, with that attempt's error
    // at once (which one depends on scheduling; both end the call by its deadline).
    let server = FakeServer::start(Script::always(
        Reply::status(500, "slow").latency(Duration::from_millis(100)),
    ))
    .await;
    let policy = RetryPolicy {
        max_retries: 10,
        call_timeout: Some(Duration::from_millis(250)),
        ..fast_policy()
    };
    let client = client_with(&server, policy);
    let result = client.complete(request()).await;
    assert!(
        matches!(
            result,
            Err(LlmError::Timeout { .. } | LlmError::Http { status: 500, .. })
        ),
        "{result:?}"
    );
    assert!(
        (2..=3).contains(&server.request_count()),
        "{} requests",
        server.request_count()
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_sleeps_on_tokio_time_without_the_hook() {
    // Paused clock: the runtime auto-advances to the backoff timer. No call deadline, so no other
    // timer can fire early while a socket waits.
    let server = FakeServer::start(
        Script::queue([Reply::status(503, "busy")]).then_fn(|_| Reply::text("ok")),
    )
    .await;
    let policy = RetryPolicy {
        call_timeout: None,
        jitter: false,
        ..fast_policy()
    };
    let client = OpenAiClient::builder("m")
        .base_url(server.base_url())
        .retry_policy(policy)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let reply = client.complete(request()).await.unwrap();
    assert_eq!(reply.text, "ok");
    assert_eq!(server.request_count(), 2);
    assert!(start.elapsed() >= Duration::from_millis(1));
}
