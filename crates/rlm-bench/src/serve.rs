//! `cargo xtask bench serve`: `rlm serve` (release build) under the Rust WebSocket load
//! generator ([`crate::serve_load`]).
//!
//! 1. Scale: `--sessions` (1,000) concurrent sessions, each a reset and `--steps` (10) small
//!    steps. Reported: steps, wrong replies, failed sessions, p50/p99 step latency, the
//!    server's CPU time per step (utime + stime from `/proc/<pid>/stat`, divided by the steps;
//!    resets included in the CPU), its RSS with every session open and its peak RSS (VmHWM).
//! 2. Paced: the same sessions again, each waiting a think time before every step (uniform in
//!    `[0, 2 × --think-ms]`, mean 200 ms: the policy writing its next step), as a trainer's
//!    rollouts arrive. Reported: the offered rate, p50/p99 step latency and CPU per step.
//!    The p99 goal is judged here: in the closed loop of phase 1 every step queues behind the
//!    other sessions' (Little's law: p50 is about sessions × CPU per step ÷ cores), so its
//!    latency measures the server's throughput, not its responsiveness.
//! 3. Isolation: `--isolation-sessions` (100) sessions' p99 alone, then again while one
//!    session runs `while True: pass`, two others a single huge allocation and a fourth a
//!    slowly growing list (each stopped by its own limits: `--execution-timeout 5`, Monty's
//!    single-allocation cap, and the per-session `--max-memory 256M`).
//! 4. Drain: SIGTERM, and the exit code.
//!
//! Goals (issue 13): CPU ≤ 0.1 ms per step, p99 ≤ 20 ms, RSS ≤ 300 MB, zero wrong replies,
//! hostile sessions slow the others' p99 by at most 2×. Missed goals are reported, and fail
//! the command only with `--strict`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rlm_testkit::{FakeServer, Reply, Script};

use crate::serve_load::{self, Load, LoadResult};

const USAGE: &str = "usage: cargo xtask bench serve [--sessions N] [--steps N] [--think-ms MS] [--isolation-sessions N] [--binary PATH] [--out FILE] [--strict]";

