//! `rlm-bench`: the benchmark harness, an unpublished workspace member run by
//! `cargo xtask bench [args]` (which runs `cargo run -p rlm-bench -- args` from the workspace
//! root). Performance goals are measured here, never by timed unit tests (docs/design.md §6).
//!
//! It builds `rlm` in release mode once, then for each scenario starts the fake
//! OpenAI-compatible server of `rlm-testkit` in this process (a tokio runtime of its own) with
//! a base per-request latency (a scenario may make some requests slower or fail their first
//! attempt), writes the context file under `target/bench/`, runs
//! `target/release/rlm run ... --json --quiet` against it as a child process, and reports wall
//! time, peak RSS, the server's request count and peak concurrency, and the ideal time (LLM
//! round-trips on the critical path × latency) as a Markdown table.
//!
//! A wrong answer or a failing CLI makes the task fail; a missed goal only does with
//! `--strict` (performance is measured and reported, not assumed).
//!
//! `cargo xtask bench serve` is its own benchmark: `rlm serve` under a Rust WebSocket load
//! generator ([`serve`], [`serve_load`]). `cargo xtask bench stream` times a run on a
//! pseudo-terminal with the root's replies streamed and with `--no-stream` ([`stream`]).
//!
//! Modules: [`scenarios`] (scripts, expected answers, goals), [`chunked`] (the chunked
//! fan-outs with slow sub-calls or first-attempt faults: `latency-tail`, `fault-mix`), [`ideal`]
//! (critical-path and busy-slot arithmetic), [`contexts`] (context files), [`process`]
//! (running and measuring the child), [`report`] (the table). Requests are classified with
//! `rlm_testkit::conversation`.

mod chunked;
mod cmd;
mod contexts;
mod ideal;
mod process;
mod report;
mod scenarios;
mod serve;
mod serve_load;
mod stream;
mod tree;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use rlm_testkit::{Attempts, FakeServer, Script};
use serde_json::Value;

use contexts::ContextFile;
use report::{Machine, Measurement, Report, Row, Verdict};
use scenarios::{Goal, Scenario};

/// A run of the CLI taking longer than this is killed and counted as failed.
const CLI_TIMEOUT: Duration = Duration::from_secs(600);

/// The model name sent to the fake server (it echoes it).
const MODEL: &str = "bench-model";

const USAGE: &str = "usage: cargo xtask bench serve [--sessions N] [--steps N] ... (rlm serve under load; `serve --help`)\n       cargo xtask bench stream [--reps N] [--latency-ms N] [--debug] (streaming vs --no-stream on a terminal)\n       cargo xtask bench [--latency-ms N] [--scenario NAME]... [--out FILE] [--strict] [--trace] [--sandbox monty|python]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}\nscenarios: {}; opt-in: {}", names(), tree::NAME);
        return;
    }
    if let Some(result) = tree::child_mode(&args) {
        if let Err(err) = result {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(err) = in_workspace_root().and_then(|()| run(&args)) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

/// Changes to the workspace root (two levels above this crate), as xtask does.
fn in_workspace_root() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .context("the rlm-bench manifest directory has no workspace root above it")?;
    std::env::set_current_dir(root)
        .with_context(|| format!("could not change to the workspace root {}", root.display()))
}

/// The task's options.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    latency: Duration,
    scenarios: Vec<String>,
    out: Option<PathBuf>,
    strict: bool,
    /// Watch the runs: `--trace FILE` and progress on (the cost of watching).
    trace: bool,
    /// The CLI's `--sandbox` (default: the CLI's default, Monty).
    sandbox: Option<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut opts = Options {
            latency: Duration::from_millis(50),
            scenarios: Vec::new(),
            out: None,
            strict: false,
            trace: false,
            sandbox: None,
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let mut value = || -> Result<String> {
                match inline.clone().or_else(|| iter.next().cloned()) {
                    Some(v) => Ok(v),
                    None => bail!("`{flag}` needs a value\n{USAGE}"),
                }
            };
            match flag {
                "--latency-ms" => {
                    let v = value()?;
                    let ms: u64 = v.parse().with_context(|| {
                        format!("`--latency-ms {v}` is not a whole number of milliseconds")
                    })?;
                    opts.latency = Duration::from_millis(ms);
                }
                "--scenario" => opts.scenarios.push(value()?),
                "--out" => opts.out = Some(PathBuf::from(value()?)),
                "--strict" if inline.is_none() => opts.strict = true,
                "--trace" if inline.is_none() => opts.trace = true,
                "--sandbox" => opts.sandbox = Some(value()?),
                other => bail!(
                    "unknown argument `{other}`\n{USAGE}\nscenarios: {}",
                    names()
                ),
            }
        }
        Ok(opts)
    }
}

