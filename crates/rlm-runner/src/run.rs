//! The iterative loop of one run (root or child). The run reaches sub-calls and child runs only
//! through its [`SubcallHandle`] (a [`ReplHost`] the caller gives it), so this module does not
//! know how recursion works.

use std::sync::Arc;
use std::time::Duration;

use rlm_core::{Execution, LlmError, Message, Repl, ReplHost, ReplValue, RunEvent, Usage};
use rlm_limits::{Deadline, preview};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::Route;
use crate::final_text::{TextFinal, find_text_final};
use crate::guard::{FinishGuard, Progress};
use crate::observe::{format_block, truncate_middle};
use crate::outcome::{Outcome, RunError, RunResult, StopReason};
use crate::parse::{parse_reply, strip_fences};
use crate::prompts::{self, ContextInfo, DEFAULT_SYSTEM_PROMPT, PromptSettings};
use crate::session::{self, ReplSlot};
use crate::spec::{RunSpec, SubcallHandle};
use crate::tree::{CallFailure, Tree};

mod compact;

/// Why a turn ended the run early.
enum Stop {
    Finished(String),
    Stopped(StopReason, RunError),
}

/// What the loop hands back when it ends.
struct Ended {
    outcome: Outcome,
    iterations: u32,
    /// This run's own model calls (children excluded).
    own_usage: Usage,
    messages: Vec<Message>,
}

struct Run {
    tree: Arc<Tree>,
    run_id: u64,
    depth: u32,
    route: Route,
    deadline: Deadline,
    repl: ReplSlot,
    host: Arc<dyn SubcallHandle>,
    messages: Vec<Message>,
    /// Compaction: the size limit of `messages`, the messages it replaced, and how often.
    compaction: compact::State,
    iterations: u32,
    own_usage: Usage,
    consecutive_errors: u32,
    /// Messages already reported in `ModelResponded` events (content recording only).
    reported: usize,
    progress: Progress,
}

/// Runs one run (root or child) of `spec`, with `host` answering its sub-calls. Never fails:
/// setup errors are a `Failed` outcome.
pub(crate) async fn run_one(
    tree: Arc<Tree>,
    spec: RunSpec,
    host: Arc<dyn SubcallHandle>,
) -> RunResult {
    let RunSpec {
        ids,
        depth,
        model,
        context,
        query,
        deadline,
        resume,
    } = spec;
    let started = Instant::now();
    let route = tree.root_route(model.as_deref());
    let span =
        tracing::info_span!("rlm.run", rlm.depth = depth, gen_ai.request.model = %route.name());
    let info = match &resume {
        Some(resume) => resume.info.clone(),
        None => ContextInfo::of(&context),
    };
    tree.emit(RunEvent::RunStarted {
        run_id: ids.run_id,
        parent_run_id: ids.parent_run_id,
        call_id: ids.call_id,
        depth,
        model: route.name(),
        query_preview: preview(&query, 80),
        context_chars: info.total_chars,
    });
    let progress: Progress = Arc::default();
    let mut guard = FinishGuard {
        tree: tree.clone(),
        ids,
        depth,
        started,
        deadline,
        progress: progress.clone(),
        armed: true,
    };
    let ended = async {
        // A code block never outlives the run: its time limit is capped by the time left.
        let mut repl_config = tree.config.repl.clone();
        repl_config.tools = tree.config.tools_at(depth).function_names();
        if let Some(left) = deadline.remaining() {
            repl_config.execution_timeout = repl_config
                .execution_timeout
                .min(left.max(Duration::from_millis(1)));
        }
        let (repl, note) = match resume {
            Some(resume) => (ReplSlot::Session(resume.repl), resume.note),
            None => {
                let mut repl = match tree.create_repl(&repl_config).await {
                    Ok(repl) => repl,
                    Err(e) => return failed(RunError::ReplStart(e)),
                };
                if let Err(e) = repl.set_variable("context", context).await {
                    return failed(RunError::ContextLoad(e));
                }
                for (name, value) in tree.config.tools_at(depth).data() {
                    if let Err(e) = repl.set_variable(name, value.clone()).await {
                        return failed(RunError::ContextLoad(e));
                    }
                }
                (ReplSlot::Own(repl), None)
            }
        };
        let settings = PromptSettings {
            depth,
            max_depth: tree.config.backend.max_depth,
            max_iterations: tree.config.run.max_iterations,
            sub_call_chars: tree.config.sub_call_chars,
            sandbox_capabilities: &tree.repls.capabilities(),
        };
        let template = tree
            .config
            .system_prompt
            .as_deref()
            .unwrap_or(DEFAULT_SYSTEM_PROMPT);
        let messages = vec![
            Message::system(prompts::with_tools(
                prompts::system_prompt(template, &settings),
                tree.config.tools_at(depth),
            )),
            Message::user(session::with_note(
                prompts::first_user_message(&info, &query, tree.config.run.max_iterations),
                &info,
                note.as_deref(),
            )),
        ];
        let compaction = compact::State::new(&tree.config, &route.name());
        let run = Run {
            tree: tree.clone(),
            run_id: ids.run_id,
            depth,
            route,
            deadline,
            repl,
            host: host.clone(),
            messages,
            compaction,
            iterations: 0,
            own_usage: Usage::default(),
            consecutive_errors: 0,
            reported: 0,
            progress,
        };
        run.drive().await
    }
    .instrument(span)
    .await;
    let duration = started.elapsed();
    guard.armed = false;
    let Ended {
        outcome,
        iterations,
        own_usage,
        messages,
    } = ended;
    tree.emit(RunEvent::RunFinished {
        run_id: ids.run_id,
        depth,
        outcome: outcome.kind(),
        iterations,
        usage: own_usage,
        duration,
        error: outcome.error().map(ToString::to_string),
        answer: tree.content(|| outcome.answer().to_string()),
    });
    tree.result(outcome, iterations, host.take_traces(), duration, messages)
}

