//! What a run is given: its inputs ([`RunSpec`]), who it is ([`RunIds`]), and the
//! [`SubcallHandle`] through which it reaches sub-calls and child runs.

use rlm_core::{ReplHost, ReplValue};
use rlm_limits::{ChildTrace, Deadline};

/// A run's inputs.
pub(crate) struct RunSpec {
    pub ids: RunIds,
    pub depth: u32,
    /// The `model=` name a child was asked for (`None`: the root model).
    pub model: Option<String>,
    pub context: ReplValue,
    pub query: String,
    pub deadline: Deadline,
    /// A question of a session: its REPL (already holding the contexts) instead of a fresh one.
    pub resume: Option<crate::session::Resume>,
}

/// What the loop needs from its sub-call host besides answering the REPL's calls.
pub(crate) trait SubcallHandle: ReplHost {
    /// Where the run is: the code about to run is block `block` of `iteration`.
    fn set_position(&self, iteration: u32, block: usize);
    /// The traces of the children spawned so far, in completion order.
    fn take_traces(&self) -> Vec<ChildTrace>;
}

/// Who a run is: its id, and for a child the run and sub-call that spawned it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunIds {
    pub run_id: u64,
    pub parent_run_id: Option<u64>,
    pub call_id: Option<u64>,
}

impl RunIds {
    /// A root run with a fresh id.
    pub fn root() -> Self {
        Self {
            run_id: crate::tree::next_id(),
            parent_run_id: None,
            call_id: None,
        }
    }
}