fn names() -> String {
    scenarios::all()
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `cargo xtask bench [args]`.
fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("serve") {
        return serve::run(&args[1..], &target_dir()?);
    }
    if args.first().map(String::as_str) == Some("stream") {
        return stream::run(&args[1..], &target_dir()?);
    }
    let opts = Options::parse(args)?;
    // `tree-1gb` writes 1 GB: it runs only when named, and alone when it is the only name.
    let with_tree = opts.scenarios.iter().any(|s| s == tree::NAME);
    let others: Vec<String> = opts
        .scenarios
        .iter()
        .filter(|s| *s != tree::NAME)
        .cloned()
        .collect();
    let scenarios = if with_tree && others.is_empty() {
        Vec::new()
    } else {
        scenarios::select(&others)?
    };
    // Before our own build and runs add to the load average.
    let machine = Machine::detect();
    let target = target_dir()?;

    let build_started = Instant::now();
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "rlm-cli"]))?;
    let build_took = build_started.elapsed();
    let exe_name = format!("rlm{}", std::env::consts::EXE_SUFFIX);
    let rlm = target.join("release").join(&exe_name);
    if !rlm.is_file() {
        bail!("the release build did not produce {}", rlm.display());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the tokio runtime for the fake server")?;
    let bench_dir = target.join("bench");
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for scenario in &scenarios {
        eprintln!("bench: {} ...", scenario.name);
        let row = run_scenario(&runtime, &rlm, &bench_dir, scenario, &opts);
        match &row.result {
            Err(message) => errors.push(format!("{}: {message}", scenario.name)),
            Ok(Measurement {
                wrong_answer: Some(message),
                ..
            }) => errors.push(format!("{}: {message}", scenario.name)),
            Ok(_) => {}
        }
        eprintln!("{}", report::table_row(&row));
        rows.push(row);
    }
    let scenarios_took = started.elapsed();

    let report = Report {
        date: report::utc_date(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
        machine,
        latency: opts.latency,
        commit: git_describe(),
        rows,
        scenarios_took,
        build_took,
        errors,
    };
    let mut text = if scenarios.is_empty() {
        String::new()
    } else {
        report::render(&report)
    };
    if with_tree {
        text.push_str(&tree::run(&runtime, &rlm, &bench_dir, 3)?);
    }
    if let Some(sandbox) = &opts.sandbox {
        text.push_str(&format!("\nsandbox: `--sandbox {sandbox}`\n"));
    }
    print!("{text}");
    if let Some(out) = &opts.out {
        std::fs::write(out, &text).with_context(|| format!("could not write {}", out.display()))?;
        eprintln!("bench: report written to {}", out.display());
    }

    let failed: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| r.is_error())
        .map(|r| r.scenario.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("wrong answer or CLI failure in: {}", failed.join(", "));
    }
    let missed: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| r.missed_goal())
        .map(|r| r.scenario.as_str())
        .collect();
    if opts.strict && !missed.is_empty() {
        bail!("--strict: goal missed by: {}", missed.join(", "));
    }
    Ok(())
}

