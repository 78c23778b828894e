//! `memory_cost` with the system allocator (no per-session metering), for comparison: the
//! bomb then grows to the machine's memory, so this one stops before it unless asked to run it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

include!("support/memory_cost_body.rs");
