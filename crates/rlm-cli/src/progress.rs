//! Event subscribers of the CLI: progress lines on stderr and the JSONL trace file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use rlm::RunEvent;
use rlm::limits::{EventSink, SinkError};

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
                duration,
                ..
            } => format!(
                "[rlm] depth {depth}: {} after {iterations} turn(s) in {:.1}s",
                serde_json::to_value(outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                duration.as_secs_f64()
            ),
            _ => return Ok(()),
        };
        eprintln!("{line}");
        Ok(())
    }
}

/// Appends every event as a JSON line, flushed per line so a killed run keeps its record.
pub struct TraceFile {
    out: Mutex<BufWriter<File>>,
}

impl TraceFile {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            out: Mutex::new(BufWriter::new(File::create(path)?)),
        })
    }
}

impl EventSink for TraceFile {
    fn on_event(&self, event: &RunEvent) -> Result<(), SinkError> {
        let line = serde_json::to_string(event).map_err(|e| SinkError {
            message: e.to_string(),
        })?;
        let mut out = self.out.lock().map_err(|_| SinkError {
            message: "trace writer poisoned".into(),
        })?;
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| SinkError {
                message: e.to_string(),
            })
    }
}
