//! Recursion: the recursive backends of the seed, as the [`ReplHost`] code in the REPL calls
//! into — plain LLM sub-calls (`llm_query`, `llm_query_batched`) and child RLMs (`rlm_query`,
//! `rlm_query_batched`) — with every `BackendLimits` field enforced, and the custom tools of the
//! tree's config. A child is a whole run at
//! depth + 1 with its own host; the loop sees a host only as a [`SubcallHandle`].

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::FutureExt as _;
use rlm_core::{
    HostCall, HostReply, Message, ReplHost, ReplValue, RunEvent, SubcallKind, ToolArgs, ToolError,
};
use rlm_limits::{ChildTrace, Deadline, preview};
use tokio::time::Instant;

use crate::batch;
use crate::observe::{truncate_head, truncate_middle};
use crate::outcome::{Outcome, StopReason};
use crate::run::run_one;
use crate::spec::{RunIds, RunSpec, SubcallHandle};
use crate::tree::{CallFailure, Tree, next_id, secs};

const PREVIEW_CHARS: usize = 80;

/// Answers the sub-calls of one run at `depth`.
pub(crate) struct SubcallHost {
    tree: Arc<Tree>,
    run_id: u64,
    depth: u32,
    deadline: Deadline,
    traces: Mutex<Vec<ChildTrace>>,
    /// The caller's iteration and block, for the events of the sub-calls it makes.
    iteration: AtomicU32,
    block: AtomicUsize,
}

impl SubcallHost {
    pub fn new(tree: Arc<Tree>, run_id: u64, depth: u32, deadline: Deadline) -> Self {
        Self {
            tree,
            run_id,
            depth,
            deadline,
            traces: Mutex::new(Vec::new()),
            iteration: AtomicU32::new(0),
            block: AtomicUsize::new(0),
        }
    }

    /// `SubcallStarted` for a call made now.
    fn started_event(
        &self,
        call_id: u64,
        kind: SubcallKind,
        child_run_id: Option<u64>,
        model: &str,
        prompt: &str,
    ) -> RunEvent {
        RunEvent::SubcallStarted {
            run_id: self.run_id,
            call_id,
            kind,
            child_run_id,
            iteration: self.iteration.load(Ordering::Relaxed),
            block: self.block.load(Ordering::Relaxed),
            depth: self.depth + 1,
            model: model.to_string(),
            prompt_preview: preview(prompt, PREVIEW_CHARS),
            prompt: self
                .tree
                .content(|| truncate_middle(prompt, self.tree.config.observation_limit)),
        }
    }

    /// The recorded copy of a result (content recording only).
    fn recorded(&self, text: &str) -> Option<String> {
        self.tree
            .content(|| truncate_middle(text, self.tree.config.observation_limit))
    }

    fn disabled() -> String {
        "Error: sub-calls are disabled in this run (max_depth = 0)".to_string()
    }

    fn truncate(&self, text: String) -> String {
        truncate_head(text, self.tree.config.backend.result_truncation_limit)
    }

    /// `llm_query`: one plain call to the sub-model.
    async fn query(&self, prompt: String, model: Option<String>) -> String {
        if self.tree.config.backend.max_depth == 0 {
            return Self::disabled();
        }
        let route = match self.tree.sub_route(model.as_deref()) {
            Ok(route) => route,
            Err(unknown) => return format!("Error: {unknown}"),
        };
        let label = model.clone().unwrap_or_else(|| "default".to_string());
        let depth = self.depth + 1;
        let call_id = next_id();
        self.tree
            .emit(self.started_event(call_id, SubcallKind::Llm, None, &label, &prompt));
        let started = Instant::now();
        let result = self
            .tree
            .call_model(&route, vec![Message::user(prompt)], self.deadline, None)
            .await;
        let (text, error, usage) = match result {
            Ok(response) => (self.truncate(response.text), None, Some(response.usage)),
            Err(CallFailure::Deadline) => (
                "Error: LLM query failed - run deadline reached".to_string(),
                Some("deadline reached".to_string()),
                None,
            ),
            Err(CallFailure::Llm(e)) => (
                format!("Error: LLM query failed - {e}"),
                Some(e.to_string()),
                None,
            ),
        };
        self.tree.emit(RunEvent::SubcallCompleted {
            run_id: self.run_id,
            call_id,
            child_run_id: None,
            depth,
            model: label,
            duration: started.elapsed(),
            error,
            usage,
            response: self.recorded(&text),
        });
        text
    }

