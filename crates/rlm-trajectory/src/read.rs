//! Reading a trajectory back as a tree (the types of `tree.rs`): runs, their turns, the code
//! blocks of each turn, the sub-calls of each block, and the child run each `rlm_query` spawned.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rlm_core::RunEvent;
use serde_json::Value;

use super::SCHEMA_ID;
use super::tree::{Finish, RunNode, Subcall, Trajectory, new_turn};
use super::writer::Header;

/// A trajectory file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A complete line is not a valid record (only the last line may be cut short).
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// No line is a trajectory record: another kind of JSON Lines file, or an empty one.
    #[error("not an rlm trajectory ({what}); `rlm view` reads files written by `rlm run --trace`")]
    NotATrajectory {
        /// What the file looks like instead.
        what: String,
    },
    /// The file is a log in the official `rlms` format (its `RLMLogger`, or our export).
    #[error(
        "this is an official-format log (rlms RLMLogger JSON Lines), not an rlm trajectory: open it in the rlms visualizer; `rlm view` reads files written by `rlm run --trace`"
    )]
    OfficialLog,
    /// The header names another format or a newer version.
    #[error("unsupported trajectory format {found:?} (this build reads {SCHEMA_ID:?})")]
    Unsupported {
        /// The header's `schema`.
        found: String,
    },
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Reads a trajectory file.
pub fn read_file(path: impl AsRef<Path>) -> Result<Trajectory, ReadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&String::from_utf8_lossy(&bytes))
}

/// Parses a trajectory's text. Complete lines must be valid records; a last line without a
/// newline that does not parse is taken as cut short by a killed writer.
pub fn parse(text: &str) -> Result<Trajectory, ReadError> {
    let mut builder = Builder::default();
    let mut header = None;
    let mut records = 0;
    let mut skipped = 0;
    let mut partial_last_line = false;
    let mut recognised = 0;
    let mut first: Option<Value> = None;
    let ends_with_newline = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let is_last = i + 1 == lines.len();
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) if is_last && !ends_with_newline => {
                partial_last_line = true;
                break;
            }
            Err(e) => {
                return Err(ReadError::Line {
                    line: i + 1,
                    message: format!("not JSON: {e}"),
                });
            }
        };
        records += 1;
        let kind = value.get("record").and_then(Value::as_str);
        if matches!(kind, Some("header" | "event")) {
            recognised += 1;
        } else if first.is_none() {
            first = Some(value.clone());
        }
        match kind {
            Some("header") => {
                let h: Header = serde_json::from_value(value).map_err(|e| ReadError::Line {
                    line: i + 1,
                    message: format!("bad header: {e}"),
                })?;
                if h.schema != SCHEMA_ID {
                    return Err(ReadError::Unsupported { found: h.schema });
                }
                header.get_or_insert(h);
            }
            Some("event") => {
                let t = value.get("t_ms").and_then(Value::as_f64).unwrap_or(0.0);
                match serde_json::from_value::<RunEvent>(value) {
                    Ok(event) => {
                        if !builder.apply(t, event) {
                            skipped += 1;
                        }
                    }
                    Err(_) => skipped += 1,
                }
            }
            _ => skipped += 1,
        }
    }
    if recognised == 0 {
        return Err(foreign(first.as_ref(), records));
    }
    Ok(Trajectory {
        header,
        runs: builder.finish(),
        records,
        skipped,
        partial_last_line,
    })
}

/// The error for a file none of whose lines is a trajectory record, saying what it looks like.
fn foreign(first: Option<&Value>, records: usize) -> ReadError {
    let Some(first) = first else {
        return ReadError::NotATrajectory {
            what: if records == 0 {
                "the file is empty".to_string()
            } else {
                "no line is a record".to_string()
            },
        };
    };
    let official = first.get("type").and_then(Value::as_str) == Some("metadata")
        && first.get("root_model").is_some()
        || first.get("type").and_then(Value::as_str) == Some("iteration");
    if official {
        return ReadError::OfficialLog;
    }
    let what = match first {
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().take(4).map(String::as_str).collect();
            format!(
                "its first line is a JSON object with keys {}",
                keys.join(", ")
            )
        }
        _ => "its first line is not a JSON object".to_string(),
    };
    ReadError::NotATrajectory { what }
}

/// Where a sub-call sits: run, turn, block, position.
type CallPlace = (u64, usize, usize, usize);

#[derive(Default)]
struct Builder {
    runs: HashMap<u64, RunNode>,
    order: Vec<u64>,
    calls: HashMap<u64, CallPlace>,
}

