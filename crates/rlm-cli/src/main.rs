//! `rlm`: run a Recursive Language Model over a file of any size.
//!
//! ```text
//! rlm run --context-file book.txt --query "Who is the murderer?" --model gpt-5-mini
//! ```
//!
//! The answer alone goes to stdout (or one JSON object with `--json`); progress and errors go
//! to stderr. Exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | answered (`finished`, or `iteration_limit` with the last-chance answer) |
//! | 1 | the run failed (a model or REPL error) |
//! | 2 | bad command line |
//! | 3 | the context (a file, a directory, JSON) is missing or unreadable; the message names the path |
//! | 4 | the endpoint is unreachable, refused the key, or needs a key that is not set |
//! | 5 | a budget (tokens, cost, calls) stopped the run; the partial answer is printed |
//! | 6 | the run timed out; the partial answer is printed |
//! | 7 | `max_errors` turns in a row raised; the partial answer is printed |
//! | 130 | cancelled with Ctrl-C: the usage so far is printed; a second Ctrl-C exits at once |
//!
//! Layer: the binary; it depends on the facade (`recursive-lm`) only.

mod args;
mod batch;
mod chat;
mod compact;
mod interrupt;
mod live;
mod models;
mod progress;
mod sandbox;
mod serve;
mod stop;
mod telemetry;
mod tools;
mod trace;
mod view;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rlm::{Completion, LlmError, Rlm, RlmError, RunError, RunOutcomeKind};

use crate::args::{Cli, Command, RunArgs, Sandbox};
use crate::progress::Reporter;

/// Meters each Monty session's memory, so `--max-memory` caps it (`rlm::monty::memory`).
#[global_allocator]
static ALLOCATOR: rlm::monty::memory::SessionAllocator = rlm::monty::memory::SessionAllocator;

/// A failure with its exit code and a one-line message saying what to do.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(failure) = telemetry::init(&cli) {
        eprintln!("error: {}", failure.message);
        return ExitCode::from(failure.code);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let args = match cli.command {
        Command::Run(args) => args,
        Command::Chat(args) => {
            let code = match runtime.block_on(chat::run(*args)) {
                Ok(code) => code,
                Err(failure) => {
                    eprintln!("error: {}", failure.message);
                    failure.code
                }
            };
            runtime.shutdown_background();
            interrupt::exit(code)
        }
        Command::Batch(args) => {
            let code = runtime
                .block_on(batch::run(*args))
                .unwrap_or_else(|failure| {
                    eprintln!("error: {}", failure.message);
                    failure.code
                });
            runtime.shutdown_background();
            interrupt::exit(code)
        }
        Command::Serve(args) => {
            let code = runtime
                .block_on(serve::run(*args))
                .unwrap_or_else(|failure| {
                    eprintln!("error: {}", failure.message);
                    failure.code
                });
            // Monty blocks a cancelled step left behind must not hold the exit (see below).
            runtime.shutdown_background();
            telemetry::shutdown(telemetry::ORDERLY);
            return ExitCode::from(code);
        }
        Command::View(args) => {
            return match view::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    eprintln!("error: {}", failure.message);
                    ExitCode::from(failure.code)
                }
            };
        }
    };
    let code = match runtime.block_on(run(*args)) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            failure.code
        }
    };
    // Dropping the runtime would wait for every blocking task, and a Monty block the run
    // abandoned (cancelled, timed out, or a sibling failed) cannot be interrupted: it would hold
    // the exit until its own time limit. The process is ending, so nothing is left to wait for.
    runtime.shutdown_background();
    interrupt::exit(code)
}

