//! `rlm batch TASKS.jsonl --out RESULTS.jsonl`: many tasks, run concurrently under one budget,
//! each result appended crash-safely as its task ends, `--resume` after a crash, scoring against
//! expected answers, and a summary table (`docs/cli.md`, `## rlm batch`).
//!
//! Modules: [`tasks`] reads the task file, [`results`] the results file, [`score`] compares
//! answers, [`runner`] runs the tasks, [`progress`] shows them, [`summary`] sums them up.

mod progress;
mod results;
mod runner;
mod score;
mod summary;
mod tasks;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use rlm::limits::{PriceTable, TreeBudget, TreeState};
use rlm::{BackendLimits, RunLimits};

use crate::Failure;
use crate::args::RunArgs;

/// `rlm batch`'s exit codes (its `--help` lists them).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    every task has a result line and answered
  1    every task ran, but some did not answer (failed, or stopped by their own limits), or
       some task lines are malformed (reported with their line numbers; the others ran)
  2    bad command line, no task in the file, or --out already holds results without --resume
  3    the task file cannot be read, or the results file cannot be written
  4    the endpoint is unreachable, refused the key, or needs a key that is not set: the
       batch stopped (the tasks it stopped have no result line and run on --resume)
  5    the batch-wide --max-tokens, --max-cost or --max-llm-calls is spent: the tasks not run
       have no result line (raise the budget and pass --resume)
  130  cancelled with Ctrl-C: running tasks are dropped (they run on --resume)";

/// `rlm batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The task file, JSON Lines: one task per line with `id`, `query`, one of `context`
    /// (inline text or JSON), `context_file` (a path or a list), `context_dir` (with
    /// `include`/`exclude`) or `context_json`, an optional `expected` answer (or a list), and
    /// optional limits `max_iterations`, `max_depth`, `timeout`, `max_tokens`, `max_cost`,
    /// `max_llm_calls`, `max_errors`. Relative paths are read from the task file's folder.
    #[arg(value_name = "TASKS.jsonl")]
    pub tasks: PathBuf,
    /// The results file, JSON Lines: one line per task (id, answer, outcome, usage, cost,
    /// duration, error, trace, correct), appended and synced to disk as each task ends.
    #[arg(long, short = 'o', value_name = "RESULTS.jsonl")]
    pub out: PathBuf,
    /// Tasks run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub concurrency: u64,
    /// Skip the tasks that already have a result line in --out (a torn last line left by a
    /// crash is repaired or dropped) and run the rest.
    #[arg(long)]
    pub resume: bool,
    /// With --resume: run again the tasks whose result did not answer (their lines are removed).
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
    /// How answers are compared with `expected`: exact (after trimming, lower-casing,
    /// collapsing whitespace and dropping a trailing period), contains, or numeric[:TOL] (the
    /// last number of the answer; TOL absolute, or relative with %: numeric:0.01, numeric:1%).
    #[arg(long, value_name = "HOW", default_value = "exact", value_parser = score::parse)]
    pub score: score::Scoring,
    /// Write each task's trajectory to DIR/ID.jsonl (read it with `rlm view`).
    #[arg(long, value_name = "DIR")]
    pub trace_dir: Option<PathBuf>,
    /// Token budget of each task's tree (a task line's `max_tokens` overrides it).
    #[arg(long, value_name = "TOKENS")]
    pub task_max_tokens: Option<u64>,
    /// Cost budget in USD of each task's tree (a task line's `max_cost` overrides it).
    #[arg(long, value_name = "USD")]
    pub task_max_cost: Option<f64>,
    /// LLM calls of each task's tree (a task line's `max_llm_calls` overrides it).
    #[arg(long, value_name = "CALLS")]
    pub task_max_llm_calls: Option<u64>,
    /// The flags of `rlm run`: models, sandbox, tools, sampling and limits. `--max-tokens`,
    /// `--max-cost`, `--max-llm-calls` and `--max-concurrency` are batch-wide; the other
    /// limits apply to each task.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs the batch; the exit code, or a failure before any task ran.
