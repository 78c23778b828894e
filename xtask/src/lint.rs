//! `cargo xtask lint`: rustfmt, clippy and rustdoc with warnings denied, then the layer check
//! and tidy (unused dependencies, long files).
//! Every step runs even when an earlier one fails; the task fails when any does.

use anyhow::{Result, bail};

use crate::{cmd, layers, tidy};

pub fn run() -> Result<()> {
    let mut failed = Vec::new();
    let mut step = |name: &'static str, result: Result<()>| {
        if let Err(err) = result {
            eprintln!("error: {err:#}");
            failed.push(name);
        }
    };

    step(
        "rustfmt",
        cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"])),
    );
    step(
        "clippy",
        cmd::run(cmd::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ])),
    );
    let mut rustdocflags = std::env::var("RUSTDOCFLAGS").unwrap_or_default();
    if !rustdocflags.is_empty() {
        rustdocflags.push(' ');
    }
    rustdocflags.push_str("-D warnings");
    step(
        "rustdoc",
        cmd::run(cmd::cargo().env("RUSTDOCFLAGS", rustdocflags).args([
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
        ])),
    );
    step("layers", layers::run());
    step("tidy", tidy::run());

    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join(", "));
    }
    eprintln!("lint: ok");
    Ok(())
}
