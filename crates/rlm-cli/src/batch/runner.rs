//! Running the tasks of `rlm batch`: up to `--concurrency` at once, each a fresh [`rlm::Rlm`]
//! with its own limits, all under one batch-wide budget.
//!
//! The batch-wide limits (`--max-tokens`, `--max-cost`, `--max-llm-calls`,
//! `--max-concurrency`) are one [`TreeState`] whose [`Budgeted`] decorator wraps the models
//! once; every task's tree calls through it, so its counters and its concurrency cap are shared
//! by the whole batch, while each task's own tree (its own `Budgeted` layer, built by the
//! runner) enforces the per-task limits. When the batch budget is spent, no task starts any
//! more, and the tasks it stopped are not recorded (they run on `--resume`). An error that would
//! fail every task (an unreachable endpoint, a refused key, an exhausted quota) stops the batch
//! the same way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rlm::limits::{Budgeted, TreeState};
use rlm::{Completion, Context, RlmError, RunOutcomeKind, RunnerConfig, Usage};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::BatchArgs;
use super::progress::{BatchProgress, Counts};
use super::results::{Record, ResultsWriter};
use super::score::Scoring;
use super::tasks::{ContextSource, Task, TaskLimits};
use crate::Failure;
use crate::args::context::ContextArgs;
use crate::models::Models;

/// What every task shares.
pub struct Shared {
    /// The command line (its run flags configure each task's Rlm).
    pub args: BatchArgs,
    /// The models, wrapped in the batch-wide [`Budgeted`] layer.
    pub models: Models,
    /// Each task's configuration before its own limits: the flags, without the batch-wide ones.
    pub base: RunnerConfig,
    /// The batch-wide budget and concurrency cap.
    pub state: Arc<TreeState>,
}

impl Shared {
    /// `models` wrapped under `state`, for every task.
    pub fn new(
        args: BatchArgs,
        mut models: Models,
        base: RunnerConfig,
        state: Arc<TreeState>,
    ) -> Self {
        models.root.model = Arc::new(Budgeted::new(models.root.model.clone(), state.clone()));
        if let Some(sub) = models.sub.as_mut() {
            sub.model = Arc::new(Budgeted::new(sub.model.clone(), state.clone()));
        }
        Self {
            args,
            models,
            base,
            state,
        }
    }

    /// A task's configuration: its line's limits, else the `--task-max-*` flags, else the run
    /// flags.
    pub fn config(&self, limits: &TaskLimits) -> RunnerConfig {
        let mut config = self.base.clone();
        if let Some(n) = limits.max_iterations {
            config.run.max_iterations = n;
        }
        if let Some(d) = limits.max_depth {
            config.backend.max_depth = d;
        }
        config.run.timeout = limits.timeout.or(config.run.timeout);
        config.run.max_tokens = limits.max_tokens.or(self.args.task_max_tokens);
        config.run.max_cost = limits.max_cost.or(self.args.task_max_cost);
        config.run.max_llm_calls = limits.max_llm_calls.or(self.args.task_max_llm_calls);
        config.run.max_errors = limits.max_errors.or(config.run.max_errors);
        config
    }

    fn scoring(&self) -> Scoring {
        self.args.score
    }
}

/// How one task ended.
pub enum TaskEnd {
    /// It has a result line.
    Recorded {
        /// The line.
        value: Value,
        /// What the summary needs of it.
        record: Record,
        /// Warnings about its context.
        warnings: Vec<String>,
    },
    /// The batch-wide budget stopped it: not recorded.
    BatchBudget,
    /// An error that fails every task (exit 4): not recorded.
    Fatal(Failure),
}

/// Why the batch stopped before every task ran.
pub enum Stopped {
    /// The batch-wide budget is spent.
    Budget,
    /// An error that fails every task.
    Fatal(Failure),
    /// Ctrl-C.
    Cancelled,
}

/// What a batch run did.
#[derive(Default)]
pub struct Report {
    /// The result lines written by this run.
    pub records: Vec<Record>,
    /// Tasks left without a result line (stopped, or never started).
    pub not_run: usize,
    /// Why the batch stopped early.
    pub stopped: Option<Stopped>,
}

