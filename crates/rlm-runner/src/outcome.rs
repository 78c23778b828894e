//! How a run ended: [`Outcome`] carries its cause, [`RunResult`] is what a run returns.

use std::collections::BTreeMap;
use std::time::Duration;

use rlm_core::{LlmError, Message, ReplError, RunOutcomeKind, Usage};
use rlm_limits::{BudgetSnapshot, ChildTrace, LimitError};

/// Why a run stopped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// A token, cost or call budget was reached.
    Budget,
    /// The wall-clock deadline passed.
    Timeout,
    /// `max_errors` turns in a row raised.
    ErrorLimit,
    /// The run was cancelled.
    Cancelled,
    /// The run failed (a fatal model error, a broken REPL).
    Failed,
}

impl StopReason {
    /// The outcome kind events and the CLI report.
    pub fn kind(self) -> RunOutcomeKind {
        match self {
            StopReason::Budget => RunOutcomeKind::Budget,
            StopReason::Timeout => RunOutcomeKind::Timeout,
            StopReason::ErrorLimit => RunOutcomeKind::ErrorLimit,
            StopReason::Cancelled => RunOutcomeKind::Cancelled,
            StopReason::Failed => RunOutcomeKind::Failed,
        }
    }
}

/// What stopped a run, typed: a model error, a REPL error, or a limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A model call failed (a refused key, an unreachable endpoint).
    #[error("model call failed: {0}")]
    Model(LlmError),
    /// The REPL session could not be started.
    #[error("could not start the REPL: {0}")]
    ReplStart(ReplError),
    /// The context could not be loaded into the REPL.
    #[error("could not load the context into the REPL: {0}")]
    ContextLoad(ReplError),
    /// The REPL backend failed while running a block.
    #[error("the REPL failed: {0}")]
    Repl(ReplError),
    /// A tree-wide limit is spent.
    #[error("{0}")]
    Limit(LimitError),
    /// A limit refused a model call (as the budget decorator reports it).
    #[error("{detail}")]
    LimitRefused {
        /// The limit's field (`max_tokens`, `max_llm_calls`, ...).
        limit: String,
        /// What the limit said.
        detail: String,
    },
    /// The tree was halted for its budget with no refusal on record.
    #[error("the tree's budget is spent")]
    BudgetSpent,
    /// `max_errors` turns in a row raised errors.
    #[error("{max} turns in a row raised errors (max_errors)")]
    ErrorLimit {
        /// The `max_errors` setting.
        max: u32,
    },
    /// The deadline passed while the loop waited (a model call, between turns).
    #[error("deadline reached")]
    Deadline,
    /// The deadline passed while a code block ran.
    #[error("deadline reached during code execution")]
    DeadlineInCode,
    /// The caller cancelled the run.
    #[error("cancelled")]
    Cancelled,
    /// The run was dropped before it ended (its parent stopped waiting).
    #[error("the run was dropped before it ended")]
    Dropped,
}

impl RunError {
    /// The model error behind this one, when a model call failed.
    pub fn llm_error(&self) -> Option<&LlmError> {
        match self {
            RunError::Model(e) => Some(e),
            _ => None,
        }
    }
}

/// How a run ended, with its cause.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The model finished (`FINAL`, `FINAL_VAR`, `answer`) with this answer.
    Finished(String),
    /// `max_iterations` was reached; the answer came from the last-chance call.
    IterationLimit(String),
    /// A limit, a cancellation or a failure stopped the run.
    Stopped {
        /// The kind of stop.
        reason: StopReason,
        /// The best answer so far (`answer["content"]` when set), often empty.
        partial: String,
        /// What stopped it.
        error: RunError,
    },
}

impl Outcome {
    /// A stop with no partial answer.
    pub fn stopped(reason: StopReason, error: RunError) -> Self {
        Outcome::Stopped {
            reason,
            partial: String::new(),
            error,
        }
    }

    /// The outcome kind events and the CLI report.
    pub fn kind(&self) -> RunOutcomeKind {
        match self {
            Outcome::Finished(_) => RunOutcomeKind::Finished,
            Outcome::IterationLimit(_) => RunOutcomeKind::IterationLimit,
            Outcome::Stopped { reason, .. } => reason.kind(),
        }
    }

    /// The answer, or the partial answer of a stopped run.
    pub fn answer(&self) -> &str {
        match self {
            Outcome::Finished(answer) | Outcome::IterationLimit(answer) => answer,
            Outcome::Stopped { partial, .. } => partial,
        }
    }

