//! Running cargo: `$CARGO` (set by `cargo run`), each command echoed before it runs.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// A `Command` for `$CARGO`.
pub fn cargo() -> Command {
    Command::new(cargo_program())
}

/// Prints the command, runs it with inherited stdio, and fails when it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Prints the command, runs it and returns its stdout; fails with its stderr when it exits
/// non-zero.
pub fn read(cmd: &mut Command) -> Result<String> {
    let shown = display(cmd);
    eprintln!("$ {shown}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{shown}` printed invalid UTF-8"))
}

/// The command as a shell line (`$CARGO` shown as `cargo`; environment changes left out).
pub fn display(cmd: &Command) -> String {
    let program = cmd.get_program();
    let mut words = vec![if program == cargo_program() {
        "cargo".to_owned()
    } else {
        quote(program)
    }];
    words.extend(cmd.get_args().map(quote));
    words.join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:@,+%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
