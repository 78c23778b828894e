//! `rlm batch` as a process against the testkit's fake OpenAI-compatible server on 127.0.0.1:
//! results appended per task, `kill -9` mid-batch then `--resume` (a torn last line included),
//! scoring, malformed task lines, the batch-wide budget and concurrency cap, per-task limits.
//!
//! The fake model answers each task from its query: `say X` finishes with `X`, `stall X`
//! never answers while the test's stall switch is on, `keys` finishes with the context's sorted
//! keys, `echo` with the context, `loop` never finishes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};
use serde_json::{Value, json};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-batch-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_tasks(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("tasks.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn task(id: &str, query: &str) -> String {
    json!({"id": id, "query": query, "context": "some text"}).to_string()
}

fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", "sk-test-batch")
        .kill_on_drop(true);
    cmd
}

async fn batch(tasks: &Path, out: &Path, url: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "batch",
        tasks.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        "fake-model",
        "--base-url",
        url,
    ];
    args.extend_from_slice(extra);
    command(&args).output().await.unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn results(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids(lines: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = lines
        .iter()
        .map(|l| match &l["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    ids.sort();
    ids
}

fn by_id<'a>(lines: &'a [Value], id: &str) -> &'a Value {
    lines.iter().find(|l| l["id"] == id).unwrap()
}

/// The fake model; `stall` switches the `stall X` tasks between hanging and answering.
async fn server(stall: Arc<AtomicBool>) -> FakeServer {
    FakeServer::start(Script::from_fn(move |req: &RecordedRequest| {
        let Call::Turn { query, .. } = classify_http(req) else {
            return Reply::text("plain");
        };
        let query = query.trim();
        let code = if let Some(text) = query.strip_prefix("say ") {
            format!("FINAL({text:?})")
        } else if let Some(text) = query.strip_prefix("stall ") {
            if stall.load(Ordering::SeqCst) {
                return Reply::stall();
            }
            format!("FINAL({text:?})")
        } else if query == "keys" {
            "FINAL(','.join(sorted(context.keys())))".to_string()
        } else if query == "echo" {
            "FINAL(context)".to_string()
        } else {
            "print('still looking')".to_string()
        };
        Reply::text(repl(&code)).usage(100, 10)
    }))
    .await
}

#[tokio::test]
async fn kill_9_mid_batch_then_resume_runs_every_task_exactly_once() {
    let dir = dir("kill");
    let tasks = write_tasks(
        &dir,
        &[
            task("t1", "say 1"),
            task("t2", "say 2"),
            task("t3", "stall 3"),
            task("t4", "stall 4"),
            task("t5", "say 5"),
            task("t6", "say 6"),
        ],
    );
    let out = dir.join("results.jsonl");
    let stall = Arc::new(AtomicBool::new(true));
    let srv = server(stall.clone()).await;
    let url = srv.base_url();
    let mut child = command(&[
        "batch",
        tasks.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        "fake-model",
        "--base-url",
        &url,
        "--concurrency",
        "2",
    ])
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // t1 and t2 end; t3 and t4 then hang in the server, and t5, t6 wait for a slot.
    let mut waited = 0;
    while !(results(&out).len() == 2 && srv.in_flight() == 2) {
        assert!(
            waited < 3000,
            "the batch never reached t3 and t4: {:?}",
            results(&out)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    assert_eq!(ids(&results(&out)), ["t1", "t2"]);
    // A crash in the middle of a write leaves a torn last line.
    let mut torn = std::fs::read_to_string(&out).unwrap();
    torn.push_str("{\"id\":\"t3\",\"answer\":\"3\",\"outc");
    std::fs::write(&out, torn).unwrap();

    stall.store(false, Ordering::SeqCst);
    let again = batch(&tasks, &out, &url, &["--resume"]).await;
    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(0), "{err}");
    assert!(err.contains("cut short by a crash: dropped"), "{err}");
    assert!(err.contains("6 task(s) in"), "{err}");
    assert!(err.contains("2 already in"), "{err}");
    let lines = results(&out);
    assert_eq!(ids(&lines), ["t1", "t2", "t3", "t4", "t5", "t6"]);
    for line in &lines {
        let id = line["id"].as_str().unwrap();
        assert_eq!(line["answer"], id.trim_start_matches('t'), "{line}");
        assert_eq!(line["outcome"], "finished");
        assert_eq!(line["total_usage"]["input_tokens"], 100);
        assert!(line["duration_ms"].is_u64() && line["error"].is_null());
    }
    // Run again: nothing left to do, nothing appended.
    let third = batch(&tasks, &out, &url, &["--resume"]).await;
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert_eq!(results(&out).len(), 6);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_existing_results_file_needs_resume() {
    let dir = dir("exists");
    let tasks = write_tasks(&dir, &[task("a", "say x")]);
    let out = dir.join("results.jsonl");
    let before = "{\"id\":\"old\",\"outcome\":\"finished\"}\n";
    std::fs::write(&out, before).unwrap();
    let srv = server(Arc::new(AtomicBool::new(false))).await;
    let run = batch(&tasks, &out, &srv.base_url(), &[]).await;
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("pass --resume"), "{}", stderr(&run));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), before);
    assert_eq!(srv.request_count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn answers_are_scored_and_summed_up() {
    let dir = dir("score");
    let tasks = write_tasks(
        &dir,
        &[
            json!({"id": "a", "query": "say The answer is 42.", "expected": "42"}).to_string(),
            json!({"id": "b", "query": "say 41.9", "expected": 42}).to_string(),
            json!({"id": "c", "query": "say Paris.", "expected": ["paris", "lyon"]}).to_string(),
            json!({"id": "d", "query": "say unscored"}).to_string(),
        ],
    );
    let srv = server(Arc::new(AtomicBool::new(false))).await;
    let url = srv.base_url();
    for (scoring, correct, accuracy) in [
        ("exact", [false, false, true], "1/3 = 33.3% (exact)"),
        ("contains", [true, false, true], "2/3 = 66.7% (contains)"),
        (
            "numeric:0.5",
            [true, true, false],
            "2/3 = 66.7% (numeric:0.5)",
        ),
    ] {
        let out = dir.join(format!("{scoring}.jsonl"));
        let traces = dir.join(format!("traces-{scoring}"));
        let run = batch(
            &tasks,
            &out,
            &url,
            &[
                "--score",
                scoring,
                "--json",
                "--trace-dir",
                traces.to_str().unwrap(),
            ],
        )
        .await;
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(0), "{err}");
        let lines = results(&out);
        for (id, want) in ["a", "b", "c"].iter().zip(correct) {
            assert_eq!(by_id(&lines, id)["correct"], want, "{scoring} {id}");
        }
        assert!(by_id(&lines, "d").get("correct").is_none());
        assert!(err.contains(&format!("accuracy   {accuracy}")), "{err}");
        assert!(err.contains("done       4"), "{err}");
        let summary: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(
            (summary["scored"].as_u64(), summary["done"].as_u64()),
            (Some(3), Some(4))
        );
        // Each task's trajectory is in the trace folder, named after its id.
        let trace = by_id(&lines, "a")["trace"].as_str().unwrap().to_string();
        assert_eq!(Path::new(&trace), traces.join("a.jsonl"));
        let header = std::fs::read_to_string(&trace).unwrap();
        assert!(header.contains("\"batch_task\":\"a\""), "{header}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn malformed_lines_are_reported_and_the_rest_run() {
    let dir = dir("malformed");
    std::fs::write(dir.join("doc.txt"), "hello from a file").unwrap();
    std::fs::create_dir_all(dir.join("docs/sub")).unwrap();
    std::fs::write(dir.join("docs/a.txt"), "A").unwrap();
    std::fs::write(dir.join("docs/sub/b.txt"), "B").unwrap();
    std::fs::write(dir.join("docs/c.md"), "C").unwrap();
    let tasks = write_tasks(
        &dir,
        &[
            task("t1", "say one"),
            "{\"id\": \"broken\", \"query\": ".to_string(),
            json!({"id": "t2"}).to_string(),
            json!({"id": "t1", "query": "say again"}).to_string(),
            json!({"id": "t3", "query": "say x", "context": "a", "context_file": "doc.txt"})
                .to_string(),
            json!({"id": "file", "query": "echo", "context_file": "doc.txt"}).to_string(),
            json!({"id": "dir", "query": "keys", "context_dir": "docs", "include": "*.txt"})
                .to_string(),
            json!({"id": "json", "query": "keys", "context": {"k": [1, 2], "j": null}}).to_string(),
            json!({"id": "missing", "query": "echo", "context_file": "nowhere.txt"}).to_string(),
        ],
    );
    let out = dir.join("results.jsonl");
    let srv = server(Arc::new(AtomicBool::new(false))).await;
    let run = batch(&tasks, &out, &srv.base_url(), &[]).await;
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    let name = tasks.display().to_string();
    for (line, message) in [
        (2, "bad JSON"),
        (3, "task \"t2\": no `query`"),
        (4, "duplicate id \"t1\" (first on line 1)"),
        (
            5,
            "task \"t3\": give one context source, not `context` and `context_file`",
        ),
    ] {
        assert!(
            err.contains(&format!("{name}:{line}: {message}")),
            "{line}: {err}"
        );
    }
    assert!(err.contains("malformed  4 line(s)"), "{err}");
    // Off a terminal, progress is one plain line per finished task.
    assert!(err.contains("[rlm] 5/5 "), "{err}");
    let lines = results(&out);
    assert_eq!(ids(&lines), ["dir", "file", "json", "missing", "t1"]);
    assert_eq!(by_id(&lines, "t1")["answer"], "one");
    assert_eq!(by_id(&lines, "file")["answer"], "hello from a file");
    assert_eq!(by_id(&lines, "dir")["answer"], "a.txt,sub/b.txt");
    assert_eq!(by_id(&lines, "json")["answer"], "j,k");
    let missing = by_id(&lines, "missing");
    assert_eq!(missing["outcome"], "failed");
    assert!(
        missing["error"].as_str().unwrap().contains("nowhere.txt"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_batch_budget_is_shared_by_every_task_and_resume_finishes() {
    let dir = dir("budget");
    let tasks = write_tasks(
        &dir,
        &(1..=5)
            .map(|n| task(&format!("t{n}"), &format!("say {n}")))
            .collect::<Vec<_>>(),
    );
    let out = dir.join("results.jsonl");
    let srv = server(Arc::new(AtomicBool::new(false))).await;
    let url = srv.base_url();
    // One call per task: three calls for the batch run three tasks; the fourth is refused
    // and the fifth never starts. Neither gets a result line.
    let run = batch(
        &tasks,
        &out,
        &url,
        &["--max-llm-calls", "3", "--concurrency", "1"],
    )
    .await;
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(5), "{err}");
    assert!(
        err.contains(
            "stopped: --max-llm-calls reached (3 of 3 calls) for the whole batch; 2 task(s) not run"
        ),
        "{err}"
    );
    assert_eq!(ids(&results(&out)), ["t1", "t2", "t3"]);
    assert_eq!(srv.request_count(), 3);
    let again = batch(
        &tasks,
        &out,
        &url,
        &["--resume", "--max-llm-calls", "3", "--quiet"],
    )
    .await;
    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(0), "{err}");
    // --quiet: no progress lines, the summary still.
    assert!(
        !err.contains("[rlm] 1/2") && err.contains("done       5"),
        "{err}"
    );
    assert_eq!(ids(&results(&out)), ["t1", "t2", "t3", "t4", "t5"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn per_task_limits_stop_only_their_task_and_the_concurrency_cap_is_batch_wide() {
    let dir = dir("per-task");
    let tasks = write_tasks(
        &dir,
        &[
            json!({"id": "own", "query": "loop", "max_llm_calls": 2}).to_string(),
            json!({"id": "flag", "query": "loop"}).to_string(),
            json!({"id": "iter", "query": "loop", "max_iterations": 1, "max_llm_calls": 5})
                .to_string(),
            task("ok1", "say fine"),
            task("ok2", "say fine"),
        ],
    );
    let out = dir.join("results.jsonl");
    let srv = server(Arc::new(AtomicBool::new(false))).await;
    let run = batch(
        &tasks,
        &out,
        &srv.base_url(),
        &[
            "--task-max-llm-calls",
            "3",
            "--concurrency",
            "5",
            "--max-concurrency",
            "1",
        ],
    )
    .await;
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    let lines = results(&out);
    assert_eq!(ids(&lines).len(), 5);
    let own = by_id(&lines, "own");
    assert_eq!(
        (
            own["outcome"].as_str(),
            own["total_usage"]["calls"].as_u64()
        ),
        (Some("budget"), Some(2))
    );
    let flag = by_id(&lines, "flag");
    assert_eq!(
        (
            flag["outcome"].as_str(),
            flag["total_usage"]["calls"].as_u64()
        ),
        (Some("budget"), Some(3))
    );
    // max_iterations 1: one turn, then the last-chance call.
    let iter = by_id(&lines, "iter");
    assert_eq!(
        (
            iter["outcome"].as_str(),
            iter["total_usage"]["calls"].as_u64()
        ),
        (Some("iteration_limit"), Some(2))
    );
    assert_eq!(by_id(&lines, "ok1")["answer"], "fine");
    assert!(err.contains("failed     2"), "{err}");
    // Five tasks at once, but one LLM call in flight across the batch.
    assert_eq!(srv.peak_concurrency(), 1);
    assert_eq!(srv.request_count(), 2 + 3 + 2 + 1 + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_batch_cost_budget_counts_every_task() {
    let dir = dir("cost");
    let tasks = write_tasks(
        &dir,
        &(1..=5)
            .map(|n| task(&format!("t{n}"), &format!("say {n}")))
            .collect::<Vec<_>>(),
    );
    let out = dir.join("results.jsonl");
    let srv = server(Arc::new(AtomicBool::new(false))).await;
    // 100 input and 10 output tokens at $1000 per million each: $0.11 per call, one per task.
    let run = batch(
        &tasks,
        &out,
        &srv.base_url(),
        &[
            "--max-cost",
            "0.25",
            "--price",
            "fake-model=1000,0,1000",
            "--concurrency",
            "1",
        ],
    )
    .await;
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(5), "{err}");
    assert!(
        err.contains("stopped: --max-cost reached ($0.3300 of $0.2500) for the whole batch"),
        "{err}"
    );
    let lines = results(&out);
    assert_eq!(ids(&lines), ["t1", "t2", "t3"]);
    assert!(
        (lines[0]["cost"].as_f64().unwrap() - 0.11).abs() < 1e-9,
        "{}",
        lines[0]
    );
    assert!(err.contains("cost       $0.3300, 330 tokens"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_unreachable_endpoint_stops_the_batch_without_result_lines() {
    let dir = dir("unreachable");
    let tasks = write_tasks(
        &dir,
        &[task("a", "say 1"), task("b", "say 2"), task("c", "say 3")],
    );
    let out = dir.join("results.jsonl");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let run = batch(
        &tasks,
        &out,
        &url,
        &["--max-retries", "0", "--concurrency", "1"],
    )
    .await;
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(4), "{err}");
    assert!(
        err.contains("error: could not reach") && err.contains("--base-url"),
        "{err}"
    );
    assert!(err.contains("not run    3"), "{err}");
    assert!(results(&out).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn ctrl_c_stops_the_batch_and_keeps_what_ended() {
    let dir = dir("ctrl-c");
    let tasks = write_tasks(
        &dir,
        &[
            task("t1", "say 1"),
            task("t2", "stall 2"),
            task("t3", "say 3"),
        ],
    );
    let out = dir.join("results.jsonl");
    let stall = Arc::new(AtomicBool::new(true));
    let srv = server(stall.clone()).await;
    let url = srv.base_url();
    let child = command(&[
        "batch",
        tasks.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        "fake-model",
        "--base-url",
        &url,
        "--concurrency",
        "1",
    ])
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut waited = 0;
    while !(results(&out).len() == 1 && srv.in_flight() == 1) {
        assert!(waited < 3000, "the batch never reached t2");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let done = child.wait_with_output().await.unwrap();
    let err = stderr(&done);
    assert_eq!(done.status.code(), Some(130), "{err}");
    assert!(
        err.contains("not run    2") && err.contains("--resume runs them"),
        "{err}"
    );
    assert_eq!(ids(&results(&out)), ["t1"]);
    stall.store(false, Ordering::SeqCst);
    let again = batch(&tasks, &out, &url, &["--resume"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(ids(&results(&out)), ["t1", "t2", "t3"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On a terminal (`script` gives the batch a pseudo-terminal) progress is an indicatif bar with
/// the counters and the ETA.
#[tokio::test]
async fn a_terminal_gets_a_progress_bar() {
    use tokio::io::AsyncReadExt as _;
    let dir = dir("bar");
    let tasks = write_tasks(&dir, &[task("t1", "say 1"), task("t2", "stall 2")]);
    let out = dir.join("results.jsonl");
    let srv = server(Arc::new(AtomicBool::new(true))).await;
    let line = format!(
        "{} batch {} --out {} --model fake-model --base-url {} --concurrency 1",
        env!("CARGO_BIN_EXE_rlm"),
        tasks.display(),
        out.display(),
        srv.base_url()
    );
    let mut child = rlm_testkit::terminal::on_terminal(&line)
        .env("OPENAI_API_KEY", "sk-test-batch")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs the batch on a pseudo-terminal");
    let mut screen_out = child.stdout.take().unwrap();
    let screen = Arc::new(std::sync::Mutex::new(String::new()));
    let sink = screen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = screen_out.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut waited = 0;
    while !screen
        .lock()
        .unwrap()
        .contains("done 1 · failed 0 · running 1")
    {
        assert!(waited < 3000, "no bar; screen:\n{}", screen.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    let screen = screen.lock().unwrap().clone();
    assert!(screen.contains("1/2") && screen.contains("ETA"), "{screen}");
    assert!(
        !screen.contains("[rlm] 1/2 t1"),
        "no plain lines on a terminal: {screen}"
    );
    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn retry_failed_runs_again_the_tasks_that_did_not_answer() {
    let dir = dir("retry");
    let tasks = write_tasks(
        &dir,
        &[
            task("ok", "say fine"),
            json!({"id": "late", "query": "echo", "context_file": "late.txt"}).to_string(),
        ],
    );
    let out = dir.join("results.jsonl");
    let srv = server(Arc::new(AtomicBool::new(false))).await;
    let url = srv.base_url();
    let first = batch(&tasks, &out, &url, &[]).await;
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    assert_eq!(by_id(&results(&out), "late")["outcome"], "failed");
    std::fs::write(dir.join("late.txt"), "here now").unwrap();
    // --resume alone keeps the failed line; --retry-failed runs the task again.
    let resumed = batch(&tasks, &out, &url, &["--resume"]).await;
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    let retried = batch(&tasks, &out, &url, &["--resume", "--retry-failed"]).await;
    assert_eq!(retried.status.code(), Some(0), "{}", stderr(&retried));
    let lines = results(&out);
    assert_eq!(ids(&lines), ["late", "ok"]);
    assert_eq!(by_id(&lines, "late")["answer"], "here now");
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("{\"id\":\"ok\",")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