/// A run that failed before its first turn.
fn failed(error: RunError) -> Ended {
    Ended {
        outcome: Outcome::stopped(StopReason::Failed, error),
        iterations: 0,
        own_usage: Usage::default(),
        messages: Vec::new(),
    }
}

impl Run {
    async fn drive(mut self) -> Ended {
        let max = self.tree.config.run.max_iterations;
        let mut stop = None;
        while self.iterations < max {
            self.iterations += 1;
            self.note_progress();
            self.tree.emit(RunEvent::IterationStarted {
                run_id: self.run_id,
                depth: self.depth,
                iteration: self.iterations,
            });
            let span = tracing::info_span!("rlm.iteration", rlm.iteration = self.iterations);
            let turn = self.turn().instrument(span).await;
            if let Some(s) = turn {
                stop = Some(s);
                break;
            }
        }
        // Iterations ran out without a finish: one last-chance call.
        let exhausted = stop.is_none();
        let stop = match stop {
            Some(stop) => stop,
            None => match self.last_chance().await {
                Ok(answer) => Stop::Finished(answer),
                Err(stop) => stop,
            },
        };
        let outcome = match stop {
            Stop::Finished(answer) if exhausted => Outcome::IterationLimit(answer),
            Stop::Finished(answer) => Outcome::Finished(answer),
            Stop::Stopped(reason, error) => Outcome::Stopped {
                reason,
                partial: self.partial_answer().await,
                error,
            },
        };
        Ended {
            outcome,
            iterations: self.iterations,
            own_usage: self.own_usage,
            messages: self.compaction.transcript(self.messages),
        }
    }

    /// The outcome for a failed model call.
    fn call_stop(&self, failure: CallFailure) -> Stop {
        match failure {
            CallFailure::Deadline => Stop::Stopped(StopReason::Timeout, RunError::Deadline),
            CallFailure::Llm(LlmError::LimitExceeded { limit, detail }) => {
                Stop::Stopped(StopReason::Budget, RunError::LimitRefused { limit, detail })
            }
            CallFailure::Llm(e) => Stop::Stopped(StopReason::Failed, RunError::Model(e)),
        }
    }

