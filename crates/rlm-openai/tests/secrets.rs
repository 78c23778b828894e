//! The key is sent, and never shown: not in errors (Display or Debug), not in the client's or
//! builder's Debug, not in traces, even when the server echoes it back.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use rlm_http::RetryPolicy;
use rlm_openai::{OpenAiClient, OpenAiClientBuilder};
use rlm_testkit::provider_tests::{self, Secrets};
use rlm_testkit::{FakeServer, Reply, Script};

const KEY: &str = "sk-test-SENTINEL-123";
const PROMPT: &str = "PROMPT-SENTINEL-456";
const SECRETS: Secrets<'static> = Secrets {
    key: KEY,
    key_part: "sk-test-",
    prompt: PROMPT,
    auth_body: "Bearer ***",
};

/// Echoes the Authorization header back in every kind of failure, by turns.
fn echo_script() -> Script {
    let turn = Arc::new(Mutex::new(0usize));
    Script::from_fn(move |req| {
        let auth = req.header("authorization").unwrap_or("none").to_string();
        let mut turn = turn.lock().unwrap();
        *turn += 1;
        let echo = format!("{{\"error\":{{\"message\":\"key {auth} refused; raw {KEY}\"}}}}");
        match *turn % 7 {
            1 => Reply::status(401, echo),
            2 => Reply::status(400, echo),
            3 => Reply::status(429, echo).header("retry-after", "3600"),
            // The 2 KiB cut falls inside the key ("...Bearer sk-test-SENT|INEL-123"): scrubbing
            // must happen before cutting.
            4 => Reply::raw(format!("<html>{}{auth}</html>", "x".repeat(2023))),
            5 => Reply::openai_error(429, "insufficient_quota", &format!("quota for {auth}")),
            6 => Reply::openai_error(
                400,
                "context_length_exceeded",
                &format!("maximum context length ({auth})"),
            ),
            _ => Reply::json(serde_json::json!({"error": {"message": auth, "code": 500}}))
                .header("x-should-retry", "false"),
        }
    })
}

async fn assert_never_shown(builder: OpenAiClientBuilder, server: &FakeServer) {
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
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
}

#[tokio::test]
async fn key_from_the_builder_is_sent_but_never_shown() {
    let server = FakeServer::start(echo_script()).await;
    let builder = OpenAiClient::builder("m")
        .base_url(server.base_url())
        .api_key(KEY);
    assert_never_shown(builder, &server).await;
}

#[tokio::test]
async fn key_from_the_environment_is_sent_but_never_shown() {
    let server = FakeServer::start(echo_script()).await;
    let base = server.base_url();
    let env = move |name: &str| match name {
        "OPENAI_API_KEY" => Some(KEY.to_string()),
        "OPENAI_BASE_URL" => Some(base.clone()),
        _ => None,
    };
    let builder = OpenAiClient::builder("m").env_with(env);
    assert_never_shown(builder, &server).await;
    let base = server.base_url();
    let client = OpenAiClient::from_env_with("m", |name| match name {
        "OPENAI_API_KEY" => Some(KEY.to_string()),
        "OPENAI_BASE_URL" => Some(base.clone()),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        client.endpoint(),
        format!("{}/chat/completions", server.base_url())
    );
    assert!(!format!("{client:?}").contains(KEY));
}

#[tokio::test]
async fn connect_errors_do_not_show_a_key_in_the_url() {
    let port = provider_tests::refused_port();
    let client = OpenAiClient::builder("m")
        .base_url(format!(
            "http://user:{KEY}@127.0.0.1:{port}/v1?api-key={KEY}"
        ))
        .api_key(KEY)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(!client.endpoint().contains(KEY), "{}", client.endpoint());
    provider_tests::assert_connect_error_hides_the_key(&client, KEY).await;
}

#[tokio::test]
async fn a_successful_call_traces_provider_model_tokens_and_attempt_but_not_the_key_or_prompt() {
    let server = FakeServer::start(Reply::text("fine").usage(321, 7)).await;
    let client = OpenAiClient::builder("traced-model")
        .base_url(server.base_url())
        .api_key(KEY)
        .build()
        .unwrap();
    provider_tests::assert_traced_call(
        client,
        "trace",
        SECRETS,
        &[
            "gen_ai.chat",
            "gen_ai.provider.name=openai",
            "gen_ai.request.model=traced-model",
            "gen_ai.usage.input_tokens=321",
            "gen_ai.usage.output_tokens=7",
            "rlm.retry.attempt=0",
        ],
    )
    .await;
}
