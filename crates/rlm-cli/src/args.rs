//! Command-line arguments (`docs/design.md` §4). Every limit has a flag named after its field;
//! the limit flags are grouped by the library bundle they fill ([`LimitArgs`]), and their
//! defaults are that bundle's `Default`, so the CLI states no default of its own.

pub mod sampling;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub mod context;

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
    /// Span export to an OpenTelemetry collector (`--otlp-endpoint`).
    #[cfg(feature = "otlp")]
    #[command(flatten)]
    pub otlp: crate::telemetry::OtlpArgs,
}

/// `rlm run --help`'s list of exit codes (the crate docs of `main.rs` hold the same table).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    answered (finished, or max_iterations reached with the last-chance answer)
  1    the run failed (a model or REPL error)
  2    bad command line
  3    the context (a file, a directory, JSON) is missing or unreadable
  4    the endpoint is unreachable, refused the key, or needs a key that is not set
  5    a budget (tokens, cost, calls) stopped the run; the partial answer is printed
  6    the run timed out; the partial answer is printed
  7    max_errors turns in a row raised; the partial answer is printed
  130  cancelled with Ctrl-C; the usage so far is printed";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer a query over a context (files, a folder, JSON or standard input); the answer alone
    /// goes to stdout.
    #[command(after_help = EXIT_CODES, allow_negative_numbers = true)]
    Run(Box<RunArgs>),
    /// Ask questions about a context in one session (the REPL and its variables are kept):
    /// interactive on a terminal; from a pipe, one question per line in and one answer per line
    /// out. Takes the flags of `run`; `--query` is asked first; `--json` prints one JSON object
    /// per answer.
    #[command(mut_arg("query", |a| a.required(false).default_value("")))]
    Chat(Box<RunArgs>),
    /// Run many tasks from a JSON Lines file concurrently, under one budget: each result is
    /// appended to --out as its task ends; --resume continues after a crash; answers are scored
    /// against `expected`.
    #[command(
        after_help = crate::batch::EXIT_CODES,
        allow_negative_numbers = true,
        mut_arg("query", |a| a.required(false).default_value("").hide(true)),
        mut_arg("trace", |a| a.hide(true)),
        mut_arg("context_file", |a| a.hide(true)),
        mut_arg("context_dir", |a| a.hide(true)),
        mut_arg("include", |a| a.hide(true)),
        mut_arg("exclude", |a| a.hide(true)),
        mut_arg("no_ignore", |a| a.hide(true)),
        mut_arg("context_json", |a| a.hide(true)),
        mut_arg("json", |a| a.help("Print the summary as one JSON object on stdout")),
        mut_arg("max_tokens", |a| a.help("Token budget of the whole batch (every task's tree together); --task-max-tokens caps each task")),
        mut_arg("max_cost", |a| a.help("Cost budget in USD of the whole batch; --task-max-cost caps each task. Every model needs a known price (the built-in table or --price)")),
        mut_arg("max_llm_calls", |a| a.help("LLM calls of the whole batch; --task-max-llm-calls caps each task")),
        mut_arg("max_concurrency", |a| a.help("LLM calls in flight at once across the whole batch")),
    )]
    Batch(Box<crate::batch::BatchArgs>),
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
    /// The context: files, a directory or JSON, loaded into the REPL as `context`.
    #[command(flatten)]
    pub context: context::ContextArgs,
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
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    pub base_url: Option<String>,
    /// The provider of model names without a `provider:` prefix.
    #[arg(long, value_enum, default_value = "openai")]
    pub provider: Provider,
    /// The REPL sandbox.
    #[arg(long, value_enum, default_value = "monty")]
    pub sandbox: Sandbox,
    /// The interpreter of `--sandbox python`: a path, or a name on PATH (default: python3).
    #[arg(long, value_name = "PATH", env = "RLM_PYTHON")]
    pub python: Option<PathBuf>,
    /// The limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Custom tools and data (`--tool`, `--tool-data`, `--tool-description`).
    #[command(flatten)]
    pub tools: crate::tools::ToolFlags,
    /// Compaction of long conversations.
    #[command(flatten)]
    pub compaction: crate::compact::CompactionArgs,
    /// A model's price in USD per million tokens, used for costs and the cost budget when the
    /// provider reports no cost: `MODEL=INPUT,CACHED_INPUT,OUTPUT` (repeatable). It overrides
    /// the built-in table of OpenAI, Anthropic and Gemini prices (dated; check it).
    #[arg(long, value_name = "MODEL=IN,CACHED,OUT", value_parser = parse_price)]
    pub price: Vec<(String, rlm::ModelPrice)>,
    /// The sampling flags of the root model and of sub-calls.
    #[command(flatten)]
    pub sampling: sampling::SamplingArgs,
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
    /// Do not stream the root model's replies into the live view. On a terminal they stream
    /// by default (token by token, over server-sent events); off a terminal, or with
    /// `--quiet`, nothing streams.
    #[arg(long)]
    pub no_stream: bool,
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
    /// Cost budget in USD of the whole tree. Every model of the run needs a known price (the
    /// built-in table or --price), else the run does not start.
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
    /// Memory one REPL session's code may hold; past it the code gets MemoryError and the run
    /// goes on. The context does not count. Bytes, or a number with K, M, G or T (powers of
    /// 1024: 512M, 2G, 2GiB, 1.5G), from 16M to 1T. Each child RLM has its own session and cap.
    /// With --sandbox python it is the interpreter's address-space limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_memory,
          default_value_t = Bytes(ReplConfig::default().max_memory))]
    pub max_memory: Bytes,
}

