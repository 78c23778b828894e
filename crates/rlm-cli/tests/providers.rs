//! Model routing in the `rlm` binary, as a process against fake servers speaking each
//! provider's protocol: `provider:model` for the root and sub models, `--provider`, the
//! provider's own variables, `--sub-temperature`, and errors that name the right variable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Output;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::repl;
use serde_json::Value;

const OPENAI_KEY: &str = "sk-openai-ROUTING-1111";
const ANTHROPIC_KEY: &str = "sk-ant-ROUTING-2222";
const GEMINI_KEY: &str = "AIza-ROUTING-3333";
const AZURE_KEY: &str = "azure-ROUTING-4444";

fn context_file() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-cli-providers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("context.txt");
    std::fs::write(&path, "some context").unwrap();
    path
}

/// `rlm run` with a clean environment: no provider variable leaks in from the machine.
fn command(extra: &[&str]) -> tokio::process::Command {
    let context = context_file();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(["run", "--quiet", "--context-file"])
        .arg(context)
        .args(["--query", "What is it?"])
        .args(extra)
        .kill_on_drop(true);
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY",
        "GEMINI_BASE_URL",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "OPENAI_API_VERSION",
        "RLM_MODEL",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether a request is a root turn (it carries the system prompt) rather than a sub-call.
fn is_turn(req: &RecordedRequest) -> bool {
    let json = req.json.as_ref();
    json.and_then(|j| j.get("system")).is_some()
        || json.and_then(|j| j.get("systemInstruction")).is_some()
        || json
            .and_then(|j| j["messages"][0]["role"].as_str())
            .is_some_and(|role| role == "system")
}

#[tokio::test]
async fn anthropic_root_with_an_openai_sub_model() {
    let claude = FakeServer::start(Script::from_fn(|req| {
        if is_turn(req) {
            Reply::anthropic_text(repl("FINAL(llm_query('sub question'))"))
        } else {
            Reply::anthropic_text("the root model got a sub-call")
        }
    }))
    .await;
    let gpt = FakeServer::start(Script::always(Reply::text("from the sub model"))).await;
    let out = command(&[
        "--model",
        "anthropic:claude-test",
        "--sub-model",
        "openai:gpt-sub",
        "--base-url",
        &claude.url(),
        "--json",
    ])
    .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    .env("OPENAI_API_KEY", OPENAI_KEY)
    .env("OPENAI_BASE_URL", gpt.base_url())
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(result["answer"], "from the sub model");
    assert_eq!(result["usage"]["claude-test"]["calls"], 1, "{result}");
    assert_eq!(result["usage"]["gpt-sub"]["calls"], 1, "{result}");

    let root_requests = claude.requests();
    assert_eq!(root_requests.len(), 1);
    assert_eq!(root_requests[0].path, "/v1/messages");
    assert_eq!(root_requests[0].header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(root_requests[0].model(), Some("claude-test"));
    let sub_requests = gpt.requests();
    assert_eq!(sub_requests.len(), 1);
    assert_eq!(sub_requests[0].path, "/v1/chat/completions");
    assert_eq!(
        sub_requests[0].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(sub_requests[0].model(), Some("gpt-sub"));
    for key in [OPENAI_KEY, ANTHROPIC_KEY] {
        assert!(!stdout(&out).contains(key) && !stderr(&out).contains(key));
    }
}

#[tokio::test]
async fn provider_flag_and_separate_sampling_for_the_sub_model() {
    let gemini = FakeServer::start(Script::from_fn(|req| {
        if is_turn(req) {
            Reply::gemini_text(repl("FINAL(llm_query('say hi'))"))
        } else {
            Reply::gemini_text("sub says hi")
        }
    }))
    .await;
    let out = command(&[
        "--provider",
        "gemini",
        "--model",
        "gemini-test",
        "--base-url",
        &gemini.url(),
        "--temperature",
        "0.5",
        "--sub-temperature",
        "0.125",
    ])
    .env("GEMINI_API_KEY", GEMINI_KEY)
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "sub says hi");
    let requests = gemini.requests();
    assert_eq!(requests.len(), 2);
    for req in &requests {
        assert_eq!(req.path, "/v1beta/models/gemini-test:generateContent");
        assert_eq!(req.header("x-goog-api-key"), Some(GEMINI_KEY));
    }
    let temperature = |req: &RecordedRequest| {
        req.json.as_ref().unwrap()["generationConfig"]["temperature"].clone()
    };
    assert_eq!(temperature(&requests[0]), 0.5);
    assert_eq!(temperature(&requests[1]), 0.125);
}

#[tokio::test]
async fn azure_deployment_from_the_azure_variables() {
    let azure = FakeServer::start(Script::from_fn(|req| {
        if is_turn(req) {
            Reply::text(repl("FINAL('azure answered')"))
        } else {
            Reply::text("unexpected sub-call")
        }
    }))
    .await;
    let out = command(&["--model", "azure:prod-gpt4o"])
        .env("AZURE_OPENAI_API_KEY", AZURE_KEY)
        .env("AZURE_OPENAI_ENDPOINT", azure.url())
        .env("OPENAI_API_VERSION", "2024-10-21")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "azure answered");
    let req = &azure.requests()[0];
    assert_eq!(
        req.path,
        "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(req.header("api-key"), Some(AZURE_KEY));
    assert_eq!(req.header("authorization"), None);
}

#[tokio::test]
async fn a_missing_key_names_the_providers_variable() {
    for (model, var) in [
        ("anthropic:claude-test", "ANTHROPIC_API_KEY"),
        ("gemini:gemini-test", "GEMINI_API_KEY"),
        ("openai:gpt-test", "OPENAI_API_KEY"),
    ] {
        let out = command(&["--model", model]).output().await.unwrap();
        assert_eq!(out.status.code(), Some(4), "{model}: {}", stderr(&out));
        assert!(stderr(&out).contains(var), "{model}: {}", stderr(&out));
    }
    let out = command(&["--model", "azure:dep"])
        .env("AZURE_OPENAI_API_KEY", AZURE_KEY)
        .env("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("OPENAI_API_VERSION"),
        "{}",
        stderr(&out)
    );
    let out = command(&["--model", "anthropic:"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = command(&["--model", "m", "--provider", "mistral"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[tokio::test]
async fn a_refused_key_names_the_providers_variable_and_is_never_printed() {
    let claude = FakeServer::start(Script::from_fn(|req| {
        let key = req.header("x-api-key").unwrap_or("none").to_string();
        Reply::anthropic_error(
            401,
            "authentication_error",
            &format!("invalid x-api-key {key}"),
        )
    }))
    .await;
    let out = command(&[
        "--model",
        "anthropic:claude-test",
        "--base-url",
        &claude.url(),
    ])
    .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refused the API key (HTTP 401): set ANTHROPIC_API_KEY to a valid key"),
        "{err}"
    );
    assert!(!err.contains(ANTHROPIC_KEY) && !stdout(&out).contains(ANTHROPIC_KEY));
    assert_eq!(claude.request_count(), 1, "a refused key is not retried");
}

/// `--provider anthropic --base-url http://host/v1` (the OpenAI habit) posts to `/v1/messages`,
/// not `/v1/v1/messages`; Gemini's `/v1beta` is not doubled either.
#[tokio::test]
async fn a_base_url_with_the_version_is_not_doubled() {
    let claude =
        FakeServer::start(Script::always(Reply::anthropic_text(repl("FINAL('hi')")))).await;
    let gemini = FakeServer::start(Script::always(Reply::gemini_text(repl("FINAL('hi')")))).await;
    let cases = [
        (
            "anthropic",
            "claude-test",
            format!("{}/v1", claude.url()),
            &claude,
            "/v1/messages",
        ),
        (
            "gemini",
            "gemini-test",
            format!("{}/v1beta/", gemini.url()),
            &gemini,
            "/v1beta/models/gemini-test:generateContent",
        ),
    ];
    for (provider, model, base, server, path) in cases {
        let out = command(&[
            "--provider",
            provider,
            "--model",
            model,
            "--base-url",
            &base,
        ])
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .env("GEMINI_API_KEY", GEMINI_KEY)
        .output()
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(0), "{provider}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "hi");
        assert_eq!(server.requests()[0].path, path);
    }
}
