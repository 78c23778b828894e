//! The REPL boundary: the sandbox trait ([`Repl`]), the host trait code calls back into
//! ([`ReplHost`]), and what one execution yields ([`Execution`]).
//!
//! Division of work: a backend handles the finish functions itself (`FINAL`, `FINAL_VAR`,
//! `SHOW_VARS` and the `answer` dict need only the REPL's own state) and reports a finish in
//! [`Execution::final_answer`]. Sub-calls (`llm_query`, `llm_query_batched`, `rlm_query`,
//! `rlm_query_batched`) pause the interpreter and are answered, asynchronously, by the
//! [`ReplHost`]; the interpreter resumes with the reply. Custom tools (the names in
//! [`ReplConfig::tools`]) are answered the same way, as [`HostCall::Tool`]. The names live in
//! [`crate::names`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{ReplError, ReplValue, ToolArgs, ToolError};

/// A call from code in the REPL to the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "function", rename_all = "snake_case")]
pub enum HostCall {
    /// `llm_query(prompt, model=None)`: one plain LLM call.
    LlmQuery {
        /// The prompt.
        prompt: String,
        /// The `model=` argument.
        model: Option<String>,
    },
    /// `llm_query_batched(prompts, model=None)`: plain calls run concurrently, in order.
    LlmQueryBatched {
        /// The prompts.
        prompts: Vec<String>,
        /// The `model=` argument.
        model: Option<String>,
    },
    /// `rlm_query(prompt, model=None)`: a child RLM whose context is `prompt`.
    RlmQuery {
        /// The prompt (and the child's context).
        prompt: String,
        /// The `model=` argument.
        model: Option<String>,
    },
    /// `rlm_query_batched(prompts, model=None)`: children run concurrently, in order.
    RlmQueryBatched {
        /// The prompts.
        prompts: Vec<String>,
        /// The `model=` argument.
        model: Option<String>,
    },
    /// A call to the custom tool `name` ([`ReplConfig::tools`]), with its arguments converted
    /// to JSON (the backend raises `TypeError` at the call for arguments that are not
    /// JSON-like, without asking the host).
    Tool {
        /// The tool's name.
        name: String,
        /// The arguments.
        #[serde(flatten)]
        args: ToolArgs,
    },
}

impl HostCall {
    /// The Python name of the function (the tool's own name for [`HostCall::Tool`]).
    pub fn function_name(&self) -> &str {
        match self {
            HostCall::LlmQuery { .. } => "llm_query",
            HostCall::LlmQueryBatched { .. } => "llm_query_batched",
            HostCall::RlmQuery { .. } => "rlm_query",
            HostCall::RlmQueryBatched { .. } => "rlm_query_batched",
            HostCall::Tool { name, .. } => name,
        }
    }
}

/// The host's answer to a [`HostCall`]. Sub-call failures are `Error: ...` strings, never
/// exceptions: one failed sub-call must not kill the block that made it. A custom tool's
/// failure is [`HostReply::Raise`]: the calling code gets a Python exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HostReply {
    /// The answer to a single call.
    Text(String),
    /// The answers to a batched call, one per prompt, in input order.
    Texts(Vec<String>),
    /// A tool's failure, raised in the calling code.
    Raise(ToolError),
    /// A tool's result.
    Json(serde_json::Value),
}

impl HostReply {
    /// Converts the reply into the Python value the calling code receives, or the exception
    /// it raises.
    ///
    /// # Errors
    /// The [`ToolError`] of [`HostReply::Raise`].
    pub fn into_result(self) -> Result<ReplValue, ToolError> {
        match self {
            HostReply::Raise(error) => Err(error),
            other => Ok(other.into_value()),
        }
    }

    /// Converts the reply into the Python value the calling code receives
    /// ([`HostReply::Raise`] becomes an `Error: ...` string; backends use
    /// [`HostReply::into_result`]).
    pub fn into_value(self) -> ReplValue {
        match self {
            HostReply::Text(s) => ReplValue::Str(s),
            HostReply::Texts(items) => {
                ReplValue::List(items.into_iter().map(ReplValue::Str).collect())
            }
            HostReply::Json(value) => ReplValue::from_json(value),
            HostReply::Raise(error) => ReplValue::Str(format!("Error: {error}")),
        }
    }
}

/// Answers sub-calls made by code running in a [`Repl`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ReplHost: Send + Sync {
    /// Answers one call. Never fails: errors are `Error: ...` strings in the reply.
    async fn call(&self, call: HostCall) -> HostReply;
}

/// Settings for one REPL session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplConfig {
    /// Longest time one execution may run (time spent waiting on host calls is not counted by
    /// every backend; see the backend's docs).
    pub execution_timeout: Duration,
    /// Most bytes of printed output kept per execution; the rest is dropped and flagged.
    pub max_output_bytes: usize,
    /// Most host calls one execution may make (a loop over thousands of chunks must fit).
    pub max_host_calls: u32,
    /// The custom tools the session defines as functions (valid names, checked by
    /// [`crate::names::check_tool_name`]): calling one sends [`HostCall::Tool`] to the host.
    /// Time the host takes to answer a tool counts against `execution_timeout`.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Most bytes the session's code may hold allocated ([`DEFAULT_MAX_MEMORY`], 2 GiB, by
    /// default); past it the code gets `MemoryError` and the session carries on. Values the
    /// host injects (the context) do not count. How a backend enforces it is its own: the
    /// embedded Monty REPL meters each session when its binary installs
    /// `rlm_repl_monty::memory::SessionAllocator` (otherwise it refuses only single allocations
    /// larger than this); the CPython backend uses its own address-space rlimit
    /// (`PythonOptions::memory_limit`).
    #[serde(default = "default_max_memory")]
    pub max_memory: usize,
}

