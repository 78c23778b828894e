//! Watching a run, with the `rlm` binary as a process against the fake server on 127.0.0.1:
//! `--trace` files (schema, kill -9, secrets), `rlm view` (text, JSON, the official export,
//! HTML rendered in headless Chromium), live progress on a terminal, and `RUST_LOG` spans.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use rlm_testkit::conversation::{Call, classify_http, repl};
use rlm_testkit::schema::validate;
use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};
use serde_json::Value;

const SENTINEL: &str = "sk-sentinel-TRAJECTORY-5150";

fn dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlm-cli-trajectory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let path = dir().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn schema(name: &str) -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../rlm-trajectory/schemas/{name}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rlm"));
    cmd.args(args)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .env("OPENAI_API_KEY", SENTINEL)
        .kill_on_drop(true);
    cmd
}

async fn rlm(args: &[&str]) -> Output {
    bounded(&mut command(args)).await
}

/// Runs a command to its end, within two minutes.
async fn bounded(cmd: &mut tokio::process::Command) -> Output {
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the command finished within 120 s")
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Root: a turn that raises, a turn with two child runs and two plain calls (one fails with
/// HTTP 400), a finishing turn. Children make one plain call each and finish.
async fn tree_server() -> FakeServer {
    FakeServer::start(Script::from_fn(|req: &RecordedRequest| {
        let text = match classify_http(req) {
            Call::Turn { query, turn: 0, .. } if query == "Find the secret code." => {
                repl("x = undefined_name")
            }
            Call::Turn { query, turn: 1, .. } if query == "Find the secret code." => repl(
                "kids = rlm_query_batched(['kid:a', 'kid:b'])\nsubs = llm_query_batched(['p1', 'p2'])\nprint(kids, subs)",
            ),
            Call::Turn { query, .. } if query == "Find the secret code." => {
                repl("FINAL('|'.join(kids + [s[:6] for s in subs]))")
            }
            Call::Turn { .. } => repl("FINAL(context.upper() + llm_query('x'))"),
            Call::Plain { prompt } if prompt == "p2" => {
                return Reply::openai_error(400, "invalid_request_error", "bad prompt");
            }
            Call::Plain { prompt } => format!("<{prompt}>"),
        };
        Reply::text(text)
    }))
    .await
}

const ANSWER: &str = "KID:A<x>|KID:B<x>|<p1>|Error:";

fn run_args<'a>(url: &'a str, context: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--context-file",
        context.to_str().unwrap(),
        "--query",
        "Find the secret code.",
        "--model",
        "fake-model",
        "--base-url",
        url,
        "--max-depth",
        "2",
        "--max-retries",
        "0",
    ];
    args.extend_from_slice(extra);
    args
}

/// Runs the tree scenario with `--trace`; returns the trace path and the `--json` result.
async fn traced_run(name: &str) -> (PathBuf, Value) {
    let srv = tree_server().await;
    let url = srv.base_url();
    let context = tmp(&format!("{name}.txt"), "some context");
    let trace = dir().join(format!("{name}.jsonl"));
    let trace_s = trace.to_str().unwrap().to_string();
    let out = rlm(&run_args(
        &url,
        &context,
        &["--trace", &trace_s, "--json", "--quiet"],
    ))
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let result: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    (trace, result)
}

#[tokio::test]
async fn trace_file_validates_and_names_no_secret() {
    let (trace, result) = traced_run("validates").await;
    assert_eq!(result["answer"], ANSWER);
    assert_eq!(result["trace"], trace.to_str().unwrap());
    assert_eq!(result["outcome"], "finished");
    // 3 root turns, 2 child turns, 2 child sub-calls, p1 (p2 failed).
    assert_eq!(result["usage"]["fake-model"]["calls"], 8);
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(!text.contains(SENTINEL), "the key leaked into the trace");
    assert!(
        !text.contains("sk-sentinel"),
        "part of the key leaked into the trace"
    );
    let schema = schema("trajectory-v1.schema.json");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.len() > 30, "{} records", records.len());
    for (i, record) in records.iter().enumerate() {
        let errors = validate(&schema, record);
        assert!(errors.is_empty(), "line {}: {errors:#?}\n{record}", i + 1);
    }
    let config = &records[0]["config"];
    assert_eq!(config["provider"], "openai");
    assert_eq!(config["sandbox"], "monty");
    assert_eq!(config["max_depth"], 2);
    assert_eq!(config["query"], "Find the secret code.");
    // Depth 2 and a failed sub-call are in there.
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "run_started" && r["depth"] == 1)
    );
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "subcall_completed" && r["error"].is_string())
    );
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "block_executed" && r["raised"] == true)
    );
}

