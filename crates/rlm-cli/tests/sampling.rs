//! The sampling flags in the `rlm` binary, as a process against fake servers: every root flag
//! reaches the root model's request bodies and every `--sub-` flag the sub-call's, each in its
//! provider's wire format; bad values and settings a provider refuses exit 2 naming the flag,
//! before any request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Output;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::repl;
use serde_json::{Value, json};

const OPENAI_KEY: &str = "sk-openai-SAMPLING-1111";
const ANTHROPIC_KEY: &str = "sk-ant-SAMPLING-2222";
const GEMINI_KEY: &str = "AIza-SAMPLING-3333";

fn context_file() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-cli-sampling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("context.txt");
    std::fs::write(&path, "some context").unwrap();
    path
}

/// `rlm run` with a clean environment: no provider variable leaks in from the machine.
fn command(extra: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(["run", "--quiet", "--context-file"])
        .arg(context_file())
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether a request is a run turn (it carries the system prompt) rather than a sub-call.
fn is_turn(req: &RecordedRequest) -> bool {
    let json = req.json.as_ref();
    json.and_then(|j| j.get("system")).is_some()
        || json.and_then(|j| j.get("systemInstruction")).is_some()
        || json
            .and_then(|j| j["messages"][0]["role"].as_str())
            .is_some_and(|role| role == "system")
}

/// `body` without the conversation: the sampling fields only.
fn sampling_of(req: &RecordedRequest) -> Value {
    let mut body = req.json.clone().unwrap();
    let map = body.as_object_mut().unwrap();
    for key in ["messages", "system", "contents", "systemInstruction"] {
        map.remove(key);
    }
    body
}

#[tokio::test]
async fn openai_root_and_sub_each_get_their_flags() {
    let server = FakeServer::start(Script::from_fn(|req| {
        if is_turn(req) {
            Reply::text(repl("FINAL(llm_query('say hi'))"))
        } else {
            Reply::text("sub says hi")
        }
    }))
    .await;
    let trace = context_file().with_file_name("openai-trace.jsonl");
    let out = command(&[
        "--trace",
        trace.to_str().unwrap(),
        "--model",
        "gpt-root",
        "--sub-model",
        "gpt-sub",
        "--base-url",
        &server.base_url(),
        "--temperature",
        "0.5",
        "--top-p",
        "0.875",
        "--max-output-tokens",
        "3000",
        "--seed",
        "42",
        "--stop",
        "</done>",
        "--stop",
        "STOP",
        "--reasoning-effort",
        "high",
        "--extra-body",
        r#"{"service_tier": "flex", "metadata": {"who": "root"}}"#,
        "--sub-temperature",
        "0.25",
        "--sub-seed",
        "7",
        "--sub-max-output-tokens",
        "100",
        "--sub-extra-body",
        r#"{"metadata": {"who": "sub"}, "top_p": null}"#,
    ])
    .env("OPENAI_API_KEY", OPENAI_KEY)
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "sub says hi");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let (root, sub) = if is_turn(&requests[0]) {
        (&requests[0], &requests[1])
    } else {
        (&requests[1], &requests[0])
    };
    assert!(is_turn(root) && !is_turn(sub));
    assert_eq!(
        sampling_of(root),
        json!({
            "model": "gpt-root", "temperature": 0.5, "top_p": 0.875,
            // A reasoning effort moves the cap to max_completion_tokens.
            "max_completion_tokens": 3000, "stop": ["</done>", "STOP"], "seed": 42,
            "reasoning_effort": "high", "service_tier": "flex", "metadata": {"who": "root"},
        })
    );
    // The sub-call: its own flags, the root's top_p (removed by its extras) and stop; not the
    // root's reasoning effort or extras.
    assert_eq!(
        sampling_of(sub),
        json!({
            "model": "gpt-sub", "temperature": 0.25, "max_tokens": 100,
            "stop": ["</done>", "STOP"], "seed": 7, "metadata": {"who": "sub"},
        })
    );
    // The trajectory header records both samplings as given.
    let text = std::fs::read_to_string(&trace).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let config = &header["config"];
    assert_eq!(config["temperature"], 0.5);
    assert_eq!(config["max_output_tokens"], 3000);
    assert_eq!(config["sampling"]["reasoning_effort"], "high");
    assert_eq!(config["sampling"]["extra_body"]["service_tier"], "flex");
    assert_eq!(
        config["sub_sampling"],
        json!({"temperature": 0.25, "max_tokens": 100, "seed": 7,
               "extra_body": {"metadata": {"who": "sub"}, "top_p": null}})
    );
}