struct Options {
    sessions: usize,
    steps: usize,
    think: Duration,
    isolation_sessions: usize,
    out: Option<std::path::PathBuf>,
    /// A prebuilt `rlm` to serve with (a `--profile profiling` build under `perf`); default:
    /// build the release binary.
    binary: Option<std::path::PathBuf>,
    strict: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        sessions: 1000,
        steps: 10,
        think: Duration::from_millis(200),
        isolation_sessions: 100,
        out: None,
        binary: None,
        strict: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("`{flag}` needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--sessions" => o.sessions = value()?.parse().context("--sessions")?,
            "--steps" => o.steps = value()?.parse().context("--steps")?,
            "--think-ms" => {
                o.think = Duration::from_millis(value()?.parse().context("--think-ms")?)
            }
            "--isolation-sessions" => {
                o.isolation_sessions = value()?.parse().context("--isolation-sessions")?
            }
            "--out" => o.out = Some(value()?.into()),
            "--binary" => o.binary = Some(value()?.into()),
            "--strict" => o.strict = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Runs the `serve` benchmark.
pub fn run(args: &[String], target: &Path) -> Result<()> {
    let o = parse(args)?;
    let rlm = match &o.binary {
        Some(binary) => binary.clone(),
        None => {
            crate::cmd::run(crate::cmd::cargo().args(["build", "--release", "-p", "rlm-cli"]))?;
            target
                .join("release")
                .join(format!("rlm{}", std::env::consts::EXE_SUFFIX))
        }
    };
    eprintln!("bench serve: serving with {}", rlm.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let fake = runtime.block_on(FakeServer::start(Script::from_fn(|_| Reply::text("ok"))));
    let (mut child, address) = start(&rlm, &fake.base_url(), o.sessions + 16)?;
    let pid = child.id();
    let url = format!("ws://{address}/ws");
    let tick = clock_ticks();

    eprintln!(
        "bench serve: {} sessions x (reset + {} steps) ...",
        o.sessions, o.steps
    );
    let cpu_before = cpu_ticks(pid)?;
    let rss_open = Arc::new(AtomicU64::new(0));
    let sample = rss_open.clone();
    let scale = runtime.block_on(serve_load::run(Load {
        url: url.clone(),
        sessions: o.sessions,
        steps: o.steps,
        think: Duration::ZERO,
        at_peak: Some(Box::new(move || {
            sample.store(status_kib(pid, "VmRSS:").unwrap_or(0), Ordering::Relaxed)
        })),
    }));
    let cpu_after = cpu_ticks(pid)?;
    let hwm = status_kib(pid, "VmHWM:").unwrap_or(0);
    let cpu_ms_per_step =
        (cpu_after - cpu_before) as f64 * 1000.0 / tick / scale.steps().max(1) as f64;

    eprintln!(
        "bench serve: paced, {} sessions x (reset + {} steps), think {} ms mean ...",
        o.sessions,
        o.steps,
        o.think.as_millis()
    );
    let cpu_before = cpu_ticks(pid)?;
    let paced = runtime.block_on(serve_load::run(Load {
        url: url.clone(),
        sessions: o.sessions,
        steps: o.steps,
        think: o.think,
        at_peak: None,
    }));
    let paced_cpu =
        (cpu_ticks(pid)? - cpu_before) as f64 * 1000.0 / tick / paced.steps().max(1) as f64;

    eprintln!(
        "bench serve: isolation, {} sessions alone, then beside hostile sessions ...",
        o.isolation_sessions
    );
    let small = |runtime: &tokio::runtime::Runtime| {
        runtime.block_on(serve_load::run(Load {
            url: url.clone(),
            sessions: o.isolation_sessions,
            steps: o.steps,
            think: Duration::ZERO,
            at_peak: None,
        }))
    };
    let alone = small(&runtime);
    let hostile_codes = [
        ("infinite loop", "while True:\n    pass"),
        ("memory bomb", "x = 'a' * (10 ** 10)"),
        ("memory bomb (list)", "x = [0] * (10 ** 10)"),
        (
            "slowly growing bomb",
            "chunks = []\nwhile True:\n    chunks.append('x' * 100_000)",
        ),
    ];
    let hostile: Vec<_> = hostile_codes
        .iter()
        .map(|(_, code)| {
            runtime.spawn({
                let url = url.clone();
                let code = code.to_string();
                async move { serve_load::hostile(&url, &code).await }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let beside = small(&runtime);
    let hostile_results: Vec<String> = hostile
        .into_iter()
        .zip(hostile_codes)
        .map(|(task, (name, _))| {
            let outcome = runtime
                .block_on(task)
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            format!(
                "{name}: {}",
                outcome.unwrap_or_else(|e| format!("failed: {e}"))
            )
        })
        .collect();

    let exit = stop(&mut child)?;
    let report = render(
        &o,
        &scale,
        cpu_ms_per_step,
        (&paced, paced_cpu),
        rss_open.load(Ordering::Relaxed),
        hwm,
        &alone,
        &beside,
        &hostile_results,
        exit,
    );
    print!("{report}");
    if let Some(out) = &o.out {
        std::fs::write(out, &report)
            .with_context(|| format!("could not write {}", out.display()))?;
    }
    if scale.wrong > 0
        || scale.failed > 0
        || paced.wrong > 0
        || paced.failed > 0
        || alone.failed > 0
        || beside.failed > 0
    {
        bail!("wrong replies or failed sessions (see the report)");
    }
    let ratio = ratio(&alone, &beside);
    let missed = cpu_ms_per_step > 0.1
        || paced.quantile(0.99) > Duration::from_millis(20)
        || hwm > 300 * 1024
        || ratio > 2.0;
    if o.strict && missed {
        bail!("a goal was missed (see the report)");
    }
    Ok(())
}

fn ratio(alone: &LoadResult, beside: &LoadResult) -> f64 {
    beside.quantile(0.99).as_secs_f64() / alone.quantile(0.99).as_secs_f64().max(1e-9)
}

/// Starts `rlm serve --port 0` and reads its address from stderr.
fn start(rlm: &Path, model_url: &str, max_sessions: usize) -> Result<(Child, String)> {
    let mut child = Command::new(rlm)
        .args([
            "serve",
            "--port",
            "0",
            "--model",
            "bench-model",
            "--base-url",
            model_url,
        ])
        .args([
            "--max-sessions",
            &max_sessions.to_string(),
            "--execution-timeout",
            "5",
            "--drain-grace",
            "5",
            // The per-session memory cap that stops the slowly growing bomb.
            "--max-memory",
            "256M",
        ])
        .env("OPENAI_API_KEY", "bench-key")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {}", rlm.display()))?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .context("rlm serve exited before listening")??;
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((child, address))
}

/// SIGTERM, then the exit code.
fn stop(child: &mut Child) -> Result<Option<i32>> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    Ok(child.wait()?.code())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("bad /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[allow(clippy::too_many_arguments)]
fn render(
    o: &Options,
    scale: &LoadResult,
    cpu: f64,
    (paced, paced_cpu): (&LoadResult, f64),
    rss_open: u64,
    hwm: u64,
    alone: &LoadResult,
    beside: &LoadResult,
    hostile: &[String],
    exit: Option<i32>,
) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "## bench serve ({} cores)\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    t.push_str("| measure | value | goal |\n|---|---:|---|\n");
    t.push_str(&format!(
        "| sessions x steps | {} x (reset + {}) | 1000 x (reset + 10) |\n",
        o.sessions, o.steps
    ));
    t.push_str(&format!("| steps answered | {} | |\n", scale.steps()));
    t.push_str(&format!("| wrong replies | {} | 0 |\n", scale.wrong));
    t.push_str(&format!(
        "| failed sessions | {}{} | 0 |\n",
        scale.failed,
        scale
            .first_error
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    ));
    t.push_str(&format!(
        "| wall time | {:.2} s | |\n",
        scale.wall.as_secs_f64()
    ));
    t.push_str(&format!(
        "| step latency p50 | {} | |\n",
        ms(scale.quantile(0.5))
    ));
    t.push_str(&format!(
        "| step latency p99 (closed loop: queueing, see the docs) | {} | |\n",
        ms(scale.quantile(0.99))
    ));
    t.push_str(&format!(
        "| server CPU per step (resets included) | {cpu:.3} ms | ≤ 0.1 ms |\n"
    ));
    t.push_str(&format!(
        "| paced ({} ms mean think): steps, wall, rate | {} in {:.2} s, {:.0} steps/s | |\n",
        o.think.as_millis(),
        paced.steps(),
        paced.wall.as_secs_f64(),
        paced.steps() as f64 / paced.wall.as_secs_f64().max(1e-9)
    ));
    t.push_str(&format!(
        "| paced: wrong replies / failed sessions | {} / {} | 0 / 0 |\n",
        paced.wrong, paced.failed
    ));
    t.push_str(&format!(
        "| paced: step latency p50 | {} | |\n",
        ms(paced.quantile(0.5))
    ));
    t.push_str(&format!(
        "| paced: step latency p99 | {} | ≤ 20 ms |\n",
        ms(paced.quantile(0.99))
    ));
    t.push_str(&format!(
        "| paced: server CPU per step (resets included) | {paced_cpu:.3} ms | ≤ 0.1 ms |\n"
    ));
    t.push_str(&format!(
        "| server RSS, all sessions open | {:.1} MiB | |\n",
        rss_open as f64 / 1024.0
    ));
    t.push_str(&format!(
        "| server peak RSS (VmHWM) | {:.1} MiB | ≤ 300 MB |\n",
        hwm as f64 / 1024.0
    ));
    t.push_str(&format!(
        "| isolation: {} sessions' p99 alone | {} | |\n",
        o.isolation_sessions,
        ms(alone.quantile(0.99))
    ));
    t.push_str(&format!(
        "| isolation: p99 beside hostile sessions | {} ({:.2}x) | ≤ 2x |\n",
        ms(beside.quantile(0.99)),
        ratio(alone, beside)
    ));
    t.push_str(&format!(
        "| isolation: wrong / failed | {} / {} | 0 / 0 |\n",
        alone.wrong + beside.wrong,
        alone.failed + beside.failed
    ));
    t.push_str(&format!(
        "| SIGTERM exit code | {} | 0 |\n",
        exit.map_or("signal".into(), |c| c.to_string())
    ));
    t.push_str("\nHostile sessions, how each step ended:\n");
    for h in hostile {
        t.push_str(&format!("- {h}\n"));
    }
    t
}
