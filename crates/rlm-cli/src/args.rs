//! Command-line arguments (DESIGN §4). Every limit has a flag named after its field.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run Recursive Language Models over contexts of any size.
#[derive(Debug, Parser)]
#[command(name = "rlm", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer a query over a context file; the answer alone goes to stdout.
    Run(Box<RunArgs>),
    /// Show a trajectory written by `rlm run --trace`: the recursion tree in the terminal,
    /// `--json`, `--html OUT.html`, or `--export-official OUT.jsonl`.
    View(crate::view::ViewArgs),
}

/// The LLM provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    /// Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, OpenRouter, LM Studio, llama.cpp, SGLang).
    Openai,
    /// The Anthropic Messages API (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL).
    Anthropic,
    /// The Google Gemini API (GEMINI_API_KEY, GEMINI_BASE_URL).
    Gemini,
    /// An Azure OpenAI deployment: the model is the deployment name (AZURE_OPENAI_API_KEY,
    /// AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION).
    Azure,
}

/// The REPL sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sandbox {
    /// The embedded Monty interpreter (no Python or Docker needed).
    Monty,
    /// A CPython subprocess confined by the OS (needs python3; strongest when run as root).
    Python,
}

/// `rlm run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The context file (`-` reads standard input). It is loaded into the REPL as `context`.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub context_file: PathBuf,
    /// The question to answer about the context.
    #[arg(long, short = 'q')]
    pub query: String,
    /// The root model: `provider:model` (providers openai, anthropic, gemini, azure; e.g.
    /// `anthropic:claude-sonnet-4-5`) or a model name of the `--provider` (`llama3.1:8b` stays
    /// a model name: only a known provider before the colon counts).
    #[arg(long, short = 'm', env = "RLM_MODEL")]
    pub model: String,
    /// The model for `llm_query` sub-calls, `provider:model` or a name (default: the root model).
    #[arg(long, value_name = "MODEL")]
    pub sub_model: Option<String>,
    /// The base URL of the root model's provider (default: its variable, such as
    /// $OPENAI_BASE_URL, then its public endpoint); it applies to the sub model too when both
    /// use the same provider.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The provider of model names without a `provider:` prefix.
    #[arg(long, value_enum, default_value = "openai")]
    pub provider: Provider,
    /// The REPL sandbox.
    #[arg(long, value_enum, default_value = "monty")]
    pub sandbox: Sandbox,
    /// Recursion depth: 1 makes sub-calls plain LLM calls, 2+ allows child RLMs, 0 disables sub-calls.
    #[arg(long, default_value_t = 1)]
    pub max_depth: u32,
    /// Model turns per run.
    #[arg(long, default_value_t = 30)]
    pub max_iterations: u32,
    /// Concurrent calls per batched sub-call.
    #[arg(long, default_value_t = 8)]
    pub max_batch_workers: usize,
    /// Child RLMs in the whole tree.
    #[arg(long)]
    pub max_children_total: Option<u64>,
    /// Children per `rlm_query_batched` call (the rest get an `Error:` string).
    #[arg(long)]
    pub max_children_per_batch: Option<usize>,
    /// Sub-call results are cut to this many characters.
    #[arg(long)]
    pub result_truncation_limit: Option<usize>,
    /// Hard timeout of one child run, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs)]
    pub per_child_timeout: Option<Duration>,
    /// Wall-clock limit of the whole run, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    /// Token budget (input + output) of the whole tree.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Cost budget in USD of the whole tree.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// A model's price in USD per million tokens, used for the cost budget when the provider
    /// reports no cost: `MODEL=INPUT,CACHED_INPUT,OUTPUT` (repeatable).
    #[arg(long, value_name = "MODEL=IN,CACHED,OUT", value_parser = parse_price)]
    pub price: Vec<(String, rlm::ModelPrice)>,
    /// LLM calls in the whole tree.
    #[arg(long)]
    pub max_llm_calls: Option<u64>,
    /// LLM calls in flight at once across the tree.
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Turns in a row whose code raised before the run stops.
    #[arg(long)]
    pub max_errors: Option<u32>,
    /// Time limit of one code block, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs, default_value = "60")]
    pub execution_timeout: Duration,
    /// Characters of each block's output shown to the model.
    #[arg(long, default_value_t = 20_000)]
    pub observation_limit: usize,
    /// Sampling temperature (root turns; sub-calls too unless --sub-temperature is given).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Sampling temperature of `llm_query` sub-calls to the sub model.
    #[arg(long)]
    pub sub_temperature: Option<f32>,
    /// Deadline of one LLM call including its retries, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs)]
    pub request_timeout: Option<Duration>,
    /// Retries of a failed LLM call.
    #[arg(long)]
    pub max_retries: Option<u32>,
    /// A file whose text replaces the built-in system prompt.
    #[arg(long, value_name = "FILE")]
    pub system_prompt_file: Option<PathBuf>,
    /// Write the trajectory (every event, with conversations, code and output) to this JSON
    /// Lines file as the run goes; read it with `rlm view FILE`.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Put prompts, replies and code into the `tracing` logs (`RUST_LOG=debug`); off by
    /// default because logs may leave the machine.
    #[arg(long)]
    pub log_content: bool,
    /// Print one JSON object (answer, outcome, usage, limits hit, timings) instead of the answer.
    #[arg(long)]
    pub json: bool,
    /// No progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_price(s: &str) -> Result<(String, rlm::ModelPrice), String> {
    let usage = || format!("{s:?} is not MODEL=INPUT,CACHED_INPUT,OUTPUT (USD per million tokens)");
    let (model, prices) = s.split_once('=').ok_or_else(usage)?;
    let numbers: Vec<f64> = prices
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| usage())?;
    match numbers[..] {
        [input, cached_input, output]
            if !model.trim().is_empty() && numbers.iter().all(|n| n.is_finite() && *n >= 0.0) =>
        {
            Ok((
                model.trim().to_string(),
                rlm::ModelPrice {
                    input,
                    cached_input,
                    output,
                },
            ))
        }
        _ => Err(usage()),
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?} must be a positive number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}