#[tokio::test]
async fn view_prints_the_tree_as_text_and_json_and_exports_the_official_format() {
    let (trace, _) = traced_run("view").await;
    let trace_s = trace.to_str().unwrap();

    let out = rlm(&["view", trace_s]).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "rlm-trajectory/1",
        "run 1",
        "depth 0 · fake-model · finished after 3 iterations",
        "iteration 1",
        "block 1",
        "raised",
        "error: NameError",
        "code: kids = rlm_query_batched(['kid:a', 'kid:b'])",
        "rlm_query(\"kid:a\")",
        "depth 1 · fake-model · finished after 1 iteration",
        "llm_query(\"p2\")",
        "sub-calls: 2 llm, 2 rlm",
        "tok",
        &format!("answer: {ANSWER}"),
    ] {
        // Run ids count from 1 in each process: the root is run 1.
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let out = rlm(&["view", trace_s, "--json"]).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["summary"]["runs"], 3);
    assert_eq!(v["summary"]["max_depth"], 1);
    assert_eq!(v["summary"]["turns"], 5);
    assert_eq!(v["summary"]["subcalls"], 6);
    assert_eq!(v["summary"]["answer"], ANSWER);
    let root = &v["trajectory"]["runs"][0];
    assert_eq!(root["turns"].as_array().unwrap().len(), 3);
    let child = &root["turns"][1]["blocks"][0]["subcalls"][0]["child"];
    assert_eq!(child["depth"], 1);

    let official = dir().join("official.jsonl");
    let out = rlm(&[
        "view",
        trace_s,
        "--export-official",
        official.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "", "writing a file prints nothing on stdout");
    let schema = schema("rlm-official-log.schema.json");
    let lines: Vec<Value> = std::fs::read_to_string(&official)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, line) in lines.iter().enumerate() {
        let errors = validate(&schema, line);
        assert!(errors.is_empty(), "line {}: {errors:#?}", i + 1);
    }
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["type"], "metadata");
    assert_eq!(lines[0]["root_model"], "fake-model");
    // rlms backend names, and the endpoint in backend_kwargs.
    assert_eq!(lines[0]["backend"], "openai");
    assert_eq!(lines[0]["backend_kwargs"]["model_name"], "fake-model");
    assert!(
        lines[0]["backend_kwargs"]["base_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[0]["other_backends"], Value::Null);
    assert_eq!(lines[3]["final_answer"], ANSWER);
    let calls = &lines[2]["code_blocks"][0]["result"]["rlm_calls"];
    assert_eq!(calls.as_array().unwrap().len(), 4);
    assert_eq!(calls[0]["metadata"]["iterations"][0]["type"], "iteration");

    let out = rlm(&["view", "/nonexistent/trace.jsonl"]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("/nonexistent/trace.jsonl"),
        "{}",
        stderr(&out)
    );
}

/// A run whose second model call fails: `rlms` logs nothing for a turn without a reply, so
/// the export holds the one answered turn, not a phantom second iteration with an empty
/// response. With a sub model, `other_backends` holds its backend name, not the model name; a
/// file name without `.jsonl` is written with a warning.
#[tokio::test]
async fn official_export_leaves_out_turns_that_never_got_a_reply() {
    let srv = FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { turn: 0, .. } => Reply::text(repl("x = 1\nprint(x)")),
            _ => Reply::openai_error(400, "invalid_request_error", "context too long"),
        },
    ))
    .await;
    let url = srv.base_url();
    let context = tmp("phantom.txt", "some context");
    let trace = dir().join("phantom.jsonl");
    let trace_s = trace.to_str().unwrap().to_string();
    let out = rlm(&run_args(
        &url,
        &context,
        &[
            "--trace",
            &trace_s,
            "--sub-model",
            "fake-sub",
            "--json",
            "--quiet",
        ],
    ))
    .await;
    assert!(!out.status.success(), "the second turn fails the run");

    let official = dir().join("phantom-official.json");
    let out = rlm(&[
        "view",
        &trace_s,
        "--export-official",
        official.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("does not end in .jsonl"),
        "{}",
        stderr(&out)
    );
    let schema = schema("rlm-official-log.schema.json");
    let lines: Vec<Value> = std::fs::read_to_string(&official)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, line) in lines.iter().enumerate() {
        let errors = validate(&schema, line);
        assert!(errors.is_empty(), "line {}: {errors:#?}", i + 1);
    }
    assert_eq!(
        lines.len(),
        2,
        "metadata + the one answered turn: {lines:#?}"
    );
    assert_eq!(lines[0]["other_backends"], serde_json::json!(["openai"]));
    assert_eq!(lines[1]["iteration"], 1);
    assert!(lines[1]["response"].as_str().unwrap().contains("print(x)"));
    assert_eq!(lines[1]["code_blocks"][0]["result"]["stdout"], "1\n");

    // `rlm view` of a foreign file says what it is instead of "no runs recorded".
    let out = rlm(&["view", official.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this is an official-format log"),
        "{}",
        stderr(&out)
    );
    let other = tmp("other.jsonl", "{\"id\": 1, \"text\": \"x\"}\n");
    let out = rlm(&["view", other.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("not an rlm trajectory (its first line is a JSON object with keys id, text)"),
        "{}",
        stderr(&out)
    );
}

/// Says a test was skipped where a developer sees it: straight to stderr (past the test
/// harness's capture) and to the terminal when there is one (nextest captures stderr too).
fn loud_skip(test: &str, message: &str) {
    use std::io::Write;
    let text = format!("\n!!!!!!!! SKIPPED {test}: {message} !!!!!!!!\n\n");
    let _ = std::io::stderr().write_all(text.as_bytes());
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = tty.write_all(text.as_bytes());
    }
}

