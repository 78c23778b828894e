//! Ad-hoc cost of the memory cap, with `SessionAllocator` installed: session start-up, a host
//! call, an allocation-heavy block, a 100 MB context, and the peak RSS of a memory bomb against
//! the 2 GiB default cap. `cargo run --release -p rlm-repl-monty --example memory_cost`;
//! compare with `--example memory_cost_system` (the system allocator). Figures in
//! `docs/design.md` §9.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[global_allocator]
static ALLOCATOR: rlm_repl_monty::memory::SessionAllocator =
    rlm_repl_monty::memory::SessionAllocator;

include!("support/memory_cost_body.rs");
