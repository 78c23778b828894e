//! Lifecycle events of a run, delivered to subscribers and to trajectories.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Message, Usage};

fn is_false(b: &bool) -> bool {
    !*b
}

/// What kind of sub-call was made from the REPL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubcallKind {
    /// A plain LLM call (`llm_query`, or `rlm_query` at the depth limit).
    Llm,
    /// A child RLM run (`rlm_query` below the depth limit).
    Rlm,
}

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
///
/// Every event names its run by `run_id` (unique within the process, never reused); a child
/// run's [`RunEvent::RunStarted`] names its parent run and the sub-call that spawned it. The
/// content fields (`messages`, `response`, `code`, `stdout`, `prompt`, `answer`) are filled
/// only when a subscriber wants them ([`crate::EventSink::wants_content`]), so a run nobody
/// records pays nothing for them; they are omitted from JSON when empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunEvent {
    /// A run (root or child) started.
    RunStarted {
        /// This run.
        run_id: u64,
        /// The run whose code spawned this one (`None` for the root).
        parent_run_id: Option<u64>,
        /// The sub-call (`call_id` of [`RunEvent::SubcallStarted`]) that spawned this run.
        call_id: Option<u64>,
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
        /// The run.
        run_id: u64,
        /// Recursion depth.
        depth: u32,
        /// 1-based iteration number.
        iteration: u32,
    },
    /// The model answered a turn.
    ModelResponded {
        /// The run.
        run_id: u64,
        /// Recursion depth.
        depth: u32,
        /// 1-based iteration number.
        iteration: u32,
        /// Usage of the call (cost from the provider or the price table, when known).
        usage: Usage,
        /// Call duration.
        duration: Duration,
        /// Number of code blocks in the reply.
        code_blocks: usize,
        /// Whether this was the last-chance call made after the iterations ran out.
        #[serde(default, skip_serializing_if = "is_false")]
        last_chance: bool,
        /// The messages added to the conversation since the previous call of this run (the
        /// whole prompt for the first call; the previous reply is not repeated). Content only.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        messages: Vec<Message>,
        /// The model's reply. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<String>,
    },
    /// A piece of the root model's reply, as it streams in (only the root run's turns stream,
    /// and only when a subscriber asks for deltas: [`crate::EventSink::wants_deltas`]). The
    /// pieces of one turn joined are the `response` of the [`RunEvent::ModelResponded`] that
    /// follows. Delivered only to the sinks that want deltas (never to trajectories).
    RootDelta {
        /// The root run.
        run_id: u64,
        /// 1-based iteration number.
        iteration: u32,
        /// The new text.
        text: String,
    },
    /// A code block ran.
    BlockExecuted {
        /// The run.
        run_id: u64,
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
        /// Sub-calls the block made (each prompt of a batch counts once).
        #[serde(default)]
        host_calls: u32,
        /// The code. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// What the code printed, cut like the model's observation. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdout: Option<String>,
        /// The traceback when the code raised. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The answer when the block finished the run. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        final_answer: Option<String>,
        /// On the last block an iteration ran: the user variables at the end of the iteration
        /// (`context` left out), each as its `repr`, cut per value and in total (see
        /// `rlm-runner`'s `locals`). Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locals: Option<BTreeMap<String, String>>,
    },
    /// A sub-call (`llm_query`/`rlm_query`, each prompt of a batch) started.
    SubcallStarted {
        /// The calling run.
        run_id: u64,
        /// This sub-call (unique within the process).
        call_id: u64,
        /// A plain LLM call or a child run.
        kind: SubcallKind,
        /// The child run it spawns (for [`SubcallKind::Rlm`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        child_run_id: Option<u64>,
        /// The caller's iteration.
        #[serde(default)]
        iteration: u32,
        /// The caller's 0-based code block.
        #[serde(default)]
        block: usize,
        /// Depth of the sub-call (caller's depth + 1).
        depth: u32,
        /// The model asked for (`default` when none).
        model: String,
        /// The first 80 characters of the prompt.
        prompt_preview: String,
        /// The prompt, cut to the observation limit. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
    },
    /// A sub-call completed.
    SubcallCompleted {
        /// The calling run.
        run_id: u64,
        /// The sub-call.
        call_id: u64,
        /// The child run it spawned (for a child RLM).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        child_run_id: Option<u64>,
        /// Depth of the sub-call.
        depth: u32,
        /// The model asked for.
        model: String,
        /// How long it took.
        duration: Duration,
        /// The error text when it failed.
        error: Option<String>,
        /// Usage of a plain call (a child run reports its own in its events).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// The text handed back to the code, cut to the observation limit. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<String>,
    },
    /// A run ended.
    RunFinished {
        /// The run.
        run_id: u64,
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
        /// What stopped the run, for every outcome but `finished` and `iteration_limit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The answer. Content only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
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
            RunEvent::RootDelta { .. } => 0,
        }
    }

    /// The run the event belongs to (for sub-calls: the calling run).
    pub fn run_id(&self) -> u64 {
        match self {
            RunEvent::RunStarted { run_id, .. }
            | RunEvent::IterationStarted { run_id, .. }
            | RunEvent::ModelResponded { run_id, .. }
            | RunEvent::BlockExecuted { run_id, .. }
            | RunEvent::SubcallStarted { run_id, .. }
            | RunEvent::SubcallCompleted { run_id, .. }
            | RunEvent::RunFinished { run_id, .. }
            | RunEvent::RootDelta { run_id, .. } => *run_id,
        }
    }
}