    /// What stopped the run, for every outcome but finished and iteration limit.
    pub fn error(&self) -> Option<&RunError> {
        match self {
            Outcome::Stopped { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The result of a run: how it ended, and what it used.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// How the run ended, with the answer (or the partial answer) and the cause of a stop.
    pub outcome: Outcome,
    /// Root iterations used.
    pub iterations: u32,
    /// Usage of the whole tree, by model name.
    pub usage: BTreeMap<String, Usage>,
    /// The children the root spawned (each with its own children).
    pub child_traces: Vec<ChildTrace>,
    /// Wall time.
    pub duration: Duration,
    /// The tree's counters at the end.
    pub budget: BudgetSnapshot,
    /// The root conversation.
    pub messages: Vec<Message>,
}

impl RunResult {
    /// The answer, or the partial answer of a stopped run (empty when there is none).
    pub fn answer(&self) -> &str {
        self.outcome.answer()
    }

    /// How the run ended, as events report it.
    pub fn kind(&self) -> RunOutcomeKind {
        self.outcome.kind()
    }

    /// What stopped the run, for every outcome but finished and iteration limit.
    pub fn error(&self) -> Option<&RunError> {
        self.outcome.error()
    }

    /// Usage summed over every model.
    pub fn total_usage(&self) -> Usage {
        let mut total = Usage::default();
        for usage in self.usage.values() {
            total.add(usage);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts events, `--json` and the CLI print: the same as before the outcome was typed.
    #[test]
    fn error_texts() {
        let repl = ReplError::Backend {
            backend: "monty".into(),
            message: "gone".into(),
        };
        let cases: Vec<(RunError, &str)> = vec![
            (
                RunError::Model(LlmError::ContentFilter),
                "model call failed: ",
            ),
            (
                RunError::ReplStart(repl.clone()),
                "could not start the REPL: ",
            ),
            (
                RunError::ContextLoad(repl.clone()),
                "could not load the context into the REPL: ",
            ),
            (RunError::Repl(repl), "the REPL failed: "),
            (
                RunError::Limit(LimitError::LlmCalls { limit: 3 }),
                "max_llm_calls reached: 3 calls",
            ),
            (
                RunError::LimitRefused {
                    limit: "max_cost".into(),
                    detail: "max_cost budget reached".into(),
                },
                "max_cost budget reached",
            ),
            (RunError::BudgetSpent, "the tree's budget is spent"),
            (
                RunError::ErrorLimit { max: 2 },
                "2 turns in a row raised errors (max_errors)",
            ),
            (RunError::Deadline, "deadline reached"),
            (
                RunError::DeadlineInCode,
                "deadline reached during code execution",
            ),
            (RunError::Cancelled, "cancelled"),
            (RunError::Dropped, "the run was dropped before it ended"),
        ];
        for (error, text) in cases {
            assert!(error.to_string().starts_with(text), "{error}");
        }
    }

    #[test]
    fn outcome_kind_answer_and_error() {
        let finished = Outcome::Finished("42".into());
        assert_eq!(
            (finished.kind(), finished.answer(), finished.error()),
            (RunOutcomeKind::Finished, "42", None)
        );
        let limit = Outcome::IterationLimit("last".into());
        assert_eq!(
            (limit.kind(), limit.answer()),
            (RunOutcomeKind::IterationLimit, "last")
        );
        let auth = LlmError::Authentication {
            status: 401,
            body: String::new(),
        };
        let stopped = Outcome::Stopped {
            reason: StopReason::Failed,
            partial: "so far".into(),
            error: RunError::Model(auth.clone()),
        };
        assert_eq!(
            (stopped.kind(), stopped.answer()),
            (RunOutcomeKind::Failed, "so far")
        );
        assert_eq!(stopped.error().and_then(RunError::llm_error), Some(&auth));
        let cancelled = Outcome::stopped(StopReason::Cancelled, RunError::Cancelled);
        assert_eq!(
            (cancelled.kind(), cancelled.answer()),
            (RunOutcomeKind::Cancelled, "")
        );
        for (reason, kind) in [
            (StopReason::Budget, RunOutcomeKind::Budget),
            (StopReason::Timeout, RunOutcomeKind::Timeout),
            (StopReason::ErrorLimit, RunOutcomeKind::ErrorLimit),
            (StopReason::Cancelled, RunOutcomeKind::Cancelled),
            (StopReason::Failed, RunOutcomeKind::Failed),
        ] {
            assert_eq!(reason.kind(), kind);
        }
    }
}
