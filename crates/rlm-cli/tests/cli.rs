//! The `rlm` binary as a process, against the testkit's fake OpenAI-compatible server on
//! 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use rlm_tests::{Call, classify_http, repl};
use tokio::io::AsyncWriteExt;

const KEY: &str = "sk-test-CLI-SENTINEL-9876";

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-cli-test-{}", std::process::id()));
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
        .kill_on_drop(true);
    cmd
}

async fn rlm(args: &[&str]) -> Output {
    command(args).output().await.unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn server(script: impl Fn(Call) -> String + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(Script::from_fn(move |req: &RecordedRequest| {
        Reply::text(script(classify_http(req)))
    }))
    .await
}

fn run_args<'a>(server_url: &'a str, context: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--context-file",
        context.to_str().unwrap(),
        "--query",
        "Find the secret code.",
        "--model",
        "fake-model",
        "--base-url",
        server_url,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn needle_search_prints_only_the_answer() {
    let context = format!(
        "{}\nthe secret code is 4242-XY\n{}",
        "filler line\n".repeat(20_000),
        "more filler\n".repeat(20_000)
    );
    let file = tmp("needle.txt", &context);
    let srv = server(|c| match c {
        Call::Turn { turn: 0, .. } => repl(
            "import re\ncode = re.search(r'secret code is (\\S+)', context).group(1)\nprint(code)",
        ),
        Call::Turn { last_user, .. } => {
            assert!(last_user.contains("4242-XY"));
            repl("FINAL(code)")
        }
        Call::Plain { .. } => "unused".into(),
    })
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(&url, &file, &[])).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "4242-XY\n");
    assert!(
        stderr(&out).contains("[rlm] depth 0"),
        "progress goes to stderr: {}",
        stderr(&out)
    );
    // The key was sent to the endpoint, and shown nowhere.
    let requests = srv.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!stderr(&out).contains(KEY) && !stdout(&out).contains(KEY));
    // The context never went to the model whole.
    assert!(requests.iter().all(|r| r.body.len() < 20_000));
}

#[tokio::test]
async fn json_output_and_trace_file() {
    let file = tmp("small.txt", "alpha beta gamma");
    let trace = std::env::temp_dir().join(format!("rlm-cli-trace-{}.jsonl", std::process::id()));
    let srv = server(|c| match c {
        Call::Turn { .. } => {
            repl("r = llm_query_batched([w for w in context.split()])\nFINAL('/'.join(r))")
        }
        Call::Plain { prompt } => prompt.to_uppercase(),
    })
    .await;
    let url = srv.base_url();
    let trace_s = trace.to_str().unwrap().to_string();
    let out = rlm(&run_args(
        &url,
        &file,
        &["--json", "--quiet", "--trace", &trace_s],
    ))
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stderr(&out), "", "--quiet prints no progress");
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["answer"], "ALPHA/BETA/GAMMA");
    assert_eq!(v["outcome"], "finished");
    assert_eq!(v["iterations"], 1);
    assert_eq!(v["total_usage"]["calls"], 4);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0]["record"], "header",
        "a trajectory starts with its header"
    );
    assert_eq!(lines[1]["event"], "run_started");
    assert_eq!(lines.last().unwrap()["event"], "run_finished");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["event"] == "subcall_started")
            .count(),
        3
    );
    assert!(!std::fs::read_to_string(&trace).unwrap().contains(KEY));
}

#[tokio::test]
async fn context_from_stdin() {
    let srv = server(|c| match c {
        Call::Turn { .. } => repl("FINAL(context.strip()[::-1])"),
        Call::Plain { .. } => String::new(),
    })
    .await;
    let url = srv.base_url();
    let mut child = command(&run_args(&url, Path::new("-"), &["--quiet"]))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"olleh\n").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "hello\n");
}

#[tokio::test]
async fn fan_out_of_hundreds_with_depth_two_children() {
    let file = tmp("fan.txt", "x");
    let srv = server(|c| match c {
        Call::Turn { query, .. } if query == "Find the secret code." => repl(
            "subs = llm_query_batched([f'q{i}' for i in range(300)])\nkids = rlm_query_batched([f'kid {i}' for i in range(6)])\nFINAL(f'{len(subs)} {subs[299]} ' + ','.join(kids))",
        ),
        Call::Turn { .. } => repl("FINAL(context.split()[1])"),
        Call::Plain { prompt } => format!("a-{prompt}"),
    })
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(
        &url,
        &file,
        &["--max-depth", "2", "--max-batch-workers", "32", "--quiet"],
    ))
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "300 a-q299 0,1,2,3,4,5\n");
    let stats = srv.stats();
    assert_eq!(stats.requests, 1 + 300 + 6);
    assert!(stats.peak_in_flight <= 32, "peak {}", stats.peak_in_flight);
}

