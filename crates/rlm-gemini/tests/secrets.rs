//! The key is sent as `x-goog-api-key` (never in the URL), and never shown: not in errors (Display or Debug), not in
//! the client's or builder's Debug, not in traces, even when the server echoes it back.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use rlm_gemini::{GeminiClient, GeminiClientBuilder};
use rlm_http::RetryPolicy;
use rlm_testkit::provider_tests::{self, Secrets};
use rlm_testkit::{FakeServer, Reply, Script};

const KEY: &str = "AIzaSy-SENTINEL-123";
const PROMPT: &str = "PROMPT-SENTINEL-456";
const SECRETS: Secrets<'static> = Secrets {
    key: KEY,
    key_part: "AIzaSy-SENT",
    prompt: PROMPT,
    auth_body: "key *** refused",
};

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

async fn assert_never_shown(builder: GeminiClientBuilder, server: &FakeServer) {
    let shown_builder = format!("{builder:?}");
    assert!(!shown_builder.contains(KEY), "{shown_builder}");
    let client = builder
        .retry_policy(provider_tests::one_retry_policy())
        .build()
        .unwrap();
    provider_tests::assert_errors_never_show_the_key(&client, SECRETS).await;

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
    let port = provider_tests::refused_port();
    let client = GeminiClient::builder("m")
        .base_url(format!("http://user:{KEY}@127.0.0.1:{port}/?key={KEY}"))
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(!client.endpoint().contains(KEY), "{}", client.endpoint());
    provider_tests::assert_connect_error_hides_the_key(&client, KEY).await;
}

#[tokio::test]
async fn a_successful_call_traces_provider_model_tokens_and_attempt_but_not_the_key_or_prompt() {
    let server = FakeServer::start(Reply::gemini_text("fine").usage(321, 7)).await;
    let client = GeminiClient::builder("traced-gemini")
        .base_url(server.url())
        .api_key(KEY)
        .build()
        .unwrap();
    provider_tests::assert_traced_call(
        client,
        "trace",
        SECRETS,
        &[
            "gen_ai.chat",
            "gen_ai.provider.name=gcp.gemini",
            "gen_ai.request.model=traced-gemini",
            "gen_ai.usage.input_tokens=321",
            "gen_ai.usage.output_tokens=7",
            "rlm.retry.attempt=0",
        ],
    )
    .await;
}
