//! The Python package's step of `cargo xtask test`: build the `recursive-lm` wheel
//! (crates/rlm-python, maturin, dev profile), install it into the test venv, and run its
//! pytest suite against the installed package.
//!
//! maturin comes from the venv (`scripts/python-requirements.txt` pins it) and builds with the
//! same cargo target directory as the Rust steps, so only the extension crate and PyO3 (built
//! as an extension module) compile again. The wheel goes to `<target>/python-wheels`, emptied
//! first, and is installed with `--force-reinstall --no-deps`. pytest runs from the package
//! folder, whose tests import `recursive_lm` from the venv's site-packages, not the sources.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The extension crate; the step runs when the test selection includes it.
pub const PACKAGE: &str = "rlm-python";
/// Its folder: `pyproject.toml`, `Cargo.toml`, `python/`, `tests/`.
const DIR: &str = "crates/rlm-python";

/// The cargo target directory (`CARGO_TARGET_DIR`, else `target`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Builds, installs and tests the package with the venv's `python`.
pub fn test(python: &str) -> Result<()> {
    let bin = Path::new(python)
        .parent()
        .context("the venv's python has no parent folder")?;
    let wheels = target_dir().join("python-wheels");
    if wheels.exists() {
        std::fs::remove_dir_all(&wheels)
            .with_context(|| format!("cannot empty {}", wheels.display()))?;
    }
    cmd::run(
        Command::new(bin.join("maturin"))
            .args(["build", "--profile", "dev", "--manifest-path"])
            .arg(Path::new(DIR).join("Cargo.toml"))
            .arg("--out")
            .arg(&wheels)
            .arg("--interpreter")
            .arg(python),
    )?;
    let wheel = the_wheel(&wheels)?;
    cmd::run(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--force-reinstall", "--no-deps"])
            .arg(&wheel),
    )?;
    cmd::run(
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
            .current_dir(DIR),
    )
}

/// The one wheel maturin wrote.
fn the_wheel(dir: &Path) -> Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "whl") {
            found.push(path);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one wheel in {}, found {}",
            dir.display(),
            found.len()
        ),
    }
}
