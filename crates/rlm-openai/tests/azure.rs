//! Azure OpenAI over real loopback HTTP: the deployment URL with `api-version`, the `api-key`
//! header instead of a Bearer token, settings from the Azure variables, the key never shown,
//! and Azure's content-filter refusal typed. Plus OpenAI-compatible servers that send
//! `reasoning_content` or no `usage`.

// Test code: helpers outside #[test] fns may unwrap and panic too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use rlm_core::{CompletionRequest, LanguageModel, LlmError, Message};
use rlm_http::RetryPolicy;
use rlm_openai::{AzureOpenAiClient, OpenAiBuilderExt, OpenAiClient};
use rlm_testkit::{FakeServer, Reply, Script};
use serde_json::json;

const KEY: &str = "azure-SENTINEL-key-789";

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        call_timeout: Some(Duration::from_secs(30)),
        ..RetryPolicy::default()
    }
}

fn request() -> CompletionRequest {
    CompletionRequest::new(vec![Message::user("hello")])
}

fn azure(server: &FakeServer) -> AzureOpenAiClient {
    AzureOpenAiClient::builder("gpt4o-prod")
        .base_url(server.url())
        .api_version("2024-10-21")
        .api_key(KEY)
        .retry_policy(fast_policy())
        .build()
        .unwrap()
}

#[tokio::test]
async fn requests_go_to_the_deployment_with_the_api_key_header() {
    let server = FakeServer::start(Script::always(Reply::text("ok").usage(12, 2))).await;
    let client = azure(&server);
    assert_eq!(client.provider_name(), "azure.ai.openai");
    assert_eq!(
        client.endpoint(),
        format!(
            "{}/openai/deployments/gpt4o-prod/chat/completions",
            server.url()
        )
    );
    let reply = client.complete(request()).await.unwrap();
    assert_eq!((reply.text.as_str(), reply.usage.input_tokens), ("ok", 12));
    // A request naming another model goes to the deployment of that name.
    client
        .complete(request().with_model("gpt4o-mini-prod"))
        .await
        .unwrap();

    let sent = server.requests();
    assert_eq!(
        sent[0].path,
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        sent[1].path,
        "/openai/deployments/gpt4o-mini-prod/chat/completions?api-version=2024-10-21"
    );
    for req in &sent {
        assert_eq!(req.header("api-key"), Some(KEY));
        assert_eq!(req.header("authorization"), None);
    }
    assert_eq!(sent[0].model(), Some("gpt4o-prod"));
}

#[tokio::test]
async fn settings_come_from_the_azure_variables() {
    let server = FakeServer::start(Reply::text("from env")).await;
    let url = server.url();
    let env = move |name: &str| match name {
        "AZURE_OPENAI_ENDPOINT" => Some(url.clone()),
        "AZURE_OPENAI_API_KEY" => Some(KEY.to_string()),
        "OPENAI_API_VERSION" => Some("2025-01-01-preview".to_string()),
        // Plain OpenAI settings must not leak into an Azure client.
        "OPENAI_API_KEY" => Some("sk-wrong".to_string()),
        "OPENAI_BASE_URL" => Some("http://wrong.invalid/v1".to_string()),
        _ => None,
    };
    let client = AzureOpenAiClient::builder("dep")
        .env_with(env)
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    assert_eq!(client.complete(request()).await.unwrap().text, "from env");
    let sent = &server.requests()[0];
    assert_eq!(
        sent.path,
        "/openai/deployments/dep/chat/completions?api-version=2025-01-01-preview"
    );
    assert_eq!(sent.header("api-key"), Some(KEY));
}

#[test]
fn missing_azure_settings_say_which_variable_to_set() {
    let full = |name: &str| match name {
        "AZURE_OPENAI_ENDPOINT" => Some("https://r.openai.azure.com".to_string()),
        "AZURE_OPENAI_API_KEY" => Some(KEY.to_string()),
        "OPENAI_API_VERSION" => Some("2024-10-21".to_string()),
        _ => None,
    };
    assert!(
        AzureOpenAiClient::builder("d")
            .env_with(full)
            .build()
            .is_ok()
    );
    for missing in [
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "OPENAI_API_VERSION",
    ] {
        let env = |name: &str| if name == missing { None } else { full(name) };
        match AzureOpenAiClient::builder("d").env_with(env).build() {
            Err(LlmError::Config { message }) => {
                assert!(message.contains(missing), "{missing}: {message}")
            }
            Err(LlmError::MissingApiKey { env_var, .. }) => {
                assert_eq!(env_var, missing, "only the key is a missing-key error")
            }
            other => panic!("{missing}: {other:?}"),
        }
    }
    // A gateway header in place of the key is enough.
    let no_key = |name: &str| {
        if name == "AZURE_OPENAI_API_KEY" {
            None
        } else {
            full(name)
        }
    };
    assert!(
        AzureOpenAiClient::builder("d")
            .env_with(no_key)
            .header("Authorization", "Bearer entra-token")
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn the_key_echoed_back_is_never_shown() {
    let server = FakeServer::start(Script::from_fn(|req| {
        let key = req.header("api-key").unwrap_or("none").to_string();
        Reply::status(
            401,
            json!({"error": {"code": "401", "message": format!("Access denied: key {key} is invalid")}})
                .to_string(),
        )
    }))
    .await;
    let err = azure(&server).complete(request()).await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Authentication { status: 401, body } if body.contains("key *** is invalid")),
        "{err:?}"
    );
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(KEY), "{shown}");
    }
    assert_eq!(server.request_count(), 1);
    let shown = format!("{:?}", azure(&server));
    assert!(
        !shown.contains(KEY) && shown.contains("ApiKey(***)"),
        "{shown}"
    );
}