#[tokio::test]
async fn missing_context_file_names_the_path() {
    let out = rlm(&[
        "run",
        "--context-file",
        "/nonexistent/ctx.txt",
        "--query",
        "q",
        "--model",
        "m",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ])
    .await;
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: cannot read context file /nonexistent/ctx.txt"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[tokio::test]
async fn unreachable_endpoint_names_the_url() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/v1");
    let file = tmp("u.txt", "c");
    let out = rlm(&run_args(&url, &file, &["--quiet", "--max-retries", "0"])).await;
    assert_eq!(out.status.code(), Some(4), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("could not reach {url}")), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[tokio::test]
async fn missing_key_for_openai_is_a_clear_error_without_traffic() {
    let file = tmp("k.txt", "c");
    let out = command(&[
        "run",
        "--context-file",
        file.to_str().unwrap(),
        "--query",
        "q",
        "--model",
        "gpt-5-mini",
    ])
    .env_remove("OPENAI_API_KEY")
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("set the environment variable OPENAI_API_KEY"),
        "{}",
        stderr(&out)
    );
    // CLI words, not library calls.
    assert!(!stderr(&out).contains("api_key"), "{}", stderr(&out));
}

#[tokio::test]
async fn refused_key_is_reported_and_never_printed() {
    let file = tmp("auth.txt", "c");
    let srv = FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        let echoed = req.header("authorization").unwrap_or("").to_string();
        Reply::openai_error(
            401,
            "invalid_request_error",
            &format!("Incorrect API key provided: {echoed}"),
        )
    }))
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(&url, &file, &["--json"])).await;
    assert_eq!(out.status.code(), Some(4), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("refused the API key (HTTP 401)"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(KEY), "{}", stderr(&out));
    assert!(!stdout(&out).contains(KEY), "{}", stdout(&out));
}

