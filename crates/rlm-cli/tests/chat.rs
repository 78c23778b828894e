//! `rlm chat` and the compaction flags as processes, against the testkit's fake
//! OpenAI-compatible server on 127.0.0.1 (`docs/design.md` §13): questions from a pipe, one
//! answer per line, the session kept between them, Ctrl-C cancelling one answer only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "sk-test-CHAT-SENTINEL-5555";

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-chat-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `rlm chat` over `context` with `input` piped to its stdin.
async fn chat(server: &FakeServer, context: &str, extra: &[&str], input: &str) -> Output {
    let file = tmp("chat-context.txt", context);
    let url = server.base_url();
    let mut args = vec![
        "chat",
        "--context-file",
        file.to_str().unwrap(),
        "--model",
        "fake-model",
        "--base-url",
        &url,
    ];
    args.extend_from_slice(extra);
    let mut child = command(&args).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Answers each question by its text; a plain sub-call gets `sub`.
async fn server() -> FakeServer {
    FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        let code = match classify_http(req) {
            Call::Plain { .. } => return Reply::text("sub"),
            Call::Turn { query, .. } => match query.as_str() {
                "remember the code" => "secret = context.split()[-1]\nFINAL('noted')",
                "what was the code?" => {
                    "FINAL(secret + ' after ' + str(len(history_0)) + ' messages')"
                }
                "two lines" => "FINAL('first\\nsecond \\\\ end')",
                "stall" => return Reply::stall(),
                other => panic!("unexpected question {other:?}"),
            },
        };
        Reply::text(repl(code))
    }))
    .await
}

fn first_user_messages(server: &FakeServer, query: &str) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| matches!(classify_http(r), Call::Turn { query: q, .. } if q == query))
        .map(|r| r.message_contents()[1].clone())
        .collect()
}

