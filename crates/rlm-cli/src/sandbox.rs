//! The CPython sandbox's settings from the command line (`--sandbox python`, `--python PATH`
//! or `RLM_PYTHON`), and its interpreter checked before a run so that a missing or unusable
//! one is reported in the CLI's words (flags, not `PythonOptions::python`).

use std::path::PathBuf;

use rlm::python::{InterpreterError, PythonOptions};

use crate::Failure;
use crate::args::{RunArgs, Sandbox};

/// The options of `rlm run`'s and `rlm chat`'s `python` sandbox: the interpreter asked for and
/// the memory cap.
pub fn python_options(args: &RunArgs) -> PythonOptions {
    PythonOptions {
        python: args.python.clone(),
        memory_limit: Some(args.limits.block.max_memory.0 as u64),
        ..PythonOptions::default()
    }
}

/// With `--sandbox python`, [`check_python`] before anything is sent.
pub async fn check(args: &RunArgs) -> Result<(), Failure> {
    if args.sandbox == Sandbox::Python {
        check_python(&python_options(args)).await?;
    }
    Ok(())
}

/// Finds the interpreter `options` name (once per process; the sandbox reuses it), or says in
/// the CLI's words how to give one (exit 2).
pub async fn check_python(options: &PythonOptions) -> Result<PathBuf, Failure> {
    rlm::python::find_interpreter(options)
        .await
        .map_err(|e| Failure::new(2, explain(&e, options.python.is_some())))
}

/// The CLI's wording of an interpreter error; `asked` is whether `--python`/`RLM_PYTHON` named it.
pub fn explain(error: &InterpreterError, asked: bool) -> String {
    const GIVE: &str = "give one with --python PATH (or RLM_PYTHON)";
    match error {
        InterpreterError::NotFound { requested } if asked => format!(
            "--python {}: no such interpreter (give the path of Python 3, 3.8 or newer, or a \
             name on PATH; --python and RLM_PYTHON set it)",
            requested.display()
        ),
        InterpreterError::NotFound { requested } => format!(
            "--sandbox python needs Python 3 (3.8 or newer) and {} is not on PATH: install it, \
             {GIVE}, or use --sandbox monty (no Python needed)",
            requested.display()
        ),
        InterpreterError::Unreachable { python, uid, gid } => format!(
            "{} is not executable by the sandbox user (uid {uid}, gid {gid}): one of its \
             directories is private; give an interpreter every user can run with --python PATH \
             (or RLM_PYTHON), such as /usr/bin/python3",
            python.display()
        ),
        InterpreterError::Broken { reason, .. } => {
            format!("the Python interpreter is unusable: {reason}; {GIVE}")
        }
        other => format!("{other}; {GIVE}"),
    }
}
