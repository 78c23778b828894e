//! The memory cap of the embedded REPL, with the `rlm` binary as a process against the
//! testkit's fake server on 127.0.0.1: model code that appends 100 MB strings in a loop gets
//! `MemoryError` and the run finishes, inside a 4 GiB address space (issue 11: the process
//! used to abort with SIGABRT, exit 134).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};

/// The address space the process gets (`ulimit -v`, in KiB): 4 GiB.
const ADDRESS_SPACE_KIB: u64 = 4 << 20;

const BOMB: &str = "chunks = []\nwhile True:\n    chunks.append('x' * 100_000_000)";

/// Runs `rlm` under `ulimit -v` through `sh`, so the limit is set before `exec`.
async fn rlm_limited(args: &[&str]) -> Output {
    let script = format!("ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\"");
    tokio::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_rlm"))
        .args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", "sk-test")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_memory_bomb_raises_memory_error_and_the_run_finishes() {
    let dir = std::env::temp_dir().join(format!("rlm-cli-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let context = dir.join("context.txt");
    std::fs::write(&context, "a small context\n").unwrap();
    let srv = FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        Reply::text(match classify_http(req) {
            Call::Turn { turn: 0, .. } => repl(BOMB),
            // The model reads the error, frees the list and finishes.
            Call::Turn { last_user, .. } if last_user.contains("MemoryError") => {
                repl("n = len(chunks)\nchunks = None\nFINAL(f'MemoryError after {n} chunks')")
            }
            Call::Turn { .. } => repl("FINAL('no MemoryError')"),
            Call::Plain { .. } => "unused".into(),
        })
    }))
    .await;
    let url = srv.base_url();
    // The default cap (2 GiB).
    let out = rlm_limited(&[
        "run",
        "--context-file",
        context.to_str().unwrap(),
        "--query",
        "Use memory.",
        "--model",
        "fake-model",
        "--base-url",
        &url,
        "--quiet",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let answer = String::from_utf8_lossy(&out.stdout);
    let chunks: u32 = answer
        .trim()
        .strip_prefix("MemoryError after ")
        .and_then(|rest| rest.strip_suffix(" chunks"))
        .unwrap_or_else(|| panic!("unexpected answer {answer:?}; stderr: {stderr}"))
        .parse()
        .unwrap();
    // 2 GiB holds about 21 strings of 100 MB; the cap stopped the loop near it.
    assert!((15..=21).contains(&chunks), "{chunks} chunks");
    assert_eq!(srv.requests().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
