//! One session's environment, with `repl_env`'s semantics as a client sees them: reset loads
//! the context and the helpers into a fresh REPL, each step runs the policy's code, and the
//! episode ends on `FINAL(...)`, `FINAL_VAR(...)`, a printed `FINAL(...)`/`FINAL_VAR(...)`,
//! `answer["ready"] = True`, an explicit `is_final`, or at `max_iterations`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rlm::core::{Execution, Repl, ReplHost, ReplValue};
use rlm::runner::{Episode, Models, Runner, TextFinal, find_text_final};
use rlm::{LanguageModel, ReplFactory, RunnerConfig};
use serde_json::{Map, Value, json};

use crate::caps::Overridden;
use crate::protocol::{
    Action, CodeBlockResult, EnvState, ErrorCode, Observation, ResetParams, StepReply, WireError,
};
use crate::rubric::Rubric;

/// The helper `llm_query_batched` is also reachable as (OpenEnv's name).
const LLM_BATCH: &str = "llm_batch";
const PRELUDE: &str =
    "def llm_batch(prompts, model=None):\n    return llm_query_batched(prompts, model=model)\n";
/// `repr` of a new variable in `locals_snapshot` is cut here, as `repl_env` cuts it.
const LOCALS_REPR_CHARS: usize = 500;
const NOT_RESET: &str = "Environment not initialized. Call reset() first.";
const OVER: &str = "The episode is over (done). Send reset to start a new one.";

/// What every session of a server shares: the models, the REPL backend, the limits and the
/// reward settings.
#[derive(Clone)]
pub struct EnvSettings {
    /// The model of child RLMs' turns (and of sub-calls without a sub model).
    pub root: Arc<dyn LanguageModel>,
    /// The model of `llm_query` sub-calls.
    pub sub: Option<Arc<dyn LanguageModel>>,
    /// The REPL backend.
    pub repls: Arc<dyn ReplFactory>,
    /// The limits of each episode's tree; `backend.max_depth` and `run.max_iterations` are also
    /// the caps of a reset's `rlm_max_depth` and `rlm_max_iterations`.
    pub runner: RunnerConfig,
    /// Steps per episode unless a reset asks otherwise.
    pub max_iterations: u32,
    /// Characters of stdout and stderr kept per step.
    pub max_output_length: usize,
    /// Characters of `context_preview`.
    pub context_preview_length: usize,
    /// The rewards.
    pub rubric: Rubric,
}

impl EnvSettings {
    /// `repl_env`'s defaults: 30 steps, 8,192 characters of output, a 500-character context
    /// preview, the default rubric, the library's default limits, no sub model.
    pub fn new(root: Arc<dyn LanguageModel>, repls: Arc<dyn ReplFactory>) -> Self {
        Self {
            root,
            sub: None,
            repls,
            runner: RunnerConfig::default(),
            max_iterations: 30,
            max_output_length: 8192,
            context_preview_length: 500,
            rubric: Rubric::default(),
        }
    }
}

impl std::fmt::Debug for EnvSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSettings")
            .field("root", &self.root.model_name())
            .field(
                "sub",
                &self.sub.as_ref().map(|m| m.model_name().to_string()),
            )
            .field("repls", &self.repls.backend_name())
            .field("max_iterations", &self.max_iterations)
            .field("rubric", &self.rubric)
            .finish_non_exhaustive()
    }
}

/// A session's environment: empty until the first reset.
pub struct Environment {
    settings: Arc<EnvSettings>,
    live: Option<Live>,
}

/// An episode in progress.
struct Live {
    /// Holds the episode's tree (budget, usage) alive.
    _episode: Episode,
    host: Arc<dyn ReplHost>,
    repl: Box<dyn Repl>,
    context: Option<String>,
    /// `context_preview` and `context_length`, computed once at reset (a step must not walk a
    /// big context).
    preview: Option<String>,
    context_length: usize,
    task_prompt: Option<String>,
    expected: Option<String>,
    state: EnvState,
    /// User variables seen so far (for `locals_snapshot`).
    known: BTreeSet<String>,
    done: bool,
}

impl Environment {
    /// An environment with no episode.
    pub fn new(settings: Arc<EnvSettings>) -> Self {
        Self {
            settings,
            live: None,
        }
    }

