//! `rlm chat`: questions about one context in one session (`docs/design.md` §13): the REPL, its
//! variables and the earlier conversations (`history_N`) are kept from one question to the next.
//!
//! - On a terminal: an interactive prompt with line editing (`rlm> `; arrows, history of the
//!   session's questions). Ctrl-D (or `/exit`) leaves; Ctrl-C at the prompt clears the line;
//!   Ctrl-C during an answer cancels that answer and keeps the session.
//! - From a pipe: one question per line from stdin (blank lines skipped), one answer per line
//!   on stdout, in order. An answer's backslashes and line breaks are escaped (`\\`, `\n`,
//!   `\r`) so that it stays on one line; `--json` prints one JSON object per answer instead
//!   (JSON Lines). A question that gets no answer (cancelled, failed) still gets its line (empty,
//!   or its JSON object), and its error goes to stderr.
//! - On leaving, stderr gets the session's questions, LLM calls and tokens (not with
//!   `--quiet`).
//! - `--query Q` is asked first. Exit status: 0 when the input ends, or the exit code `rlm run`
//!   would give for the last question that did not answer.

mod cancel;

use std::io::IsTerminal as _;
use std::path::Path;

use rlm::{Completion, RlmError, RunOutcomeKind, Session};
use tokio::io::AsyncBufReadExt as _;

use crate::args::RunArgs;
use crate::{Failure, build_rlm, exit_code, explain_failure, models};

/// Runs `rlm chat`.
pub async fn run(args: RunArgs) -> Result<u8, Failure> {
    let cancel = cancel::Cancel::install()
        .map_err(|e| {
            eprintln!("[rlm] warning: Ctrl-C cannot be watched ({e}); it will kill the process")
        })
        .ok();
    if args
        .context
        .context_file
        .iter()
        .any(|f| f == Path::new("-"))
    {
        return Err(Failure::new(
            2,
            "rlm chat reads its questions from standard input: give the context as a file",
        ));
    }
    let loaded = args
        .context
        .load()
        .map_err(|e| Failure::new(e.exit_code(), e.to_string()))?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    if let Some(summary) = loaded.summary.as_ref().filter(|_| !args.quiet) {
        eprintln!("{summary}");
    }
    let context = loaded.context;
    if let Some(warning) = crate::slow_context_warning(context.value(), args.sandbox) {
        eprintln!("{warning}");
    }
    let models = models::Models::from_args(&args)?;
    crate::sandbox::check(&args).await?;
    let rlm = build_rlm(&args, &models, None)?;
    let session = rlm
        .session(context)
        .await
        .map_err(|e| Failure::new(1, e.to_string()))?;
    let mut chat = Chat {
        session,
        cancel,
        models,
        json: args.json,
        trace: args.trace.clone(),
        status: 0,
        asked: 0,
    };
    let interactive = std::io::stdin().is_terminal();
    if !args.query.trim().is_empty() {
        chat.ask(args.query.trim(), interactive).await;
    }
    if interactive {
        chat.terminal().await?;
    } else {
        chat.pipe().await?;
    }
    if !args.quiet {
        let mut total = rlm::Usage::default();
        for usage in chat.session.usage().values() {
            total.add(usage);
        }
        eprintln!(
            "[rlm] session: {} questions, {} LLM calls, {} tokens",
            chat.asked,
            total.calls,
            total.total_tokens()
        );
    }
    Ok(chat.status)
}

struct Chat {
    session: Session,
    cancel: Option<cancel::Cancel>,
    models: models::Models,
    json: bool,
    trace: Option<std::path::PathBuf>,
    /// The exit code of the last question that did not answer (0: none).
    status: u8,
    /// Questions asked.
    asked: u32,
}

