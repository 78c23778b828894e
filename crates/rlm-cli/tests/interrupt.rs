//! Ctrl-C as a process: the `rlm` binary against the testkit's fake server on 127.0.0.1, with a
//! code block that computes forever (`while True: pass`). SIGINT must stop it promptly, print the
//! usage so far, exit 130, leave a trajectory whose every line parses, and leave no process
//! behind. No timed assertions: the bounds below are generous; the measured stop time is printed
//! (run with `--nocapture` to see it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Child;

const KEY: &str = "sk-test-INTERRUPT-SENTINEL-4321";

/// A bound no healthy stop comes near; the requirement (1 s) is measured, not asserted.
const GENEROUS: Duration = Duration::from_secs(10);

/// The root's first turn: one sub-call, so the test knows the block has started, then a loop
/// only cancellation can end (the block's own time limit is the default 60 s).
const SPIN: &str = "llm_query('started')\nwhile True:\n    pass";

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-interrupt-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

async fn spinning_server() -> FakeServer {
    FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => Reply::text(repl(SPIN)),
            Call::Plain { .. } => Reply::text("ok"),
        },
    ))
    .await
}

/// A running `rlm run` with its stderr collected as it comes.
struct Running {
    child: Child,
    pid: u32,
    stderr: Arc<Mutex<String>>,
    stderr_done: tokio::task::JoinHandle<()>,
}

fn run_args(server_url: &str, context: &Path) -> Vec<String> {
    [
        "run",
        "--context-file",
        context.to_str().unwrap(),
        "--query",
        "Spin.",
        "--model",
        "fake-model",
        "--base-url",
        server_url,
    ]
    .map(String::from)
    .to_vec()
}

fn start(server_url: &str, context: &Path, extra: &[&str]) -> Running {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(run_args(server_url, context))
        .args(extra)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    spawn(cmd)
}

fn spawn(mut cmd: tokio::process::Command) -> Running {
    let mut child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = stderr.clone();
    let stderr_done = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    Running {
        child,
        pid,
        stderr,
        stderr_done,
    }
}

impl Running {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until `ready` holds; panics with the stderr so far if it never does.
    async fn wait_until(&self, what: &str, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "never saw {what}; stderr so far:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn interrupt(&self) {
        send_sigint(self.pid);
    }

    /// Waits for the exit (at most [`GENEROUS`]); returns the exit code, stdout, the whole stderr
    /// and the time from `since` to the exit.
    async fn finish(mut self, since: Instant) -> (Option<i32>, String, String, Duration) {
        let status = match tokio::time::timeout(GENEROUS, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "still running {GENEROUS:?} after SIGINT; stderr so far:\n{}",
                self.stderr()
            ),
        };
        let took = since.elapsed();
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).await.unwrap();
        }
        // The pipe closes once every holder of it is gone; a child the run left behind would
        // keep it open.
        tokio::time::timeout(GENEROUS, &mut self.stderr_done)
            .await
            .expect("stderr closed: nothing holds it open")
            .unwrap();
        (status.code(), stdout, self.stderr(), took)
    }
}

