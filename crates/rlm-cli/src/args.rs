//! Command-line arguments (`docs/design.md` §4). Every limit has a flag named after its field;
//! the limit flags are grouped by the library bundle they fill ([`LimitArgs`]), and their
//! defaults are that bundle's `Default`, so the CLI states no default of its own.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rlm::core::ReplConfig;
use rlm::{BackendLimits, RunLimits, RunnerConfig};

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
    /// Serve an OpenEnv-compatible REPL environment (WebSocket /ws and HTTP) for RL training.
    Serve(Box<crate::serve::ServeArgs>),
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
    /// The limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// A model's price in USD per million tokens, used for the cost budget when the provider
    /// reports no cost: `MODEL=INPUT,CACHED_INPUT,OUTPUT` (repeatable).
    #[arg(long, value_name = "MODEL=IN,CACHED,OUT", value_parser = parse_price)]
    pub price: Vec<(String, rlm::ModelPrice)>,
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

/// The limit flags, grouped by the library bundle each group fills; [`LimitArgs::runner_config`]
/// turns them into a [`RunnerConfig`].
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// The recursion limits.
    #[command(flatten)]
    pub recursion: RecursionArgs,
    /// The run limits.
    #[command(flatten)]
    pub run: RunLimitArgs,
    /// The per-block limits.
    #[command(flatten)]
    pub block: BlockArgs,
}

impl LimitArgs {
    /// The library's default configuration with these limits.
    pub fn runner_config(&self) -> RunnerConfig {
        let defaults = RunnerConfig::default();
        RunnerConfig {
            run: self.run.clone().into(),
            backend: self.recursion.clone().into(),
            repl: self.block.repl_config(defaults.repl.clone()),
            observation_limit: self.block.observation_limit,
            ..defaults
        }
    }
}

/// Flags of [`BackendLimits`] (the recursion limits); unset flags keep its defaults.
#[derive(Debug, Clone, Args)]
pub struct RecursionArgs {
    /// Recursion depth: 1 makes sub-calls plain LLM calls, 2+ allows child RLMs, 0 disables sub-calls.
    #[arg(long, default_value_t = BackendLimits::default().max_depth)]
    pub max_depth: u32,
    /// Concurrent calls per batched sub-call.
    #[arg(long, default_value_t = BackendLimits::default().max_batch_workers)]
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
}

impl From<RecursionArgs> for BackendLimits {
    fn from(args: RecursionArgs) -> Self {
        let defaults = BackendLimits::default();
        BackendLimits {
            max_depth: args.max_depth,
            max_batch_workers: args.max_batch_workers,
            max_children_total: args.max_children_total.or(defaults.max_children_total),
            max_children_per_batch: args
                .max_children_per_batch
                .or(defaults.max_children_per_batch),
            result_truncation_limit: args
                .result_truncation_limit
                .or(defaults.result_truncation_limit),
            per_child_timeout: args.per_child_timeout.or(defaults.per_child_timeout),
        }
    }
}

/// Flags of [`RunLimits`]; unset flags keep its defaults.
#[derive(Debug, Clone, Args)]
pub struct RunLimitArgs {
    /// Model turns per run.
    #[arg(long, default_value_t = RunLimits::default().max_iterations)]
    pub max_iterations: u32,
    /// Wall-clock limit of the whole run, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    /// Token budget (input + output) of the whole tree.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Cost budget in USD of the whole tree.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// LLM calls in the whole tree.
    #[arg(long)]
    pub max_llm_calls: Option<u64>,
    /// LLM calls in flight at once across the tree.
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Turns in a row whose code raised before the run stops.
    #[arg(long)]
    pub max_errors: Option<u32>,
}

impl From<RunLimitArgs> for RunLimits {
    fn from(args: RunLimitArgs) -> Self {
        let defaults = RunLimits::default();
        RunLimits {
            max_iterations: args.max_iterations,
            timeout: args.timeout.or(defaults.timeout),
            max_tokens: args.max_tokens.or(defaults.max_tokens),
            max_cost: args.max_cost.or(defaults.max_cost),
            max_llm_calls: args.max_llm_calls.or(defaults.max_llm_calls),
            max_concurrency: args.max_concurrency.or(defaults.max_concurrency),
            max_errors: args.max_errors.or(defaults.max_errors),
        }
    }
}