impl Builder {
    /// Applies one event; `false` when it names a run the trajectory never started.
    fn apply(&mut self, t: f64, event: RunEvent) -> bool {
        if let RunEvent::RunStarted {
            run_id,
            parent_run_id,
            call_id,
            depth,
            model,
            query_preview,
            context_chars,
        } = event
        {
            self.order.push(run_id);
            self.runs.insert(
                run_id,
                RunNode {
                    run_id,
                    parent_run_id,
                    call_id,
                    depth,
                    model,
                    query_preview,
                    context_chars,
                    started_ms: t,
                    turns: Vec::new(),
                    finish: None,
                },
            );
            return true;
        }
        let Some(run) = self.runs.get_mut(&event.run_id()) else {
            return false;
        };
        match event {
            RunEvent::IterationStarted { iteration, .. } => {
                run.turns.push(new_turn(iteration, false, t));
            }
            RunEvent::ModelResponded {
                iteration,
                usage,
                duration,
                code_blocks,
                last_chance,
                messages,
                response,
                ..
            } => {
                let found = run
                    .turns
                    .iter()
                    .rposition(|x| x.iteration == iteration && !x.responded);
                let pos = match found {
                    Some(pos) if !last_chance => pos,
                    _ => {
                        run.turns
                            .push(new_turn(iteration, last_chance, t - ms(duration)));
                        run.turns.len() - 1
                    }
                };
                let turn = &mut run.turns[pos];
                turn.responded = true;
                turn.usage = usage;
                turn.model_ms = ms(duration);
                turn.code_blocks = code_blocks;
                turn.messages = messages;
                turn.response = response;
                turn.ended_ms = t;
            }
            RunEvent::BlockExecuted {
                iteration,
                block,
                duration,
                raised,
                finished,
                host_calls,
                code,
                stdout,
                error,
                final_answer,
                locals,
                ..
            } => {
                let Some(turn) = run
                    .turns
                    .iter_mut()
                    .rev()
                    .find(|x| x.iteration == iteration)
                else {
                    return false;
                };
                turn.ended_ms = t;
                let pos = turn.block_pos(block);
                let b = &mut turn.blocks[pos];
                b.executed = true;
                b.duration_ms = ms(duration);
                b.raised = raised;
                b.finished = finished;
                b.host_calls = host_calls;
                b.code = code;
                b.stdout = stdout;
                b.error = error;
                b.final_answer = final_answer;
                b.locals = locals;
            }
            RunEvent::SubcallStarted {
                run_id,
                call_id,
                kind,
                child_run_id,
                iteration,
                block,
                depth,
                model,
                prompt_preview,
                prompt,
            } => {
                let Some(turn_pos) = run.turns.iter().rposition(|x| x.iteration == iteration)
                else {
                    return false;
                };
                let turn = &mut run.turns[turn_pos];
                let block_pos = turn.block_pos(block);
                let calls = &mut turn.blocks[block_pos].subcalls;
                calls.push(Subcall {
                    call_id,
                    kind,
                    depth,
                    model,
                    prompt_preview,
                    prompt,
                    started_ms: t,
                    completed: false,
                    duration_ms: None,
                    error: None,
                    usage: None,
                    response: None,
                    child_run_id,
                    child: None,
                });
                self.calls
                    .insert(call_id, (run_id, turn_pos, block_pos, calls.len() - 1));
            }
            RunEvent::SubcallCompleted {
                call_id,
                duration,
                error,
                usage,
                response,
                ..
            } => {
                let Some(&(_, turn_pos, block_pos, pos)) = self.calls.get(&call_id) else {
                    return false;
                };
                let Some(turn) = run.turns.get_mut(turn_pos) else {
                    return false;
                };
                turn.ended_ms = turn.ended_ms.max(t);
                let Some(call) = turn
                    .blocks
                    .get_mut(block_pos)
                    .and_then(|b| b.subcalls.get_mut(pos))
                else {
                    return false;
                };
                call.completed = true;
                call.duration_ms = Some(ms(duration));
                call.error = error;
                call.usage = usage;
                call.response = response;
            }
            RunEvent::RunFinished {
                outcome,
                iterations,
                usage,
                duration,
                error,
                answer,
                ..
            } => {
                run.finish = Some(Finish {
                    outcome,
                    iterations,
                    usage,
                    duration_ms: ms(duration),
                    error,
                    answer,
                });
            }
            _ => return false,
        }
        true
    }

    /// Nests every child under the sub-call that spawned it.
    fn finish(mut self) -> Vec<RunNode> {
        let order = std::mem::take(&mut self.order);
        let mut roots = Vec::new();
        for id in order {
            let is_nested = self
                .runs
                .get(&id)
                .and_then(|r| r.parent_run_id)
                .is_some_and(|parent| self.runs.contains_key(&parent));
            if is_nested {
                continue;
            }
            if let Some(node) = self.take(id) {
                roots.push(node);
            }
        }
        // Whatever is left names a parent that never referenced it: list it at the top.
        let mut rest: Vec<u64> = self.runs.keys().copied().collect();
        rest.sort_unstable();
        for id in rest {
            if let Some(node) = self.take(id) {
                roots.push(node);
            }
        }
        roots
    }

    fn take(&mut self, id: u64) -> Option<RunNode> {
        let mut node = self.runs.remove(&id)?;
        for turn in &mut node.turns {
            for block in &mut turn.blocks {
                for call in &mut block.subcalls {
                    if let Some(child) = call.child_run_id.and_then(|c| self.take(c)) {
                        call.child = Some(Box::new(child));
                    }
                }
            }
        }
        Some(node)
    }
}