/// The browser to render with: `$CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|p| p.is_file())
}

#[tokio::test]
async fn html_view_renders_in_headless_chromium() {
    let (trace, _) = traced_run("html").await;
    let html = dir().join("view.html");
    let out = rlm(&[
        "view",
        trace.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: nothing is fetched.
    for forbidden in [
        "<link",
        " src=",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
        "<iframe",
    ] {
        assert!(
            !page.contains(forbidden),
            "the page fetches something: {forbidden}"
        );
    }
    assert!(page.contains("<span class=\"fn\">rlm_query_batched</span>"));

    let Some(chromium) = find_chromium() else {
        let message = "headless Chromium is not installed, so the HTML viewer was NOT rendered: \
                       install it with `scripts/install-chromium.sh --yes` (Debian's `chromium` package)";
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        loud_skip("html_view_renders_in_headless_chromium", message);
        return;
    };
    let profile = dir().join("chromium-profile");
    let url = format!("file://{}", html.display());
    let run = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium finished within 90 s")
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    let dom = stdout(&out);
    // The script ran (it marks the body and counts the tree).
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the page's script did not run:\n{dom}"
    );
    assert!(
        dom.contains("3 runs · 5 turns · 5 blocks · 6 sub-calls"),
        "counts:\n{dom}"
    );
    // The tree: the root open, two children at depth 1, turns, blocks, sub-calls.
    assert_eq!(dom.matches("<details class=\"run\"").count(), 3);
    assert!(
        dom.contains("data-depth=\"0\" open=\"\""),
        "the root is unfolded"
    );
    assert_eq!(dom.matches("data-depth=\"1\"").count(), 2);
    assert_eq!(dom.matches("<details class=\"turn\"").count(), 5);
    assert_eq!(dom.matches("data-kind=\"rlm\"").count(), 2);
    assert_eq!(dom.matches("data-kind=\"llm\"").count(), 4);
    // Code is highlighted, errors and the answer are shown.
    assert!(dom.contains("<span class=\"kw\">in</span>"));
    assert!(dom.contains("<span class=\"str\">'kid:a'</span>"));
    assert!(dom.contains("NameError"));
    assert!(dom.contains(ANSWER.replace('<', "&lt;").replace('>', "&gt;").as_str()));
}

#[tokio::test]
async fn kill_minus_nine_leaves_only_whole_lines_but_maybe_the_last() {
    // The root never finishes: every turn fans out to ten plain calls.
    let srv = FakeServer::start(Script::from_fn(
        |req: &RecordedRequest| match classify_http(req) {
            Call::Turn { .. } => Reply::text(repl(
                "r = llm_query_batched([f'p{i}' for i in range(10)])\nprint(len(r), r[0] * 50)",
            )),
            Call::Plain { prompt } => {
                Reply::text(prompt.repeat(40)).latency(Duration::from_millis(2))
            }
        },
    ))
    .await;
    let url = srv.base_url();
    let context = tmp("kill.txt", "c");
    let trace = dir().join("killed.jsonl");
    let trace_s = trace.to_str().unwrap().to_string();
    let args = run_args(
        &url,
        &context,
        &["--trace", &trace_s, "--max-iterations", "100000", "--quiet"],
    );
    let mut child = command(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    // Wait (bounded) until the run has written a good number of records, then kill it hard.
    let mut lines = 0;
    for _ in 0..2000 {
        lines = std::fs::read_to_string(&trace).map_or(0, |t| t.lines().count());
        if lines >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(lines >= 300, "only {lines} records after 20 s");
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !status.success(),
        "the run was killed mid-run, not finished"
    );

    let bytes = std::fs::read(&trace).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let segments: Vec<&str> = text.split('\n').collect();
    let (last, whole) = segments.split_last().unwrap();
    for (i, line) in whole.iter().enumerate() {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("complete line {} does not parse ({e}): {line}", i + 1));
    }
    assert!(whole.len() >= 300);
    // `last` is what follows the final newline: nothing, or one cut-short record.
    assert!(!last.contains('\n'));
    // `rlm view` still reads it, and says the run did not finish.
    let out = rlm(&["view", &trace_s, "--json"]).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        v["summary"]["outcome"],
        Value::Null,
        "no finish was recorded"
    );
    assert_eq!(v["summary"]["partial_last_line"], !last.is_empty());
}

