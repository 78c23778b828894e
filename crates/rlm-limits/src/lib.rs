//! `rlm-limits`: limits and tracing for the recursive-lm runtime.
//!
//! Layer: directly above `rlm-core`; depends on it, `async-trait` (the decorators), `tokio`
//! (sync and time only, never a runtime) and `tracing`. It must not depend on the HTTP
//! transport (`rlm-http`), a provider, a REPL backend, the runner or an HTTP client.
//!
//! - [`BackendLimits`]: the seed's recursion limits, field for field (`max_depth` 1,
//!   `max_batch_workers` 8, `max_children_total`, `max_children_per_batch`,
//!   `result_truncation_limit`, `per_child_timeout`).
//! - [`RunLimits`]: `max_iterations` (30), the wall-clock timeout, token, cost and call budgets,
//!   the in-flight concurrency cap, and the consecutive-error cap.
//! - [`TreeBudget`]: one set of counters shared by a whole recursion tree. Cloning the handle for
//!   a child shares the counters; a call is reserved before it is sent and settled afterwards.
//! - [`Deadline`]: nested wall-clock deadlines (a child never outlives its parent).
//! - [`RetryPolicy`]: how the HTTP transport (`rlm-http`) retries: retry count, backoff with
//!   jitter, the `Retry-After` cap and the per-call deadline.
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
mod limits;
mod pricing;
mod retry;
pub mod spans;
mod trace;
mod traced;
mod tree_state;

pub use budget::{BudgetSnapshot, CallReservation, ChildSlot, LimitError, TreeBudget};
pub use budgeted::Budgeted;
pub use deadline::Deadline;
pub use limits::{BackendLimits, ConfigError, RunLimits};
pub use pricing::{
    BUILTIN_PRICES_JSON, ModelPrice, PriceTable, builtin_prices, builtin_prices_as_of,
};
pub use retry::RetryPolicy;
pub use trace::{ChildTrace, preview};
pub use traced::Traced;
pub use tree_state::TreeState;