    /// Whether an episode is in progress.
    pub fn is_reset(&self) -> bool {
        self.live.is_some()
    }

    /// Starts a new episode (the previous one, if any, is dropped with its REPL).
    pub async fn reset(&mut self, params: ResetParams) -> Result<StepReply, WireError> {
        self.live = None;
        let s = &self.settings;
        let expected = params.expected_text();
        let mut config = s.runner.clone();
        if let Some(depth) = params.rlm_max_depth {
            config.backend.max_depth = depth.min(s.runner.backend.max_depth);
        }
        if let Some(iterations) = params.rlm_max_iterations {
            config.run.max_iterations = iterations.clamp(1, s.runner.run.max_iterations);
        }
        let wrap = |m: &Arc<dyn LanguageModel>| {
            Overridden::wrap(m.clone(), params.llm_model.clone(), params.seed)
        };
        let mut models = Models::new(wrap(&s.root));
        if let Some(sub) = &s.sub {
            models = models.with_sub(wrap(sub));
        }
        let runner = Runner::new(models, s.repls.clone(), config)
            .map_err(|e| WireError::new(ErrorCode::ValidationError, e.to_string()))?;
        let episode = runner.episode();
        let factory = |e: rlm::core::ReplError| {
            WireError::new(
                ErrorCode::FactoryError,
                format!("cannot start the REPL: {e}"),
            )
        };
        let mut repl = episode.create_repl().await.map_err(factory)?;
        let host = episode.host();
        let context = params.context.filter(|c| !c.is_empty());
        if let Some(text) = &context {
            repl.set_variable("context", ReplValue::Str(text.clone()))
                .await
                .map_err(factory)?;
        }
        let prelude = repl.execute(PRELUDE, host.clone()).await.map_err(factory)?;
        if let Some(error) = prelude.error {
            return Err(WireError::new(ErrorCode::FactoryError, error));
        }
        let known = user_variables(repl.as_mut()).await.map_err(factory)?;
        let max_iterations = params.max_iterations.unwrap_or(s.max_iterations).max(1);
        let task_prompt = params.task_prompt.filter(|t| !t.is_empty());
        let mut message = vec!["REPL environment initialized.".to_string()];
        if let Some(text) = &context {
            message.push(format!(
                "Context loaded ({} chars). Use 'context' variable to access it.",
                text.chars().count()
            ));
        }
        if let Some(task) = &task_prompt {
            message.push(format!("Task: {task}"));
        }
        message.push(
            "Use answer['content'] to store your answer, and set answer['ready'] = True when done."
                .to_string(),
        );
        let namespace = namespace(&known, context.is_some());
        let state = EnvState {
            episode_id: Some(params.episode_id.clone().unwrap_or_else(episode_id)),
            step_count: 0,
            context: context.clone(),
            task_prompt: task_prompt.clone(),
            iteration: 0,
            max_iterations,
            namespace_keys: namespace.clone(),
            final_answer: None,
            total_execution_time: 0.0,
        };
        let preview = context
            .as_ref()
            .map(|c| c.chars().take(s.context_preview_length).collect());
        let context_length = context.as_ref().map_or(0, |c| c.chars().count());
        let live = Live {
            _episode: episode,
            host,
            repl,
            expected,
            context,
            preview,
            context_length,
            task_prompt,
            state,
            known,
            done: false,
        };
        let observation = Observation {
            result: CodeBlockResult {
                stdout: message.join("\n"),
                success: true,
                ..CodeBlockResult::default()
            },
            context_preview: live.preview.clone(),
            context_length: live.context_length,
            available_variables: namespace,
            iteration: 0,
            max_iterations,
            metadata: object(json!({
                "task_prompt": live.task_prompt.clone().unwrap_or_default(),
                "message": "Environment ready.",
            })),
        };
        self.live = Some(live);
        Ok(StepReply {
            observation,
            reward: None,
            done: false,
        })
    }