#[tokio::test]
async fn bad_flag_value_is_a_usage_error() {
    let out = rlm(&[
        "run",
        "--context-file",
        "x",
        "--query",
        "q",
        "--model",
        "m",
        "--timeout",
        "soon",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--timeout"), "{}", stderr(&out));
}

#[tokio::test]
async fn budget_stop_has_its_own_exit_code() {
    let file = tmp("b.txt", "c");
    let srv = server(|c| match c {
        Call::Turn { .. } => {
            repl("answer['content'] = 'so far'\nfor i in range(50):\n    llm_query(str(i))")
        }
        Call::Plain { .. } => "x".into(),
    })
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(
        &url,
        &file,
        &["--quiet", "--max-llm-calls", "10"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "so far\n");
    assert_eq!(srv.stats().requests, 10);
    // One stderr line names the limit and the figure reached.
    assert!(
        stderr(&out).contains(
            "stopped: max_llm_calls reached (10 of 10 calls); the partial answer follows on stdout"
        ),
        "{}",
        stderr(&out)
    );
}

/// Usage errors speak CLI: the flag is named, exit 2, nothing is sent.
#[tokio::test]
async fn usage_errors_name_the_flag_and_suggest_fixes() {
    let file = tmp("usage.txt", "c");
    let cases: [(&[&str], &str); 5] = [
        (&["--base-url", "notaurl"], "--base-url"),
        (&["--base-url", "http:///v1"], "has no host"),
        (&["--max-depth", "-1"], "-1 is not in 0.."),
        (&["--query", "  "], "the query is empty"),
        (
            &["--model", "antropic:claude-sonnet-4-5"],
            "did you mean anthropic:claude-sonnet-4-5?",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["run", "--context-file", file.to_str().unwrap()];
        for (flag, value) in [
            ("--query", "q"),
            ("--model", "m"),
            ("--base-url", "http://127.0.0.1:9/v1"),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend_from_slice(extra);
        let out = rlm(&args).await;
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{extra:?}: {}",
            stderr(&out)
        );
    }
    // An empty context is allowed, with a warning.
    let empty = tmp("empty.txt", "");
    let srv = server(|_| repl("FINAL('nothing')")).await;
    let url = srv.base_url();
    let out = rlm(&run_args(&url, &empty, &["--quiet"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is empty; the model has nothing to read"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn timeout_and_error_limit_stops_say_why_and_help_lists_exit_codes() {
    let file = tmp("stops.txt", "c");
    let srv = server(|c| match c {
        Call::Turn { .. } => repl("x = undefined_name"),
        Call::Plain { .. } => "x".into(),
    })
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(&url, &file, &["--quiet", "--max-errors", "2"])).await;
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("stopped: max_errors reached (2 turns in a row raised); no partial answer"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "\n");

    let out = rlm(&run_args(
        &url,
        &file,
        &["--quiet", "--max-iterations", "1"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "[rlm] warning: max_iterations (1) reached; the answer comes from a last-chance call"
        ),
        "{}",
        stderr(&out)
    );

    let slow = FakeServer::start(Script::from_fn(|_: &RecordedRequest| Reply::stall())).await;
    let url = slow.base_url();
    let out = rlm(&run_args(&url, &file, &["--quiet", "--timeout", "0.5"])).await;
    assert_eq!(out.status.code(), Some(6), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped: timeout after ")
            && stderr(&out).contains("(--timeout 0.5)"),
        "{}",
        stderr(&out)
    );

    let help = rlm(&["run", "--help"]).await;
    assert!(help.status.success());
    for line in [
        "Exit codes:",
        "5    a budget",
        "6    the run timed out",
        "130  cancelled",
    ] {
        assert!(
            stdout(&help).contains(line),
            "{line:?} in {}",
            stdout(&help)
        );
    }
}

#[tokio::test]
async fn ctrl_c_cancels_the_whole_tree() {
    let file = tmp("cancel.txt", "c");
    // The root's first turn asks for three sub-calls, which stall forever: only cancellation
    // can end the run.
    let srv = FakeServer::start(Script::empty()).await;
    srv.push(Reply::text(repl("r = llm_query_batched(['a', 'b', 'c'])")));
    for _ in 0..3 {
        srv.push(Reply::stall());
    }
    let url = srv.base_url();
    let child = command(&run_args(&url, &file, &[]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    // Wait (bounded) until the three sub-calls are in flight.
    for _ in 0..500 {
        if srv.stats().in_flight >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(srv.stats().in_flight, 3);
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("[rlm] cancelled after"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("1 LLM calls"),
        "what it had is reported: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert!(
        srv.wait_connections_closed(std::time::Duration::from_secs(2))
            .await,
        "every connection closed"
    );
}

#[tokio::test]
async fn python_sandbox_runs_full_cpython() {
    let file = tmp("py.txt", "alpha\nbeta\ngamma\n");
    // Code Monty cannot run (class inheritance, a generator, `%` formatting, textwrap): the
    // CPython sandbox runs it, and the sub-call still reaches the fake server.
    let srv = server(|c| match c {
        Call::Turn { .. } => repl(
            "import textwrap\nclass Base:\n    pass\nclass Lines(Base):\n    def __init__(self, t):\n        self.t = t\n    def each(self):\n        yield from self.t.splitlines()\nn = sum(1 for _ in Lines(context).each())\nFINAL('%d lines, %s' % (n, llm_query(textwrap.shorten(context, 8))))",
        ),
        Call::Plain { prompt } => format!("seen[{prompt}]"),
    })
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(&url, &file, &["--quiet", "--sandbox", "python"])).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "3 lines, seen[[...]]\n");
}

#[tokio::test]
async fn cost_budget_uses_the_price_table_when_the_endpoint_reports_no_cost() {
    let file = tmp("price.txt", "c");
    // Every call reports 1,000 prompt tokens and no cost; at $100 per million input tokens each
    // call costs $0.10, so a $0.35 budget allows four calls.
    let srv = FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => {
                Reply::text(repl("for i in range(100):\n    llm_query(str(i))")).usage(1000, 0)
            }
            Call::Plain { .. } => Reply::text("x").usage(1000, 0),
        },
    ))
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(
        &url,
        &file,
        &[
            "--quiet",
            "--json",
            "--max-cost",
            "0.35",
            "--price",
            "fake-model=100,10,400",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(5), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["outcome"], "budget");
    assert_eq!(srv.stats().requests, 4);
    let cost = v["total_usage"]["cost"].as_f64().unwrap();
    assert!((cost - 0.4).abs() < 1e-9, "cost {cost}");
    let bad = rlm(&run_args(&url, &file, &["--price", "fake-model=1,2"])).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("MODEL=INPUT,CACHED_INPUT,OUTPUT"),
        "{}",
        stderr(&bad)
    );
}

#[tokio::test]
async fn a_huge_non_ascii_context_on_monty_gets_one_warning_naming_the_python_sandbox() {
    let srv = server(|c| match c {
        Call::Turn { .. } => repl("FINAL(str(len(context) > 0))"),
        Call::Plain { .. } => "unused".into(),
    })
    .await;
    let url = srv.base_url();
    let ascii = "0123456789abcdef\n".repeat(11 * 1024 * 1024 / 17 + 1);
    let non_ascii = format!("é{ascii}");
    let warned = |o: &Output| {
        stderr(o)
            .lines()
            .filter(|l| l.starts_with("[rlm] warning:") && l.contains("--sandbox python"))
            .count()
    };
    let file = tmp("huge-utf8.txt", &non_ascii);
    let out = rlm(&run_args(&url, &file, &["--quiet"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "True\n");
    assert_eq!(warned(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("not pure ASCII"), "{}", stderr(&out));
    std::fs::remove_file(&file).unwrap();

    // The same size in pure ASCII, or a small non-ASCII context: no warning.
    for (name, text) in [
        ("huge-ascii.txt", ascii.as_str()),
        ("small-utf8.txt", "é\n"),
    ] {
        let file = tmp(name, text);
        let out = rlm(&run_args(&url, &file, &["--quiet"])).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(warned(&out), 0, "{name}: {}", stderr(&out));
        std::fs::remove_file(&file).unwrap();
    }
}

/// Progress lines (stderr off a terminal): the last-chance call after `--max-iterations` is
/// labelled as such, not `turn 1` again, and a run whose model never replied says so instead
/// of `failed after 1 turn(s)`.
#[tokio::test]
async fn progress_names_the_last_chance_call_and_a_failure_before_any_reply() {
    let file = tmp("lc.txt", "some text");
    let srv = FakeServer::start(Script::queue([
        Reply::text(repl("x = 1")),
        Reply::text("FINAL(42)"),
    ]))
    .await;
    let url = srv.base_url();
    let out = rlm(&run_args(&url, &file, &["--max-iterations", "1"])).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(stdout(&out), "42\n");
    assert_eq!(err.matches("turn 1:").count(), 1, "{err}");
    assert!(
        err.contains("[rlm] depth 0 last-chance call (after 1 turn(s), no FINAL yet):"),
        "{err}"
    );
    assert!(
        err.contains("[rlm] depth 0: iteration_limit after 1 turn(s) and the last-chance call in"),
        "{err}"
    );

    let refusing = FakeServer::start(Script::always(Reply::openai_error(
        400,
        "invalid_request_error",
        "unknown parameter",
    )))
    .await;
    let url = refusing.base_url();
    let out = rlm(&run_args(&url, &file, &[])).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[rlm] depth 0: failed before any model reply, in"),
        "{err}"
    );
    assert!(!err.contains("turn(s)"), "{err}");
}

/// `--sandbox python` checks its interpreter before anything is sent, and the message names
/// `--python` and `RLM_PYTHON`, never the library's `PythonOptions::python`.
#[tokio::test]
async fn a_missing_python_names_the_flag_not_the_library() {
    let file = tmp("py.txt", "some text");
    let srv = server(|_| "FINAL(1)".into()).await;
    let url = srv.base_url();
    let empty_path = std::env::temp_dir().join(format!("rlm-cli-nopy-{}", std::process::id()));
    std::fs::create_dir_all(&empty_path).unwrap();
    /// Flags, `RLM_PYTHON`, `PATH`, the expected message.
    type Case<'a> = (&'a [&'a str], Option<&'a str>, Option<&'a Path>, &'a str);
    let cases: [Case; 3] = [
        (
            &["--python", "/nonexistent/python3"],
            None,
            None,
            "--python /nonexistent/python3: no such interpreter",
        ),
        (
            &[],
            Some("/nonexistent/rlm-python"),
            None,
            "--python /nonexistent/rlm-python: no such interpreter",
        ),
        (
            &[],
            None,
            Some(&empty_path),
            "--sandbox python needs Python 3 (3.8 or newer) and python3 is not on PATH: install it, \
             give one with --python PATH (or RLM_PYTHON), or use --sandbox monty",
        ),
    ];
    for (flags, env, path, expected) in cases {
        let mut args = run_args(&url, &file, &["--sandbox", "python"]);
        args.extend_from_slice(flags);
        let mut cmd = command(&args);
        cmd.env_remove("RLM_PYTHON");
        if let Some(env) = env {
            cmd.env("RLM_PYTHON", env);
        }
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        let out = cmd.output().await.unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains("PythonOptions"), "{err}");
    }
    assert_eq!(srv.stats().requests, 0);
}
