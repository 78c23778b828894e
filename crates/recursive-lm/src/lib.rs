//! `recursive-lm` (imported as `rlm`): Recursive Language Models in Rust.
//!
//! An RLM answers a query over a context of any size without putting the context in the model's
//! window: the context lives in a sandboxed Python REPL as `context`, the model writes code that
//! inspects and chunks it, calls sub-models (`llm_query`, `llm_query_batched`) or child RLMs
//! (`rlm_query`, `rlm_query_batched`), and finishes with `FINAL(...)`.
//!
//! This is the facade: the one crate users depend on. It re-exports the layers and picks
//! providers and REPL backends by feature:
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `openai` | yes | [`openai`]: any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, OpenRouter, LM Studio, llama.cpp, SGLang) and Azure OpenAI (`openai::AzureOpenAiClient`) |
//! | `anthropic` | no | `anthropic`: the Anthropic Messages API, Claude models (`anthropic::AnthropicClient`; `ANTHROPIC_API_KEY`) |
//! | `gemini` | no | `gemini`: the Google Gemini API (`gemini::GeminiClient`; `GEMINI_API_KEY`) |
//! | `monty` | yes | [`monty`]: the embedded Monty interpreter, the default REPL (no Python or Docker) |
//! | `python` | no | `python`: an OS-isolated CPython subprocess REPL (`python::PythonReplFactory`; needs `python3` on Linux) |
//! | `otlp` | no | `otlp`: export the spans (`chat {model}` per LLM call, runs, REPL blocks) to an OpenTelemetry collector over OTLP/HTTP (`otlp::install(endpoint)` returns a guard that flushes on drop) |
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm::{openai::OpenAiClient, Rlm};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let model = OpenAiClient::builder("gpt-5-mini").build()?; // OPENAI_API_KEY, OPENAI_BASE_URL
//! let rlm = Rlm::builder(Arc::new(model)).max_depth(1).max_iterations(20).build()?;
//! let book = std::fs::read_to_string("book.txt")?;
//! let completion = rlm.completion(book, "Who is the murderer?").await?;
//! println!("{} ({:?}, {} iterations)", completion.answer(), completion.kind(), completion.iterations);
//! # Ok(()) }
//! ```
//!
//! Custom tools give the model's code your own functions (a search index, a database) and data:
//!
//! ```no_run
//! use std::sync::Arc;
//! use rlm::{openai::OpenAiClient, Rlm, ToolError};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let model = OpenAiClient::builder("gpt-5-mini").env().build()?;
//! let rlm = Rlm::builder(Arc::new(model))
//!     .tool_fn("lookup", "lookup(word) -> list of line numbers where the word occurs.", |call| async move {
//!         let word = call.arg(0, "word").and_then(|w| w.as_str()).ok_or_else(|| ToolError::raise("TypeError", "word must be a str"))?;
//!         Ok(json!([word.len(), 42]))
//!     })
//!     .tool_data("STOPWORDS", "Words to ignore.", json!(["the", "a"]))
//!     .build()?;
//! let done = rlm.completion("a context", "Where is 'needle'?").await?;
//! # Ok(()) }
//! ```
//!
//! Layer: the top of the library. It depends on every layer below; nothing in the workspace but
//! `rlm-cli` depends on it.

mod builder;
mod context;
mod documents;
mod session;

use std::sync::Arc;

pub use builder::RlmBuilder;
pub use context::Context;
pub use documents::{ContextError, DirOptions, LoadReport, Loaded};
pub use rlm_core as core;
pub use rlm_core::names;
pub use rlm_core::{BadToolName, Tool, ToolArgs, ToolError, ToolNameError, Tools, tool_fn};
pub use rlm_core::{
    CompletionRequest, CompletionResponse, EventSink, LanguageModel, LlmError, Message, OnDelta,
    Repl, ReplFactory, ReplHost, ReplValue, Role, RunEvent, RunOutcomeKind, SinkError,
    SubcallCallbacks, SubcallKind, Usage,
};
pub use rlm_core::{ReasoningEffort, Sampling};
pub use rlm_limits as limits;
pub use rlm_limits::{BackendLimits, ChildTrace, ConfigError, ModelPrice, RunLimits};
pub use rlm_runner as runner;
pub use rlm_runner::{
    Compaction, Outcome, RunError, RunResult as Completion, RunnerConfig, SeedCompat, SessionError,
    StopReason,
};
/// Trajectories (the `rlm-trajectory` crate): a JSON Lines record of every completion, read
/// back as a tree and exported to the official `rlm` log format.
///
/// ```no_run
/// use std::sync::Arc;
/// use rlm::{Rlm, openai::OpenAiClient, trajectory::{self, TrajectoryWriter}};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let model = OpenAiClient::builder("gpt-5-mini").env().build()?;
/// let writer = Arc::new(TrajectoryWriter::create("run.jsonl")?);
/// let rlm = Rlm::builder(Arc::new(model)).trajectory(writer).build()?;
/// rlm.completion("a context", "a question").await?;
/// let tree = trajectory::read_file("run.jsonl")?;
/// println!("{} turns", tree.runs[0].turns.len());
/// trajectory::write_official(&tree, std::fs::File::create("official.jsonl")?)?;
/// # Ok(()) }
/// ```
pub use rlm_trajectory as trajectory;
pub use session::Session;