/// Flags of one code block: its time limit ([`ReplConfig`]) and how much of its output the
/// model sees ([`RunnerConfig::observation_limit`]).
#[derive(Debug, Clone, Args)]
pub struct BlockArgs {
    /// Time limit of one code block, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds,
          default_value_t = Seconds(ReplConfig::default().execution_timeout))]
    pub execution_timeout: Seconds,
    /// Characters of each block's output shown to the model.
    #[arg(long, default_value_t = RunnerConfig::default().observation_limit)]
    pub observation_limit: usize,
}

impl BlockArgs {
    /// `repl` with this block time limit.
    pub fn repl_config(&self, repl: ReplConfig) -> ReplConfig {
        ReplConfig {
            execution_timeout: self.execution_timeout.0,
            ..repl
        }
    }
}

/// A positive duration written as a number of seconds (`--help` shows `60`, not `60s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub Duration);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

fn parse_seconds(s: &str) -> Result<Seconds, String> {
    parse_secs(s).map(Seconds)
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

pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?} must be a positive number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn run_args(flags: &[&str]) -> RunArgs {
        let mut argv = vec!["rlm", "run", "-c", "ctx.txt", "-q", "why?", "-m", "m"];
        argv.extend_from_slice(flags);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => *args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let config = run_args(&[]).limits.runner_config();
        let library = RunnerConfig::default();
        assert_eq!(config.run, RunLimits::default());
        assert_eq!(config.backend, BackendLimits::default());
        assert_eq!(config.repl, ReplConfig::default());
        assert_eq!(config.observation_limit, library.observation_limit);
        assert_eq!(format!("{config:?}"), format!("{library:?}"));
    }

    #[test]
    fn help_shows_the_library_defaults() {
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        let backend = BackendLimits::default();
        let repl = ReplConfig::default();
        for (flag, default) in [
            ("--max-depth", backend.max_depth.to_string()),
            ("--max-batch-workers", backend.max_batch_workers.to_string()),
            (
                "--max-iterations",
                RunLimits::default().max_iterations.to_string(),
            ),
            (
                "--execution-timeout",
                repl.execution_timeout.as_secs().to_string(),
            ),
            (
                "--observation-limit",
                RunnerConfig::default().observation_limit.to_string(),
            ),
        ] {
            let at = help.find(&format!("{flag} <")).unwrap();
            let next = help[at..].find("\n  -").map_or(help.len(), |n| at + n);
            assert!(
                help[at..next].contains(&format!("[default: {default}]")),
                "{flag}: {}",
                &help[at..next]
            );
        }
    }

    #[test]
    fn every_limit_flag_reaches_its_field() {
        let args = run_args(&[
            "--max-depth=3",
            "--max-batch-workers=2",
            "--max-children-total=9",
            "--max-children-per-batch=4",
            "--result-truncation-limit=500",
            "--per-child-timeout=1.5",
            "--max-iterations=7",
            "--timeout=90",
            "--max-tokens=1000",
            "--max-cost=0.25",
            "--max-llm-calls=50",
            "--max-concurrency=3",
            "--max-errors=2",
            "--execution-timeout=0.5",
            "--observation-limit=300",
        ]);
        let config = args.limits.runner_config();
        assert_eq!(
            config.backend,
            BackendLimits {
                max_depth: 3,
                max_batch_workers: 2,
                max_children_total: Some(9),
                max_children_per_batch: Some(4),
                result_truncation_limit: Some(500),
                per_child_timeout: Some(Duration::from_millis(1500)),
            }
        );
        assert_eq!(
            config.run,
            RunLimits {
                max_iterations: 7,
                timeout: Some(Duration::from_secs(90)),
                max_tokens: Some(1000),
                max_cost: Some(0.25),
                max_llm_calls: Some(50),
                max_concurrency: Some(3),
                max_errors: Some(2),
            }
        );
        assert_eq!(
            config.repl,
            ReplConfig {
                execution_timeout: Duration::from_millis(500),
                ..ReplConfig::default()
            }
        );
        assert_eq!(config.observation_limit, 300);
    }
}