async fn run(args: RunArgs) -> Result<u8, Failure> {
    if args.query.trim().is_empty() {
        return Err(Failure::new(
            2,
            "the query is empty: say with --query what to find out about the context",
        ));
    }
    // First, so that Ctrl-C follows the same rules in every state, reading the context included.
    let interrupt = interrupt::Interrupt::install()
        .map_err(|e| {
            eprintln!("[rlm] warning: Ctrl-C cannot be watched ({e}); it will kill the process")
        })
        .ok();
    let loaded = args
        .context
        .load()
        .map_err(|e| Failure::new(e.exit_code(), e.to_string()))?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    if let Some(summary) = loaded.summary.as_ref().filter(|_| !args.quiet) {
        eprintln!("{summary}");
    }
    let context = loaded.context;
    if let Some(warning) = slow_context_warning(context.value(), args.sandbox) {
        eprintln!("{warning}");
    }
    if let rlm::ReplValue::Str(text) = context.value()
        && text.trim().is_empty()
    {
        let source = args
            .context
            .context_file
            .first()
            .or(args.context.context_json.as_ref())
            .map_or_else(|| "-".to_string(), |p| p.display().to_string());
        eprintln!("[rlm] warning: the context ({source}) is empty; the model has nothing to read");
    }
    let models = models::Models::from_args(&args)?;
    sandbox::check(&args).await?;
    let reporter = (!args.quiet)
        .then(|| Reporter::for_stderr(args.limits.run.max_iterations, !args.no_stream));
    let rlm = build_rlm(&args, &models, reporter.as_ref())?;

    // Ctrl-C cancels the whole tree; the result still reports what the run had done (a second
    // Ctrl-C, or a run that does not stop within a second, exits at once: see `interrupt`).
    let stop = interrupt.as_ref().map(interrupt::Interrupt::run_started);
    let ctrl_c = async move {
        match stop {
            Some(stop) => stop.await,
            None => std::future::pending::<()>().await,
        }
    };
    let completion = rlm.completion_until(context, &args.query, ctrl_c).await;
    drop(reporter); // the live tree stops before anything else is printed
    if let Ok(done) = &completion
        && done.kind() == RunOutcomeKind::Cancelled
    {
        let usage = done.total_usage();
        eprintln!(
            "[rlm] cancelled after {:.1}s: {} LLM calls, {} tokens",
            done.duration.as_secs_f64(),
            usage.calls,
            usage.total_tokens()
        );
    }
    match completion {
        Ok(done) => {
            let lines = [
                stop::stop_line(&done, &args.limits.run),
                stop::iteration_limit_warning(&done, &args.limits.run),
            ];
            for line in lines.into_iter().flatten() {
                eprintln!("{line}");
            }
            print_result(&done, args.json, args.trace.as_deref());
            Ok(exit_code(done.kind()))
        }
        Err(RlmError::Failed { completion }) => {
            if args.json {
                print_result(&completion, true, args.trace.as_deref());
            }
            Err(explain_failure(completion.error(), &models))
        }
        Err(e) => Err(Failure::new(1, e.to_string())),
    }
}

/// The configured [`Rlm`] of `rlm run` and `rlm chat`: models, limits, prompts, trajectory,
/// sandbox; `reporter` is subscribed for progress.
fn build_rlm(
    args: &RunArgs,
    models: &models::Models,
    reporter: Option<&Reporter>,
) -> Result<Rlm, Failure> {
    let mut builder = rlm_builder(args, models, args.limits.runner_config())?;
    if let Some(reporter) = reporter {
        builder = builder.subscribe(reporter.sink());
    }
    if let Some(path) = &args.trace {
        let writer = rlm::trajectory::TrajectoryWriter::create(path).map_err(|e| {
            Failure::new(
                3,
                format!("cannot create trace file {}: {e}", path.display()),
            )
        })?;
        let settings = trace::header_settings(
            models.root.provider.name(),
            models.sub.as_ref().map(|sub| sub.provider.name()),
            &format!("{:?}", args.sandbox).to_lowercase(),
            &models.root.endpoint,
            &args.query,
        );
        builder = builder.trajectory_with(Arc::new(writer), settings);
    }
    builder.build().map_err(build_failure)
}