/// One scenario, as a table row (errors included, so the other scenarios still run).
fn run_scenario(
    runtime: &tokio::runtime::Runtime,
    rlm: &Path,
    bench_dir: &Path,
    scenario: &Scenario,
    opts: &Options,
) -> Row {
    let ideal = ideal::ideal(&scenario.path, opts.latency);
    Row {
        scenario: scenario.name.to_owned(),
        ideal,
        goal: scenario.goal.describe(scenario.context.bytes),
        result: measure(runtime, rlm, bench_dir, scenario, opts, ideal)
            .map_err(|e| format!("{e:#}")),
    }
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    rlm: &Path,
    bench_dir: &Path,
    scenario: &Scenario,
    opts: &Options,
    ideal: Duration,
) -> Result<Measurement> {
    let latency = opts.latency;
    let contexts_dir = bench_dir.join("contexts");
    let context = if scenario.non_ascii {
        contexts::generate_non_ascii(&contexts_dir, scenario.name, scenario.context)?
    } else {
        contexts::generate(&contexts_dir, scenario.name, scenario.context)?
    };
    let expected = scenario.expected_answer(&context);

    let script = {
        let scenario = scenario.clone();
        let context = context.clone();
        let attempts = Attempts::default();
        Script::from_fn(move |req| {
            let call = rlm_testkit::conversation::classify_http(req);
            scenario.respond(&context, &call, &attempts, latency)
        })
    };
    let server = runtime.block_on(async {
        let mut builder = FakeServer::builder();
        if !latency.is_zero() {
            builder = builder.default_latency(latency);
        }
        builder.try_start(script).await
    });
    let server = server.context("could not start the fake server on 127.0.0.1")?;

    let trace = opts.trace.then(|| {
        bench_dir
            .join("traces")
            .join(format!("{}.jsonl", scenario.name))
    });
    if let Some(dir) = trace.as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let mut command = cli_command(
        rlm,
        &server.base_url(),
        scenario,
        &context,
        trace.as_deref(),
        opts.sandbox.as_deref(),
    );
    eprintln!("$ {}", cmd::display(&command));
    let exe_name = rlm.file_name().and_then(|n| n.to_str()).unwrap_or("rlm");
    let measured = process::run(&mut command, exe_name, CLI_TIMEOUT);
    let stats = server.stats();
    runtime.block_on(server.shutdown());
    let measured = measured?;

    if measured.timed_out {
        bail!(
            "the CLI did not finish within {} s and was killed",
            CLI_TIMEOUT.as_secs()
        );
    }
    let json: Option<Value> = serde_json::from_str(measured.stdout.trim()).ok();
    if !measured.status.success() {
        bail!(
            "the CLI exited with {}: {}{}",
            measured.status,
            tail(&measured.stderr, 600),
            json.as_ref()
                .and_then(|j| j.get("error"))
                .map(|e| format!(" (error: {e})"))
                .unwrap_or_default()
        );
    }
    let Some(json) = json else {
        bail!(
            "the CLI did not print one JSON object: {}",
            tail(&measured.stdout, 300)
        );
    };
    let answer = json
        .get("answer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let wrong_answer = (answer != expected).then(|| {
        format!(
            "expected the answer {expected:?}, got {:?} (outcome {})",
            tail(answer, 300),
            json.get("outcome").unwrap_or(&Value::Null)
        )
    });
    let run = json
        .get("duration_ms")
        .and_then(Value::as_u64)
        .map(Duration::from_millis);
    let verdict = judge(
        scenario.goal,
        Times {
            wall: measured.wall,
            run,
        },
        ideal,
        measured.peak_rss,
        context.bytes,
        stats.peak_in_flight,
    );
    Ok(Measurement {
        wall: measured.wall,
        run,
        peak_rss: measured.peak_rss,
        requests: stats.requests,
        expected_requests: ideal::calls(&scenario.path),
        peak_concurrency: stats.peak_in_flight,
        expected_concurrency: ideal::width(&scenario.path),
        wrong_answer,
        verdict,
    })
}

/// `rlm run` for this scenario: `--json --quiet`, the fake server's URL, no endpoint or key
/// from the environment. With `trace`, `--trace FILE` and progress on stderr instead of
/// `--quiet` (stderr is a pipe, so progress is plain lines).
fn cli_command(
    rlm: &Path,
    base_url: &str,
    scenario: &Scenario,
    context: &ContextFile,
    trace: Option<&Path>,
    sandbox: Option<&str>,
) -> Command {
    let mut command = Command::new(rlm);
    command
        .arg("run")
        .arg("--context-file")
        .arg(&context.path)
        .args([
            "--query",
            scenario.query,
            "--model",
            MODEL,
            "--base-url",
            base_url,
        ])
        .args(&scenario.flags)
        .arg("--json");
    if let Some(sandbox) = sandbox {
        command.args(["--sandbox", sandbox]);
    }
    match trace {
        Some(file) => command.arg("--trace").arg(file),
        None => command.arg("--quiet"),
    };
    command
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG");
    command
}

/// Whether the measurement meets the goal.
/// What one run of the CLI took: spawn to exit, and its own `duration_ms` (no process start,
/// no context file read).
#[derive(Debug, Clone, Copy)]
struct Times {
    wall: Duration,
    run: Option<Duration>,
}