impl Chat {
    /// Asks one question and prints its answer (`interactive`: as is, else on one line).
    async fn ask(&mut self, query: &str, interactive: bool) {
        self.asked += 1;
        let answer = self.cancel.as_ref().map(cancel::Cancel::answer);
        let stop = answer.as_ref().map(cancel::Answer::stopped);
        let ctrl_c = async move {
            match stop {
                Some(stop) => stop.await,
                None => std::future::pending::<()>().await,
            }
        };
        let result = self.session.ask_until(query, ctrl_c).await;
        drop(answer);
        let done = match result {
            Ok(done) => {
                if done.kind() == RunOutcomeKind::Cancelled {
                    eprintln!("[rlm] answer cancelled; the session goes on");
                } else if exit_code(done.kind()) != 0 {
                    let why = done.error().map(ToString::to_string).unwrap_or_default();
                    eprintln!("[rlm] stopped ({}): {why}", kind_name(done.kind()));
                    self.status = exit_code(done.kind());
                }
                done
            }
            Err(RlmError::Failed { completion }) => {
                let failure = explain_failure(completion.error(), &self.models);
                eprintln!("error: {}", failure.message);
                self.status = failure.code;
                *completion
            }
            Err(e) => {
                eprintln!("error: {e}");
                self.status = 1;
                return self.print_empty(query, interactive);
            }
        };
        self.print(query, &done, interactive);
    }

    fn print(&self, query: &str, done: &Completion, interactive: bool) {
        if self.json {
            let mut value = crate::result_json(done, self.trace.as_deref());
            value["query"] = query.into();
            println!("{value}");
        } else if interactive {
            let answer = done.answer();
            if !answer.is_empty() {
                println!("{answer}\n");
            }
        } else {
            println!("{}", one_line(done.answer()));
        }
    }

    fn print_empty(&self, query: &str, interactive: bool) {
        if self.json {
            println!(
                "{}",
                serde_json::json!({"query": query, "answer": "", "outcome": "failed"})
            );
        } else if !interactive {
            println!();
        }
    }

    /// One question per line from stdin until it ends.
    async fn pipe(&mut self) -> Result<(), Failure> {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            let line = lines.next_line().await.map_err(|e| {
                Failure::new(3, format!("cannot read questions from standard input: {e}"))
            })?;
            let Some(line) = line else {
                return Ok(());
            };
            let query = line.trim();
            if !query.is_empty() {
                self.ask(query, false).await;
            }
        }
    }

    /// The interactive prompt.
    async fn terminal(&mut self) -> Result<(), Failure> {
        use rustyline::error::ReadlineError;
        let mut editor = rustyline::DefaultEditor::new()
            .map_err(|e| Failure::new(1, format!("cannot start the line editor: {e}")))?;
        eprintln!(
            "[rlm] chat: ask about the context; variables persist between questions. Ctrl-D leaves, Ctrl-C cancels an answer."
        );
        loop {
            let (back, line) = tokio::task::spawn_blocking(move || {
                let line = editor.readline("rlm> ");
                (editor, line)
            })
            .await
            .map_err(|e| Failure::new(1, format!("the line editor failed: {e}")))?;
            editor = back;
            match line {
                Ok(line) => {
                    let query = line.trim();
                    if query.is_empty() {
                        continue;
                    }
                    if query == "/exit" || query == "/quit" {
                        return Ok(());
                    }
                    let _ = editor.add_history_entry(query);
                    self.ask(query, true).await;
                }
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => return Ok(()),
                Err(e) => return Err(Failure::new(1, format!("cannot read the question: {e}"))),
            }
        }
    }
}

/// `text` on one line: `\` becomes `\\`, line feed `\n`, carriage return `\r`.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn kind_name(kind: RunOutcomeKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_what_would_break_the_line() {
        for (text, line) in [
            ("plain", "plain"),
            ("two\nlines", "two\\nlines"),
            ("crlf\r\n", "crlf\\r\\n"),
            ("back\\slash\\n", "back\\\\slash\\\\n"),
            ("", ""),
        ] {
            assert_eq!(one_line(text), line, "{text:?}");
        }
    }
}