/// The builder shared by `rlm run`, `rlm chat` and each task of `rlm batch`: models, `config`,
/// compaction, sampling, tools, prices, system prompt, content logging and sandbox (no
/// subscribers, no trajectory).
fn rlm_builder(
    args: &RunArgs,
    models: &models::Models,
    config: rlm::RunnerConfig,
) -> Result<rlm::RlmBuilder, Failure> {
    let system_prompt = match &args.system_prompt_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Failure::new(
                3,
                format!("cannot read system prompt file {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let tools = args
        .tools
        .tools()
        .map_err(|(code, message)| Failure::new(code, message))?;
    let mut builder = Rlm::builder(models.root.model.clone())
        .config(config)
        .compaction(args.compaction.compaction())
        .sampling(args.sampling.root())
        .sub_sampling(args.sampling.sub())
        .tools(tools);
    if let Some(sub) = &models.sub {
        builder = builder.sub_model(sub.model.clone());
    }
    for (model, price) in &args.price {
        builder = builder.price(model.clone(), *price);
    }
    if let Some(prompt) = system_prompt {
        builder = builder.system_prompt(prompt);
    }
    builder = builder.trace_content(args.log_content);
    if args.sandbox == Sandbox::Python {
        let options = sandbox::python_options(args);
        builder = builder.repl(Arc::new(rlm::python::PythonReplFactory::with_options(
            options,
        )));
    }
    Ok(builder)
}

/// Contexts above this size get [`slow_context_warning`]'s check.
const SLOW_CONTEXT_BYTES: usize = 10 * 1024 * 1024;

/// One line for a context text over 10 MiB that holds a non-ASCII character (the context, or
/// a document of a dict), on Monty: Monty's `len()` and slicing are O(1) only on ASCII text and
/// walk the whole string otherwise.
fn slow_context_warning(context: &rlm::ReplValue, sandbox: Sandbox) -> Option<String> {
    let slow = |text: &str| text.len() > SLOW_CONTEXT_BYTES && !text.is_ascii();
    let text = match context {
        rlm::ReplValue::Str(text) => Some(text.as_str()).filter(|t| slow(t)),
        rlm::ReplValue::Dict(pairs) => pairs.iter().find_map(|(_, v)| match v {
            rlm::ReplValue::Str(text) if slow(text) => Some(text.as_str()),
            _ => None,
        }),
        _ => None,
    }?;
    (sandbox == Sandbox::Monty).then(|| {
        format!(
            "[rlm] warning: the context ({} MiB) is not pure ASCII, so Monty's len() and slicing walk the whole \
             string each time and chunking it is slow; --sandbox python slices it in constant time",
            text.len() / (1024 * 1024)
        )
    })
}

/// A build error as a usage error; an unpriced model under `--max-cost` says how to price it.
fn build_failure(error: RlmError) -> Failure {
    match error {
        RlmError::UnpricedModels { models } => Failure::new(
            2,
            format!(
                "--max-cost needs a price for every model, and these have none: {}; give each one with \
                 --price MODEL=INPUT,CACHED_INPUT,OUTPUT (USD per million tokens, repeatable), e.g. --price {}=0.15,0.075,0.6",
                models.join(", "),
                models.first().map_or("MODEL", String::as_str)
            ),
        ),
        other => Failure::new(2, args::sampling::explain_build_error(&other)),
    }
}

fn explain_failure(error: Option<&RunError>, models: &models::Models) -> Failure {
    let message = error.map_or_else(|| "unknown error".to_string(), ToString::to_string);
    match error.and_then(RunError::llm_error) {
        Some(LlmError::Connect { url, message }) => Failure::new(
            4,
            format!(
                "could not reach {url}: {message} (is the server running? check --base-url or {})",
                models.provider_of(url).url_var()
            ),
        ),
        Some(LlmError::Authentication { status, .. }) => Failure::new(
            4,
            format!(
                "{} refused the API key (HTTP {status}): set {} to a valid key",
                models.who(),
                models.key_vars()
            ),
        ),
        Some(LlmError::QuotaExhausted { .. }) => Failure::new(
            4,
            format!(
                "{} reports the account's quota is exhausted: check your plan and billing",
                models.who()
            ),
        ),
        _ => Failure::new(1, message),
    }
}

fn exit_code(outcome: RunOutcomeKind) -> u8 {
    match outcome {
        RunOutcomeKind::Finished | RunOutcomeKind::IterationLimit => 0,
        RunOutcomeKind::Budget => 5,
        RunOutcomeKind::Timeout => 6,
        RunOutcomeKind::ErrorLimit => 7,
        RunOutcomeKind::Cancelled => interrupt::CANCELLED,
        _ => 1,
    }
}

fn print_result(done: &Completion, json: bool, trace: Option<&Path>) {
    if json {
        println!("{}", result_json(done, trace));
    } else if !(done.answer().is_empty() && done.kind() == RunOutcomeKind::Cancelled) {
        println!("{}", done.answer());
    }
}

/// The `--json` object of a completion.
fn result_json(done: &Completion, trace: Option<&Path>) -> serde_json::Value {
    serde_json::json!({
            "answer": done.answer(),
            "outcome": done.kind(),
            "iterations": done.iterations,
            "error": done.error().map(ToString::to_string),
            "usage": done.usage,
            "total_usage": done.total_usage(),
            "duration_ms": done.duration.as_millis() as u64,
            "budget": done.budget,
            "child_traces": done.child_traces,
            "trace": trace.map(|p| p.display().to_string()),
    })
}