/// Runs `tasks`, appending each result to `writer` as it ends.
///
/// # Errors
/// The results file could not be written (exit 3): the batch stops at once.
pub async fn run_all(
    shared: Arc<Shared>,
    tasks: Vec<Task>,
    writer: &mut ResultsWriter,
    progress: &mut BatchProgress,
    stop: impl Future<Output = ()>,
) -> Result<Report, Failure> {
    let concurrency = usize::try_from(shared.args.concurrency).unwrap_or(usize::MAX);
    let mut queue = tasks.into_iter();
    let mut running: JoinSet<TaskEnd> = JoinSet::new();
    let mut report = Report::default();
    let mut counts = Counts::default();
    let mut stop = std::pin::pin!(stop);
    loop {
        while report.stopped.is_none() && running.len() < concurrency {
            let Some(task) = queue.next() else { break };
            running.spawn(run_task(shared.clone(), task));
            counts.running += 1;
            progress.started(counts);
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            () = &mut stop, if report.stopped.is_none() => {
                report.stopped = Some(Stopped::Cancelled);
                running.abort_all();
                continue;
            }
        };
        let Some(joined) = joined else { break };
        counts.running = counts.running.saturating_sub(1);
        match joined {
            Ok(TaskEnd::Recorded {
                value,
                record,
                warnings,
            }) => {
                for warning in warnings {
                    progress.println(&warning);
                }
                writer
                    .append(&value)
                    .map_err(|e| Failure::new(3, e.to_string()))?;
                if record.answered() {
                    counts.done += 1;
                } else {
                    counts.failed += 1;
                }
                counts.cost += record.cost.unwrap_or(0.0);
                progress.ended(&ended_line(&record, &value), counts);
                report.records.push(record);
            }
            Ok(TaskEnd::BatchBudget) => {
                report.not_run += 1;
                if report.stopped.is_none() {
                    report.stopped = Some(Stopped::Budget);
                }
            }
            Ok(TaskEnd::Fatal(failure)) => {
                report.not_run += 1;
                if !matches!(report.stopped, Some(Stopped::Fatal(_) | Stopped::Cancelled)) {
                    report.stopped = Some(Stopped::Fatal(failure));
                    running.abort_all();
                }
            }
            // Aborted (Ctrl-C, a fatal error) before it ended.
            Err(_) => report.not_run += 1,
        }
    }
    report.not_run += queue.count();
    Ok(report)
}

/// `t3: finished in 1.2 s, correct`.
fn ended_line(record: &Record, value: &Value) -> String {
    let score = match record.correct {
        Some(true) => ", correct",
        Some(false) => ", wrong",
        None => "",
    };
    let error = value
        .get("error")
        .and_then(Value::as_str)
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    format!(
        "{}: {} in {:.1} s{score}{error}",
        record.key,
        record.outcome,
        record.duration_ms as f64 / 1000.0
    )
}

async fn run_task(shared: Arc<Shared>, task: Task) -> TaskEnd {
    let started = Instant::now();
    let source = task.context.clone();
    let loaded = tokio::task::spawn_blocking(move || load(source))
        .await
        .unwrap_or_else(|e| Err(format!("loading the context failed: {e}")));
    let (context, warnings) = match loaded {
        Ok(loaded) => loaded,
        Err(message) => return recorded(&shared, &task, None, Some(message), started, Vec::new()),
    };
    let trace = shared
        .args
        .trace_dir
        .as_ref()
        .map(|dir| trace_path(dir, &task));
    let rlm = match build(&shared, &task, trace.as_ref()) {
        Ok(rlm) => rlm,
        Err(message) => return recorded(&shared, &task, None, Some(message), started, warnings),
    };
    match rlm.completion(context, &task.query).await {
        Ok(done) if done.kind() == RunOutcomeKind::Budget && shared.state.is_halted() => {
            TaskEnd::BatchBudget
        }
        Ok(done) => recorded(
            &shared,
            &task,
            Some((&done, trace)),
            None,
            started,
            warnings,
        ),
        Err(RlmError::Failed { completion }) => {
            let failure = crate::explain_failure(completion.error(), &shared.models);
            if failure.code == 4 {
                return TaskEnd::Fatal(failure);
            }
            recorded(
                &shared,
                &task,
                Some((&completion, trace)),
                None,
                started,
                warnings,
            )
        }
        Err(e) => recorded(&shared, &task, None, Some(e.to_string()), started, warnings),
    }
}

