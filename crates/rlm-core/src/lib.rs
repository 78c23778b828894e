//! `rlm-core`: the vocabulary and traits of the recursive-lm runtime.
//!
//! Layer: the bottom. Every other crate depends on this one; it depends on no HTTP client and
//! no async runtime (only `async-trait`, `serde`, `thiserror`, and `tracing` to log a failing
//! event sink).
//!
//! It holds:
//! - chat [`Message`]s and [`Role`]s, a [`CompletionRequest`] and [`CompletionResponse`] with
//!   [`Usage`] and [`FinishReason`], and the provider-neutral [`Sampling`] a request carries
//!   (with [`ReasoningEffort`]);
//! - the [`LanguageModel`] trait (async and object-safe: `Arc<dyn LanguageModel>` works);
//! - the values that cross the REPL boundary ([`ReplValue`]), the [`Repl`] trait a sandbox
//!   implements, and the [`ReplHost`] trait through which code in the REPL calls back into the
//!   runtime (`llm_query`, `rlm_query` and their batched forms);
//! - the lifecycle [`RunEvent`]s and the [`EventSink`]s that receive them ([`Subscribers`],
//!   [`SubcallCallbacks`]);
//! - the runtime's names in the REPL and Python's name rules ([`names`]: [`HOST_FUNCTIONS`],
//!   identifiers, reserved names), shared by both REPL backends and the CLI;
//! - typed errors ([`LlmError`], [`ReplError`]).
//!
//! ```
//! use std::sync::Arc;
//! use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError, Message, Usage};
//!
//! struct Echo;
//!
//! #[async_trait::async_trait]
//! impl LanguageModel for Echo {
//!     fn model_name(&self) -> &str { "echo" }
//!     async fn complete(&self, req: CompletionRequest) -> Result<CompletionResponse, LlmError> {
//!         let text = req.messages.last().map(|m| m.content.clone()).unwrap_or_default();
//!         Ok(CompletionResponse::text("echo", text))
//!     }
//! }
//!
//! let model: Arc<dyn LanguageModel> = Arc::new(Echo);
//! let req = CompletionRequest::new(vec![Message::user("hi")]);
//! let resp = futures::executor::block_on(model.complete(req)).unwrap();
//! assert_eq!(resp.text, "hi");
//! ```

mod completion;
mod error;
mod event;
mod message;
mod model;
pub mod names;
mod repl;
mod sampling;
mod sink;
mod tool;
mod value;

pub use completion::{CompletionRequest, CompletionResponse, FinishReason, Usage};
pub use error::{LlmError, ReplError};
pub use event::{RunEvent, RunOutcomeKind, SubcallKind};
pub use message::{Message, Role};
pub use model::{LanguageModel, OnDelta};
pub use names::HOST_FUNCTIONS;
pub use repl::{
    DEFAULT_MAX_MEMORY, Execution, FinalAnswer, HostCall, HostReply, Repl, ReplConfig, ReplFactory,
    ReplHost, VariableInfo,
};
pub use sampling::{
    ReasoningEffort, Sampling, SamplingError, TEMPERATURE_RANGE, TOP_P_RANGE, check_range,
};
pub use sink::{EventSink, SinkError, SubcallCallbacks, Subscribers};
pub use tool::{
    BadToolName, FnTool, Tool, ToolArgs, ToolEntry, ToolError, ToolKind, ToolNameError, Tools,
    tool_fn,
};
pub use value::ReplValue;

#[cfg(feature = "mock")]
pub use model::MockLanguageModel;
#[cfg(feature = "mock")]
pub use repl::{MockRepl, MockReplFactory, MockReplHost};
