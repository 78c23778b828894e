//! `cargo xtask`: the project's automation, in the style of rust-analyzer and matklad's
//! cargo-xtask. `.cargo/config.toml` aliases `cargo xtask` to `cargo run --package xtask --`.
//!
//! Every task changes to the workspace root first, runs `$CARGO` (the cargo that started us),
//! prints each command before running it, and exits non-zero when anything fails. Run
//! `cargo xtask help` for the list of tasks.

mod cmd;
mod deny;
mod layers;
mod lint;
mod metadata;
mod python;
mod release;
mod test;
mod tidy;

use std::path::Path;

use anyhow::{Context, Result, bail};

const HELP: &str = "\
usage: cargo xtask <task> [args]

tasks:
  test [args]          run every test of the workspace, doc tests included
                       (cargo nextest when installed, else cargo test); `-p CRATE`,
                       `--package CRATE` and `--exclude CRATE` narrow the run, other
                       arguments go to the test runner (nextest or cargo test); then each
                       facade feature (openai, anthropic, gemini, monty, python) alone
  lint                 rustfmt check, clippy -D warnings, rustdoc -D warnings, layer check, tidy
  layers               the layer check alone (see xtask/src/layers.rs)
  tidy                 unused dependencies and source files over 600 lines (xtask/src/tidy.rs)
  deny [--offline]     cargo deny check (licenses, bans, sources, advisories);
                       --offline skips advisories, which need the RustSec database
  bump <patch|minor|major|X.Y.Z>
                       set the workspace version, internal dependency versions and a
                       dated CHANGELOG.md heading
  publish --dry-run    check the publishable crates' metadata and run
                       `cargo publish --dry-run` over them in dependency order
  publish              the same for real (refuses when the git tree is dirty)
  bench [args]         run the CLI against the fake server and report wall time, peak RSS and the ratio to the ideal
                       (`--trace`: with a trajectory file and progress on, the cost of watching);
                       runs `cargo run -p rlm-bench -- args` (crates/rlm-bench; `--help` lists its flags)
  help                 this message
";

fn main() {
    if let Err(err) = run() {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the xtask manifest directory has no parent")?;
    std::env::set_current_dir(root)
        .with_context(|| format!("could not change to the workspace root {}", root.display()))?;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    match task {
        "test" => test::run(rest),
        "lint" => no_args(task, rest).and_then(|()| lint::run()),
        "layers" => no_args(task, rest).and_then(|()| layers::run()),
        "tidy" => no_args(task, rest).and_then(|()| tidy::run()),
        "deny" => deny::run(rest),
        "bump" => release::bump(rest),
        "publish" => release::publish(rest),
        "bench" => bench(rest),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => {
            eprint!("{HELP}");
            bail!("unknown task `{other}`")
        }
    }
}

/// `cargo xtask bench [args]`: the harness is its own member, so xtask stays light. It runs in
/// the release profile, as the CLI it measures does: the serve benchmark's load generator
/// shares the machine's two cores with the server, and a debug build of it took as much CPU
/// as the server it was measuring.
fn bench(args: &[String]) -> Result<()> {
    cmd::run(
        cmd::cargo()
            .args([
                "run",
                "--quiet",
                "--release",
                "--package",
                "rlm-bench",
                "--",
            ])
            .args(args),
    )
}

fn no_args(task: &str, rest: &[String]) -> Result<()> {
    if rest.is_empty() {
        Ok(())
    } else {
        bail!(
            "`cargo xtask {task}` takes no arguments, got `{}`",
            rest.join(" ")
        )
    }
}
