//! `tree-1gb`: a context loaded from a folder (`--context-dir`). Opt-in by name
//! (`cargo xtask bench --scenario tree-1gb`): it writes 1 GB to disk.
//!
//! It generates 50,000 text files of 20,000 bytes (1 GB) in 50 directories under
//! `target/bench/tree-1gb/` (not timed), reads them once to warm the page cache, then measures
//! three child processes, each alone:
//! - **read**: this binary in `--read-tree` mode reads every file into memory and drops it
//!   (the `cat` of the tree: the floor for loading it);
//! - **load**: this binary in `--load-tree` mode calls `rlm::Context::load_dir` (the walk with
//!   `.gitignore` rules, the binary check, one buffer per file kept) and reports its own time
//!   and peak RSS (`VmHWM`);
//! - **cli**: `rlm run --context-dir` against the fake server with no latency, whose model
//!   answers `FINAL(len(context))` on the first turn: process start, the load, handing the dict
//!   to the REPL, one request, exit; wall time and peak RSS.
//!
//! Goals: load time ≤ 1.2 × read time, and peak RSS of the load ≤ 1.2 × the text size. The tree
//! is deleted afterwards.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rlm_testkit::{FakeServer, Script};
use serde_json::{Value, json};

use crate::process;

/// The scenario's name.
pub const NAME: &str = "tree-1gb";
const DIRS: usize = 50;
const FILES_PER_DIR: usize = 1_000;
const FILE_BYTES: usize = 20_000;

/// Writes the tree: `dNN/fNNNN.txt`, ASCII lines, every file distinct.
fn generate(root: &Path) -> Result<u64> {
    let _ = std::fs::remove_dir_all(root);
    let mut total = 0u64;
    let line = "2026-12-02 12:00:00 INFO request served by worker in 12 ms, status ok\n";
    for d in 0..DIRS {
        let dir = root.join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for f in 0..FILES_PER_DIR {
            let mut text = format!("file {d}/{f}\n");
            while text.len() + line.len() <= FILE_BYTES {
                text.push_str(line);
            }
            while text.len() < FILE_BYTES {
                text.push('.');
            }
            let path = dir.join(format!("f{f:04}.txt"));
            std::fs::File::create(&path)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .with_context(|| format!("writing {}", path.display()))?;
            total += text.len() as u64;
        }
    }
    Ok(total)
}

/// Every file under `root`, read into memory and dropped (the `cat` of the tree), or kept
/// until the end (`keep`: what any load must do, paying for fresh pages).
fn read_all(root: &Path, keep: bool) -> Result<(u64, usize)> {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0u64;
    let mut files = 0usize;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                let data = std::fs::read(entry.path())?;
                bytes += data.len() as u64;
                files += 1;
                if keep {
                    kept.push(data);
                }
            }
        }
    }
    drop(kept);
    Ok((bytes, files))
}

/// This process's peak RSS in bytes (`VmHWM`).
fn vm_hwm() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The child modes: `--read-tree DIR` and `--load-tree DIR` print one JSON line. Returns
/// `None` when `args` is not one of them.
pub fn child_mode(args: &[String]) -> Option<Result<()>> {
    let (mode, dir) = match args {
        [mode, dir]
            if ["--read-tree", "--read-keep-tree", "--load-tree"].contains(&mode.as_str()) =>
        {
            (mode, PathBuf::from(dir))
        }
        _ => return None,
    };
    Some((|| {
        let started = Instant::now();
        let (bytes, documents) = if mode != "--load-tree" {
            read_all(&dir, mode == "--read-keep-tree")?
        } else {
            let loaded = rlm::Context::load_dir(&dir, &rlm::DirOptions::default())?;
            let report = (loaded.report.bytes, loaded.report.documents);
            let took = started.elapsed();
            let out = json!({"ms": took.as_secs_f64() * 1e3, "bytes": report.0,
                             "documents": report.1, "peak_rss": vm_hwm()});
            println!("{out}");
            drop(loaded);
            return Ok(());
        };
        let out = json!({"ms": started.elapsed().as_secs_f64() * 1e3, "bytes": bytes,
                         "documents": documents, "peak_rss": vm_hwm()});
        println!("{out}");
        Ok(())
    })())
}