/// The default of [`ReplConfig::max_memory`]: 2 GiB per session, the CPython backend's default
/// address-space limit.
pub const DEFAULT_MAX_MEMORY: usize = 2 << 30;

fn default_max_memory() -> usize {
    DEFAULT_MAX_MEMORY
}

impl Default for ReplConfig {
    fn default() -> Self {
        Self {
            execution_timeout: Duration::from_secs(60),
            max_output_bytes: 1 << 20,
            max_host_calls: 100_000,
            tools: Vec::new(),
            max_memory: DEFAULT_MAX_MEMORY,
        }
    }
}

/// How an execution finished the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum FinalAnswer {
    /// `FINAL(value)`.
    Final {
        /// `str(value)`.
        answer: String,
    },
    /// `FINAL_VAR(name)` (or `FINAL_VAR(value)` with a non-string argument).
    FinalVar {
        /// The variable name, when a name was given.
        name: Option<String>,
        /// `str(value)`.
        answer: String,
    },
    /// `answer["ready"] = True`.
    AnswerDict {
        /// `str(answer["content"])`.
        answer: String,
    },
}

impl FinalAnswer {
    /// The answer text.
    pub fn answer(&self) -> &str {
        match self {
            FinalAnswer::Final { answer }
            | FinalAnswer::FinalVar { answer, .. }
            | FinalAnswer::AnswerDict { answer } => answer,
        }
    }

    /// Consumes the finish and returns the answer text.
    pub fn into_answer(self) -> String {
        match self {
            FinalAnswer::Final { answer }
            | FinalAnswer::FinalVar { answer, .. }
            | FinalAnswer::AnswerDict { answer } => answer,
        }
    }
}

/// What one execution of a code block produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Printed output (capped at [`ReplConfig::max_output_bytes`]).
    pub stdout: String,
    /// Whether printed output was cut at the cap.
    pub output_truncated: bool,
    /// The Python-style traceback when the code raised (including time-limit errors).
    pub error: Option<String>,
    /// Set when the code finished the run.
    pub final_answer: Option<FinalAnswer>,
    /// Wall time of the execution, host calls included.
    pub duration: Duration,
    /// How many host calls the execution made.
    pub host_calls: u32,
}

/// A user variable that exists in the REPL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableInfo {
    /// Its name.
    pub name: String,
    /// `type(x).__name__`.
    pub type_name: String,
}

/// A persistent Python session.
///
/// State (variables, functions, classes) persists across [`Repl::execute`] calls. A backend must
/// never block the async runtime: CPU-bound interpretation runs on a blocking pool or in another
/// process.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Repl: Send {
    /// The backend's short name (`monty`, `python`).
    fn backend_name(&self) -> &'static str;

    /// Binds `name` to `value` (how `context` is injected). Reserved names are refused.
    async fn set_variable(&mut self, name: &str, value: ReplValue) -> Result<(), ReplError>;

    /// Reads a variable; `Ok(None)` when it does not exist.
    async fn get_variable(&mut self, name: &str) -> Result<Option<ReplValue>, ReplError>;

    /// The user variables that exist (runtime names excluded).
    async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError>;

    /// Runs one code block. Errors raised by the code are reported in [`Execution::error`];
    /// `Err` means the backend itself failed.
    async fn execute(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError>;
}

/// Creates fresh REPL sessions: one for the root run and one per child RLM.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ReplFactory: Send + Sync {
    /// The backend's short name.
    fn backend_name(&self) -> &'static str;

    /// Starts a new, empty session.
    async fn create(&self, config: &ReplConfig) -> Result<Box<dyn Repl>, ReplError>;

    /// What the backend's Python supports, for the system prompt (one short paragraph).
    fn capabilities(&self) -> String;
}

/// A boxed session is a session, so decorators such as a tracing wrapper can take the
/// `Box<dyn Repl>` a [`ReplFactory`] returns.
#[async_trait]
impl<R: Repl + ?Sized> Repl for Box<R> {
    fn backend_name(&self) -> &'static str {
        (**self).backend_name()
    }

    async fn set_variable(&mut self, name: &str, value: ReplValue) -> Result<(), ReplError> {
        (**self).set_variable(name, value).await
    }

    async fn get_variable(&mut self, name: &str) -> Result<Option<ReplValue>, ReplError> {
        (**self).get_variable(name).await
    }

    async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError> {
        (**self).variables().await
    }

    async fn execute(
        &mut self,
        code: &str,
        host: Arc<dyn ReplHost>,
    ) -> Result<Execution, ReplError> {
        (**self).execute(code, host).await
    }
}