#[tokio::test]
async fn rust_log_shows_spans_and_content_only_on_opt_in() {
    let srv = tree_server().await;
    let url = srv.base_url();
    let context = tmp("spans.txt", "some context");
    let out =
        bounded(command(&run_args(&url, &context, &["--quiet"])).env("RUST_LOG", "debug")).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    for span in [
        "rlm.run",
        "rlm.iteration",
        "gen_ai.chat",
        "rlm.repl.execute",
    ] {
        assert!(err.contains(span), "no {span} span in:\n{err}");
    }
    assert!(err.contains("gen_ai.request.model=fake-model"), "{err}");
    assert!(err.contains("gen_ai.usage.input_tokens="), "{err}");
    assert!(
        !err.contains("gen_ai.prompt"),
        "prompts are logged only on opt-in"
    );
    assert!(!err.contains(SENTINEL), "the key leaked into the log");
    assert_eq!(
        stdout(&out),
        format!("{ANSWER}\n"),
        "logs never go to stdout"
    );

    let out = bounded(
        command(&run_args(&url, &context, &["--quiet", "--log-content"]))
            .env("RUST_LOG", "rlm_limits=debug"),
    )
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("gen_ai.prompt"), "{err}");
    assert!(
        err.contains("kid:a"),
        "code is logged with --log-content: {err}"
    );
    assert!(!err.contains(SENTINEL));
}

