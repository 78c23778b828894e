//! State shared by every run of one recursion tree: configuration, models, the REPL factory,
//! the tree-global budget, usage per model, subscribers, and the first fatal error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlm_core::{
    CompletionRequest, CompletionResponse, LlmError, Message, ReplFactory, RunEvent, Usage,
};
use rlm_limits::{Deadline, Subscribers, TreeBudget};
use tracing::Instrument;

use crate::config::{Models, Route, RunnerConfig};

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
    pub models: Models,
    pub repls: Arc<dyn ReplFactory>,
    pub subscribers: Subscribers,
    pub budget: TreeBudget,
    ledger: Mutex<BTreeMap<String, Usage>>,
    fatal: Mutex<Option<LlmError>>,
    /// Turns true when the whole tree must stop (a spent budget, a fatal model error), so code
    /// blocks still running are abandoned instead of looping on refused sub-calls.
    halt: tokio::sync::watch::Sender<bool>,
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
        models: Models,
        repls: Arc<dyn ReplFactory>,
        subscribers: Subscribers,
    ) -> Self {
        let budget = TreeBudget::new(&config.run, &config.backend);
        Self {
            config,
            models,
            repls,
            subscribers,
            budget,
            ledger: Mutex::new(BTreeMap::new()),
            fatal: Mutex::new(None),
            halt: tokio::sync::watch::Sender::new(false),
        }
    }

    pub fn emit(&self, event: RunEvent) {
        if !self.subscribers.is_empty() {
            self.subscribers.emit(&event);
        }
    }

    /// Usage of the whole tree so far, by model.
    pub fn usage(&self) -> BTreeMap<String, Usage> {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The first error that should stop the whole tree (a refused key, exhausted quota).
    pub fn fatal(&self) -> Option<LlmError> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn note_error(&self, err: &LlmError) {
        if err.is_fatal_for_run() {
            let mut fatal = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
            if fatal.is_none() {
                *fatal = Some(err.clone());
            }
            drop(fatal);
            self.halt.send_replace(true);
        }
    }

    /// Whether the whole tree must stop.
    pub fn is_halted(&self) -> bool {
        *self.halt.borrow()
    }

    /// Resolves once the whole tree must stop.
    pub async fn halted(&self) {
        let mut rx = self.halt.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|halted| *halted).await;
    }

    /// One LLM call under the tree's budget, concurrency cap and `deadline`.
    pub async fn call_model(
        &self,
        route: &Route,
        messages: Vec<Message>,
        deadline: Deadline,
    ) -> Result<CompletionResponse, CallFailure> {
        if let Some(err) = self.fatal() {
            return Err(CallFailure::Llm(err));
        }
        let request = CompletionRequest {
            model: route.name_override.clone(),
            messages,
            temperature: if route.sub_call {
                self.config.sub_temperature.or(self.config.temperature)
            } else {
                self.config.temperature
            },
            max_tokens: self.config.max_output_tokens,
            ..CompletionRequest::default()
        };
        let estimate = (request.content_chars() as u64).div_ceil(4) + 1;
        let name = route.name();
        let span = tracing::info_span!(
            "gen_ai.chat",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = %name,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
        );
        if self.config.trace_content {
            // Opt-in only (`trace_content`): prompts can hold private data.
            span.in_scope(
                || tracing::debug!(gen_ai.prompt = %render_messages(&request.messages), "prompt"),
            );
        }
        // Wait for a slot under the concurrency cap first, then reserve: a reservation is only
        // ever held by a call that is being sent, so the budget's overshoot is bounded by the
        // calls in flight, and a call refused by the budget never waited.
        let call = async {
            let _permit = self.budget.acquire_concurrency().await;
            if let Some(err) = self.fatal() {
                return Err(CallFailure::Llm(err));
            }
            let reservation = self.budget.reserve_call(estimate).map_err(|e| {
                // Every later call would be refused too: the tree is out of budget.
                self.halt.send_replace(true);
                CallFailure::Llm(e.into())
            })?;
            let result = route.model.complete(request).await;
            Ok::<_, CallFailure>((reservation, result))
        }
        .instrument(span.clone());
        let (reservation, result) = match deadline.instant() {
            Some(at) => match tokio::time::timeout_at(at, call).await {
                Ok(r) => r?,
                Err(_) => return Err(CallFailure::Deadline),
            },
            None => call.await?,
        };
        match result {
            Ok(response) => {
                if self.config.trace_content {
                    span.in_scope(
                        || tracing::debug!(gen_ai.completion = %response.text, "completion"),
                    );
                }
                span.record("gen_ai.usage.input_tokens", response.usage.input_tokens);
                span.record("gen_ai.usage.output_tokens", response.usage.output_tokens);
                let mut usage = response.usage;
                usage.calls = 1;
                let cost = self.config.prices.cost(&name, &usage);
                usage.cost = cost;
                reservation.settle_with_cost(&usage, cost);
                let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
                ledger.entry(name).or_default().add(&usage);
                drop(ledger);
                // The caller sees the usage as booked: one call, with its cost when known.
                Ok(CompletionResponse { usage, ..response })
            }
            Err(err) => {
                drop(reservation);
                self.note_error(&err);
                Err(CallFailure::Llm(err))
            }
        }
    }
}

/// A conversation as text for a log line: `role: content` per message.
fn render_messages(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        if !out.is_empty() {
            out.push_str("\n---\n");
        }
        out.push_str(m.role.as_str());
        out.push_str(": ");
        out.push_str(&m.content);
    }
    out
}

/// Seconds with millisecond precision, for messages.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