/// Runs this binary in a child mode and reads its JSON line.
fn child(mode: &str, dir: &Path) -> Result<Value> {
    let exe = std::env::current_exe().context("the bench binary's path")?;
    let out = Command::new(exe)
        .arg(mode)
        .arg(dir)
        .output()
        .with_context(|| format!("running {mode}"))?;
    if !out.status.success() {
        bail!("{mode} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("{mode} printed no JSON"))
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// The scenario: generate, measure, delete; the report is a Markdown table.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    rlm: &Path,
    bench_dir: &Path,
    runs: usize,
) -> Result<String> {
    let root = bench_dir.join(NAME);
    eprintln!(
        "bench: {NAME}: writing {DIRS} × {FILES_PER_DIR} files under {}",
        root.display()
    );
    let text_bytes = generate(&root)?;
    let result = measure(runtime, rlm, &root, text_bytes, runs);
    let _ = std::fs::remove_dir_all(&root);
    result
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    rlm: &Path,
    root: &Path,
    text_bytes: u64,
    runs: usize,
) -> Result<String> {
    read_all(root, false)?; // warm the page cache: every measurement reads from memory
    let documents = DIRS * FILES_PER_DIR;
    let script = Script::from_fn(|_| rlm_testkit::Reply::text("```repl\nFINAL(len(context))\n```"));
    let server = runtime
        .block_on(FakeServer::builder().try_start(script))
        .context("could not start the fake server")?;
    let mut rows = Vec::new();
    for i in 0..runs {
        let read = child("--read-tree", root)?;
        let kept = child("--read-keep-tree", root)?;
        let load = child("--load-tree", root)?;
        let mut cmd = Command::new(rlm);
        cmd.args(["run", "--json", "--quiet", "--context-dir"])
            .arg(root)
            .args([
                "--query",
                "How many files?",
                "--model",
                "bench-model",
                "--base-url",
            ])
            .arg(server.base_url())
            .env("OPENAI_API_KEY", "bench")
            .env_remove("OPENAI_BASE_URL");
        let exe = rlm.file_name().and_then(|n| n.to_str()).unwrap_or("rlm");
        let cli = process::run(&mut cmd, exe, Duration::from_secs(600))?;
        let answer: Value = serde_json::from_str(cli.stdout.trim()).unwrap_or(Value::Null);
        let expected = documents.to_string();
        if !cli.status.success() || answer["answer"] != expected.as_str() {
            bail!("the CLI run failed: {} {}", cli.stdout, cli.stderr);
        }
        let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        if num(&load, "documents") as usize != documents {
            bail!(
                "the load found {} documents, not {documents}",
                load["documents"]
            );
        }
        eprintln!(
            "bench: {NAME} run {}: read {:.0} ms, load {:.0} ms, cli {:.0} ms",
            i + 1,
            num(&read, "ms"),
            num(&load, "ms"),
            cli.wall.as_secs_f64() * 1e3
        );
        let run_ms = answer["duration_ms"].as_f64().unwrap_or(f64::NAN);
        rows.push((read, kept, load, cli.wall, run_ms, cli.peak_rss));
    }
    runtime.block_on(server.shutdown());
    let text = text_bytes as f64;
    let mut out = format!(
        "\n### {NAME}: {documents} files, {} of text\n\n\
         | run | read (cat) | read and keep | load (`Context::load_dir`, harness build) | load/read | load peak RSS | RSS/text | `rlm run --context-dir` wall | its load (wall − run) | its load/read | its peak RSS | RSS/text |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        mib(text)
    );
    for (i, (read, kept, load, wall, run_ms, cli_rss)) in rows.iter().enumerate() {
        let read_ms = read["ms"].as_f64().unwrap_or(f64::NAN);
        let kept_ms = kept["ms"].as_f64().unwrap_or(f64::NAN);
        let load_ms = load["ms"].as_f64().unwrap_or(f64::NAN);
        let load_rss = load["peak_rss"].as_f64().unwrap_or(f64::NAN);
        let cli_rss = cli_rss.map_or(f64::NAN, |b| b as f64);
        out.push_str(&format!(
            "| {} | {read_ms:.0} ms | {kept_ms:.0} ms | {load_ms:.0} ms | {:.2}× | {} | {:.3}× | {:.0} ms | {:.0} ms | {:.2}× | {} | {:.3}× |\n",
            i + 1,
            load_ms / read_ms,
            mib(load_rss),
            load_rss / text,
            wall.as_secs_f64() * 1e3,
            wall.as_secs_f64() * 1e3 - run_ms,
            (wall.as_secs_f64() * 1e3 - run_ms) / read_ms,
            mib(cli_rss),
            cli_rss / text,
        ));
    }
    out.push_str(
        "\nGoals: load ≤ 1.2× read time; load peak RSS ≤ 1.2× text size. The page cache is warm for every \
         column. The harness is a debug build (`cargo run`), so its `load_dir` column is slower than the \
         release CLI's; the CLI's load is its wall time minus the run (`duration_ms`): process start, the \
         walk and the reads. Its peak RSS covers the REPL holding the dict (the texts move into it).\n",
    );
    Ok(out)
}