#[tokio::test]
async fn content_filter_refusal_is_typed_and_not_retried() {
    let body = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/responses/azure_content_filter_400.json"
    ))
    .unwrap();
    let server = FakeServer::start(Script::always(Reply::status(400, body))).await;
    let err = azure(&server).complete(request()).await.unwrap_err();
    assert_eq!(err, LlmError::ContentFilter);
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn reasoning_content_and_missing_usage_are_handled_over_http() {
    let server = FakeServer::start([
        Reply::json(json!({
            "model": "deepseek-reasoner",
            "choices": [{"message": {"role": "assistant", "content": "FINAL(1)",
                                     "reasoning_content": "think think"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 30,
                      "completion_tokens_details": {"reasoning_tokens": 25}},
        })),
        Reply::json(json!({
            "model": "local",
            "choices": [{"message": {"role": "assistant", "content": "no usage here"},
                         "finish_reason": "stop"}],
        })),
    ])
    .await;
    let client = OpenAiClient::builder("m")
        .base_url(server.base_url())
        .retry_policy(fast_policy())
        .build()
        .unwrap();
    let first = client.complete(request()).await.unwrap();
    assert_eq!(first.text, "FINAL(1)");
    assert_eq!(
        (first.usage.input_tokens, first.usage.output_tokens),
        (9, 30)
    );
    let second = client.complete(request()).await.unwrap();
    assert_eq!(second.text, "no usage here");
    assert_eq!(
        (
            second.usage.input_tokens,
            second.usage.output_tokens,
            second.usage.calls
        ),
        (0, 0, 1)
    );
}

/// OpenAI-compatible bases carry their version (`/v1`, `/api/v1`); a bare host gets `/v1`,
/// a pasted whole endpoint is cut back. Azure's endpoint is the resource root; a trailing
/// `/openai` is not doubled.
#[tokio::test]
async fn base_url_conventions() {
    let server = FakeServer::start(Script::always(Reply::text("ok"))).await;
    let root = server.url();
    let openai = [
        (root.clone(), "/v1/chat/completions"),
        (format!("{root}/"), "/v1/chat/completions"),
        (format!("{root}/v1"), "/v1/chat/completions"),
        (format!("{root}/v1/"), "/v1/chat/completions"),
        (
            format!("{root}/v1/chat/completions"),
            "/v1/chat/completions",
        ),
        (format!("{root}/api/v1"), "/api/v1/chat/completions"),
        (
            format!("{root}/v1beta/openai/"),
            "/v1beta/openai/chat/completions",
        ),
    ];
    let mut sent = 0;
    for (base, path) in &openai {
        let client = OpenAiClient::builder("m")
            .base_url(base.as_str())
            .api_key(KEY)
            .retry_policy(fast_policy())
            .build()
            .unwrap();
        assert_eq!(client.endpoint(), format!("{root}{path}"), "{base}");
        assert_eq!(client.complete(request()).await.unwrap().text, "ok");
        assert_eq!(server.requests()[sent].path, *path, "{base}");
        sent += 1;
    }
    let deployment = "/openai/deployments/d1/chat/completions?api-version=2024-10-21";
    for base in [
        root.clone(),
        format!("{root}/openai"),
        format!("{root}/openai/"),
    ] {
        let client = AzureOpenAiClient::builder("d1")
            .base_url(base.as_str())
            .api_version("2024-10-21")
            .api_key(KEY)
            .retry_policy(fast_policy())
            .build()
            .unwrap();
        assert_eq!(client.complete(request()).await.unwrap().text, "ok");
        assert_eq!(server.requests()[sent].path, deployment, "{base}");
        sent += 1;
    }
}