    /// `llm_query_batched`: `max_batch_workers` in flight while that many remain (no
    /// head-of-line blocking), results in input order.
    async fn query_batched(&self, prompts: Vec<String>, model: Option<String>) -> Vec<String> {
        let workers = self.tree.config.backend.max_batch_workers;
        batch::in_order(prompts, workers, |_, p| self.query(p, model.clone())).await
    }

    /// `rlm_query`: a child RLM at depth + 1, or a plain call at the depth limit.
    async fn recursive_query(&self, prompt: String, model: Option<String>) -> String {
        let backend = &self.tree.config.backend;
        if backend.max_depth == 0 {
            return Self::disabled();
        }
        let next_depth = self.depth + 1;
        if next_depth >= backend.max_depth {
            return self.query(prompt, model).await;
        }
        if let Err(unknown) = self.tree.models.check_root(model.as_deref()) {
            return format!("Error: {unknown}");
        }
        if let Err(e) = self.tree.state.budget().reserve_child() {
            return format!("Error: {e}");
        }
        let label = model.clone().unwrap_or_else(|| "default".to_string());
        let prompt_preview = preview(&prompt, PREVIEW_CHARS);
        let call_id = next_id();
        let ids = RunIds {
            run_id: next_id(),
            parent_run_id: Some(self.run_id),
            call_id: Some(call_id),
        };
        self.tree.emit(self.started_event(
            call_id,
            SubcallKind::Rlm,
            Some(ids.run_id),
            &label,
            &prompt,
        ));
        let started = Instant::now();
        let deadline = self.deadline.child(backend.per_child_timeout);
        let query = if prompt.chars().count() <= self.tree.config.child_query_chars {
            prompt.clone()
        } else {
            "The task and its material are in `context`: read the task from there first."
                .to_string()
        };
        let host = Arc::new(SubcallHost::new(
            self.tree.clone(),
            ids.run_id,
            next_depth,
            deadline,
        ));
        let spec = RunSpec {
            ids,
            depth: next_depth,
            model,
            context: ReplValue::Str(prompt),
            query,
            deadline,
            resume: None,
        };
        // The one place recursion is boxed: a child run is a whole run at depth + 1.
        let child = Box::pin(run_one(self.tree.clone(), spec, host));
        let output = match deadline.instant() {
            Some(at) => tokio::time::timeout_at(at, child).await.ok(),
            None => Some(child.await),
        };
        let duration = started.elapsed();
        let (text, error, children) = match output {
            None => {
                let msg = format!("child timeout after {}", secs(duration));
                (format!("Error: {msg}"), Some(msg), Vec::new())
            }
            Some(child) => match child.outcome {
                Outcome::Stopped {
                    reason: StopReason::Timeout,
                    ..
                } => {
                    let msg = format!("child timeout after {}", secs(duration));
                    (format!("Error: {msg}"), Some(msg), child.child_traces)
                }
                Outcome::Stopped {
                    reason: StopReason::Failed,
                    error,
                    ..
                } => {
                    let msg = format!("child RLM failed - {error}");
                    (format!("Error: {msg}"), Some(msg), child.child_traces)
                }
                Outcome::Stopped {
                    reason: StopReason::Budget,
                    partial,
                    error,
                } if partial.is_empty() => {
                    let msg = error.to_string();
                    (
                        format!("Error: child RLM stopped - {msg}"),
                        Some(msg),
                        child.child_traces,
                    )
                }
                outcome => (
                    self.truncate(outcome.answer().to_string()),
                    None,
                    child.child_traces,
                ),
            },
        };
        let result_preview = if error.is_none() && !text.is_empty() {
            Some(preview(&text, PREVIEW_CHARS))
        } else {
            None
        };
        self.traces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ChildTrace {
                depth: next_depth,
                duration,
                prompt_preview,
                result_preview,
                error: error.clone(),
                children,
            });
        self.tree.emit(RunEvent::SubcallCompleted {
            run_id: self.run_id,
            call_id,
            child_run_id: Some(ids.run_id),
            depth: next_depth,
            model: label,
            duration,
            error,
            usage: None,
            response: self.recorded(&text),
        });
        text
    }

    /// `rlm_query_batched`: children run concurrently (`max_batch_workers` in flight while that
    /// many remain), results in input order;
    /// slots past `max_children_per_batch` get an `Error:` string, so the list keeps its length
    /// (with [`SeedCompat::truncate_batches`](crate::SeedCompat), they are dropped instead).
    async fn recursive_query_batched(
        &self,
        mut prompts: Vec<String>,
        model: Option<String>,
    ) -> Vec<String> {
        let workers = self.tree.config.backend.max_batch_workers;
        let cap = self.tree.config.backend.max_children_per_batch;
        if let Some(cap) = cap
            && self.tree.config.seed_compat.truncate_batches
        {
            prompts.truncate(cap);
        }
        batch::in_order(prompts, workers, |i, p| {
            let model = model.clone();
            async move {
                match cap {
                    Some(cap) if i >= cap => {
                        format!("Error: max_children_per_batch ({cap}) exceeded; this prompt was not run")
                    }
                    _ => self.recursive_query(p, model).await,
                }
            }
        })
        .await
    }
}

