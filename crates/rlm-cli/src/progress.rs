//! Progress on stderr: the live tree on a terminal ([`crate::live`]), one plain line per
//! interesting event otherwise. (The trace file is the library's `TrajectoryWriter`.)

use std::io::IsTerminal;
use std::sync::Arc;

use rlm::RunEvent;
use rlm::{EventSink, SinkError};

use crate::live::LiveTree;

/// What watches the run: chosen once, by whether stderr is a terminal.
pub enum Reporter {
    /// The live tree, redrawn in place.
    Live(Arc<LiveTree>),
    /// Plain lines (stderr is a file or a pipe).
    Lines(Arc<Progress>),
}

impl Reporter {
    /// The live tree when stderr is a terminal, plain lines otherwise (and when `RUST_LOG`
    /// is set, so log lines do not fight the redrawn tree). The live tree shows the root
    /// model's reply as it streams in when `stream`; plain lines never ask for a stream, so a
    /// piped run's wire traffic does not change.
    pub fn for_stderr(max_iterations: u32, stream: bool) -> Self {
        let logging = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
        if std::io::stderr().is_terminal() && !logging {
            Reporter::Live(LiveTree::start(max_iterations, stream))
        } else {
            Reporter::Lines(Arc::new(Progress))
        }
    }

    /// The event sink to subscribe.
    pub fn sink(&self) -> Arc<dyn EventSink> {
        match self {
            Reporter::Live(live) => live.clone(),
            Reporter::Lines(lines) => lines.clone(),
        }
    }

    /// Stops drawing (the live tree's last state stays on screen).
    pub fn finish(&self) {
        if let Reporter::Live(live) = self {
            live.finish();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Prints one short line per interesting event to stderr.
pub struct Progress;

impl EventSink for Progress {
    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError> {
        let line = match event {
            RunEvent::RunStarted {
                depth,
                model,
                context_chars,
                ..
            } => {
                format!(
                    "[rlm] depth {depth}: run started with {model} over {context_chars} characters"
                )
            }
            RunEvent::ModelResponded {
                depth,
                iteration,
                usage,
                duration,
                last_chance: true,
                ..
            } => format!(
                "[rlm] depth {depth} last-chance call (after {iteration} turn(s), no FINAL yet): {} tokens, {:.1}s",
                usage.total_tokens(),
                duration.as_secs_f64()
            ),
            RunEvent::ModelResponded {
                depth,
                iteration,
                usage,
                duration,
                code_blocks,
                ..
            } => format!(
                "[rlm] depth {depth} turn {iteration}: {code_blocks} code block(s), {} tokens, {:.1}s",
                usage.total_tokens(),
                duration.as_secs_f64()
            ),
            RunEvent::BlockExecuted {
                depth,
                iteration,
                block,
                raised: true,
                ..
            } => {
                format!(
                    "[rlm] depth {depth} turn {iteration}: block {} raised an error",
                    block + 1
                )
            }
            RunEvent::RunFinished {
                depth,
                outcome,
                iterations,
                usage,
                duration,
                ..
            } => {
                let outcome = serde_json::to_value(outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let took = duration.as_secs_f64();
                finished_line(*depth, &outcome, *iterations, usage.calls, took)
            }
            _ => return Ok(()),
        };
        eprintln!("{line}");
        Ok(())
    }
}

/// The line of a finished run. A run whose model never replied says so (not "after 1
/// turn(s)"); an `iteration_limit` run names the last-chance call that gave its answer.
fn finished_line(depth: u32, outcome: &str, iterations: u32, replies: u64, secs: f64) -> String {
    if replies == 0 && !matches!(outcome, "finished" | "iteration_limit") {
        return format!("[rlm] depth {depth}: {outcome} before any model reply, in {secs:.1}s");
    }
    let last_chance = if outcome == "iteration_limit" {
        " and the last-chance call"
    } else {
        ""
    };
    format!("[rlm] depth {depth}: {outcome} after {iterations} turn(s){last_chance} in {secs:.1}s")
}