pub async fn run(args: BatchArgs) -> Result<u8, Failure> {
    check_flags(&args)?;
    let interrupt = crate::interrupt::Interrupt::install()
        .map_err(|e| {
            eprintln!("[rlm] warning: Ctrl-C cannot be watched ({e}); it will kill the process")
        })
        .ok();
    let text = std::fs::read_to_string(&args.tasks).map_err(|e| {
        Failure::new(
            3,
            format!("cannot read the task file {}: {e}", args.tasks.display()),
        )
    })?;
    let base = args.tasks.parent().map(PathBuf::from).unwrap_or_default();
    let file = tasks::parse(&text, &base);
    let name = args.tasks.display().to_string();
    for problem in &file.problems {
        eprintln!(
            "[rlm] {name}:{}: {}; skipped",
            problem.line, problem.message
        );
    }
    for (field, line) in &file.unknown_fields {
        eprintln!("[rlm] warning: {name}:{line}: {field:?} is not a task field; ignored");
    }
    if file.tasks.is_empty() {
        return Err(Failure::new(
            2,
            format!("no task in {name}: each line must be a JSON object with \"id\" and \"query\""),
        ));
    }
    let opened = results::open(&args.out, args.resume, args.retry_failed).map_err(|e| {
        let code = if matches!(e, results::OpenError::Exists { .. }) {
            2
        } else {
            3
        };
        Failure::new(code, e.to_string())
    })?;
    for repair in &opened.repairs {
        eprintln!("[rlm] {}: {repair}", args.out.display());
    }
    if let Some(dir) = &args.trace_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(
                3,
                format!("cannot create --trace-dir {}: {e}", dir.display()),
            )
        })?;
    }
    let done: std::collections::HashSet<&str> =
        opened.records.iter().map(|r| r.key.as_str()).collect();
    let pending: Vec<tasks::Task> = file
        .tasks
        .iter()
        .filter(|t| !done.contains(t.key.as_str()))
        .cloned()
        .collect();

    let models = crate::models::Models::from_args(&args.run)?;
    let (state, base_config) = batch_state(&args);
    check_build(&args, &models, &base_config, &file.tasks)?;
    let mut writer = opened.writer;
    let earlier = opened.records;
    let mut progress = progress::BatchProgress::for_stderr(pending.len() as u64, args.run.quiet);
    if !args.run.quiet {
        progress.println(&format!(
            "[rlm] batch: {} task(s) in {name}, {} already in {}, running {} ({} at a time)",
            file.tasks.len(),
            file.tasks.len() - pending.len(),
            args.out.display(),
            pending.len(),
            args.concurrency
        ));
    }
    let started = std::time::Instant::now();
    let stop = interrupt
        .as_ref()
        .map(crate::interrupt::Interrupt::run_started);
    let stop = async move {
        match stop {
            Some(stop) => stop.await,
            None => std::future::pending::<()>().await,
        }
    };
    let shared = Arc::new(runner::Shared::new(
        args,
        models,
        base_config,
        state.clone(),
    ));
    let report = runner::run_all(shared.clone(), pending, &mut writer, &mut progress, stop).await;
    progress.finish();
    let report = report?;
    let args = &shared.args;
    let summary = summary::Summary::new(&file, &earlier, &report, started.elapsed(), args.score);
    eprint!("{}", summary.table(&name, &args.out.display().to_string()));
    if args.run.json {
        println!("{}", summary.json());
    }
    Ok(match report.stopped {
        Some(runner::Stopped::Cancelled) => {
            eprintln!(
                "[rlm] cancelled: the tasks that were running have no result line; --resume runs them"
            );
            crate::interrupt::CANCELLED
        }
        Some(runner::Stopped::Fatal(failure)) => {
            eprintln!("error: {}", failure.message);
            failure.code
        }
        Some(runner::Stopped::Budget) => {
            eprintln!(
                "{}",
                summary::budget_line(&state, &args.run.limits.run, report.not_run)
            );
            5
        }
        None if summary.failed > 0 || !file.problems.is_empty() => 1,
        None => 0,
    })
}

/// Refuses the `rlm run` flags that have no meaning in a batch.
fn check_flags(args: &BatchArgs) -> Result<(), Failure> {
    if args.run.context.is_given() {
        return Err(Failure::new(
            2,
            "rlm batch takes each task's context from its line (context, context_file, context_dir or context_json), not from --context-file, --context-dir or --context-json",
        ));
    }
    if !args.run.query.is_empty() {
        return Err(Failure::new(
            2,
            "rlm batch takes each task's query from its line; --query is for rlm run",
        ));
    }
    if args.run.trace.is_some() {
        return Err(Failure::new(
            2,
            "rlm batch writes one trajectory per task: use --trace-dir DIR instead of --trace",
        ));
    }
    Ok(())
}

/// The batch-wide state (its budget and concurrency cap from the run flags), and each task's
/// base configuration: the flags without those batch-wide limits.
fn batch_state(args: &BatchArgs) -> (Arc<TreeState>, rlm::RunnerConfig) {
    let config = args.run.limits.runner_config();
    let global = RunLimits {
        max_tokens: config.run.max_tokens,
        max_cost: config.run.max_cost,
        max_llm_calls: config.run.max_llm_calls,
        max_concurrency: config.run.max_concurrency,
        ..RunLimits::default()
    };
    let prices = args
        .run
        .price
        .iter()
        .fold(PriceTable::default(), |table, (model, price)| {
            table.with(model.clone(), *price)
        });
    let state = Arc::new(TreeState::new(
        TreeBudget::new(&global, &BackendLimits::default()),
        prices,
    ));
    let mut base = config;
    base.run.max_tokens = None;
    base.run.max_cost = None;
    base.run.max_llm_calls = None;
    base.run.max_concurrency = None;
    (state, base)
}

/// Builds one Rlm before any task runs, so a bad setting (tools, sampling, a model without a
/// price under a cost limit) is a usage error, not a failure of every task.
fn check_build(
    args: &BatchArgs,
    models: &crate::models::Models,
    base: &rlm::RunnerConfig,
    tasks: &[tasks::Task],
) -> Result<(), Failure> {
    let mut probe = base.clone();
    let cost_limited = args.run.limits.run.max_cost.is_some()
        || args.task_max_cost.is_some()
        || tasks.iter().any(|t| t.limits.max_cost.is_some());
    if cost_limited {
        probe.run.max_cost = Some(1.0);
    }
    crate::rlm_builder(&args.run, models, probe)?
        .build()
        .map(drop)
        .map_err(crate::build_failure)
}