#[tokio::test]
async fn live_progress_draws_the_tree_on_a_terminal() {
    // `script` gives the CLI a pseudo-terminal for stderr, so the live tree is drawn.
    let script = Path::new("/usr/bin/script");
    if !script.is_file() {
        let message =
            "util-linux `script` is missing, so the live tree was NOT tested on a terminal";
        if std::env::var_os("CI").is_some() {
            panic!("{message}: install the `bsdutils` package");
        }
        loud_skip("live_progress_draws_the_tree_on_a_terminal", message);
        return;
    }
    let srv = FakeServer::builder()
        .default_latency(Duration::from_millis(150))
        .start(Script::from_fn(|req: &RecordedRequest| {
            Reply::text(match classify_http(req) {
                Call::Turn { query, .. } if query == "Find the secret code." => {
                    repl("FINAL('|'.join(rlm_query_batched(['kid:a', 'kid:b'])))")
                }
                Call::Turn { .. } => repl("FINAL(context.upper() + llm_query('x'))"),
                Call::Plain { prompt } => format!("<{prompt}>"),
            })
        }))
        .await;
    let url = srv.base_url();
    let context = tmp("live.txt", "c");
    let args = run_args(&url, &context, &[]);
    let line = std::iter::once(env!("CARGO_BIN_EXE_rlm"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(script)
            .args(["-qec", &line, "/dev/null"])
            .env("OPENAI_API_KEY", SENTINEL)
            .env("TERM", "xterm")
            .env_remove("RUST_LOG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let screen = stdout(&out);
    assert!(out.status.success(), "{screen}");
    for expected in [
        "root (fake-model)",
        "child \"kid:a\"",
        "child \"kid:b\"",
        "finished after 1 iter",
        "runs: 0 running, 3 done",
        "sub-calls",
        "KID:A<x>|KID:B<x>",
    ] {
        assert!(
            screen.contains(expected),
            "missing {expected:?} in:\n{screen}"
        );
    }
    assert!(
        !screen.contains("[rlm] depth"),
        "plain lines are for non-terminals"
    );
}

/// The official export's `locals`: the user variables at the end of each iteration (on its
/// last block; `context` left out), each `repr` cut to 500 characters, the snapshot capped in
/// total with a `<more>` entry; the trace and the export validate against their schemas.
#[tokio::test]
async fn official_export_has_the_user_variables_in_locals_capped() {
    // 40 variables of 1000 characters each: more than the 16 KiB a snapshot holds.
    let many: String = (0..40).map(|i| format!("v{i:02} = 'z' * 1000\n")).collect();
    let srv = FakeServer::start(Script::from_fn(move |req: &RecordedRequest| {
        let text = match classify_http(req) {
            Call::Turn { turn: 0, .. } => format!(
                "{}\n{}",
                repl("x = 1"),
                repl("items = list(range(3))\nbig = 'y' * 100000\nname = 'ok'")
            ),
            Call::Turn { turn: 1, .. } => repl(&many),
            _ => repl("FINAL(name)"),
        };
        Reply::text(text)
    }))
    .await;
    let url = srv.base_url();
    let context = tmp("locals.txt", "the context is not a local");
    let trace = dir().join("locals.jsonl");
    let trace_s = trace.to_str().unwrap().to_string();
    let out = rlm(&run_args(&url, &context, &["--trace", &trace_s, "--quiet"])).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "ok\n");

    let trace_schema = schema("trajectory-v1.schema.json");
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let errors = validate(&trace_schema, &record);
        assert!(errors.is_empty(), "{errors:#?}\n{record}");
    }
    let official = dir().join("locals-official.jsonl");
    let out = rlm(&[
        "view",
        &trace_s,
        "--export-official",
        official.to_str().unwrap(),
    ])
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let schema = schema("rlm-official-log.schema.json");
    let lines: Vec<Value> = std::fs::read_to_string(&official)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, line) in lines.iter().enumerate() {
        let errors = validate(&schema, line);
        assert!(errors.is_empty(), "line {}: {errors:#?}", i + 1);
    }
    assert_eq!(lines.len(), 4, "metadata + 3 iterations");
    let locals = |iteration: usize, block: usize| {
        lines[iteration]["code_blocks"][block]["result"]["locals"]
            .as_object()
            .unwrap()
            .clone()
    };
    // Iteration 1: the first block has none, the last holds the iteration's variables.
    assert!(locals(1, 0).is_empty());
    let first = locals(1, 1);
    assert_eq!(first["x"], "1");
    assert_eq!(first["items"], "[0, 1, 2]");
    assert_eq!(first["name"], "'ok'");
    let big = first["big"].as_str().unwrap();
    assert_eq!(big.chars().count(), 503);
    assert!(big.starts_with("'yyy") && big.ends_with("..."));
    assert!(!first.contains_key("context"));
    // Iteration 2: capped in total, the rest counted.
    let second = locals(2, 0);
    let more = second["<more>"].as_str().unwrap();
    assert!(more.contains("more variable(s) not shown"), "{more}");
    let shown: usize = second
        .iter()
        .filter(|(k, _)| *k != "<more>")
        .map(|(k, v)| k.chars().count() + v.as_str().unwrap().chars().count())
        .sum();
    assert!(shown <= 16 * 1024 + 510, "{shown} characters");
    assert!(second.len() < 40 + 5, "{} entries", second.len());
    // In name order: the earlier variables come first, `x` is past the cap.
    assert_eq!(second["items"], "[0, 1, 2]", "earlier variables stay");
    assert!(!second.contains_key("x"));
}
