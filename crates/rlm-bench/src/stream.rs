//! `cargo xtask bench stream [--reps N] [--latency-ms N] [--debug]`: what streaming the root
//! model's reply costs a run. The same run is timed on a pseudo-terminal (`script`, util-linux)
//! with streaming on (the default on a terminal) and with `--no-stream`, alternating, `N` times
//! each (default 5): three root turns whose replies are 400 words each, served by the fake
//! server after `latency` ms (default 50) as one event per word (about 1,200 events a run), with
//! the live view drawing. Reports the median wall times and their ratio (streaming / plain), and
//! checks that both runs give the same answer and that the streaming runs did ask for streams.
//!
//! `--debug` times `target/debug/rlm` (built by `cargo build -p rlm-cli`) instead of a release
//! build, when a release build is too slow to make.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rlm_testkit::{FakeServer, RecordedRequest, Reply, Script};

use crate::process;

struct Options {
    reps: usize,
    latency: Duration,
    debug: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        reps: 5,
        latency: Duration::from_millis(50),
        debug: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            it.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} takes a whole number"))
        };
        match arg.as_str() {
            "--reps" => o.reps = value("--reps")?.max(1) as usize,
            "--latency-ms" => o.latency = Duration::from_millis(value("--latency-ms")?),
            "--debug" => o.debug = true,
            other => bail!("bench stream: unknown argument {other}"),
        }
    }
    Ok(o)
}

/// The number of assistant turns already in a root request.
fn turns(request: &RecordedRequest) -> usize {
    request
        .json
        .as_ref()
        .and_then(|j| j["messages"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .count()
}

/// Three turns of 400 words each; the third finishes.
fn reply(request: &RecordedRequest, latency: Duration) -> Reply {
    let words = "the model thinks aloud about the context before it writes code ".repeat(40);
    let code = match turns(request) {
        0 => "```repl\nn = len(context)\nprint(n)\n```",
        1 => "```repl\nprint(context[:20])\n```",
        _ => "```repl\nFINAL('length ' + str(n))\n```",
    };
    // No trickle: the fake server trickles by bytes, and an event stream is several times the
    // bytes of the same answer as one JSON body, so a trickle would time the fake server.
    Reply::text(format!("{words}\n{code}"))
        .usage(1000, 500)
        .latency(latency)
}

/// `rlm run` on a pseudo-terminal; returns the wall time and the screen.
fn run_once(rlm: &Path, url: &str, context: &Path, stream: bool) -> Result<(Duration, String)> {
    let line = format!(
        "exec {} run --context-file {} --query 'how long is it?' --model bench-model --base-url {url} {}",
        rlm.display(),
        context.display(),
        if stream { "" } else { "--no-stream" }
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .env("OPENAI_API_KEY", "sk-bench")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG");
    let measured = process::run(
        &mut cmd,
        "rlm run on a pseudo-terminal",
        Duration::from_secs(300),
    )?;
    if !measured.status.success() {
        bail!("rlm run failed: {}", measured.stdout);
    }
    Ok((measured.wall, measured.stdout))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// `cargo xtask bench stream`.
pub fn run(args: &[String], target: &Path) -> Result<()> {
    let o = parse(args)?;
    let profile = if o.debug {
        crate::cmd::run(crate::cmd::cargo().args(["build", "-p", "rlm-cli"]))?;
        "debug"
    } else {
        crate::cmd::run(crate::cmd::cargo().args(["build", "--release", "-p", "rlm-cli"]))?;
        "release"
    };
    let rlm = target
        .join(profile)
        .join(format!("rlm{}", std::env::consts::EXE_SUFFIX));
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir)?;
    let context = dir.join("stream-context.txt");
    std::fs::write(&context, "x".repeat(10_000))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let latency = o.latency;
    let fake = runtime.block_on(FakeServer::start(Script::from_fn(move |r| {
        reply(r, latency)
    })));
    let url = fake.base_url();
    let (mut streamed, mut plain) = (Vec::new(), Vec::new());
    eprintln!("bench stream: {} runs each way ({profile}) ...", o.reps);
    for _ in 0..o.reps {
        let before = fake.requests().len();
        let (wall, screen) = run_once(&rlm, &url, &context, true)?;
        if !screen.contains("length 10000") {
            bail!("the streaming run gave another answer:\n{screen}");
        }
        if !fake.requests()[before..]
            .iter()
            .all(RecordedRequest::wants_stream)
        {
            bail!("the streaming run did not ask for streams");
        }
        streamed.push(wall);
        let before = fake.requests().len();
        let (wall, screen) = run_once(&rlm, &url, &context, false)?;
        if !screen.contains("length 10000") {
            bail!("the plain run gave another answer:\n{screen}");
        }
        if fake.requests()[before..]
            .iter()
            .any(RecordedRequest::wants_stream)
        {
            bail!("the --no-stream run asked for a stream");
        }
        plain.push(wall);
    }
    let (s, p) = (median(streamed), median(plain));
    println!(
        "| run (3 turns x 400 words, {} ms latency, {profile}) | median wall |",
        o.latency.as_millis()
    );
    println!("|---|---|");
    println!(
        "| streaming (terminal default) | {:.0} ms |",
        s.as_secs_f64() * 1000.0
    );
    println!("| --no-stream | {:.0} ms |", p.as_secs_f64() * 1000.0);
    println!(
        "| ratio streaming / plain | {:.3} |",
        s.as_secs_f64() / p.as_secs_f64().max(1e-9)
    );
    Ok(())
}
