//! `rlm-limits`: limits and tracing for the recursive-lm runtime.
//!
//! Layer: directly above `rlm-core`; depends on it, `async-trait` (the decorators), `tokio`
//! (sync and time only, never a runtime), `tracing`, and the small pure crates `fastrand` (jitter) and `httpdate` (`Retry-After`
//! dates). It must not depend on a provider, a REPL backend, the runner or an HTTP client.
//!
//! - [`BackendLimits`]: the seed's recursion limits, field for field (`max_depth` 1,
//!   `max_batch_workers` 8, `max_children_total`, `max_children_per_batch`,
//!   `result_truncation_limit`, `per_child_timeout`).
//! - [`RunLimits`]: `max_iterations` (30), the wall-clock timeout, token, cost and call budgets,
//!   the in-flight concurrency cap, and the consecutive-error cap.
//! - [`TreeBudget`]: one set of counters shared by a whole recursion tree. Cloning the handle for
//!   a child shares the counters; a call is reserved before it is sent and settled afterwards.
//! - [`Deadline`]: nested wall-clock deadlines (a child never outlives its parent).
//! - [`RetryPolicy`]: how providers retry; [`http_retry`]: the provider-neutral half of their
//!   transports (Retry-After and `x-should-retry` parsing, retryable statuses, the retry loop
//!   with backoff, jitter and one deadline per call), pure functions and tokio time, no HTTP
//!   client.
//! - [`ProviderSettings`]: the settings every provider's client builder shares (endpoint, key,
//!   environment fallbacks, retry policy, timeouts, extra headers) and [`provider_setters!`].
//! - [`redact`]: [`redact::ApiKey`], body snippets and the [`redact::Scrubber`] that keeps keys
//!   out of errors.
//! - The decorators, each a [`rlm_core::LanguageModel`] (or [`rlm_core::Repl`]) around another:
//!   [`Budgeted`] (concurrency permit, budget reservation, cost, the usage ledger, and the halt
//!   of the tree on a spent budget or a fatal error, all in one shared [`TreeState`]) and
//!   [`Traced`] (one `gen_ai.chat` span per call, one `rlm.repl.execute` span per block, with
//!   opt-in content).
//! - [`ChildTrace`]: what a child run left behind.
//! - [`spans`]: the `tracing` span and field names (OpenTelemetry GenAI conventions).
//!
//! ```
//! use rlm_limits::{BackendLimits, RunLimits, TreeBudget};
//!
//! let limits = RunLimits { max_tokens: Some(10_000), ..RunLimits::default() };
//! let budget = TreeBudget::new(&limits, &BackendLimits::default());
//! let child_view = budget.clone(); // same counters
//! let reservation = budget.reserve_call(400).unwrap();
//! assert_eq!(child_view.snapshot().calls_started, 1);
//! reservation.settle(&rlm_core::Usage { input_tokens: 350, output_tokens: 20, ..Default::default() });
//! assert_eq!(child_view.snapshot().tokens_used, 370);
//! ```

mod budget;
mod budgeted;
mod deadline;
pub mod http_retry;
mod limits;
mod pricing;
pub mod provider;
pub mod redact;
mod retry;
pub mod spans;
mod trace;
mod traced;
mod tree_state;

pub use budget::{BudgetSnapshot, CallReservation, ChildSlot, LimitError, TreeBudget};
pub use budgeted::Budgeted;
pub use deadline::Deadline;
pub use limits::{BackendLimits, ConfigError, RunLimits};
pub use pricing::{ModelPrice, PriceTable};
pub use provider::ProviderSettings;
pub use retry::RetryPolicy;
pub use trace::{ChildTrace, preview};
pub use traced::Traced;
pub use tree_state::TreeState;

#[doc(hidden)]
pub use tracing as __tracing;

/// The span of one LLM call ([`spans::LLM_CALL`]) with the provider and the requested model;
/// [`http_retry::record_call`] fills in the response fields. Never carries the prompt. A macro
/// so that the span's target is the provider's module (`RUST_LOG=rlm_anthropic=debug` shows it).
///
/// ```
/// let span = rlm_limits::llm_call_span!("openai", "gpt-4o-mini");
/// # drop(span);
/// ```
#[macro_export]
macro_rules! llm_call_span {
    ($provider:expr, $model:expr) => {
        $crate::__tracing::info_span!(
            "gen_ai.chat",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = $provider,
            gen_ai.request.model = $model,
            gen_ai.response.model = $crate::__tracing::field::Empty,
            gen_ai.usage.input_tokens = $crate::__tracing::field::Empty,
            gen_ai.usage.output_tokens = $crate::__tracing::field::Empty,
            gen_ai.response.finish_reasons = $crate::__tracing::field::Empty,
            rlm.retry.attempt = $crate::__tracing::field::Empty,
        )
    };
}