/// The task's Rlm: the run flags, its limits, and its trajectory file.
fn build(shared: &Shared, task: &Task, trace: Option<&PathBuf>) -> Result<rlm::Rlm, String> {
    let run = &shared.args.run;
    let mut builder = crate::rlm_builder(run, &shared.models, shared.config(&task.limits))
        .map_err(|f| f.message)?;
    if let Some(path) = trace {
        let writer = rlm::trajectory::TrajectoryWriter::create(path)
            .map_err(|e| format!("cannot create trace file {}: {e}", path.display()))?;
        let mut settings = crate::trace::header_settings(
            shared.models.root.provider.name(),
            shared.models.sub.as_ref().map(|sub| sub.provider.name()),
            &format!("{:?}", run.sandbox).to_lowercase(),
            &shared.models.root.endpoint,
            &task.query,
        );
        if let Some(object) = settings.as_object_mut() {
            object.insert("batch_task".into(), task.id.clone());
        }
        builder = builder.trajectory_with(Arc::new(writer), settings);
    }
    builder.build().map_err(|e| crate::build_failure(e).message)
}

/// `DIR/ID.jsonl`; an id with characters other than letters, digits, `.`, `-` and `_` has them
/// replaced by `_` and its line number added, so two ids never share a file.
fn trace_path(dir: &std::path::Path, task: &Task) -> PathBuf {
    let safe: String = task
        .key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = if safe == task.key && !safe.starts_with('.') {
        safe
    } else {
        format!("{safe}-L{}", task.line)
    };
    dir.join(format!("{name}.jsonl"))
}

/// Reads a task's context (on a blocking thread: folders can be large).
fn load(source: ContextSource) -> Result<(Context, Vec<String>), String> {
    let args = match source {
        ContextSource::Inline(Value::String(text)) => return Ok((Context::from(text), Vec::new())),
        ContextSource::Inline(value) => return Ok((Context::from(value), Vec::new())),
        ContextSource::Empty => return Ok((Context::from(""), Vec::new())),
        ContextSource::Files(files) => ContextArgs {
            context_file: files,
            ..ContextArgs::default()
        },
        ContextSource::Dir {
            dir,
            include,
            exclude,
        } => ContextArgs {
            context_dir: Some(dir),
            include,
            exclude,
            ..ContextArgs::default()
        },
        ContextSource::Json(path) => ContextArgs {
            context_json: Some(path),
            ..ContextArgs::default()
        },
    };
    // The library's message, without the CLI's hints about flags a task file does not use.
    let loaded = args.load().map_err(|e| match e {
        crate::args::context::LoadError::Context(inner) => inner.to_string(),
        other => other.to_string(),
    })?;
    Ok((loaded.context, loaded.warnings))
}

/// The result line of a task: from its completion, or from an error before it could run.
fn recorded(
    shared: &Shared,
    task: &Task,
    done: Option<(&Completion, Option<PathBuf>)>,
    error: Option<String>,
    started: Instant,
    warnings: Vec<String>,
) -> TaskEnd {
    let duration_ms = started.elapsed().as_millis() as u64;
    let mut value = match done {
        Some((done, trace)) => {
            let total = done.total_usage();
            json!({
                "id": task.id,
                "answer": done.answer(),
                "outcome": done.kind(),
                "iterations": done.iterations,
                "error": done.error().map(ToString::to_string),
                "usage": done.usage,
                "total_usage": total,
                "cost": total.cost,
                "duration_ms": duration_ms,
                "trace": trace.map(|p| p.display().to_string()),
            })
        }
        None => json!({
            "id": task.id,
            "answer": "",
            "outcome": RunOutcomeKind::Failed,
            "iterations": 0,
            "error": error,
            "usage": {},
            "total_usage": Usage::default(),
            "cost": null,
            "duration_ms": duration_ms,
            "trace": null,
        }),
    };
    let answer = value.get("answer").and_then(Value::as_str).unwrap_or("");
    if let Some(correct) = shared.scoring().score(answer, &task.expected)
        && let Some(object) = value.as_object_mut()
    {
        object.insert("correct".into(), Value::Bool(correct));
    }
    match Record::from_value(&value) {
        Some(record) => TaskEnd::Recorded {
            value,
            record,
            warnings,
        },
        // Cannot happen: the line above has an id; kept total rather than panicking.
        None => TaskEnd::Fatal(Failure::new(1, "a result line without an id")),
    }
}