/// The HTTP transport every provider client is built on (`HttpModel`, its builder, the
/// `WireFormat` trait), with any provider feature.
#[cfg(any(feature = "openai", feature = "anthropic", feature = "gemini"))]
pub use rlm_http as http;

#[cfg(feature = "openai")]
pub use rlm_openai as openai;

#[cfg(feature = "anthropic")]
pub use rlm_anthropic as anthropic;

#[cfg(feature = "gemini")]
pub use rlm_gemini as gemini;

#[cfg(feature = "monty")]
pub use rlm_repl_monty as monty;

#[cfg(feature = "python")]
pub use rlm_repl_python as python;

/// OTLP export of the runtime's spans (the `rlm-otlp` crate): GenAI `chat {model}` spans with
/// token usage, parented under the run, the iteration and the REPL block that made the call.
///
/// ```no_run
/// # fn demo() -> Result<(), rlm::otlp::OtlpError> {
/// let guard = rlm::otlp::install("http://127.0.0.1:4318")?; // or "" for OTEL_EXPORTER_OTLP_*
/// // ... run completions; dropping the guard sends the last spans ...
/// # drop(guard);
/// # Ok(()) }
/// ```
#[cfg(feature = "otlp")]
pub use rlm_otlp as otlp;

/// A configured Recursive Language Model. Cheap to clone; each completion is independent.
#[derive(Debug, Clone)]
pub struct Rlm {
    runner: rlm_runner::Runner,
}

/// A completion could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RlmError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Custom tool names that are reserved, invalid or registered twice: all of them, in
    /// [`ToolNameError::names`].
    #[error(transparent)]
    Tools(#[from] ToolNameError),
    /// No REPL backend: enable the `monty` feature or call [`RlmBuilder::repl`].
    #[error("no REPL backend: enable the `monty` feature or set one with RlmBuilder::repl")]
    NoRepl,
    /// `max_cost` is set but these models have no known price, so the budget could not count
    /// their calls: give each a price with [`RlmBuilder::price`] (the CLI's
    /// `--price MODEL=IN,CACHED,OUT`).
    #[error(
        "max_cost needs a price for every model, and these have none: {}; give one with RlmBuilder::price (USD per million tokens: input, cached input, output)",
        models.join(", ")
    )]
    UnpricedModels {
        /// The models without a price.
        models: Vec<String>,
    },
    /// A session could not start or take a context.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The trajectory's header could not be written.
    #[error("cannot write the trajectory: {0}")]
    Trajectory(#[source] std::io::Error),
    /// The run failed (a refused key, an unreachable endpoint, a broken REPL); what it had so
    /// far is in `completion`, and what went wrong is its outcome's error
    /// ([`Completion::error`]).
    #[error("run failed: {}", failure(completion))]
    Failed {
        /// The run's partial result.
        completion: Box<Completion>,
    },
}

/// The error text of a failed completion.
fn failure(completion: &Completion) -> String {
    completion
        .error()
        .map_or_else(|| "unknown error".to_string(), ToString::to_string)
}

impl Rlm {
    /// Starts a builder with the root model.
    pub fn builder(model: Arc<dyn LanguageModel>) -> RlmBuilder {
        RlmBuilder::new(model)
    }

    /// Answers `query` over `context`. A run stopped by a limit (iterations, budget, timeout,
    /// errors) is still `Ok`: see [`Completion::outcome`]. `Err` means the run failed. The same
    /// as [`Rlm::completion_until`] with a `stop` that never completes.
    pub async fn completion(
        &self,
        context: impl Into<Context>,
        query: &str,
    ) -> Result<Completion, RlmError> {
        self.completion_until(context, query, std::future::pending())
            .await
    }

    /// Like [`Rlm::completion`], but `stop` cancels the whole run when it completes (Ctrl-C, a
    /// cancellation token): in-flight calls and child runs are dropped and the completion's
    /// outcome is `cancelled`, with the usage so far.
    ///
    /// This returns as soon as `stop` completes, but the embedded Monty REPL (the default)
    /// cannot be interrupted from another thread: a code block that is computing at that moment
    /// goes on, on tokio's blocking pool, until it ends or reaches its own time limit
    /// ([`ReplConfig::execution_timeout`](crate::core::ReplConfig), 60 s by default, capped by
    /// the run's time left when [`RunLimits::timeout`] is set). Its result is discarded. The
    /// `python` backend kills its process group at once. A program that exits after a cancelled
    /// run should end its runtime with `Runtime::shutdown_background` rather than drop it (which
    /// waits for blocking tasks). Details: [`Runner::run_until`](crate::runner::Runner::run_until).
    pub async fn completion_until(
        &self,
        context: impl Into<Context>,
        query: &str,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> Result<Completion, RlmError> {
        let result = self
            .runner
            .run_until(context.into().into_value(), query, stop)
            .await;
        if result.kind() == RunOutcomeKind::Failed {
            return Err(RlmError::Failed {
                completion: Box::new(result),
            });
        }
        Ok(result)
    }

    /// The settings.
    pub fn config(&self) -> &RunnerConfig {
        self.runner.config()
    }
}
