//! Custom tools from the command line (`docs/design.md`, "Custom tools").
//!
//! - `--tool NAME=COMMAND`: the model's code calls `NAME(...)`; each call runs COMMAND (split
//!   like a POSIX shell splits words, but run without a shell) with the call's
//!   `{"args": [...], "kwargs": {...}}` on stdin, and its stdout, one JSON value, is the result.
//!   A non-zero exit, a failure to start or output that is not JSON raises `RuntimeError` in the
//!   code with the end of the command's stderr. The command runs in the current directory with
//!   the environment minus the providers' API keys; it is killed when the block's time limit
//!   passes (the time counts against it) or the run ends.
//! - `--tool-data NAME=FILE.json`: the variable NAME holds the file's JSON value.
//! - `--tool-description NAME=TEXT`: what the system prompt says about NAME.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use clap::Args;
use rlm::{ReplValue, ToolArgs, ToolError, Tools};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// The variables holding provider keys: a tool command does not get them.
const KEY_VARIABLES: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "AZURE_OPENAI_API_KEY",
];

/// How much of a failing command's stderr the code sees (its end).
const STDERR_TAIL_CHARS: usize = 2_000;

/// The custom-tool flags.
#[derive(Debug, Clone, Default, Args)]
pub struct ToolFlags {
    /// A custom tool the model's code calls as NAME(...): each call runs COMMAND (words split
    /// as a shell would, no shell) with {"args": [...], "kwargs": {...}} on stdin and reads one
    /// JSON value from its stdout; a non-zero exit raises RuntimeError with its stderr
    /// (repeatable).
    #[arg(long = "tool", value_name = "NAME=COMMAND", value_parser = parse_pair)]
    pub tool: Vec<(String, String)>,
    /// A JSON file bound as the variable NAME in the REPL (repeatable).
    #[arg(long = "tool-data", value_name = "NAME=FILE.json", value_parser = parse_pair)]
    pub tool_data: Vec<(String, String)>,
    /// What the system prompt says about the tool or data NAME (repeatable).
    #[arg(long = "tool-description", value_name = "NAME=TEXT", value_parser = parse_pair)]
    pub tool_description: Vec<(String, String)>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

/// Why the flags give no tools: the exit code and the message.
pub type ToolFlagError = (u8, String);

impl ToolFlags {
    /// The tools and data values the flags describe (names are checked when the `Rlm` is
    /// built).
    ///
    /// # Errors
    /// Exit code 2 for a bad flag (an empty or unbalanced command, a description of an unknown
    /// name), 3 for a data file that cannot be read or is not JSON.
    pub fn tools(&self) -> Result<Tools, ToolFlagError> {
        let description = |name: &str| {
            self.tool_description
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, text)| text.clone())
                .unwrap_or_default()
        };
        let known = |name: &str| {
            self.tool.iter().any(|(n, _)| n == name)
                || self.tool_data.iter().any(|(n, _)| n == name)
        };
        if let Some((name, _)) = self.tool_description.iter().find(|(n, _)| !known(n)) {
            return Err((
                2,
                format!(
                    "--tool-description {name}=...: there is no --tool or --tool-data named {name}"
                ),
            ));
        }
        let mut tools = Tools::new();
        for (name, command) in &self.tool {
            let words = shlex::split(command)
                .filter(|w| !w.is_empty())
                .ok_or_else(|| {
                    (
                        2,
                        format!("--tool {name}={command}: the command is empty or its quotes are unbalanced"),
                    )
                })?;
            tools.add_function(name.clone(), description(name), command_tool(name, words));
        }
        for (name, file) in &self.tool_data {
            let path = PathBuf::from(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                (
                    3,
                    format!("cannot read --tool-data file {}: {e}", path.display()),
                )
            })?;
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                (
                    3,
                    format!("--tool-data file {} is not JSON: {e}", path.display()),
                )
            })?;
            tools.add_data(name.clone(), description(name), ReplValue::from_json(value));
        }
        Ok(tools)
    }
}

/// A tool that runs `words` once per call.
fn command_tool(name: &str, words: Vec<String>) -> Arc<dyn rlm::Tool> {
    let name: Arc<str> = name.into();
    let words: Arc<[String]> = words.into();
    rlm::tool_fn(move |call: ToolArgs| {
        let name = Arc::clone(&name);
        let words = Arc::clone(&words);
        async move { run_command(&name, &words, call).await }
    })
}

async fn run_command(name: &str, words: &[String], call: ToolArgs) -> Result<Value, ToolError> {
    let Some((program, args)) = words.split_first() else {
        return Err(ToolError::new(format!("the tool {name} has no command")));
    };
    let input = json!({"args": call.args, "kwargs": call.kwargs}).to_string();
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The block's time limit drops this future: the command dies with it.
        .kill_on_drop(true);
    for key in KEY_VARIABLES {
        command.env_remove(key);
    }
    let mut child = command
        .spawn()
        .map_err(|e| ToolError::new(format!("the tool {name} could not start {program}: {e}")))?;
    let stdin = child.stdin.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A command that does not read its input is fine.
            let _ = stdin.write_all(input.as_bytes()).await;
        }
    };
    let (_, output) = tokio::join!(feed, child.wait_with_output());
    let output =
        output.map_err(|e| ToolError::new(format!("the tool {name} could not be run: {e}")))?;
    let stderr = tail(&String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(ToolError::new(format!(
            "the tool {name} failed ({}): {stderr}",
            output.status
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        let mut message = format!("the tool {name} printed no JSON value on stdout ({e})");
        if !stderr.is_empty() {
            message.push_str(&format!("; stderr: {stderr}"));
        }
        ToolError::new(message)
    })
}

/// The last [`STDERR_TAIL_CHARS`] characters, trimmed.
fn tail(text: &str) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= STDERR_TAIL_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().skip(count - STDERR_TAIL_CHARS).collect();
    format!("...{cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(tool: &[(&str, &str)], data: &[(&str, &str)], desc: &[(&str, &str)]) -> ToolFlags {
        let own = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        ToolFlags {
            tool: own(tool),
            tool_data: own(data),
            tool_description: own(desc),
        }
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_pair("q=python3 q.py --x=1"),
            Ok(("q".into(), "python3 q.py --x=1".into()))
        );
        assert!(parse_pair("no-equals").is_err());
        assert!(parse_pair("=x").is_err());
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        let err = flags(&[("t", "echo 1")], &[], &[("u", "text")])
            .tools()
            .unwrap_err();
        assert_eq!(err.0, 2);
        assert!(
            err.1.contains("no --tool or --tool-data named u"),
            "{}",
            err.1
        );
        let err = flags(&[("t", "echo 'open")], &[], &[]).tools().unwrap_err();
        assert_eq!(err.0, 2);
        let err = flags(&[("t", "  ")], &[], &[]).tools().unwrap_err();
        assert_eq!(err.0, 2);
        let err = flags(&[], &[("d", "/no/such/file.json")], &[])
            .tools()
            .unwrap_err();
        assert_eq!(err.0, 3);
        assert!(err.1.contains("/no/such/file.json"), "{}", err.1);
    }

    #[test]
    fn descriptions_attach_to_their_tool() {
        let tools = flags(&[("t", "echo 1")], &[], &[("t", "Echoes one.")])
            .tools()
            .unwrap();
        assert_eq!(
            tools.entries()[0].description.as_deref(),
            Some("Echoes one.")
        );
        assert_eq!(tail(&"x".repeat(5000)).len(), STDERR_TAIL_CHARS + 3);
    }
}
