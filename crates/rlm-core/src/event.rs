//! Lifecycle events of a run, delivered to subscribers and to trajectories.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Usage;

/// How a run ended, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcomeKind {
    /// The model finished (`FINAL`, `FINAL_VAR`, `answer`).
    Finished,
    /// `max_iterations` was reached; the answer came from the last-chance call.
    IterationLimit,
    /// A token, cost or call budget was reached.
    Budget,
    /// The wall-clock deadline passed.
    Timeout,
    /// `max_errors` turns in a row raised.
    ErrorLimit,
    /// The run was cancelled.
    Cancelled,
    /// The run failed (a fatal model error such as a refused key).
    Failed,
}

/// One thing that happened during a run. `depth` is 0 for the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunEvent {
    /// A run (root or child) started.
    RunStarted {
        /// Recursion depth.
        depth: u32,
        /// The model serving the run.
        model: String,
        /// The first characters of the query.
        query_preview: String,
        /// Context size in characters.
        context_chars: usize,
    },
    /// An iteration started.
    IterationStarted {
        /// Recursion depth.
        depth: u32,
        /// 1-based iteration number.
        iteration: u32,
    },
    /// The model answered a turn.
    ModelResponded {
        /// Recursion depth.
        depth: u32,
        /// 1-based iteration number.
        iteration: u32,
        /// Usage of the call.
        usage: Usage,
        /// Call duration.
        duration: Duration,
        /// Number of code blocks in the reply.
        code_blocks: usize,
    },
    /// A code block ran.
    BlockExecuted {
        /// Recursion depth.
        depth: u32,
        /// 1-based iteration number.
        iteration: u32,
        /// 0-based block index within the reply.
        block: usize,
        /// Execution time.
        duration: Duration,
        /// Whether the code raised.
        raised: bool,
        /// Whether the block finished the run.
        finished: bool,
    },
    /// A sub-call (`llm_query`/`rlm_query`, each prompt of a batch) started.
    SubcallStarted {
        /// Depth of the sub-call (caller's depth + 1).
        depth: u32,
        /// The model asked for (`default` when none).
        model: String,
        /// The first 80 characters of the prompt.
        prompt_preview: String,
    },
    /// A sub-call completed.
    SubcallCompleted {
        /// Depth of the sub-call.
        depth: u32,
        /// The model asked for.
        model: String,
        /// How long it took.
        duration: Duration,
        /// The error text when it failed.
        error: Option<String>,
    },
    /// A run ended.
    RunFinished {
        /// Recursion depth.
        depth: u32,
        /// How it ended.
        outcome: RunOutcomeKind,
        /// Iterations used.
        iterations: u32,
        /// Usage of this run's own model calls (children excluded).
        usage: Usage,
        /// Wall time.
        duration: Duration,
    },
}

impl RunEvent {
    /// The depth the event happened at.
    pub fn depth(&self) -> u32 {
        match self {
            RunEvent::RunStarted { depth, .. }
            | RunEvent::IterationStarted { depth, .. }
            | RunEvent::ModelResponded { depth, .. }
            | RunEvent::BlockExecuted { depth, .. }
            | RunEvent::SubcallStarted { depth, .. }
            | RunEvent::SubcallCompleted { depth, .. }
            | RunEvent::RunFinished { depth, .. } => *depth,
        }
    }
}
