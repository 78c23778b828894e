//! State shared by every run of one recursion tree: configuration, the routes (each model
//! wrapped once in its decorator stack), the REPL factory, subscribers, and the shared
//! [`TreeState`] (budget, usage ledger, fatal error, halt).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rlm_core::{
    CompletionResponse, LanguageModel, LlmError, Message, OnDelta, Repl, ReplFactory, RunEvent,
    Sampling, Subscribers,
};
use rlm_limits::{Budgeted, ChildTrace, Deadline, Traced, TreeBudget, TreeState};

use crate::config::{Models, Route, RunnerConfig, UnknownModel};
use crate::outcome::{Outcome, RunResult};

/// Run and sub-call ids: unique within the process, so runs of different trees (or of one
/// `Runner` used many times) never share an id in one trajectory.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh run or sub-call id.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Shared by all runs of a tree.
pub(crate) struct Tree {
    pub config: RunnerConfig,
    /// The models, each already wrapped as `Budgeted<Traced<model>>` over this tree's state.
    pub models: Models,
    pub repls: Arc<dyn ReplFactory>,
    pub subscribers: Subscribers,
    pub state: Arc<TreeState>,
    /// Whether a subscriber wants the content fields of the events (asked once).
    record: bool,
    /// Whether a subscriber wants the root's reply as it streams in (asked once).
    stream: bool,
    /// The sampling of run turns, and of plain sub-calls (inheritance applied), shared by
    /// every route.
    root_sampling: Arc<Sampling>,
    sub_sampling: Arc<Sampling>,
}

/// Why a model call did not produce text.
#[derive(Debug, Clone)]
pub(crate) enum CallFailure {
    /// The run's (or child's) deadline passed.
    Deadline,
    /// The model or a limit refused.
    Llm(LlmError),
}

impl Tree {
    pub fn new(
        config: RunnerConfig,
        models: &Models,
        repls: Arc<dyn ReplFactory>,
        subscribers: Subscribers,
    ) -> Self {
        let budget = TreeBudget::new(&config.run, &config.backend);
        let state = Arc::new(TreeState::new(budget, config.prices.clone()));
        let content = config.trace_content;
        // The stack is composed once per model of the tree. The budget is outermost, so the
        // `gen_ai.chat` span covers exactly the call that is sent (not the wait for a permit),
        // and a call the budget refuses opens no span.
        let models = models.layered(|model| {
            let stack: Arc<dyn LanguageModel> = Arc::new(Budgeted::new(
                Traced::content(model, content),
                state.clone(),
            ));
            stack
        });
        let record = subscribers.wants_content();
        let stream = subscribers.wants_deltas();
        Self {
            root_sampling: Arc::new(config.sampling.clone()),
            sub_sampling: Arc::new(config.effective_sub_sampling()),
            config,
            models,
            repls,
            subscribers,
            state,
            record,
            stream,
        }
    }

    pub fn emit(&self, event: RunEvent) {
        if !self.subscribers.is_empty() {
            self.subscribers.emit(&event);
        }
    }

    /// The route of a run's own turns (root and child RLMs).
    pub fn root_route(&self, requested: Option<&str>) -> Route {
        self.models
            .root_route(requested, self.root_sampling.clone())
    }

    /// The route of a plain sub-call.
    pub fn sub_route(&self, requested: Option<&str>) -> Result<Route, UnknownModel> {
        self.models.sub_route(requested, self.sub_sampling.clone())
    }

    /// `make()` when a subscriber wants the events' content, else `None` (nothing copied).
    pub fn content<T>(&self, make: impl FnOnce() -> T) -> Option<T> {
        self.record.then(make)
    }

    /// A new REPL session for a run, wrapped in its tracing decorator.
    pub async fn create_repl(
        &self,
        config: &rlm_core::ReplConfig,
    ) -> Result<Box<dyn Repl>, rlm_core::ReplError> {
        let repl = self.repls.create(config).await?;
        Ok(Box::new(Traced::content(repl, self.config.trace_content)))
    }

    /// The one place a [`RunResult`] is built: a run's outcome with the tree's usage and
    /// counters as they are now.
    pub fn result(
        &self,
        outcome: Outcome,
        iterations: u32,
        child_traces: Vec<ChildTrace>,
        duration: Duration,
        messages: Vec<Message>,
    ) -> RunResult {
        RunResult {
            outcome,
            iterations,
            usage: self.state.usage(),
            child_traces,
            duration,
            budget: self.state.budget().snapshot(),
            messages,
        }
    }

    /// Where a root turn's reply streams to: a [`RunEvent::RootDelta`] per piece, when a
    /// subscriber wants deltas (else `None`: the call is not streamed at all).
    pub fn root_deltas(&self, run_id: u64, iteration: u32) -> Option<OnDelta> {
        if !self.stream {
            return None;
        }
        let subscribers = self.subscribers.clone();
        Some(Arc::new(move |text: &str| {
            subscribers.emit(&RunEvent::RootDelta {
                run_id,
                iteration,
                text: text.to_string(),
            });
        }))
    }

    /// One LLM call through the route's stack, streamed to `on_delta` when given, dropped when
    /// `deadline` passes.
    pub async fn call_model(
        &self,
        route: &Route,
        messages: Vec<Message>,
        deadline: Deadline,
        on_delta: Option<OnDelta>,
    ) -> Result<CompletionResponse, CallFailure> {
        let request = route.request(messages);
        let call = match on_delta {
            Some(on_delta) => route.model.complete_streaming(request, on_delta),
            None => route.model.complete(request),
        };
        match deadline.instant() {
            Some(at) => match tokio::time::timeout_at(at, call).await {
                Ok(result) => result.map_err(CallFailure::Llm),
                Err(_) => Err(CallFailure::Deadline),
            },
            None => call.await.map_err(CallFailure::Llm),
        }
    }
}

/// Seconds with millisecond precision, for messages.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