#[tokio::test]
async fn questions_from_a_pipe_share_one_session_and_answer_one_line_each() {
    let srv = server().await;
    let out = chat(
        &srv,
        "the code is 7781",
        &[],
        "remember the code\n\n   \nwhat was the code?\ntwo lines\n",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "noted\n7781 after 3 messages\nfirst\\nsecond \\\\ end\n"
    );
    // Blank lines are no questions: three questions, one request each.
    assert_eq!(srv.requests().len(), 3);
    let second = &first_user_messages(&srv, "what was the code?")[0];
    assert!(
        second.contains("1 prior conversation history available in `history_0`"),
        "{second}"
    );
    assert!(!text(&out.stderr).contains(KEY));
    assert!(
        text(&out.stderr).contains("[rlm] session: 3 questions, 3 LLM calls, 45 tokens"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn json_prints_one_object_per_answer_and_query_is_asked_first() {
    let srv = server().await;
    let out = chat(
        &srv,
        "the code is 1234",
        &["--json", "--query", "remember the code"],
        "two lines\nwhat was the code?\n",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["query"], "remember the code");
    assert_eq!(lines[0]["answer"], "noted");
    assert_eq!(lines[1]["answer"], "first\nsecond \\ end");
    assert_eq!(lines[2]["answer"], "1234 after 3 messages");
    for line in &lines {
        assert_eq!(line["outcome"], "finished");
        assert_eq!(line["iterations"], 1);
    }
}

#[tokio::test]
async fn ctrl_c_cancels_the_answer_and_keeps_the_session() {
    let srv = server().await;
    let file = tmp("chat-ctrl-c.txt", "the code is 5150");
    let url = srv.base_url();
    let mut child = command(&[
        "chat",
        "--context-file",
        file.to_str().unwrap(),
        "--model",
        "fake-model",
        "--base-url",
        &url,
    ])
    .spawn()
    .unwrap();
    let pid = child.id().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"remember the code\nstall\n")
        .await
        .unwrap();
    // Wait (bounded) until the stalled question's request has reached the server.
    let deadline = Instant::now() + Duration::from_secs(60);
    while first_user_messages(&srv, "stall").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the stalled question never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stdin.write_all(b"what was the code?\n").await.unwrap();
    drop(stdin);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The cancelled question keeps its (empty) line; the session, its variables and the first
    // question's history are still there. The cancelled one left no history.
    assert_eq!(stdout, "noted\n\n5150 after 3 messages\n");
    assert!(
        text(&out.stderr).contains("answer cancelled"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn the_context_cannot_come_from_stdin() {
    let srv = server().await;
    let url = srv.base_url();
    let out = command(&[
        "chat",
        "--context-file",
        "-",
        "--model",
        "fake-model",
        "--base-url",
        &url,
    ])
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give the context as a file"));
    assert!(srv.requests().is_empty());
}

/// `rlm run` with a small `--compact-chars`: 12 turns of 3,000-character observations are
/// compacted, no request is over the limit, and the answer comes from a variable set in turn 1.
#[tokio::test]
async fn run_compacts_past_compact_chars() {
    let srv = FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        let messages = req.message_contents();
        let last = messages.last().cloned().unwrap_or_default();
        if last.contains("Your conversation is about to be compacted") {
            return Reply::text("Summary: `kept` holds the answer.");
        }
        let turn = last
            .rsplit("Turn ")
            .next()
            .and_then(|t| t.split('/').next())
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let code = match turn {
            1 => "kept = 'violet'\nprint('a' * 3000)".to_string(),
            12 => "FINAL(kept)".to_string(),
            n => format!("print('turn {n} ' + 'b' * 3000)"),
        };
        Reply::text(repl(&code))
    }))
    .await;
    let file = tmp("compact.txt", "ctx");
    let url = srv.base_url();
    let out = command(&[
        "run",
        "--context-file",
        file.to_str().unwrap(),
        "--query",
        "q",
        "--model",
        "fake-model",
        "--base-url",
        &url,
        "--compact-chars",
        "10000",
        "--quiet",
    ])
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "violet\n");
    let requests = srv.requests();
    let summaries = requests
        .iter()
        .filter(|r| {
            r.message_contents()
                .last()
                .is_some_and(|m| m.contains("about to be compacted"))
        })
        .count();
    assert!(summaries >= 2, "{summaries}");
    for r in &requests {
        let chars: usize = r.message_contents().iter().map(String::len).sum();
        assert!(chars <= 10_000, "{chars}");
    }
}

#[tokio::test]
async fn bad_compaction_flags_are_refused() {
    for (flags, says) in [
        (&["--compact-at", "1.5"][..], "--compact-at"),
        (&["--compact-chars", "50"][..], "compaction.chars"),
        (&["--no-compact", "--compact-at", "0.5"][..], "--no-compact"),
    ] {
        let file = tmp("flags.txt", "ctx");
        let mut args = vec!["run", "-c", file.to_str().unwrap(), "-q", "q", "-m", "m"];
        args.extend_from_slice(flags);
        let out = command(&args).output().await.unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The interactive prompt on a real terminal: `script` (util-linux, in every Debian) runs
/// `rlm chat` on a pseudo-terminal and forwards the keys written to its stdin. Ctrl-C at the
/// prompt clears the line; Ctrl-C during an answer cancels it and the session goes on; Ctrl-D
/// leaves.
#[tokio::test]
async fn the_terminal_prompt_edits_cancels_and_leaves() {
    use std::sync::{Arc, Mutex};

    let srv = server().await;
    let file = tmp("chat-pty.txt", "the code is 5150");
    let line = format!(
        "{} chat --context-file {} --model fake-model --base-url {}",
        env!("CARGO_BIN_EXE_rlm"),
        file.display(),
        srv.base_url()
    );
    let mut child = rlm_testkit::terminal::on_terminal(&line)
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs the chat on a pseudo-terminal");
    let mut keys = child.stdin.take().unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    // Waits until `what` is on the screen `times` times. Keys are typed only at a prompt: the
    // editor flushes type-ahead when it switches the terminal to raw mode.
    let wait_for = |what: &'static str, times: usize| {
        let screen = screen.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while screen.lock().unwrap().matches(what).count() < times {
                assert!(
                    Instant::now() < deadline,
                    "never saw {what:?} {times} times; screen:\n{}",
                    screen.lock().unwrap()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for("rlm> ", 1).await;
    // Ctrl-C at the prompt drops the half-typed line.
    keys.write_all(b"typo\x03").await.unwrap();
    wait_for("rlm> ", 2).await;
    keys.write_all(b"remember the code\r").await.unwrap();
    wait_for("noted", 1).await;
    wait_for("rlm> ", 3).await;
    keys.write_all(b"stall\r").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while first_user_messages(&srv, "stall").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the stalled question never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    keys.write_all(b"\x03").await.unwrap();
    wait_for("answer cancelled", 1).await;
    wait_for("rlm> ", 4).await;
    keys.write_all(b"what was the code?\r").await.unwrap();
    wait_for("5150 after 3 messages", 1).await;
    wait_for("rlm> ", 5).await;
    keys.write_all(b"\x04").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    reader.await.unwrap();
    assert_eq!(status.code(), Some(0), "{}", screen.lock().unwrap());
    // Three questions reached the model; the cleared line never did.
    let queries: Vec<String> = srv
        .requests()
        .iter()
        .filter_map(|r| match classify_http(r) {
            Call::Turn { query, .. } => Some(query),
            Call::Plain { .. } => None,
        })
        .collect();
    assert_eq!(
        queries,
        ["remember the code", "stall", "what was the code?"]
    );
}
