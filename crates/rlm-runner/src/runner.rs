//! The public entry point: [`Runner`] and what a run returns.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rlm_core::{
    EventSink, LlmError, Message, ReplFactory, ReplValue, RunOutcomeKind, Subscribers, Usage,
};
use rlm_limits::{BudgetSnapshot, ChildTrace, ConfigError, Deadline};
use serde::Serialize;

use crate::config::{Models, RunnerConfig};
use crate::run::{RunIds, RunOutput, run_tree};
use crate::tree::Tree;

/// The result of a completed run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The answer (empty when the run failed before any answer existed).
    pub answer: String,
    /// How the run ended.
    pub outcome: RunOutcomeKind,
    /// Root iterations used.
    pub iterations: u32,
    /// Usage of the whole tree, by model name.
    pub usage: BTreeMap<String, Usage>,
    /// The children the root spawned (each with its own children).
    pub child_traces: Vec<ChildTrace>,
    /// Wall time.
    pub duration: Duration,
    /// What stopped the run, for every outcome but `finished` and `iteration_limit`.
    pub error: Option<String>,
    /// The model error that ended the run, when one did (a refused key, an unreachable endpoint).
    #[serde(skip)]
    pub llm_error: Option<LlmError>,
    /// The tree's counters at the end.
    pub budget: BudgetSnapshot,
    /// The root conversation.
    #[serde(skip)]
    pub messages: Vec<Message>,
}

impl RunResult {
    /// Usage summed over every model.
    pub fn total_usage(&self) -> Usage {
        let mut total = Usage::default();
        for usage in self.usage.values() {
            total.add(usage);
        }
        total
    }
}

/// Runs Recursive Language Model completions. Generic over the core traits: any
/// [`rlm_core::LanguageModel`] and any [`ReplFactory`].
///
/// Each [`Runner::run`] is a fresh tree: its own budget, usage and deadline.
#[derive(Clone)]
pub struct Runner {
    config: RunnerConfig,
    models: Models,
    repls: Arc<dyn ReplFactory>,
    subscribers: Subscribers,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("config", &self.config)
            .field("models", &self.models)
            .field("repl_backend", &self.repls.backend_name())
            .finish()
    }
}

impl Runner {
    /// A runner with these models, REPL backend and settings.
    pub fn new(
        models: Models,
        repls: Arc<dyn ReplFactory>,
        config: RunnerConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            models,
            repls,
            subscribers: Subscribers::new(),
        })
    }

    /// Adds an event subscriber (shared by every run of the tree).
    pub fn subscribe(&mut self, sink: Arc<dyn EventSink>) {
        self.subscribers.push(sink);
    }

    /// The settings.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Answers `query` over `context`. Limits and model failures end the run with an outcome
    /// (see [`RunResult::outcome`]); this never returns an error and never panics.
    pub async fn run(&self, context: ReplValue, query: &str) -> RunResult {
        self.run_until(context, query, std::future::pending::<()>())
            .await
    }

    /// Like [`Runner::run`], but `stop` cancels the whole tree when it completes (Ctrl-C, a
    /// caller's cancellation token): everything in flight is dropped and the result says
    /// `cancelled`, with the usage so far.
    pub async fn run_until(
        &self,
        context: ReplValue,
        query: &str,
        stop: impl Future<Output = ()> + Send,
    ) -> RunResult {
        let started = tokio::time::Instant::now();
        let tree = Arc::new(Tree::new(
            self.config.clone(),
            &self.models,
            self.repls.clone(),
            self.subscribers.clone(),
        ));
        let deadline = Deadline::after(self.config.run.timeout);
        let root = run_tree(
            tree.clone(),
            RunIds::root(),
            0,
            None,
            context,
            query.to_string(),
            deadline,
        );
        // The run deadline is hard: whatever the loop is doing when it passes is dropped.
        let ended_early = |outcome: RunOutcomeKind, error: &str| RunOutput {
            answer: String::new(),
            outcome,
            iterations: 0,
            error: Some(error.to_string()),
            llm_error: None,
            own_usage: Usage::default(),
            child_traces: Vec::new(),
            duration: started.elapsed(),
            messages: Vec::new(),
        };
        let out = tokio::select! {
            out = root => out,
            () = deadline.wait() => ended_early(RunOutcomeKind::Timeout, "deadline reached"),
            () = stop => ended_early(RunOutcomeKind::Cancelled, "cancelled"),
        };
        RunResult {
            answer: out.answer,
            outcome: out.outcome,
            iterations: out.iterations,
            usage: tree.state.usage(),
            child_traces: out.child_traces,
            duration: out.duration,
            error: out.error,
            llm_error: out.llm_error,
            budget: tree.state.budget().snapshot(),
            messages: out.messages,
        }
    }
}
