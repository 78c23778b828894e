//! Reading a trajectory back as a tree: runs, their turns, the code blocks of each turn, the
//! sub-calls of each block, and the child run each `rlm_query` spawned.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rlm_core::{Message, RunEvent, RunOutcomeKind, SubcallKind, Usage};
use serde::Serialize;
use serde_json::Value;

use super::SCHEMA_ID;
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
    /// The header names another format or a newer version.
    #[error("unsupported trajectory format {found:?} (this build reads {SCHEMA_ID:?})")]
    Unsupported {
        /// The header's `schema`.
        found: String,
    },
}

/// A whole trajectory, as a tree.
#[derive(Debug, Clone, Serialize)]
pub struct Trajectory {
    /// The header record, when the file has one.
    pub header: Option<Header>,
    /// The runs no other run spawned (normally one root per completion), children nested.
    pub runs: Vec<RunNode>,
    /// Records read.
    pub records: usize,
    /// Records of a kind this build does not know (written by a newer version), skipped.
    pub skipped: usize,
    /// Whether the last line was cut short (the writer was killed mid-line).
    pub partial_last_line: bool,
}

/// One run (root or child RLM).
#[derive(Debug, Clone, Serialize)]
pub struct RunNode {
    /// The run's id.
    pub run_id: u64,
    /// The run that spawned it.
    pub parent_run_id: Option<u64>,
    /// The sub-call that spawned it.
    pub call_id: Option<u64>,
    /// Recursion depth (0 for the root).
    pub depth: u32,
    /// The model serving its turns.
    pub model: String,
    /// The first characters of its query.
    pub query_preview: String,
    /// Size of its context in characters.
    pub context_chars: usize,
    /// When it started, in milliseconds since the trajectory began.
    pub started_ms: f64,
    /// Its model turns, in order (a last-chance call is a turn of its own).
    pub turns: Vec<Turn>,
    /// How it ended; `None` when the trajectory stops before it did.
    pub finish: Option<Finish>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Finish {
    /// The outcome.
    pub outcome: RunOutcomeKind,
    /// Iterations used.
    pub iterations: u32,
    /// Usage of its own model calls.
    pub usage: Usage,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// What stopped it, for outcomes other than `finished` and `iteration_limit`.
    pub error: Option<String>,
    /// The answer, when content was recorded.
    pub answer: Option<String>,
}

/// One model turn of a run and the code it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Turn {
    /// 1-based iteration.
    pub iteration: u32,
    /// The last-chance call made when the iterations ran out.
    pub last_chance: bool,
    /// When the turn started (ms since the trajectory began).
    pub started_ms: f64,
    /// The last moment anything of the turn was recorded.
    pub ended_ms: f64,
    /// Whether the model answered (false when the trajectory stops mid-call).
    pub responded: bool,
    /// Duration of the model call in milliseconds.
    pub model_ms: f64,
    /// Usage of the model call.
    pub usage: Usage,
    /// Code blocks in the reply.
    pub code_blocks: usize,
    /// Messages added to the conversation before this call (content only).
    pub messages: Vec<Message>,
    /// The model's reply (content only).
    pub response: Option<String>,
    /// The blocks that ran (or started).
    pub blocks: Vec<Block>,
}

/// One code block.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// 0-based index in the reply.
    pub index: usize,
    /// Whether it finished running (false when it was abandoned or the file stops mid-block).
    pub executed: bool,
    /// Execution time in milliseconds.
    pub duration_ms: f64,
    /// Whether the code raised.
    pub raised: bool,
    /// Whether it finished the run.
    pub finished: bool,
    /// Sub-calls it made.
    pub host_calls: u32,
    /// The code (content only).
    pub code: Option<String>,
    /// What it printed (content only).
    pub stdout: Option<String>,
    /// Its traceback (content only).
    pub error: Option<String>,
    /// The answer it finished with (content only).
    pub final_answer: Option<String>,
    /// The sub-calls it made, in start order.
    pub subcalls: Vec<Subcall>,
}