    /// Runs one action.
    pub async fn step(&mut self, action: Action) -> Result<StepReply, WireError> {
        let settings = self.settings.clone();
        let live = self
            .live
            .as_mut()
            .ok_or_else(|| WireError::new(ErrorCode::ExecutionError, NOT_RESET))?;
        if live.done {
            return Err(WireError::new(ErrorCode::ExecutionError, OVER));
        }
        live.state.step_count += 1;
        live.state.iteration += 1;
        if action.is_final {
            let answer = action.final_answer.unwrap_or_default();
            return Ok(live.terminal(
                &settings,
                CodeBlockResult::default(),
                Some(answer),
                "Final answer submitted.",
                true,
            ));
        }
        let (result, finished) = live.run(&action.code, &settings).await;
        if let Some(answer) = finished {
            live.state.final_answer = Some(answer.clone());
            live.done = true;
            let reward = settings.rubric.reward(
                true,
                result.success,
                Some(&answer),
                live.expected.as_deref(),
            );
            return Ok(live.reply(result, Some(answer), reward, true));
        }
        if live.state.iteration >= live.state.max_iterations {
            // Out of steps: a partial answer in `answer["content"]` counts, as in repl_env.
            let partial = match live.repl.get_variable("answer").await {
                Ok(Some(ReplValue::Dict(pairs))) => pairs.into_iter().find_map(|(k, v)| {
                    (k == ReplValue::Str("content".into())).then(|| v.to_python_str())
                }),
                _ => None,
            }
            .filter(|content| !content.is_empty());
            let message = format!(
                "Maximum iterations ({}) reached.",
                live.state.max_iterations
            );
            return Ok(live.terminal(&settings, result, partial, &message, false));
        }
        let reward = settings
            .rubric
            .reward(false, result.success, None, live.expected.as_deref());
        Ok(live.reply(result, None, reward, false))
    }

    /// The episode's state.
    pub fn state(&self) -> Result<EnvState, WireError> {
        self.live
            .as_ref()
            .map(|live| live.state.clone())
            .ok_or_else(|| WireError::new(ErrorCode::ExecutionError, NOT_RESET))
    }

    /// The state of an environment that was never reset (HTTP `GET /state`).
    pub fn blank_state(&self) -> EnvState {
        EnvState {
            max_iterations: self.settings.max_iterations,
            ..EnvState::default()
        }
    }
}

impl Live {
    /// Runs the code; returns its result and the final answer when it finished the episode.
    async fn run(
        &mut self,
        code: &str,
        settings: &EnvSettings,
    ) -> (CodeBlockResult, Option<String>) {
        let execution = match self.repl.execute(code, self.host.clone()).await {
            Ok(execution) => execution,
            Err(e) => Execution {
                error: Some(format!("{e}")),
                ..Execution::default()
            },
        };
        let seconds = execution.duration.as_secs_f64();
        self.state.total_execution_time += seconds;
        let mut finished = execution.final_answer.map(|f| f.into_answer());
        if finished.is_none() {
            finished = self.printed_final(&execution.stdout).await;
        }
        let locals = self.new_locals().await;
        self.state.namespace_keys = namespace(&self.known, self.context.is_some());
        let exception = execution
            .error
            .as_ref()
            .map(|tb| tb.trim_end().lines().last().unwrap_or_default().to_string());
        let limit = settings.max_output_length;
        let result = CodeBlockResult {
            stdout: cut(execution.stdout, limit),
            stderr: cut(execution.error.clone().unwrap_or_default(), limit),
            locals_snapshot: locals,
            execution_time: seconds,
            success: execution.error.is_none(),
            exception,
        };
        (result, finished)
    }

    /// A printed `FINAL(...)` or `FINAL_VAR(name)` anywhere in the output, as `repl_env` scans
    /// for them (with a balanced, quote-aware reading of the argument); `FINAL_VAR` of a missing
    /// name does not finish.
    async fn printed_final(&mut self, stdout: &str) -> Option<String> {
        let mut from = 0;
        while let Some(at) = stdout[from..].find("FINAL") {
            let start = from + at;
            from = start + "FINAL".len();
            match find_text_final(&stdout[start..]) {
                Some(TextFinal::Final(answer)) => return Some(answer),
                Some(TextFinal::FinalVar(name)) => {
                    if let Ok(Some(value)) = self.repl.get_variable(&name).await {
                        return Some(value.to_python_str());
                    }
                }
                None => {}
            }
        }
        None
    }