    /// Keeps the iterations and usage where the finish guard can read them.
    fn note_progress(&self) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) =
            (self.iterations, self.own_usage);
    }

    async fn ask(&mut self, last_chance: bool) -> Result<String, Stop> {
        self.compact_if_needed(last_chance).await?;
        let started = Instant::now();
        // Only the root's turns stream, and only to a subscriber that wants deltas.
        let on_delta = if self.depth == 0 {
            self.tree.root_deltas(self.run_id, self.iterations)
        } else {
            None
        };
        let response = self
            .tree
            .call_model(&self.route, self.messages.clone(), self.deadline, on_delta)
            .await
            .map_err(|f| self.call_stop(f))?;
        self.own_usage.add(&response.usage);
        self.note_progress();
        let messages = self
            .tree
            .content(|| {
                self.messages
                    .get(self.reported..)
                    .map(<[Message]>::to_vec)
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        self.tree.emit(RunEvent::ModelResponded {
            run_id: self.run_id,
            depth: self.depth,
            iteration: self.iterations,
            usage: response.usage,
            duration: started.elapsed(),
            code_blocks: parse_reply(&response.text).blocks.len(),
            last_chance,
            messages,
            response: self.tree.content(|| response.text.clone()),
        });
        self.messages
            .push(Message::assistant(response.text.clone()));
        // The reply is in the event's `response`: the next delta starts after it.
        self.reported = self.messages.len();
        Ok(response.text)
    }

    /// The snapshot of the user variables for the iteration's `last` block, when content is
    /// recorded.
    async fn locals_if(
        &mut self,
        last: bool,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        match self.tree.content(|| ()) {
            Some(()) if last => crate::locals::snapshot(self.repl.as_mut()).await,
            _ => None,
        }
    }

    /// Reports one executed block; `locals` is the iteration's snapshot on its last block.
    fn block_executed(
        &self,
        index: usize,
        code: &str,
        exec: &Execution,
        locals: Option<std::collections::BTreeMap<String, String>>,
    ) {
        let limit = self.tree.config.observation_limit;
        let tree = &self.tree;
        self.tree.emit(RunEvent::BlockExecuted {
            run_id: self.run_id,
            depth: self.depth,
            iteration: self.iterations,
            block: index,
            duration: exec.duration,
            raised: exec.error.is_some(),
            finished: exec.final_answer.is_some(),
            host_calls: exec.host_calls,
            code: tree.content(|| code.to_string()),
            stdout: tree.content(|| truncate_middle(&exec.stdout, limit)),
            error: tree
                .content(|| exec.error.as_deref().map(|e| truncate_middle(e, limit)))
                .flatten(),
            final_answer: tree
                .content(|| exec.final_answer.as_ref().map(|f| f.answer().to_string()))
                .flatten(),
            locals,
        });
    }

    /// One turn: ask, run the code, feed back what happened. `Some` ends the run.
    async fn turn(&mut self) -> Option<Stop> {
        if let Some(stop) = self.check_tree() {
            return Some(stop);
        }
        let reply = match self.ask(false).await {
            Ok(text) => text,
            Err(stop) => return Some(stop),
        };
        let parsed = parse_reply(&reply);
        let max = self.tree.config.run.max_iterations;
        // After the last turn the last-chance request follows instead of a turn marker.
        let next_turn = if self.iterations < max {
            prompts::turn_marker(self.iterations + 1, max)
        } else {
            String::new()
        };
        if parsed.blocks.is_empty() {
            if !parsed.unterminated
                && let Some(text_final) = find_text_final(&strip_fences(&reply))
            {
                match self.resolve_text_final(text_final).await {
                    Ok(answer) => return Some(Stop::Finished(answer)),
                    Err(note) => {
                        self.messages
                            .push(Message::user(format!("{note}\n\n{next_turn}")));
                        return None;
                    }
                }
            }
            let note = if parsed.unterminated {
                prompts::unterminated_note()
            } else {
                prompts::no_code_nudge()
            };
            self.messages
                .push(Message::user(format!("{note}\n\n{next_turn}")));
            return None;
        }
        let count = parsed.blocks.len();
        let mut parts = Vec::with_capacity(count + 1);
        let mut raised = false;
        for (index, code) in parsed.blocks.iter().enumerate() {
            let exec = match self.execute(index, code).await {
                Ok(exec) => exec,
                Err(stop) => return Some(stop),
            };
            raised |= exec.error.is_some();
            // `repl_env`'s printed `FINAL(answer)` line, looked for once, when asked for.
            let printed_final = if self.tree.config.seed_compat.printed_final {
                match crate::find_text_final(&exec.stdout) {
                    Some(crate::TextFinal::Final(answer)) => Some(answer),
                    _ => None,
                }
            } else {
                None
            };
            // The iteration's last block carries the snapshot of the variables (when recorded).
            let last = index + 1 == count || exec.final_answer.is_some() || printed_final.is_some();
            let locals = self.locals_if(last).await;
            self.block_executed(index, code, &exec, locals);
            if let Some(answer) = exec.final_answer {
                if index + 1 < count {
                    tracing::debug!(
                        skipped = count - index - 1,
                        "blocks after the finishing block were not run"
                    );
                }
                return Some(Stop::Finished(answer.into_answer()));
            }
            if let Some(answer) = printed_final {
                return Some(Stop::Finished(answer));
            }
            parts.push(format_block(
                index,
                count,
                code,
                &exec,
                self.tree.config.observation_limit,
            ));
        }
        if parsed.unterminated {
            parts.push(prompts::unterminated_note().to_string());
        }
        self.messages.push(Message::user(format!(
            "{}\n\n{next_turn}",
            parts.join("\n\n")
        )));
        if raised {
            self.consecutive_errors += 1;
            if let Some(max) = self.tree.config.run.max_errors
                && self.consecutive_errors >= max
            {
                return Some(Stop::Stopped(
                    StopReason::ErrorLimit,
                    RunError::ErrorLimit { max },
                ));
            }
        } else {
            self.consecutive_errors = 0;
        }
        self.check_tree()
    }

    /// Stops the run when the whole tree must stop (fatal error, spent budget, deadline).
    fn check_tree(&self) -> Option<Stop> {
        let state = &self.tree.state;
        if let Some(e) = state.fatal() {
            return Some(Stop::Stopped(StopReason::Failed, RunError::Model(e)));
        }
        if let Err(e) = state.budget().check_spent() {
            return Some(Stop::Stopped(StopReason::Budget, RunError::Limit(e)));
        }
        if state.is_halted() {
            let why = state
                .budget()
                .first_refusal()
                .map_or(RunError::BudgetSpent, RunError::Limit);
            return Some(Stop::Stopped(StopReason::Budget, why));
        }
        if self.deadline.expired() {
            return Some(Stop::Stopped(StopReason::Timeout, RunError::Deadline));
        }
        None
    }

    async fn execute(&mut self, index: usize, code: &str) -> Result<Execution, Stop> {
        self.host.set_position(self.iterations, index);
        let host: Arc<dyn ReplHost> = self.host.clone();
        let tree = self.tree.clone();
        let deadline = self.deadline;
        // The REPL session is `Traced`: it opens the block's `rlm.repl.execute` span.
        let fut = self.repl.execute(code, host);
        // The block is abandoned when the deadline passes or the whole tree must stop.
        let result = tokio::select! {
            r = fut => r,
            _ = deadline.wait() => {
                return Err(Stop::Stopped(StopReason::Timeout, RunError::DeadlineInCode));
            }
            _ = tree.state.halted() => return Err(self.check_tree().unwrap_or(
                Stop::Stopped(StopReason::Budget, RunError::BudgetSpent),
            )),
        };
        result.map_err(|e| Stop::Stopped(StopReason::Failed, RunError::Repl(e)))
    }

    /// Resolves a text-level finish; `Err` carries the note for the model when it cannot.
    async fn resolve_text_final(&mut self, text_final: TextFinal) -> Result<String, String> {
        match text_final {
            TextFinal::Final(answer) => Ok(answer),
            TextFinal::FinalVar(name) => match self.repl.get_variable(&name).await {
                Ok(Some(value)) => Ok(value.to_python_str()),
                Ok(None) | Err(_) => {
                    let names = match self.repl.variables().await {
                        Ok(vars) => vars.into_iter().map(|v| v.name).collect::<Vec<_>>(),
                        Err(_) => Vec::new(),
                    };
                    Err(format!(
                        "Error: Variable '{name}' not found. Available variables: {names:?}. You must create and assign a variable BEFORE calling FINAL_VAR on it."
                    ))
                }
            },
        }
    }

    /// The last-chance call when iterations run out.
    async fn last_chance(&mut self) -> Result<String, Stop> {
        if let Some(stop) = self.check_tree() {
            return Err(stop);
        }
        // Roles keep alternating: the request joins the last observation when there is one.
        match self.messages.last_mut() {
            Some(last) if last.role == rlm_core::Role::User => {
                last.content = format!("{}\n\n{}", last.content.trim_end(), prompts::last_chance());
            }
            _ => self.messages.push(Message::user(prompts::last_chance())),
        }
        let reply = self.ask(true).await?;
        // A FINAL written inside a code fence is code, never text: scan the prose only.
        let prose = strip_fences(&reply);
        if let Some(text_final) = find_text_final(&prose)
            && let Ok(answer) = self.resolve_text_final(text_final).await
        {
            return Ok(answer);
        }
        // The model wrote code anyway: run it once, and accept a finish from it.
        let blocks = parse_reply(&reply).blocks;
        let count = blocks.len();
        for (index, code) in blocks.into_iter().enumerate() {
            let exec = self.execute(index, &code).await?;
            let last = index + 1 == count || exec.final_answer.is_some();
            let locals = self.locals_if(last).await;
            self.block_executed(index, &code, &exec, locals);
            if let Some(answer) = exec.final_answer {
                return Ok(answer.into_answer());
            }
        }
        let partial = self.partial_answer().await;
        Ok(if !partial.is_empty() {
            partial
        } else if !prose.trim().is_empty() {
            prose.trim().to_string()
        } else {
            reply.trim().to_string()
        })
    }

    /// The best answer so far when a limit stops the run: `answer["content"]` if set.
    ///
    /// When a block was abandoned mid-step the backend may need a moment to get its session
    /// back, so a failed read is retried a few times (200 ms at most).
    async fn partial_answer(&mut self) -> String {
        if self.deadline.expired() {
            return String::new();
        }
        for _ in 0..10 {
            match self.repl.get_variable("answer").await {
                Ok(Some(ReplValue::Dict(pairs))) => {
                    return pairs
                        .into_iter()
                        .find(|(k, _)| k == &ReplValue::Str("content".into()))
                        .map(|(_, v)| v.to_python_str())
                        .unwrap_or_default();
                }
                Ok(_) => return String::new(),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        String::new()
    }
}