/// One sub-call made by a block.
#[derive(Debug, Clone, Serialize)]
pub struct Subcall {
    /// Its id.
    pub call_id: u64,
    /// Plain LLM call or child run.
    pub kind: SubcallKind,
    /// Depth of the call.
    pub depth: u32,
    /// The model asked for (`default` when none).
    pub model: String,
    /// The first characters of the prompt.
    pub prompt_preview: String,
    /// The prompt (content only).
    pub prompt: Option<String>,
    /// When it started (ms since the trajectory began).
    pub started_ms: f64,
    /// Whether it completed.
    pub completed: bool,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<f64>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Usage of a plain call.
    pub usage: Option<Usage>,
    /// The text handed back to the code (content only).
    pub response: Option<String>,
    /// The child run's id.
    pub child_run_id: Option<u64>,
    /// The child run, nested.
    pub child: Option<Box<RunNode>>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl RunNode {
    /// Usage of the run's own model calls (children and sub-calls excluded).
    pub fn own_usage(&self) -> Usage {
        let mut total = Usage::default();
        for turn in &self.turns {
            total.add(&turn.usage);
        }
        total
    }

    /// Usage of the run, its plain sub-calls and its children, recursively.
    pub fn tree_usage(&self) -> Usage {
        let mut total = self.own_usage();
        for call in self.subcalls() {
            if let Some(usage) = &call.usage {
                total.add(usage);
            }
            if let Some(child) = &call.child {
                total.add(&child.tree_usage());
            }
        }
        total
    }

    /// Usage of the run's subtree by model (`default` sub-calls are booked under
    /// `default_model`).
    pub fn usage_by_model(&self, default_model: &str) -> BTreeMap<String, Usage> {
        let mut out = BTreeMap::new();
        self.collect_usage(default_model, &mut out);
        out
    }

    fn collect_usage(&self, default_model: &str, out: &mut BTreeMap<String, Usage>) {
        out.entry(self.model.clone())
            .or_default()
            .add(&self.own_usage());
        for call in self.subcalls() {
            if let Some(usage) = &call.usage {
                let model = if call.model == "default" {
                    default_model.to_string()
                } else {
                    call.model.clone()
                };
                out.entry(model).or_default().add(usage);
            }
            if let Some(child) = &call.child {
                child.collect_usage(default_model, out);
            }
        }
    }

    /// Every sub-call of every block, in order.
    pub fn subcalls(&self) -> impl Iterator<Item = &Subcall> {
        self.turns
            .iter()
            .flat_map(|t| t.blocks.iter())
            .flat_map(|b| b.subcalls.iter())
    }

    /// `(plain calls, child runs)` made by this run's code.
    pub fn subcall_counts(&self) -> (usize, usize) {
        self.subcalls().fold((0, 0), |(llm, rlm), c| match c.kind {
            SubcallKind::Llm => (llm + 1, rlm),
            SubcallKind::Rlm => (llm, rlm + 1),
        })
    }

    /// Wall time: the finish's, else up to the last thing recorded.
    pub fn duration_ms(&self) -> f64 {
        match &self.finish {
            Some(f) => f.duration_ms,
            None => self
                .turns
                .last()
                .map_or(0.0, |t| (t.ended_ms - self.started_ms).max(0.0)),
        }
    }

    /// The run's answer, when recorded.
    pub fn answer(&self) -> Option<&str> {
        self.finish.as_ref().and_then(|f| f.answer.as_deref())
    }

    /// This run and every run below it, depth first.
    pub fn walk(&self) -> Vec<&RunNode> {
        let mut out = vec![self];
        for call in self.subcalls() {
            if let Some(child) = &call.child {
                out.extend(child.walk());
            }
        }
        out
    }
}

impl Turn {
    /// The position of block `index`, created when the turn has none yet.
    fn block_pos(&mut self, index: usize) -> usize {
        match self.blocks.iter().position(|b| b.index == index) {
            Some(pos) => pos,
            None => {
                self.blocks.push(Block {
                    index,
                    executed: false,
                    duration_ms: 0.0,
                    raised: false,
                    finished: false,
                    host_calls: 0,
                    code: None,
                    stdout: None,
                    error: None,
                    final_answer: None,
                    subcalls: Vec::new(),
                });
                self.blocks.len() - 1
            }
        }
    }
}

fn new_turn(iteration: u32, last_chance: bool, at: f64) -> Turn {
    Turn {
        iteration,
        last_chance,
        started_ms: at,
        ended_ms: at,
        responded: false,
        model_ms: 0.0,
        usage: Usage::default(),
        code_blocks: 0,
        messages: Vec::new(),
        response: None,
        blocks: Vec::new(),
    }
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
        match value.get("record").and_then(Value::as_str) {
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
    Ok(Trajectory {
        header,
        runs: builder.finish(),
        records,
        skipped,
        partial_last_line,
    })
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
