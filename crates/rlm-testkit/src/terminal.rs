//! Running a command on a pseudo-terminal for process tests, with `script` (util-linux):
//! `script -qefc "exec LINE" /dev/null`.
//!
//! `script` runs the line with `$SHELL -c`. A shell that stays as the parent (dash does) also
//! receives the Ctrl-C a test types and exits 130 when the command ends, so the line is `exec`ed
//! under a fixed `/bin/sh`, and every variable the command reads is set here, never inherited
//! (CI runs with a minimal environment).

use std::process::Stdio;

/// A `script` command that runs `line` (a shell command line) on a pseudo-terminal with
/// `TERM=xterm` and `SHELL=/bin/sh`, without the variables that would redirect `rlm`
/// (`OPENAI_BASE_URL`, `RLM_MODEL`, `RUST_LOG`). Its stdout (the screen) is piped and its stderr
/// dropped; the caller sets stdin and the key, then spawns it. The child is killed on drop.
pub fn on_terminal(line: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("script");
    command
        .args(["-qefc", &format!("exec {line}"), "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("RLM_MODEL")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}
