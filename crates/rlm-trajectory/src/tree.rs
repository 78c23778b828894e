//! The trajectory as a tree: [`Trajectory`] holds the root runs; each [`RunNode`] holds its
//! turns, each [`Turn`] its code blocks, each [`Block`] its sub-calls, and each [`Subcall`] the
//! child run it spawned. [`RunNode`] also sums usage over its subtree.

use std::collections::BTreeMap;

use rlm_core::{Message, RunOutcomeKind, SubcallKind, Usage};
use serde::Serialize;

use super::writer::Header;

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
    /// The user variables at the end of the iteration, as `repr`s (content only; on the
    /// iteration's last block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locals: Option<std::collections::BTreeMap<String, String>>,
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
    pub(crate) fn block_pos(&mut self, index: usize) -> usize {
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
                    locals: None,
                    subcalls: Vec::new(),
                });
                self.blocks.len() - 1
            }
        }
    }
}

pub(crate) fn new_turn(iteration: u32, last_chance: bool, at: f64) -> Turn {
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