    /// `repr` of the user variables the step created.
    async fn new_locals(&mut self) -> BTreeMap<String, String> {
        let mut locals = BTreeMap::new();
        let Ok(now) = user_variables(self.repl.as_mut()).await else {
            return locals;
        };
        for name in now.difference(&self.known) {
            let repr = match self.repl.get_variable(name).await {
                Ok(Some(value)) => cut_repr(value.repr()),
                _ => "<unrepresentable>".to_string(),
            };
            locals.insert(name.clone(), repr);
        }
        self.known = now;
        locals
    }

    /// A step reply in the running shape (preview, variables, per-step metadata).
    fn reply(
        &self,
        result: CodeBlockResult,
        answer: Option<String>,
        reward: f64,
        done: bool,
    ) -> StepReply {
        let metadata = object(json!({
            "task_prompt": self.task_prompt.clone().unwrap_or_default(),
            "final_answer": answer,
            "execution_time": result.execution_time,
        }));
        StepReply {
            observation: Observation {
                result,
                context_preview: self.preview.clone(),
                context_length: self.context_length,
                available_variables: self.state.namespace_keys.clone(),
                iteration: self.state.iteration,
                max_iterations: self.state.max_iterations,
                metadata,
            },
            reward: Some(reward),
            done,
        }
    }

    /// The end of the episode without a finishing block: an explicit `is_final`, or the last
    /// step. `message` follows the code's output.
    fn terminal(
        &mut self,
        s: &EnvSettings,
        mut result: CodeBlockResult,
        answer: Option<String>,
        message: &str,
        success: bool,
    ) -> StepReply {
        self.done = true;
        self.state.final_answer.clone_from(&answer);
        if !result.stdout.is_empty() && !result.stdout.ends_with('\n') {
            result.stdout.push('\n');
        }
        result.stdout.push_str(message);
        // `repl_env` marks the last step failed, an explicit final answer successful.
        result.success = success && result.stderr.is_empty();
        let reward = s.rubric.reward(
            true,
            result.success,
            answer.as_deref(),
            self.expected.as_deref(),
        );
        let metadata = object(json!({
            "final_answer": answer,
            "total_execution_time": self.state.total_execution_time,
            "total_iterations": self.state.iteration,
            "message": message,
        }));
        StepReply {
            observation: Observation {
                result,
                context_preview: None,
                context_length: 0,
                available_variables: Vec::new(),
                iteration: self.state.iteration,
                max_iterations: self.state.max_iterations,
                metadata,
            },
            reward: Some(reward),
            done: true,
        }
    }
}

/// The user variables of the session (the `llm_batch` helper is not one).
async fn user_variables(repl: &mut dyn Repl) -> Result<BTreeSet<String>, rlm::core::ReplError> {
    Ok(repl
        .variables()
        .await?
        .into_iter()
        .map(|v| v.name)
        .filter(|name| name != LLM_BATCH && name != "context")
        .collect())
}

/// The names a client sees: user variables, `answer`, `context` and the helpers, sorted.
fn namespace(known: &BTreeSet<String>, has_context: bool) -> Vec<String> {
    let mut names: BTreeSet<String> = known.clone();
    names.insert(rlm::names::ANSWER.to_string());
    if has_context {
        names.insert("context".to_string());
    }
    names.insert(LLM_BATCH.to_string());
    names.extend(rlm::names::HOST_FUNCTIONS.iter().map(|n| n.to_string()));
    names.into_iter().collect()
}

/// `text` cut to `limit` characters with `repl_env`'s marker.
fn cut(text: String, limit: usize) -> String {
    let total = text.chars().count();
    if total <= limit {
        return text;
    }
    let head: String = text.chars().take(limit).collect();
    format!("{head}\n... (truncated, total {total} chars)")
}

fn cut_repr(repr: String) -> String {
    if repr.chars().count() <= LOCALS_REPR_CHARS {
        return repr;
    }
    let head: String = repr.chars().take(LOCALS_REPR_CHARS).collect();
    format!("{head}...")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A random UUID-4-shaped episode id.
fn episode_id() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    format!(
        "{}-{}-4{}-{}{}-{}",
        hex(8),
        hex(4),
        hex(3),
        ['8', '9', 'a', 'b'][fastrand::usize(0..4)],
        hex(3),
        hex(12)
    )
}