impl SubcallHost {
    /// A custom tool: its result, or the exception the code gets. A panicking tool is a
    /// `RuntimeError`, never a crash.
    async fn tool(&self, name: String, args: ToolArgs) -> HostReply {
        let Some(tool) = self
            .tree
            .config
            .tools_at(self.depth)
            .function(&name)
            .cloned()
        else {
            return HostReply::Raise(ToolError::raise(
                "NameError",
                format!("no custom tool named '{name}'"),
            ));
        };
        let span = tracing::debug_span!("rlm.tool", rlm.tool = %name, rlm.depth = self.depth);
        let call = std::panic::AssertUnwindSafe(tool.call(args)).catch_unwind();
        match tracing::Instrument::instrument(call, span).await {
            Ok(Ok(value)) => HostReply::Json(value),
            Ok(Err(error)) => HostReply::Raise(error),
            Err(_) => {
                HostReply::Raise(ToolError::new(format!("the custom tool {name}() panicked")))
            }
        }
    }
}

impl SubcallHandle for SubcallHost {
    fn set_position(&self, iteration: u32, block: usize) {
        self.iteration.store(iteration, Ordering::Relaxed);
        self.block.store(block, Ordering::Relaxed);
    }

    fn take_traces(&self) -> Vec<ChildTrace> {
        std::mem::take(&mut *self.traces.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl ReplHost for SubcallHost {
    async fn call(&self, call: HostCall) -> HostReply {
        match call {
            HostCall::LlmQuery { prompt, model } => {
                HostReply::Text(self.query(prompt, model).await)
            }
            HostCall::LlmQueryBatched { prompts, model } => {
                HostReply::Texts(self.query_batched(prompts, model).await)
            }
            HostCall::RlmQuery { prompt, model } => {
                HostReply::Text(self.recursive_query(prompt, model).await)
            }
            HostCall::RlmQueryBatched { prompts, model } => {
                HostReply::Texts(self.recursive_query_batched(prompts, model).await)
            }
            HostCall::Tool { name, args } => self.tool(name, args).await,
        }
    }
}

#[cfg(test)]
mod tests;
