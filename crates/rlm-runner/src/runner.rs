//! The public entry point: [`Runner`].

use std::sync::Arc;

use rlm_core::{EventSink, ReplFactory, ReplValue, Subscribers};
use rlm_limits::{ConfigError, Deadline};

use crate::config::{Models, RunnerConfig};
use crate::outcome::{Outcome, RunError, RunResult, StopReason};
use crate::recursion::SubcallHost;
use crate::run::run_one;
use crate::session::Resume;
use crate::spec::{RunIds, RunSpec};
use crate::tree::Tree;

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
        models.check_sampling(&config.sampling, &config.effective_sub_sampling())?;
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

    /// A fresh recursion tree with these models, backend, settings and subscribers.
    pub(crate) fn tree(&self) -> Tree {
        Tree::new(
            self.config.clone(),
            &self.models,
            self.repls.clone(),
            self.subscribers.clone(),
        )
    }

    /// The settings.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Answers `query` over `context`. Limits and model failures end the run with an outcome
    /// (see [`RunResult::outcome`]); this never returns an error and never panics. The same as
    /// [`Runner::run_until`] with a `stop` that never completes.
    pub async fn run(&self, context: ReplValue, query: &str) -> RunResult {
        self.run_until(context, query, std::future::pending::<()>())
            .await
    }

    /// Like [`Runner::run`], but `stop` cancels the whole tree when it completes (Ctrl-C, a
    /// caller's cancellation token): everything in flight is dropped and the result says
    /// `cancelled`, with the usage so far.
    ///
    /// # How long REPL work goes on after `stop`
    /// This returns as soon as `stop` completes; LLM calls, sub-calls and child runs are dropped
    /// at once. Work already running on another thread cannot be dropped:
    /// - A REPL backend that runs code in a process kills it when its future is dropped (the
    ///   CPython backend kills the interpreter's process group at once).
    /// - The embedded Monty backend runs code on tokio's blocking pool, and Monty cannot be
    ///   interrupted from another thread. A code block that is computing (not waiting on a
    ///   sub-call) when `stop` completes goes on, unobserved, until it ends by itself or reaches
    ///   its own time limit: at most [`ReplConfig::execution_timeout`](rlm_core::ReplConfig) of
    ///   interpreter time since it began (60 s by default), and, when [`RunLimits::timeout`] is
    ///   set, no more than the run's time left when its session started (one long native
    ///   operation, such as a `split()` of 100 MB, can overshoot either). Each run of the tree
    ///   has at most one such block, so a cancelled `rlm_query_batched` can leave one per child
    ///   still running. Nothing it does reaches the result or the event subscribers.
    ///
    /// So a caller that exits right after a cancelled run should not wait for the blocking pool:
    /// end the tokio runtime with `Runtime::shutdown_background` (or `shutdown_timeout`), as the
    /// `rlm` CLI does, since dropping a runtime waits for every blocking task.
    ///
    /// [`RunLimits::timeout`]: rlm_limits::RunLimits::timeout
    pub async fn run_until(
        &self,
        context: ReplValue,
        query: &str,
        stop: impl Future<Output = ()> + Send,
    ) -> RunResult {
        self.run_tree(context, query, stop, None).await
    }

    /// A question of a session: a run in the session's REPL.
    pub(crate) async fn run_resumed(
        &self,
        query: &str,
        stop: impl Future<Output = ()> + Send,
        resume: Resume,
    ) -> RunResult {
        self.run_tree(ReplValue::None, query, stop, Some(resume))
            .await
    }

    /// The REPL backend.
    pub(crate) fn repls(&self) -> &Arc<dyn ReplFactory> {
        &self.repls
    }

    async fn run_tree(
        &self,
        context: ReplValue,
        query: &str,
        stop: impl Future<Output = ()> + Send,
        resume: Option<Resume>,
    ) -> RunResult {
        let started = tokio::time::Instant::now();
        let tree = Arc::new(self.tree());
        let deadline = Deadline::after(self.config.run.timeout);
        let ids = RunIds::root();
        let host = Arc::new(SubcallHost::new(tree.clone(), ids.run_id, 0, deadline));
        let spec = RunSpec {
            ids,
            depth: 0,
            model: None,
            context,
            query: query.to_string(),
            deadline,
            resume,
        };
        let root = run_one(tree.clone(), spec, host);
        // The run deadline is hard: whatever the loop is doing when it passes is dropped.
        let ended_early = |reason: StopReason, error: RunError| {
            let outcome = Outcome::stopped(reason, error);
            tree.result(outcome, 0, Vec::new(), started.elapsed(), Vec::new())
        };
        tokio::select! {
            result = root => result,
            () = deadline.wait() => ended_early(StopReason::Timeout, RunError::Deadline),
            () = stop => ended_early(StopReason::Cancelled, RunError::Cancelled),
        }
    }
}
