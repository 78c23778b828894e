//! Custom tools through the `rlm` binary (`--tool`, `--tool-data`, `--tool-description`), as a
//! process against the testkit's fake OpenAI-compatible server on 127.0.0.1. The tool commands
//! are small `sh` scripts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};

fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-cli-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file(name: &str, content: &str) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

async fn rlm(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", "sk-test-TOOLS-SENTINEL")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

async fn server(script: impl Fn(Call) -> String + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(Script::from_fn(move |req: &RecordedRequest| {
        Reply::text(script(classify_http(req)))
    }))
    .await
}

fn run_args<'a>(url: &'a str, context: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--context-file",
        context.to_str().unwrap(),
        "--query",
        "Use the tools.",
        "--model",
        "fake-model",
        "--base-url",
        url,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    args
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn tools_run_commands_and_data_comes_from_json_files() {
    // Echoes the call it got on stdin; sees no provider key.
    let lookup = file(
        "lookup.sh",
        "input=$(cat)\nprintf '{\"echo\": %s, \"key\": \"%s\"}' \"$input\" \"${OPENAI_API_KEY:-none}\"\n",
    );
    let broken = file(
        "broken.sh",
        "cat >/dev/null\necho 'the index is locked' >&2\nexit 3\n",
    );
    let garbled = file("garbled.sh", "echo not json\n");
    let config = file("config.json", r#"{"index": "main", "shards": [1, 2]}"#);
    let context = file("context.txt", "some text");
    let code = "r = lookup('needle', 2, limit=3)\nparts = [r['echo']['args'][0], str(r['echo']['args'][1]), str(r['echo']['kwargs']['limit']), r['key'], CONFIG['index'], str(len(CONFIG['shards']))]\ntry:\n    broken()\nexcept RuntimeError as e:\n    parts.append(str(e))\ntry:\n    garbled()\nexcept RuntimeError as e:\n    parts.append(str(e)[:38])\nFINAL(' | '.join(parts))";
    let srv = server(move |c| match c {
        Call::Turn { .. } => repl(code),
        Call::Plain { .. } => "plain".into(),
    })
    .await;
    let url = srv.base_url();
    let lookup_tool = format!("lookup=sh {}", lookup.display());
    let broken_tool = format!("broken=sh '{}'", broken.display());
    let garbled_tool = format!("garbled=sh {}", garbled.display());
    let data = format!("CONFIG={}", config.display());
    let out = rlm(&run_args(
        &url,
        &context,
        &[
            "--tool",
            &lookup_tool,
            "--tool",
            &broken_tool,
            "--tool",
            &garbled_tool,
            "--tool-data",
            &data,
            "--tool-description",
            "lookup=Looks a word up in the index.",
            "--tool-description",
            "CONFIG=The index settings.",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let answer = text(&out.stdout);
    assert_eq!(
        answer.trim_end(),
        "needle | 2 | 3 | none | main | 2 | the tool broken failed (exit status: 3): the index is locked | the tool garbled printed no JSON value"
    );
    let first = &srv.requests()[0];
    let system = first.json.as_ref().unwrap()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        system.contains("- `lookup(...)`: Looks a word up in the index."),
        "{system}"
    );
    assert!(
        system.contains("- `broken(...)`: A custom function."),
        "{system}"
    );
    assert!(
        system.contains("- `CONFIG` (dict): The index settings."),
        "{system}"
    );
}

#[tokio::test]
async fn a_tool_command_that_hangs_times_the_block_out() {
    let context = file("context-slow.txt", "text");
    let srv = server(|c| match c {
        Call::Turn { turn: 0, .. } => repl("slow()"),
        Call::Turn { last_user, .. } => {
            let verdict = if last_user.contains("TimeoutError") && last_user.contains("slow()") {
                "timed out"
            } else {
                "no timeout"
            };
            repl(&format!("FINAL('{verdict}')"))
        }
        Call::Plain { .. } => "plain".into(),
    })
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(
        &url,
        &context,
        &["--tool", "slow=sleep 600", "--execution-timeout", "1"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), "timed out");
}

#[tokio::test]
async fn bad_tool_flags_are_refused_before_any_request() {
    let context = file("context-bad.txt", "text");
    let data = file("one.json", "1");
    let srv = server(|_| repl("FINAL('x')")).await;
    let url = srv.base_url();
    let ctx_data = format!("context={}", data.display());
    let out = rlm(&run_args(
        &url,
        &context,
        &[
            "--tool",
            "llm_query=echo 1",
            "--tool",
            "print=echo 1",
            "--tool-data",
            &ctx_data,
            "--tool",
            "fine=echo 1",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for name in [
        "'llm_query' (reserved by the runtime)",
        "'print' (a Python builtin)",
        "'context' (reserved for the run's inputs)",
    ] {
        assert!(err.contains(name), "{name} not in {err}");
    }
    assert!(!err.contains("'fine'"), "{err}");
    assert!(srv.requests().is_empty());

    let out = rlm(&run_args(
        &url,
        &context,
        &["--tool-data", "D=/no/such/file.json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("/no/such/file.json"));
    let out = rlm(&run_args(
        &url,
        &context,
        &["--tool-description", "ghost=text"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no --tool or --tool-data named ghost"));
}
