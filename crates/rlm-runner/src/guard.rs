//! [`FinishGuard`]: every started run reports a finish, even one dropped mid-flight.

use std::sync::{Arc, Mutex};

use rlm_core::{RunEvent, RunOutcomeKind, Usage};
use rlm_limits::Deadline;
use tokio::time::Instant;

use crate::outcome::RunError;
use crate::spec::RunIds;
use crate::tree::Tree;

/// Iterations and own usage so far, kept where the [`FinishGuard`] can read them.
pub(crate) type Progress = Arc<Mutex<(u32, Usage)>>;

/// Emits `RunFinished` for a run dropped before it ended (its child timeout, the run deadline,
/// cancellation), so every started run has a finish in its trajectory.
pub(crate) struct FinishGuard {
    pub tree: Arc<Tree>,
    pub ids: RunIds,
    pub depth: u32,
    pub started: Instant,
    pub deadline: Deadline,
    pub progress: Progress,
    pub armed: bool,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (iterations, usage) = *self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let (outcome, error) = if self.deadline.expired() {
            (RunOutcomeKind::Timeout, RunError::Deadline)
        } else {
            (RunOutcomeKind::Cancelled, RunError::Dropped)
        };
        self.tree.emit(RunEvent::RunFinished {
            run_id: self.ids.run_id,
            depth: self.depth,
            outcome,
            iterations,
            usage,
            duration: self.started.elapsed(),
            error: Some(error.to_string()),
            answer: None,
        });
    }
}