fn judge(
    goal: Goal,
    Times { wall, run }: Times,
    ideal: Duration,
    peak_rss: Option<u64>,
    context_bytes: u64,
    peak_concurrency: usize,
) -> Verdict {
    match goal {
        Goal::WallRatio {
            max,
            peak_concurrency: wanted,
        } => match ideal::ratio(wall, ideal) {
            None => Verdict::Unknown,
            Some(ratio) if ratio <= max && wanted.is_none_or(|n| peak_concurrency >= n) => {
                Verdict::Pass
            }
            Some(_) => Verdict::Fail,
        },
        Goal::RssOfContext { max } => match peak_rss {
            None => Verdict::Unknown,
            Some(rss) if rss as f64 <= max * context_bytes as f64 => Verdict::Pass,
            Some(_) => Verdict::Fail,
        },
        Goal::WallAtMost {
            max,
            peak_concurrency: wanted,
        } => {
            if wall <= max && peak_concurrency >= wanted {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
        Goal::RunOverIdeal { max_extra_ms } => match run {
            None => Verdict::Unknown,
            Some(run) if run <= ideal + Duration::from_millis(max_extra_ms) => Verdict::Pass,
            Some(_) => Verdict::Fail,
        },
    }
}

/// The last `max` characters of `text`, on one line.
fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let skip = text.chars().count().saturating_sub(max);
    let cut: String = text.chars().skip(skip).collect();
    let cut = cut.replace('\n', " ⏎ ");
    if skip > 0 { format!("…{cut}") } else { cut }
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR` and config).
fn target_dir() -> Result<PathBuf> {
    let json = cmd::read(cmd::cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let value: Value =
        serde_json::from_str(&json).context("cargo metadata printed invalid JSON")?;
    value
        .get("target_directory")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .context("cargo metadata gave no target_directory")
}

/// `git describe --always --dirty`, when git is there and this is a repository.
fn git_describe() -> Option<String> {
    let out = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options() {
        let opts = Options::parse(&args(&[
            "--latency-ms",
            "20",
            "--scenario",
            "fanout-256",
            "--scenario=needle-10mb",
            "--out",
            "b.md",
            "--strict",
        ]))
        .unwrap();
        assert_eq!(
            opts,
            Options {
                latency: Duration::from_millis(20),
                scenarios: args(&["fanout-256", "needle-10mb"]),
                out: Some("b.md".into()),
                strict: true,
                trace: false,
                sandbox: None,
            }
        );
        assert!(Options::parse(&args(&["--trace"])).unwrap().trace);
        assert_eq!(
            Options::parse(&[]).unwrap().latency,
            Duration::from_millis(50)
        );
        assert!(Options::parse(&args(&["--latency-ms", "x"])).is_err());
        assert!(Options::parse(&args(&["--latency-ms"])).is_err());
        assert!(Options::parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn goals() {
        let ms = Duration::from_millis;
        let at = |wall| Times { wall, run: None };
        let wall = Goal::WallRatio {
            max: 1.15,
            peak_concurrency: Some(64),
        };
        assert_eq!(
            judge(wall, at(ms(287)), ms(250), None, 0, 64),
            Verdict::Pass
        );
        assert_eq!(
            judge(wall, at(ms(290)), ms(250), None, 0, 64),
            Verdict::Fail
        );
        assert_eq!(judge(wall, at(ms(260)), ms(250), None, 0, 8), Verdict::Fail);
        assert_eq!(
            judge(wall, at(ms(260)), Duration::ZERO, None, 0, 64),
            Verdict::Unknown
        );
        let rss = Goal::RssOfContext { max: 1.5 };
        assert_eq!(
            judge(rss, at(ms(1)), ms(1), Some(150), 100, 1),
            Verdict::Pass
        );
        assert_eq!(
            judge(rss, at(ms(1)), ms(1), Some(151), 100, 1),
            Verdict::Fail
        );
        assert_eq!(judge(rss, at(ms(1)), ms(1), None, 100, 1), Verdict::Unknown);
        let at_most = Goal::WallAtMost {
            max: ms(8800),
            peak_concurrency: 16,
        };
        assert_eq!(
            judge(at_most, at(ms(8800)), ms(1), None, 0, 16),
            Verdict::Pass
        );
        assert_eq!(
            judge(at_most, at(ms(8801)), ms(1), None, 0, 16),
            Verdict::Fail
        );
        assert_eq!(
            judge(at_most, at(ms(100)), ms(1), None, 0, 15),
            Verdict::Fail
        );
        // The runtime's own time, not the wall: a slow process start does not count.
        let run = Goal::RunOverIdeal { max_extra_ms: 100 };
        let times = |run| Times {
            wall: ms(900),
            run: Some(ms(run)),
        };
        assert_eq!(judge(run, times(150), ms(50), None, 0, 1), Verdict::Pass);
        assert_eq!(judge(run, times(151), ms(50), None, 0, 1), Verdict::Fail);
        assert_eq!(judge(run, at(ms(10)), ms(50), None, 0, 1), Verdict::Unknown);
    }

    #[test]
    fn tails() {
        assert_eq!(tail("  short\n", 10), "short");
        assert_eq!(tail("a\nbcdef", 3), "…def");
        assert_eq!(tail("ab\ncd", 10), "ab ⏎ cd");
    }
}