fn send_sigint(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) until `ready` holds.
async fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "never saw {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every process descended from `pid` (children, grandchildren, ...), from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = stat(child).map(|(_, ppid)| ppid) {
            parent_of.push((child, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// A process's state letter and parent pid, or `None` when it no longer exists.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may hold spaces, so read after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` is gone (a zombie waiting to be reaped counts as gone: it runs nothing).
fn gone(pid: u32) -> bool {
    stat(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

fn assert_trajectory_parses(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        complete_lines_parse(path) >= 2,
        "header and events were written: {text}"
    );
    assert!(text.contains("\"record\":\"header\""), "{text}");
}

/// Checks that every complete line of the trajectory parses; returns how many there are.
fn complete_lines_parse(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = 0;
    for line in text.split_inclusive('\n') {
        // A line cut short by the exit would have no newline: every complete line must parse.
        if line.ends_with('\n') {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("trajectory line does not parse ({e}): {line}"));
            lines += 1;
        }
    }
    lines
}

/// Runs the spinning block under `sandbox`, interrupts it once, and checks the whole stop.
async fn interrupt_a_spinning_block(sandbox: &str) {
    let file = tmp(&format!("spin-{sandbox}.txt"), "c");
    let trace = tmp(&format!("spin-{sandbox}.jsonl"), "");
    let srv = spinning_server().await;
    let url = srv.base_url();
    let run = start(
        &url,
        &file,
        &["--sandbox", sandbox, "--trace", trace.to_str().unwrap()],
    );
    // The sub-call arrives once the block runs; its reply comes at once and the loop starts.
    run.wait_until("the block's sub-call", || srv.request_count() >= 2)
        .await;
    run.wait_until("the sub-call answered", || srv.in_flight() == 0)
        .await;
    // Not an assertion: a moment so the interpreter is inside the loop, not resuming.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let left_behind = descendants(run.pid);
    if sandbox == "python" {
        assert!(
            !left_behind.is_empty(),
            "the python sandbox runs in a child process"
        );
    }
    let sent = Instant::now();
    run.interrupt();
    let (code, stdout, stderr, took) = run.finish(sent).await;
    eprintln!("[measure] {sandbox}: exit {took:?} after SIGINT");
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert!(
        stderr.contains("[rlm] cancelled after"),
        "the usage so far is reported: {stderr}"
    );
    assert!(stderr.contains("2 LLM calls"), "{stderr}");
    assert_eq!(stdout, "");
    assert_trajectory_parses(&trace);
    // Nothing the run started outlives it.
    let deadline = Instant::now() + GENEROUS;
    while !left_behind.iter().all(|p| gone(*p)) {
        assert!(
            Instant::now() < deadline,
            "processes left behind: {:?}",
            left_behind
                .iter()
                .filter(|p| !gone(**p))
                .map(|p| (p, stat(*p)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        srv.wait_connections_closed(GENEROUS).await,
        "every connection closed"
    );
}

#[tokio::test]
async fn ctrl_c_stops_a_spinning_monty_block() {
    interrupt_a_spinning_block("monty").await;
}

#[tokio::test]
async fn ctrl_c_stops_a_spinning_python_block_and_kills_its_process_group() {
    interrupt_a_spinning_block("python").await;
}

/// Runs with stderr flooded and never read until the end: tracing at `trace` level with a 100 KB
/// query recorded in the spans (`--log-content`) is more than a pipe holds, so whatever writes
/// to stderr next blocks, the orderly stop included (as with `rlm ... 2>&1 | less`, paused).
/// Sends SIGINT `times` times; returns the exit code.
async fn interrupt_with_stderr_blocked(times: u32) -> Option<i32> {
    let file = tmp(&format!("blocked-{times}.txt"), "c");
    let srv = spinning_server().await;
    let url = srv.base_url();
    let trace = tmp(&format!("blocked-{times}.jsonl"), "");
    let mut args = run_args(&url, &file);
    args[4] = "spin ".repeat(20_000);
    args.extend(["--log-content", "--trace", trace.to_str().unwrap()].map(String::from));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"))
        .args(args)
        .env("RUST_LOG", "trace")
        .env("OPENAI_API_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    wait_for("the Ctrl-C handler", || catches_sigint(pid)).await;
    // Until a thread is blocked writing to the full pipe. Where the kernel hides `wchan` this
    // never shows: then go on after a while; the process must exit 130 either way.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !writing_to_a_full_pipe(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = Instant::now();
    for i in 0..times {
        if i > 0 {
            // Two signals sent back to back may arrive as one: leave a gap.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        send_sigint(pid);
    }
    let status = tokio::time::timeout(GENEROUS, child.wait())
        .await
        .expect("the process exits although stderr is blocked")
        .unwrap();
    eprintln!(
        "[measure] stderr blocked, {times} SIGINT: exit {:?} after the first",
        sent.elapsed()
    );
    complete_lines_parse(&trace);
    status.code()
}

/// Whether a thread of `pid` sleeps in a pipe write.
fn writing_to_a_full_pipe(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("wchan")).is_ok_and(|w| w.contains("pipe_write"))
    })
}

#[tokio::test]
async fn ctrl_c_exits_when_the_orderly_stop_is_blocked() {
    // The orderly stop cannot print its report; the watcher exits after its grace period.
    assert_eq!(interrupt_with_stderr_blocked(1).await, Some(130));
}

#[tokio::test]
async fn a_second_ctrl_c_exits_at_once_when_the_first_cannot_finish() {
    assert_eq!(interrupt_with_stderr_blocked(2).await, Some(130));
}

/// Whether `pid` has a handler installed for SIGINT (`SigCgt` in `/proc/PID/status`).
fn catches_sigint(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (2 - 1)) != 0)
}

#[tokio::test]
async fn ctrl_c_while_waiting_for_the_context_exits_at_once() {
    // `--context-file -` with a standard input that never ends: the run never starts.
    let srv = spinning_server().await;
    let url = srv.base_url();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args([
        "run",
        "--context-file",
        "-",
        "--query",
        "q",
        "--model",
        "fake-model",
        "--base-url",
        &url,
    ])
    .env_remove("RUST_LOG")
    .env("OPENAI_API_KEY", KEY)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut run = spawn(cmd);
    let _stdin_kept_open = run.child.stdin.take().unwrap();
    let pid = run.pid;
    run.wait_until("the Ctrl-C handler", || catches_sigint(pid))
        .await;
    let sent = Instant::now();
    run.interrupt();
    let (code, stdout, stderr, took) = run.finish(sent).await;
    eprintln!("[measure] stdin: exit {took:?} after SIGINT");
    assert_eq!(code, Some(130), "stderr: {stderr}");
    assert_eq!(stderr, "[rlm] cancelled before the run started\n");
    assert_eq!(stdout, "");
    assert_eq!(srv.request_count(), 0);
}