#[tokio::test]
async fn anthropic_thinking_at_the_root_and_gemini_thinking_in_sub_calls() {
    let claude = FakeServer::start(Script::from_fn(|req| {
        if is_turn(req) {
            Reply::anthropic_text(repl("FINAL(llm_query('say hi'))"))
        } else {
            Reply::anthropic_text("the root model got a sub-call")
        }
    }))
    .await;
    let gemini = FakeServer::start(Script::always(Reply::gemini_text("gemini says hi"))).await;
    let out = command(&[
        "--model",
        "anthropic:claude-test",
        "--sub-model",
        "gemini:gemini-test",
        "--base-url",
        &claude.url(),
        "--reasoning-effort",
        "medium",
        "--top-p",
        "0.95",
        "--seed",
        "5",
        "--stop",
        "END",
        "--sub-reasoning-effort",
        "low",
        "--sub-temperature",
        "0.5",
        "--sub-extra-body",
        r#"{"generationConfig": {"topK": 20}}"#,
    ])
    .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    .env("GEMINI_API_KEY", GEMINI_KEY)
    .env("GEMINI_BASE_URL", gemini.url())
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "gemini says hi");

    let root = claude.requests();
    assert_eq!(root.len(), 1);
    // Extended thinking: the 8,192-token budget over the default 8,192-token cap; no seed (the
    // API has none).
    assert_eq!(
        sampling_of(&root[0]),
        json!({
            "model": "claude-test", "max_tokens": 16_384, "top_p": 0.95,
            "stop_sequences": ["END"],
            "thinking": {"type": "enabled", "budget_tokens": 8192},
        })
    );
    let sub = gemini.requests();
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0].path, "/v1beta/models/gemini-test:generateContent");
    assert_eq!(
        sampling_of(&sub[0]),
        json!({"generationConfig": {
            "temperature": 0.5, "topP": 0.95, "stopSequences": ["END"], "seed": 5,
            "thinkingConfig": {"thinkingBudget": 1024}, "topK": 20,
        }})
    );
}

#[tokio::test]
async fn bad_values_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--top-p", "1.5"],
            "invalid value '1.5' for '--top-p <P>': must be between 0 and 1",
        ),
        (
            &["--sub-temperature", "2.5"],
            "invalid value '2.5' for '--sub-temperature <T>': must be between 0 and 2",
        ),
        (
            &["--max-output-tokens", "0"],
            "invalid value '0' for '--max-output-tokens <N>': must be at least 1",
        ),
        (
            &["--extra-body", "[1, 2]"],
            "invalid value '[1, 2]' for '--extra-body <JSON>': must be a JSON object",
        ),
        (
            &["--sub-reasoning-effort", "maximal"],
            "invalid value 'maximal' for '--sub-reasoning-effort <EFFORT>'",
        ),
    ];
    for (flags, want) in cases {
        let mut argv = vec!["--model", "m", "--base-url", "http://127.0.0.1:9/v1"];
        argv.extend_from_slice(flags);
        let out = command(&argv).output().await.unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{flags:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
}

#[tokio::test]
async fn a_sampling_the_provider_refuses_exits_2_before_any_request() {
    let claude = FakeServer::start(Script::always(Reply::anthropic_text("unexpected"))).await;
    let gemini = FakeServer::start(Script::always(Reply::gemini_text("unexpected"))).await;
    let root = command(&[
        "--model",
        "anthropic:claude-test",
        "--base-url",
        &claude.url(),
        "--temperature",
        "0.5",
        "--reasoning-effort",
        "high",
    ])
    .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    .output()
    .await
    .unwrap();
    assert_eq!(root.status.code(), Some(2), "{}", stderr(&root));
    assert_eq!(
        stderr(&root).trim(),
        "error: the sampling flags of --model do not fit it: claude-test (anthropic): \
         temperature 0.5 cannot be sent with reasoning effort high: Anthropic's extended \
         thinking takes no temperature; leave the temperature unset or drop the reasoning effort"
    );
    // The sub model inherits --seed; Gemini's seed is 32-bit.
    let sub = command(&[
        "--model",
        "anthropic:claude-test",
        "--base-url",
        &claude.url(),
        "--sub-model",
        "gemini:gemini-test",
        "--seed",
        "4294967296",
    ])
    .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    .env("GEMINI_API_KEY", GEMINI_KEY)
    .env("GEMINI_BASE_URL", gemini.url())
    .output()
    .await
    .unwrap();
    assert_eq!(sub.status.code(), Some(2), "{}", stderr(&sub));
    assert!(
        stderr(&sub).contains("the sampling of sub-calls (the --sub-* flags")
            && stderr(&sub).contains("gemini-test (gcp.gemini): seed 4294967296 does not fit"),
        "{}",
        stderr(&sub)
    );
    assert!(claude.requests().is_empty() && gemini.requests().is_empty());
    for key in [ANTHROPIC_KEY, GEMINI_KEY] {
        assert!(!stderr(&root).contains(key) && !stderr(&sub).contains(key));
    }
}
