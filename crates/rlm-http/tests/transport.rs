//! The transport over real loopback HTTP against the testkit's fake server, through a test
//! codec: the retry table, `Retry-After` in its three forms, the call deadline, stalls and
//! trickles, concurrency, and keys kept out of errors and logs. Provider-neutral: each
//! provider's tests cover only its own wire format.
//!
//! Tests use real time with 1 ms backoffs and assert on outcomes and request counts, not
//! durations. Where the wait itself matters (Retry-After honoured), the client's hidden
//! `sleep_hook` records the waits it asks for. (A paused clock does not work here: tokio
//! auto-advances to the next timer whenever the runtime parks, even while a loopback socket is
//! about to become readable, so the call deadline fired early on keep-alive connections.)

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use rlm_core::{
    CompletionRequest, CompletionResponse, FinishReason, LanguageModel, LlmError, Usage,
};
use rlm_http::header::{AUTHORIZATION, HeaderName};
use rlm_http::{HttpModel, RetryPolicy, Url, WireFormat, codec};
use rlm_testkit::provider_tests::{self, Captured, Outcome, Waits, fast_policy, request};
use rlm_testkit::{FakeServer, Reply, Script};
use serde_json::{Value, json};

/// A small OpenAI-shaped codec (the fake server's default wire format): the model and the
/// messages out, `choices[0].message.content` in, the shared status rules.
#[derive(Debug, Clone, Default)]
struct TestWire;

type TestModel = HttpModel<TestWire>;

impl WireFormat for TestWire {
    const PROVIDER_NAME: &'static str = "test";
    const API_KEY_ENV: &'static str = "TEST_API_KEY";
    const BASE_URL_ENV: &'static str = "TEST_BASE_URL";
    const DEFAULT_BASE_URL: Option<&'static str> = None;
    const USER_AGENT: &'static str = "rlm-http-test/1";

    fn key_required(&self, base: &Url, _extra_headers: &[&str]) -> Option<String> {
        (base.host_str() == Some("keyed.invalid")).then(|| "keyed.invalid".to_string())
    }

    fn endpoint(&self, base: &Url, _model: &str) -> Result<Url, LlmError> {
        codec::join_path(base, ["chat", "completions"])
    }

    fn auth_header(&self, key: &str) -> (HeaderName, String) {
        (AUTHORIZATION, format!("Bearer {key}"))
    }

    fn encode(&self, request: &CompletionRequest, model: &str) -> Result<Vec<u8>, LlmError> {
        let model = codec::named_model(request, model)?;
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        codec::encode_json(&json!({"model": model, "messages": messages}))
    }

    fn decode(&self, body: &[u8], model: &str) -> Result<CompletionResponse, LlmError> {
        let value: Value = codec::decode_json(body, "a chat completion", |_, _| None)?;
        let choice = &value["choices"][0];
        let raw = choice["finish_reason"].as_str().map(str::to_string);
        let finish = FinishReason::parse(raw.as_deref());
        codec::check_finish(&finish, || "length".into())?;
        let text = choice["message"]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let usage = Usage {
            calls: 1,
            ..Usage::default()
        };
        let named = value["model"].as_str().map(str::to_string);
        codec::completion(named, model, text, raw, finish, usage)
    }

    fn classify(&self, status: u16, body: &str, retry_after: Option<Duration>) -> LlmError {
        codec::classify_status(status, body, retry_after)
    }
}

fn client_with(server: &FakeServer, policy: RetryPolicy) -> TestModel {
    TestModel::builder("gpt-test")
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
    ];
    for (name, replies, expected, requests) in cases {
        check(name, replies, expected, requests).await;
    }
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
    let client = TestModel::builder("m")
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
    let client = TestModel::builder("m")
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
        TestModel::builder("gpt-test")
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
    let client = TestModel::builder("m")
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

#[tokio::test]
async fn settings_come_from_code_then_the_environment() {
    let server = FakeServer::start(Script::always(Reply::text("ok"))).await;
    let base = server.base_url();
    let env = move |name: &str| match name {
        "TEST_API_KEY" => Some(" sk-env-key ".to_string()),
        "TEST_BASE_URL" => Some(base.clone()),
        _ => None,
    };
    let client = TestModel::builder("m").env_with(env).build().unwrap();
    assert_eq!(client.provider_name(), "test");
    assert_eq!(
        client.endpoint(),
        format!("{}/chat/completions", server.base_url())
    );
    assert_eq!(
        client.api_key().map(|k| k.expose_secret()),
        Some("sk-env-key")
    );
    client.complete(request()).await.unwrap();
    let sent = &server.requests()[0];
    assert_eq!(sent.header("authorization"), Some("Bearer sk-env-key"));
    assert_eq!(sent.header("user-agent"), Some("rlm-http-test/1"));

    let err = TestModel::builder("m").build().unwrap_err();
    assert!(err.to_string().contains("TEST_BASE_URL"), "{err}");
    let err = TestModel::builder("m")
        .base_url("http://keyed.invalid/v1")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("TEST_API_KEY"), "{err}");
}

#[tokio::test]
async fn keys_and_header_values_stay_out_of_errors_and_logs() {
    const KEY: &str = "sk-http-SENTINEL-77";
    const TOKEN: &str = "gw-token-SENTINEL-88";
    let server = FakeServer::start(Script::from_fn(|req| {
        let echo: Vec<&str> = req.headers.iter().map(|(_, v)| v.as_str()).collect();
        Reply::status(503, format!("echo {}", echo.join(" ")))
    }))
    .await;
    let (logs, guard) = Captured::start("trace", false);
    let client = TestModel::builder("m")
        .base_url(server.base_url())
        .api_key(KEY)
        .header("x-gateway-token", TOKEN)
        .retry_policy(provider_tests::one_retry_policy())
        .build()
        .unwrap();
    let err = client.complete(request()).await.unwrap_err();
    drop(guard);
    assert!(
        matches!(&err, LlmError::Http { status: 503, body, .. } if body.contains("Bearer ***")),
        "{err:?}"
    );
    let logs = logs.text();
    assert!(logs.contains("retrying after a failed attempt"), "{logs}");
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{client:?}"),
        logs,
    ] {
        assert!(!shown.contains(KEY) && !shown.contains(TOKEN), "{shown}");
    }
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_body_over_the_cap_is_invalid_and_not_retried() {
    let big = vec![b'x'; rlm_http::MAX_RESPONSE_BYTES + 1];
    let server = FakeServer::start(Script::always(Reply::raw(big))).await;
    let client = client_with(&server, fast_policy());
    match client.complete(request()).await {
        Err(LlmError::InvalidResponse { reason, body }) => {
            assert!(reason.contains("larger than"), "{reason}");
            assert!(body.len() <= rlm_http::MAX_BODY_SNIPPET);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.request_count(), 1);
}
