//! The Python interpreter of the project's test venv (`scripts/python-env.sh`), for tests that
//! drive Python clients or packages (OpenEnv's client, the Python package's pytest suite).
//!
//! `cargo xtask test` creates the venv once and passes its interpreter in `RLM_TEST_PYTHON`;
//! a test run on its own (`cargo nextest run -p ...`) runs the script itself. Either way a
//! missing venv is an error, never a silent skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable `cargo xtask test` sets to the venv's python.
pub const PYTHON_ENV_VAR: &str = "RLM_TEST_PYTHON";

/// Why the test venv is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum PythonEnvError {
    /// `scripts/python-env.sh` could not start or failed.
    #[error("scripts/python-env.sh failed ({status}): {stderr}")]
    Script {
        /// Its exit status, or the start error.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The interpreter it named does not exist.
    #[error("the test venv's python {path} does not exist")]
    Missing {
        /// The path that was given.
        path: PathBuf,
    },
}

/// The workspace root (two levels above this crate's manifest).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The test venv's python: `$RLM_TEST_PYTHON`, or the one `scripts/python-env.sh` prints
/// (creating the venv on first use).
///
/// # Errors
/// [`PythonEnvError`] when the script fails (no network to PyPI, no `python3`) or the named
/// interpreter does not exist.
pub fn python() -> Result<PathBuf, PythonEnvError> {
    let path =
        match std::env::var_os(PYTHON_ENV_VAR) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => {
                let script = workspace_root().join("scripts/python-env.sh");
                let out = Command::new("bash").arg(&script).output().map_err(|e| {
                    PythonEnvError::Script {
                        status: e.to_string(),
                        stderr: String::new(),
                    }
                })?;
                if !out.status.success() {
                    return Err(PythonEnvError::Script {
                        status: out.status.to_string(),
                        stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
                    });
                }
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
    if path.exists() {
        Ok(path)
    } else {
        Err(PythonEnvError::Missing { path })
    }
}
