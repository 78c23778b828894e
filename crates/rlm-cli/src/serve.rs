//! `rlm serve`: an OpenEnv-compatible REPL environment server (the `rlm-server` crate) with
//! the models and limits of the command line. Binds 127.0.0.1 unless told otherwise; another
//! address needs `--token` (or `$RLM_SERVE_TOKEN`) or an explicit `--insecure`. SIGTERM or
//! Ctrl-C drains: no new connections, idle sessions closed, running steps finish within
//! `--drain-grace`, then the rest are cancelled and the process exits 0.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use rlm_server::{EnvSettings, Outcome, Rubric, Server, ServerConfig};

use crate::Failure;
use crate::args::{LimitArgs, Provider, Sandbox, parse_secs};
use crate::models::{ModelFlags, Models};

/// `rlm serve`.
#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct ServeArgs {
    /// The address to bind. Anything but loopback needs --token or --insecure.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The port (0 picks a free one; the address is printed on stderr).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// The model of `llm_query` sub-calls and child RLMs: `provider:model` or a model name of
    /// `--provider`.
    #[arg(long, short = 'm', env = "RLM_MODEL")]
    pub model: String,
    /// The model for `llm_query` sub-calls (default: --model).
    #[arg(long, value_name = "MODEL")]
    pub sub_model: Option<String>,
    /// The base URL of the model's provider (default: its variable, such as $OPENAI_BASE_URL).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The provider of model names without a `provider:` prefix.
    #[arg(long, value_enum, default_value = "openai")]
    pub provider: Provider,
    /// The REPL sandbox of each session.
    #[arg(long, value_enum, default_value = "monty")]
    pub sandbox: Sandbox,
    /// The interpreter of `--sandbox python`: a path, or a name on PATH (default: python3).
    #[arg(long, value_name = "PATH", env = "RLM_PYTHON")]
    pub python: Option<std::path::PathBuf>,
    /// Sessions open at once; the next client gets a CAPACITY_REACHED error.
    #[arg(long, default_value_t = 1024)]
    pub max_sessions: usize,
    /// Seconds without a message before a session is closed.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs, default_value = "600")]
    pub idle_timeout: Duration,
    /// Largest request body or WebSocket message, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_message_bytes: usize,
    /// Bearer token required on every request and WebSocket upgrade (/health excepted).
    /// Prefer $RLM_SERVE_TOKEN: command lines are visible to other users.
    #[arg(long, env = "RLM_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve a non-loopback address without a token.
    #[arg(long)]
    pub insecure: bool,
    /// Seconds running steps get to finish after SIGTERM before they are cancelled.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs, default_value = "30")]
    pub drain_grace: Duration,
    /// LLM calls in flight at once across all sessions.
    #[arg(long)]
    pub server_max_concurrency: Option<usize>,
    /// LLM calls in the server's lifetime, all sessions together.
    #[arg(long)]
    pub server_max_llm_calls: Option<u64>,
    /// How a final answer is scored against `expected_answer`: exact, fuzzy or contains.
    #[arg(long, default_value = "exact")]
    pub rubric: Outcome,
    /// Reward of a step whose code raised.
    #[arg(long, default_value_t = Rubric::default().error_penalty)]
    pub error_penalty: f64,
    /// Reward of a step whose code ran.
    #[arg(long, default_value_t = Rubric::default().success_reward)]
    pub success_reward: f64,
    /// Reward of a terminal step without an answer.
    #[arg(long, default_value_t = Rubric::default().failure_reward)]
    pub failure_reward: f64,
    /// Characters of stdout and stderr kept per step.
    #[arg(long, default_value_t = 8192)]
    pub max_output_length: usize,
    /// Characters of `context_preview`.
    #[arg(long, default_value_t = 500)]
    pub context_preview_length: usize,
    /// The limits: `--max-iterations` is the episode's step limit (a reset may ask for another)
    /// and the turn cap of child RLMs; `--max-depth` caps a reset's `rlm_max_depth`.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Sampling temperature of sub-calls and child turns.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Deadline of one LLM call including its retries, in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_secs)]
    pub request_timeout: Option<Duration>,
    /// Retries of a failed LLM call.
    #[arg(long)]
    pub max_retries: Option<u32>,
}

/// Runs the server until SIGTERM or Ctrl-C has drained it.
pub async fn run(args: ServeArgs) -> Result<u8, Failure> {
    if !args.host.is_loopback() && args.token.is_none() && !args.insecure {
        return Err(Failure::new(
            2,
            format!(
                "--host {} is reachable from other machines: set a token with $RLM_SERVE_TOKEN (or --token), or pass --insecure",
                args.host
            ),
        ));
    }
    let models = Models::from_flags(&ModelFlags {
        model: &args.model,
        sub_model: args.sub_model.as_deref(),
        base_url: args.base_url.as_deref(),
        provider: args.provider,
        max_retries: args.max_retries,
        request_timeout: args.request_timeout,
    })?;
    let repls: Arc<dyn rlm::ReplFactory> = match args.sandbox {
        Sandbox::Monty => Arc::new(rlm::monty::MontyReplFactory::new()),
        Sandbox::Python => {
            let options = rlm::python::PythonOptions {
                python: args.python.clone(),
                ..rlm::python::PythonOptions::default()
            };
            crate::sandbox::check_python(&options).await?;
            Arc::new(rlm::python::PythonReplFactory::with_options(options))
        }
    };
    let mut runner = args.limits.runner_config();
    runner.sampling.temperature = args.temperature;
    let mut env = EnvSettings::new(models.root.model.clone(), repls);
    env.sub = models.sub.as_ref().map(|s| s.model.clone());
    env.max_iterations = runner.run.max_iterations;
    env.runner = runner;
    env.max_output_length = args.max_output_length;
    env.context_preview_length = args.context_preview_length;
    env.rubric = Rubric {
        outcome: args.rubric,
        success_reward: args.success_reward,
        error_penalty: args.error_penalty,
        failure_reward: args.failure_reward,
    };
    let mut config = ServerConfig::new(env);
    config.max_sessions = args.max_sessions;
    config.idle_timeout = args.idle_timeout;
    config.max_message_bytes = args.max_message_bytes;
    config.token = args.token.clone();
    config.drain_grace = args.drain_grace;
    config.llm_concurrency = args.server_max_concurrency;
    config.max_llm_calls = args.server_max_llm_calls;
    let listener = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .map_err(|e| {
            Failure::new(
                1,
                format!("cannot listen on {}:{}: {e}", args.host, args.port),
            )
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::new(1, format!("cannot read the bound address: {e}")))?;
    let server = Server::new(config);
    let shutdown = server.shutdown();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::new(1, format!("cannot watch SIGTERM: {e}")))?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        eprintln!("[rlm serve] draining: no new sessions; running steps finish or are cancelled");
        shutdown.begin();
    });
    eprintln!(
        "[rlm serve] listening on http://{address} (WebSocket ws://{address}/ws); model {}, sandbox {}, at most {} sessions{}",
        models.root.model.model_name(),
        format!("{:?}", args.sandbox).to_lowercase(),
        args.max_sessions,
        if args.token.is_some() {
            ", token required"
        } else {
            ""
        },
    );
    server
        .serve(listener)
        .await
        .map_err(|e| Failure::new(1, format!("server failed: {e}")))?;
    eprintln!("[rlm serve] stopped");
    Ok(0)
}
