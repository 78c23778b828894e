//! Finding the interpreter: `python3` on `PATH` (or the configured one), followed through shims
//! to the real executable, and checked to be runnable by the sandbox user.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rlm_core::ReplError;

use crate::options::{PythonOptions, SandboxUser};

/// Interpreters tried when the one on `PATH` is private to its owner (a pyenv install under
/// `/root`, say) and the sandbox runs as another uid.
const SHARED_FALLBACKS: &[&str] = &["/usr/bin/python3", "/usr/local/bin/python3"];

/// How long the one-off `sys.executable` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why no usable interpreter was found. Its text advises library users
/// ([`PythonOptions::python`]); a program with its own flag matches on the variant and words it
/// for its users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterpreterError {
    /// The interpreter asked for (`python3` by default) is not on `PATH` or not a file.
    #[error(
        "{} was not found on PATH: install Python 3 (3.8 or newer) or set PythonOptions::python \
         to an interpreter",
        requested.display()
    )]
    NotFound {
        /// The name or path asked for.
        requested: PathBuf,
    },
    /// It exists but does not run, or did not say where it lives.
    #[error("{reason}")]
    Broken {
        /// The interpreter tried.
        python: PathBuf,
        /// What went wrong, naming the interpreter.
        reason: String,
    },
    /// The sandbox user cannot execute it (one of its directories is private).
    #[error(
        "{} is not executable by the sandbox user (uid {uid}, gid {gid}): one of its directories is \
         private; set PythonOptions::python to an interpreter every user can run (such as \
         /usr/bin/python3)",
        python.display()
    )]
    Unreachable {
        /// The real executable found.
        python: PathBuf,
        /// The sandbox user id.
        uid: u32,
        /// The sandbox group id.
        gid: u32,
    },
}

impl From<InterpreterError> for ReplError {
    fn from(error: InterpreterError) -> Self {
        ReplError::Backend {
            backend: crate::BACKEND_NAME.to_string(),
            message: error.to_string(),
        }
    }
}

fn broken(python: &Path, reason: String) -> InterpreterError {
    InterpreterError::Broken {
        python: python.to_path_buf(),
        reason,
    }
}

/// Finds the interpreter sessions with `options` would run, as the first session would: to
/// report a missing or unusable one before a run starts. Cached per process like the lookup of
/// [`crate::PythonReplFactory`].
///
/// # Errors
/// [`InterpreterError`] when no usable interpreter is found.
pub async fn find_interpreter(options: &PythonOptions) -> Result<PathBuf, InterpreterError> {
    resolve(options, crate::repl::sandbox_user(options)).await
}

/// Interpreters already found in this process, by (requested, sandbox user): following a shim
/// costs a process start (tens of milliseconds through pyenv's bash shim).
type Found = HashMap<(Option<PathBuf>, Option<(u32, u32)>), PathBuf>;
static FOUND: Mutex<Option<Found>> = Mutex::new(None);

/// Finds the interpreter the sandbox will run (once per process for the same options).
///
/// # Errors
/// [`InterpreterError`] when no interpreter is found, it does not run, or (when dropping
/// privileges) neither it nor a shared fallback is reachable by the sandbox user.
pub(crate) async fn resolve(
    options: &PythonOptions,
    user: Option<SandboxUser>,
) -> Result<PathBuf, InterpreterError> {
    let key = (options.python.clone(), user.map(|u| (u.uid, u.gid)));
    if let Some(found) = FOUND
        .lock()
        .ok()
        .and_then(|found| found.as_ref()?.get(&key).cloned())
        .filter(|path| path.is_file())
    {
        return Ok(found);
    }
    let found = find(options, user).await?;
    if let Ok(mut cache) = FOUND.lock() {
        cache
            .get_or_insert_with(HashMap::new)
            .insert(key, found.clone());
    }
    Ok(found)
}

async fn find(
    options: &PythonOptions,
    user: Option<SandboxUser>,
) -> Result<PathBuf, InterpreterError> {
    let requested = options
        .python
        .clone()
        .unwrap_or_else(|| PathBuf::from("python3"));
    let found = locate(&requested).ok_or_else(|| InterpreterError::NotFound {
        requested: requested.clone(),
    })?;
    let real = real_executable(&found).await?;
    let Some(user) = user else {
        return Ok(real);
    };
    if reachable(&real, user) {
        return Ok(real);
    }
    if options.python.is_none() {
        for fallback in SHARED_FALLBACKS {
            let fallback = Path::new(fallback);
            if !fallback.exists() {
                continue;
            }
            if let Ok(shared) = real_executable(fallback).await
                && reachable(&shared, user)
            {
                tracing::info!(
                    private = %real.display(),
                    using = %shared.display(),
                    uid = user.uid,
                    "the python3 on PATH is not reachable by the sandbox user; using a shared interpreter"
                );
                return Ok(shared);
            }
        }
    }
    Err(InterpreterError::Unreachable {
        python: real,
        uid: user.uid,
        gid: user.gid,
    })
}

/// `name` itself when it holds a `/`, else the first executable `name` on `PATH`.
fn locate(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 || name.is_absolute() {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

/// Runs `python -c 'sys.executable'` (with the host's environment, so shims work) and returns
/// the canonical path of the real interpreter.
async fn real_executable(python: &Path) -> Result<PathBuf, InterpreterError> {
    let mut cmd = tokio::process::Command::new(python);
    cmd.args([
        "-I",
        "-S",
        "-c",
        "import sys; sys.stdout.write(sys.executable)",
    ])
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let output = tokio::time::timeout(PROBE_TIMEOUT, cmd.output())
        .await
        .map_err(|_| {
            broken(
                python,
                format!(
                    "{} did not answer within {PROBE_TIMEOUT:?}",
                    python.display()
                ),
            )
        })?
        .map_err(|e| broken(python, format!("could not run {}: {e}", python.display())))?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || text.is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(broken(
            python,
            format!(
                "{} does not run ({}): {}",
                python.display(),
                output.status,
                stderr.trim().chars().take(500).collect::<String>()
            ),
        ));
    }
    fs::canonicalize(&text).map_err(|e| {
        broken(
            python,
            format!("the interpreter path {text} is unusable: {e}"),
        )
    })
}

/// Whether `user` may execute `file` (search permission on every ancestor, read and execute on
/// the file).
pub(crate) fn reachable(file: &Path, user: SandboxUser) -> bool {
    let allows = |path: &Path, bits: u32| {
        fs::metadata(path).is_ok_and(|m| {
            let mode = m.mode();
            let class = if m.uid() == user.uid {
                mode >> 6
            } else if m.gid() == user.gid {
                mode >> 3
            } else {
                mode
            };
            class & bits == bits
        })
    };
    allows(file, 0o5)
        && file
            .ancestors()
            .skip(1)
            .filter(|dir| !dir.as_os_str().is_empty())
            .all(|dir| allows(dir, 0o1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn reachability_follows_permission_classes() {
        let base = std::env::temp_dir().join(format!("rlm-reach-{:x}", fastrand::u64(..)));
        let private = base.join("private");
        fs::create_dir_all(&private).unwrap();
        let tool = private.join("tool");
        fs::write(&tool, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let stranger = SandboxUser {
            uid: 4_000_000_001,
            gid: 4_000_000_001,
        };
        fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(reachable(&tool, stranger));
        fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!reachable(&tool, stranger));
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn locate_searches_path_only_for_bare_names() {
        assert_eq!(locate(Path::new("/definitely/not/here/python3")), None);
        assert_eq!(locate(Path::new("no-such-interpreter-rlm")), None);
    }
}
