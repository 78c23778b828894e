//! `rlm-runner`: the Recursive Language Model loop.
//!
//! Layer: above `rlm-core` and `rlm-limits`; generic over [`rlm_core::LanguageModel`] and
//! [`rlm_core::ReplFactory`]. It must not depend on any provider (`rlm-openai`, ...) or REPL
//! backend (`rlm-repl-monty`, ...): those are plugged in by the facade.
//!
//! A run loads the context into a fresh REPL as `context`, tells the root model only its type
//! and size, and loops: the model replies with ```` ```repl ```` blocks, the blocks run in
//! document order, the model sees the (truncated) output, until a block finishes with
//! `FINAL`/`FINAL_VAR`/`answer`, a limit is hit, or iterations run out (one last-chance call).
//! Code in the REPL reaches sub-models through `llm_query`/`llm_query_batched` and child RLMs
//! through `rlm_query`/`rlm_query_batched`; every `BackendLimits` field of the seed holds over
//! the whole tree.
//!
//! Each [`Runner::run`] is one tree. Its models are wrapped once, as
//! `Budgeted<Traced<model>>` ([`rlm_limits::Budgeted`], [`rlm_limits::Traced`]) over one shared
//! [`rlm_limits::TreeState`], and each REPL session as `Traced<session>`; each route carries
//! its own sampling. Which event content is copied is asked of the subscribers
//! ([`rlm_core::EventSink::wants_content`]). A run ends with one [`RunResult`] whose
//! [`Outcome`] carries its cause.
//!
//! ```
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use rlm_core::*;
//! use rlm_runner::{Models, Runner, RunnerConfig};
//!
//! // A model that finishes at once, and a REPL backend that runs nothing.
//! struct Done;
//! #[async_trait]
//! impl LanguageModel for Done {
//!     fn model_name(&self) -> &str { "done" }
//!     async fn complete(&self, _: CompletionRequest) -> Result<CompletionResponse, LlmError> {
//!         Ok(CompletionResponse::text("done", "FINAL(42)"))
//!     }
//! }
//! struct NoRepl;
//! #[async_trait]
//! impl Repl for NoRepl {
//!     fn backend_name(&self) -> &'static str { "none" }
//!     async fn set_variable(&mut self, _: &str, _: ReplValue) -> Result<(), ReplError> { Ok(()) }
//!     async fn get_variable(&mut self, _: &str) -> Result<Option<ReplValue>, ReplError> { Ok(None) }
//!     async fn variables(&mut self) -> Result<Vec<VariableInfo>, ReplError> { Ok(vec![]) }
//!     async fn execute(&mut self, _: &str, _: Arc<dyn ReplHost>) -> Result<Execution, ReplError> {
//!         Ok(Execution::default())
//!     }
//! }
//! struct NoRepls;
//! #[async_trait]
//! impl ReplFactory for NoRepls {
//!     fn backend_name(&self) -> &'static str { "none" }
//!     async fn create(&self, _: &ReplConfig) -> Result<Box<dyn Repl>, ReplError> { Ok(Box::new(NoRepl)) }
//!     fn capabilities(&self) -> String { String::new() }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let runner = Runner::new(Models::new(Arc::new(Done)), Arc::new(NoRepls), RunnerConfig::default())?;
//! let result = runner.run(ReplValue::from("a context"), "what is the answer?").await;
//! assert_eq!(result.outcome, rlm_runner::Outcome::Finished("42".into()));
//! assert_eq!(result.kind(), RunOutcomeKind::Finished);
//! # Ok::<(), rlm_limits::ConfigError>(())
//! # }).unwrap();
//! ```

mod batch;
pub mod compaction;
mod config;
mod episode;
mod final_text;
mod guard;
mod locals;
mod observe;
mod outcome;
mod parse;
mod prompts;
mod recursion;
mod run;
mod runner;
mod session;
mod spec;
mod tree;

pub use compaction::Compaction;
pub use config::{Models, RunnerConfig, SeedCompat};
pub use episode::Episode;
pub use final_text::{TextFinal, find_text_final};
pub use locals::{LOCALS_MORE_KEY, LOCALS_TOTAL_CHARS, LOCALS_VALUE_CHARS};
pub use observe::{DEFAULT_OBSERVATION_LIMIT, format_block, truncate_head, truncate_middle};
pub use outcome::{Outcome, RunError, RunResult, StopReason};
pub use parse::{ParsedReply, normalize_newlines, parse_reply, strip_fences};
pub use prompts::{
    ContextInfo, DEFAULT_SYSTEM_PROMPT, DocumentStats, PromptSettings, first_user_message,
    last_chance, no_code_nudge, system_prompt, tools_section, turn_marker, unterminated_note,
    with_tools,
};
pub use runner::Runner;
pub use session::{Session, SessionError};