impl BlockArgs {
    /// `repl` with this block time limit and memory cap.
    pub fn repl_config(&self, repl: ReplConfig) -> ReplConfig {
        ReplConfig {
            execution_timeout: self.execution_timeout.0,
            max_memory: self.max_memory.0,
            ..repl
        }
    }
}

/// A size in bytes (`--help` shows `2GiB`, not `2147483648`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
        match units
            .iter()
            .find(|(shift, _)| self.0 >= 1 << shift && self.0.is_multiple_of(1 << shift))
        {
            Some((shift, unit)) => write!(f, "{}{unit}", self.0 >> shift),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The range `--max-memory` accepts: below 16 MiB the runtime's own state does not fit.
const MAX_MEMORY_RANGE: std::ops::RangeInclusive<usize> = (16 << 20)..=(1 << 40);

fn parse_max_memory(s: &str) -> Result<Bytes, String> {
    let bytes = parse_bytes(s)?;
    if !MAX_MEMORY_RANGE.contains(&bytes) {
        return Err(format!(
            "{s:?} is out of range: the cap must be between {} and {}",
            Bytes(*MAX_MEMORY_RANGE.start()),
            Bytes(*MAX_MEMORY_RANGE.end())
        ));
    }
    Ok(Bytes(bytes))
}

/// `1073741824`, `512M`, `2G`, `2GiB`, `2gb`, `1.5G`: K, M, G and T are powers of 1024.
fn parse_bytes(s: &str) -> Result<usize, String> {
    let usage = || format!("{s:?} is not a size (bytes, or a number with K, M, G or T: 512M, 2G)");
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(usage()),
    };
    let value: f64 = number.parse().map_err(|_| usage())?;
    let bytes = (value * (1u64 << shift) as f64).round();
    if !bytes.is_finite() || bytes < 0.0 || bytes >= usize::MAX as f64 {
        return Err(usage());
    }
    // In range and rounded above, so the conversion is exact.
    Ok(bytes as usize)
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

/// An `http://` or `https://` URL with a host (`http://127.0.0.1:8000/v1`).
fn parse_base_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| {
            "must start with http:// or https://, such as http://127.0.0.1:8000/v1".to_string()
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') || host.contains(char::is_whitespace) {
        return Err(format!(
            "{s:?} has no host, such as http://127.0.0.1:8000/v1"
        ));
    }
    Ok(s.to_string())
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
            ("--max-memory", "2GiB".to_string()),
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
    fn max_memory_takes_sizes_and_checks_the_range() {
        for (flag, bytes) in [
            ("512M", 512 << 20),
            ("2G", 2 << 30),
            ("2GiB", 2 << 30),
            ("2gb", 2 << 30),
            ("1.5G", 3 << 29),
            ("1073741824", 1 << 30),
            ("16M", 16 << 20),
            ("1T", 1 << 40),
            (" 64 MiB ", 64 << 20),
        ] {
            let config = run_args(&["--max-memory", flag]).limits.runner_config();
            assert_eq!(config.repl.max_memory, bytes, "{flag}");
        }
        assert_eq!(
            run_args(&[]).limits.runner_config().repl.max_memory,
            ReplConfig::default().max_memory
        );
        for bad in ["", "lots", "2X", "-1G", "1e3", "15M", "2T", "G", "1..5G"] {
            let flag = format!("--max-memory={bad}");
            let argv = ["rlm", "run", "-c", "c", "-q", "q", "-m", "m", &flag];
            let error = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(error.contains("--max-memory"), "{bad}: {error}");
        }
        assert_eq!(Bytes(2 << 30).to_string(), "2GiB");
        assert_eq!(Bytes(3 << 29).to_string(), "1536MiB");
        assert_eq!(Bytes(1000).to_string(), "1000");
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
