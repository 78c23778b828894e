//! `cargo xtask deny [--offline]`: `cargo deny check` against `deny.toml`, with all features so
//! optional dependencies are checked too.
//!
//! `bans licenses sources` need only the cargo registry; `advisories` also fetches the RustSec
//! database from GitHub. `--offline` (or `CARGO_NET_OFFLINE=true`) skips that one check and
//! says so; it is never skipped silently. A missing cargo-deny fails the task.

use anyhow::{Result, bail};

use crate::cmd;

pub fn run(args: &[String]) -> Result<()> {
    let offline = match args {
        [] => std::env::var("CARGO_NET_OFFLINE").is_ok_and(|v| v == "true"),
        [flag] if flag == "--offline" => true,
        _ => bail!("usage: cargo xtask deny [--offline]"),
    };
    if !cmd::succeeds(cmd::cargo().args(["deny", "--version"])) {
        bail!("cargo-deny is not installed: run 'cargo install cargo-deny --locked'");
    }
    cmd::run(cmd::cargo().args([
        "deny",
        "--all-features",
        "check",
        "bans",
        "licenses",
        "sources",
    ]))?;
    if offline {
        eprintln!(
            "warning: advisories NOT checked (offline): run `cargo xtask deny` with network \
             access to check the RustSec database"
        );
        return Ok(());
    }
    let advisories = cmd::run(cmd::cargo().args(["deny", "--all-features", "check", "advisories"]));
    if let Err(err) = advisories {
        bail!(
            "{err:#}\n(if the advisory database could not be fetched, `cargo xtask deny \
             --offline` checks everything else)"
        );
    }
    Ok(())
}
