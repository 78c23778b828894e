//! The names of `tracing` spans and fields, following the OpenTelemetry GenAI conventions.
//! Libraries emit them; binaries choose a subscriber. The [`Traced`](crate::Traced) decorators
//! open the spans; the HTTP transport records [`RETRY_ATTEMPT`] into the current call span.

/// Span of one LLM call.
pub const LLM_CALL: &str = "gen_ai.chat";
/// Span of one REPL execution.
pub const REPL_EXECUTE: &str = "rlm.repl.execute";

/// The model that answered.
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Input tokens of a call.
pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output tokens of a call.
pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Finish reasons of a response.
pub const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// Retry attempt of a call (0 for the first).
pub const RETRY_ATTEMPT: &str = "rlm.retry.attempt";
