//! The key is sent as `x-goog-api-key` (never in the URL), and never shown: not in errors (Display or Debug), not in
//! the client's or builder's Debug, not in traces, even when the server echoes it back.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_core::{CompletionRequest, LanguageModel, LlmError, Message};
use rlm_gemini::{GeminiClient, GeminiClientBuilder};
use rlm_limits::RetryPolicy;
use rlm_testkit::{FakeServer, Reply, Script};

const KEY: &str = "AIzaSy-SENTINEL-123";
const PROMPT: &str = "PROMPT-SENTINEL-456";

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 1,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        call_timeout: Some(Duration::from_secs(30)),
        ..RetryPolicy::default()
    }
}

/// Echoes the `x-goog-api-key` header back in every kind of failure, by turns.
fn echo_script() -> Script {
    let turn = Arc::new(Mutex::new(0usize));
    Script::from_fn(move |req| {
        let key = req.header("x-goog-api-key").unwrap_or("none").to_string();
        let mut turn = turn.lock().unwrap();
        *turn += 1;
        let err = Reply::gemini_error;
        match *turn % 7 {
            1 => err(403, "PERMISSION_DENIED", &format!("key {key} refused")),
            2 => err(400, "INVALID_ARGUMENT", &format!("bad request for {key}")),
            3 => err(429, "RESOURCE_EXHAUSTED", &format!("slow down {key}"))
                .header("retry-after", "3600"),
            // The 2 KiB cut falls inside the key: scrubbing must happen before cutting.
            4 => Reply::raw(format!("<html>{}{key}</html>", "x".repeat(2033))),
            5 => err(
                429,
                "RESOURCE_EXHAUSTED",
                &format!("Your prepayment credits are depleted ({key})"),
            ),
            6 => err(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "The input token count (9) exceeds the maximum number of tokens allowed (1) for {key}"
                ),
            ),
            _ => Reply::json(
                serde_json::json!({"error": {"code": 500, "status": "INTERNAL", "message": key}}),
            )
            .header("x-should-retry", "false"),
        }
    })
}

/// A buffer the tracing subscriber writes to.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn assert_never_shown(builder: GeminiClientBuilder, server: &FakeServer) {
    let shown_builder = format!("{builder:?}");
    assert!(!shown_builder.contains(KEY), "{shown_builder}");
    let client = builder.retry_policy(policy()).build().unwrap();
    let shown_client = format!("{client:?}");
    assert!(
        !shown_client.contains(KEY) && shown_client.contains("ApiKey(***)"),
        "{shown_client}"
    );

    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut kinds = Vec::new();
    for _ in 0..7 {
        let err = client
            .complete(CompletionRequest::new(vec![Message::user(PROMPT)]))
            .await
            .unwrap_err();
        for shown in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
            assert!(!shown.contains(KEY), "key in error: {shown}");
            assert!(
                !shown.contains("AIzaSy-SENT"),
                "part of the key in error: {shown}"
            );
        }
        kinds.push(std::mem::discriminant(&err));
        if let LlmError::Authentication { body, .. } = &err {
            assert!(body.contains("key *** refused"), "{body}");
        }
    }
    kinds.dedup();
    assert!(
        kinds.len() >= 6,
        "expected many kinds of error, got {kinds:?}"
    );

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("gen_ai.chat"),
        "no llm span in traces: {logs}"
    );
    assert!(
        !logs.contains(KEY) && !logs.contains(PROMPT),
        "secret or prompt in traces: {logs}"
    );

    let requests = server.requests();
    assert!(!requests.is_empty());
    for req in &requests {
        assert_eq!(req.header("x-goog-api-key"), Some(KEY));
        assert!(!req.path.contains(KEY), "key in the URL: {}", req.path);
        assert_eq!(req.header("authorization"), None);
    }
}

#[tokio::test]
async fn key_from_the_builder_is_sent_but_never_shown() {
    let server = FakeServer::start(echo_script()).await;
    let builder = GeminiClient::builder("m")
        .base_url(server.url())
        .api_key(KEY);
    assert_never_shown(builder, &server).await;
}

#[tokio::test]
async fn key_from_the_environment_is_sent_but_never_shown() {
    let server = FakeServer::start(echo_script()).await;
    let base = server.url();
    let env = move |name: &str| match name {
        "GEMINI_API_KEY" => Some(KEY.to_string()),
        "GEMINI_BASE_URL" => Some(base.clone()),
        _ => None,
    };
    let builder = GeminiClient::builder("m").env_with(env);
    assert_never_shown(builder, &server).await;
}

#[tokio::test]
async fn connect_errors_do_not_show_a_key_in_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = GeminiClient::builder("m")
        .base_url(format!("http://user:{KEY}@127.0.0.1:{port}/?key={KEY}"))
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(!client.endpoint().contains(KEY), "{}", client.endpoint());
    let err = client
        .complete(CompletionRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Connect { .. }), "{err:?}");
    assert!(
        !err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_successful_call_traces_model_and_tokens_but_not_the_prompt() {
    let server = FakeServer::start(Reply::gemini_text("fine").usage(321, 7)).await;
    let client = GeminiClient::builder("traced-gemini")
        .base_url(server.url())
        .api_key(KEY)
        .build()
        .unwrap();
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("rlm_gemini=trace")
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    client
        .complete(CompletionRequest::new(vec![Message::user(PROMPT)]))
        .await
        .unwrap();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "gen_ai.chat",
        "gen_ai.provider.name=\"gcp.gemini\"",
        "gen_ai.request.model=\"traced-gemini\"",
        "gen_ai.usage.input_tokens=321",
        "gen_ai.usage.output_tokens=7",
    ] {
        assert!(
            logs.contains(needle),
            "{needle} missing from traces: {logs}"
        );
    }
    assert!(!logs.contains(KEY) && !logs.contains(PROMPT), "{logs}");
}
