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
//! | 3 | the context file is missing or unreadable |
//! | 4 | the endpoint is unreachable, refused the key, or needs a key that is not set |
//! | 5 | a budget (tokens, cost, calls) stopped the run; the partial answer is printed |
//! | 6 | the run timed out; the partial answer is printed |
//! | 7 | `max_errors` turns in a row raised; the partial answer is printed |
//! | 130 | cancelled with Ctrl-C |
//!
//! Layer: the binary; it depends on the facade (`recursive-lm`) only.

mod args;
mod progress;

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rlm::openai::OpenAiClient;
use rlm::{Completion, LlmError, Rlm, RlmError, RunOutcomeKind};

use crate::args::{Cli, Command, RunArgs};
use crate::progress::{Progress, TraceFile};

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
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .try_init();
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
    let Command::Run(args) = cli.command;
    match runtime.block_on(run(*args)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(args: RunArgs) -> Result<u8, Failure> {
    let context = read_context(&args.context_file)?;
    let system_prompt = match &args.system_prompt_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            Failure::new(
                3,
                format!("cannot read system prompt file {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let root = Arc::new(client(&args, &args.model)?);
    let endpoint = root.endpoint().to_string();
    let mut builder = Rlm::builder(root)
        .max_depth(args.max_depth)
        .max_iterations(args.max_iterations)
        .max_batch_workers(args.max_batch_workers)
        .max_children_total(args.max_children_total)
        .max_children_per_batch(args.max_children_per_batch)
        .result_truncation_limit(args.result_truncation_limit)
        .per_child_timeout(args.per_child_timeout)
        .timeout(args.timeout)
        .max_tokens(args.max_tokens)
        .max_cost(args.max_cost)
        .max_llm_calls(args.max_llm_calls)
        .max_concurrency(args.max_concurrency)
        .max_errors(args.max_errors)
        .execution_timeout(args.execution_timeout)
        .observation_limit(args.observation_limit)
        .temperature(args.temperature);
    if let Some(sub) = &args.sub_model {
        builder = builder.sub_model(Arc::new(client(&args, sub)?));
    }
    if let Some(prompt) = system_prompt {
        builder = builder.system_prompt(prompt);
    }
    if !args.quiet {
        builder = builder.subscribe(Arc::new(Progress));
    }
    if let Some(path) = &args.trace {
        let trace = TraceFile::create(path).map_err(|e| {
            Failure::new(
                3,
                format!("cannot create trace file {}: {e}", path.display()),
            )
        })?;
        builder = builder.subscribe(Arc::new(trace));
    }
    let rlm = builder
        .build()
        .map_err(|e| Failure::new(2, e.to_string()))?;

    let completion = tokio::select! {
        result = rlm.completion(context, &args.query) => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("[rlm] cancelled");
            return Ok(130);
        }
    };
    match completion {
        Ok(done) => {
            print_result(&done, args.json);
            Ok(exit_code(done.outcome))
        }
        Err(RlmError::Failed {
            message,
            completion,
        }) => {
            if args.json {
                print_result(&completion, true);
            }
            Err(explain_failure(
                &message,
                completion.llm_error.as_ref(),
                &endpoint,
            ))
        }
        Err(e) => Err(Failure::new(1, e.to_string())),
    }
}

fn client(args: &RunArgs, model: &str) -> Result<OpenAiClient, Failure> {
    let mut builder = OpenAiClient::builder(model).env();
    if let Some(url) = &args.base_url {
        builder = builder.base_url(url.clone());
    }
    if let Some(timeout) = args.request_timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(retries) = args.max_retries {
        builder = builder.retry_policy(rlm::limits::RetryPolicy {
            max_retries: retries,
            ..Default::default()
        });
    }
    builder.build().map_err(|e| match e {
        LlmError::Config { message } => Failure::new(4, message),
        other => Failure::new(4, other.to_string()),
    })
}

/// Reads the context with one copy in memory: the file's bytes become the string in place.
fn read_context(path: &Path) -> Result<String, Failure> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| {
            Failure::new(
                3,
                format!("cannot read the context from standard input: {e}"),
            )
        })?;
        buf
    } else {
        std::fs::read(path).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => " (check the path given to --context-file)",
                std::io::ErrorKind::PermissionDenied => " (check the file's permissions)",
                _ => "",
            };
            Failure::new(
                3,
                format!("cannot read context file {}: {e}{hint}", path.display()),
            )
        })?
    };
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            eprintln!(
                "[rlm] warning: {} is not valid UTF-8; invalid bytes were replaced with U+FFFD",
                path.display()
            );
            Ok(String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
    }
}

fn explain_failure(message: &str, error: Option<&LlmError>, endpoint: &str) -> Failure {
    match error {
        Some(LlmError::Connect { url, message }) => Failure::new(
            4,
            format!(
                "could not reach {url}: {message} (is the server running? check --base-url or OPENAI_BASE_URL)"
            ),
        ),
        Some(LlmError::Authentication { status, .. }) => Failure::new(
            4,
            format!(
                "{endpoint} refused the API key (HTTP {status}): set OPENAI_API_KEY to a valid key"
            ),
        ),
        Some(LlmError::QuotaExhausted { .. }) => Failure::new(
            4,
            format!(
                "{endpoint} reports the account's quota is exhausted: check your plan and billing"
            ),
        ),
        _ => Failure::new(1, message.to_string()),
    }
}

fn exit_code(outcome: RunOutcomeKind) -> u8 {
    match outcome {
        RunOutcomeKind::Finished | RunOutcomeKind::IterationLimit => 0,
        RunOutcomeKind::Budget => 5,
        RunOutcomeKind::Timeout => 6,
        RunOutcomeKind::ErrorLimit => 7,
        RunOutcomeKind::Cancelled => 130,
        _ => 1,
    }
}

fn print_result(done: &Completion, json: bool) {
    if json {
        let value = serde_json::json!({
            "answer": done.answer,
            "outcome": done.outcome,
            "iterations": done.iterations,
            "error": done.error,
            "usage": done.usage,
            "total_usage": done.total_usage(),
            "duration_ms": done.duration.as_millis() as u64,
            "budget": done.budget,
            "child_traces": done.child_traces,
        });
        println!("{value}");
    } else {
        println!("{}", done.answer);
    }
}
