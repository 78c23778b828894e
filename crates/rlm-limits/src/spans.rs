//! The names of `tracing` spans and fields, following the OpenTelemetry GenAI conventions.
//! Libraries emit them; binaries choose a subscriber.

/// Span of one run (root or child).
pub const RUN: &str = "rlm.run";
/// Span of one iteration of the loop.
pub const ITERATION: &str = "rlm.iteration";
/// Span of one LLM call.
pub const LLM_CALL: &str = "gen_ai.chat";
/// Span of one REPL execution.
pub const REPL_EXECUTE: &str = "rlm.repl.execute";
/// Span of one sub-call made from the REPL.
pub const SUBCALL: &str = "rlm.subcall";

/// Recursion depth of a run (0 is the root).
pub const DEPTH: &str = "rlm.depth";
/// 1-based iteration number.
pub const ITERATION_NUMBER: &str = "rlm.iteration";
/// The operation, e.g. `chat`.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// The provider, e.g. `openai`.
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// The model asked for.
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
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
