//! Streaming the root model's reply into the live view, as processes against the testkit's
//! fake server on 127.0.0.1: on a terminal (`script` runs `rlm run` on a pseudo-terminal) the
//! root turns ask for a server-sent-event stream and the reply shows under the root's line as
//! it arrives; the answer is unchanged. `--no-stream`, and any run off a terminal, send exactly
//! the plain requests of before.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};

const KEY: &str = "sk-test-STREAM-SENTINEL-7777";

/// The root's one turn: some words, then the code that finishes, sent a few bytes at a time so
/// the stream takes a while.
const TURN: &str = "I will read the context first and then answer.\n```repl\nFINAL('streamed ' + str(len(context)))\n```";

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-stream-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

async fn server() -> FakeServer {
    FakeServer::start(Script::from_fn(|_: &RecordedRequest| {
        Reply::text(TURN)
            .usage(120, 30)
            .trickle(24, Duration::from_millis(40))
    }))
    .await
}

/// `rlm run ... extra` on a pseudo-terminal: stdout and stderr both go to the screen it returns.
async fn run_on_terminal(server: &FakeServer, extra: &str) -> (String, i32) {
    let file = tmp("ctx.txt", "0123456789");
    let line = format!(
        "{} run --context-file {} --query 'how long?' --model fake-model --base-url {} {extra}",
        env!("CARGO_BIN_EXE_rlm"),
        file.display(),
        server.base_url()
    );
    let out = rlm_testkit::terminal::on_terminal(&line)
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the run ends")
        .expect("`script` (util-linux) runs rlm on a pseudo-terminal");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn streamed(server: &FakeServer) -> Vec<bool> {
    server
        .requests()
        .iter()
        .map(RecordedRequest::wants_stream)
        .collect()
}

#[tokio::test]
async fn on_a_terminal_the_root_reply_streams_into_the_live_view() {
    let srv = server().await;
    let (screen, code) = run_on_terminal(&srv, "").await;
    assert_eq!(code, 0, "screen:\n{screen}");
    assert_eq!(streamed(&srv), [true], "the root turn asks for a stream");
    let body = srv.requests()[0].json.clone().unwrap();
    assert_eq!(body["stream_options"]["include_usage"], true);
    // The reply's lines show under the root, marked `> `: only deltas carry them to the view
    // (the live view asks for no content).
    assert!(
        screen.contains("> FINAL('streamed ' + str(len(context)))"),
        "screen:\n{screen}"
    );
    // The answer is unchanged, and so is the usage the view counts.
    assert!(screen.contains("streamed 10"), "screen:\n{screen}");
    assert!(screen.contains("150 tok"), "usage counted: {screen}");
}

#[tokio::test]
async fn no_stream_and_piped_runs_send_plain_requests() {
    let srv = server().await;
    let (screen, code) = run_on_terminal(&srv, "--no-stream").await;
    assert_eq!(code, 0, "screen:\n{screen}");
    assert!(screen.contains("streamed 10"), "screen:\n{screen}");
    assert!(!screen.contains("> FINAL"), "nothing streamed: {screen}");

    // Off a terminal (stderr piped), nothing streams either.
    let file = tmp("ctx-piped.txt", "0123456789");
    let url = srv.base_url();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(["run", "--context-file", file.to_str().unwrap()])
        .args([
            "--query",
            "how long?",
            "--model",
            "fake-model",
            "--base-url",
            &url,
        ])
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "streamed 10");
    assert_eq!(streamed(&srv), [false, false]);
    for request in srv.requests() {
        let body = request.json.unwrap();
        assert!(body.get("stream").is_none() && body.get("stream_options").is_none());
    }
}
