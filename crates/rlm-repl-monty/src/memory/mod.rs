//! The per-session memory cap: [`SessionAllocator`] and the meters it charges.
//!
//! Monty checks [`ReplConfig::max_memory`](rlm_core::ReplConfig) at every checkpoint of its
//! interpreter loop and before every large result, and raises `MemoryError` in the code past
//! it. It asks a probe for the usage; this crate installs one (through a small patch of
//! `monty-types`, see `vendor/README.md`) that answers with the usage of the session running on
//! the calling thread.
//!
//! That usage is counted by [`SessionAllocator`], a global allocator a binary installs:
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: rlm_repl_monty::memory::SessionAllocator =
//!     rlm_repl_monty::memory::SessionAllocator;
//! # fn main() {}
//! ```
//!
//! Each session holds a meter (a slot of a static table). Every step of a session on tokio's
//! blocking pool (a code block, each resume after a host call, the runtime's own feeds, setting
//! a variable) makes the session's meter current on its thread, and every block allocated
//! meanwhile is charged to it and tagged with it. A tagged block credits its session when it
//! is freed, on any thread; blocks of a finished session credit nothing. So concurrent sessions
//! in one process are capped independently.
//!
//! What counts: what the session's code allocates (strings, lists, a `context.split()`), plus
//! the interpreter's own state (about 1 MiB). The context handed to
//! [`rlm_core::Repl::set_variable`] does not count: it was allocated by the caller before the
//! session saw it, and is moved in without a copy.
//!
//! Without [`SessionAllocator`] installed ([`allocator_installed`] says whether it is), a
//! session refuses single allocations larger than the cap (`'a' * 10**12`) but cannot see
//! gradual growth, as before this cap existed.

mod alloc;
mod layout;
mod table;

use std::marker::PhantomData;
use std::sync::OnceLock;

pub use alloc::SessionAllocator;

/// Whether [`SessionAllocator`] is this process's global allocator (checked once, by allocating
/// a small block under a meter).
pub fn allocator_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let meter = Meter::new();
        let entered = meter.enter();
        let probe = std::hint::black_box(Box::new([0u8; 64]));
        drop(entered);
        let counted = meter.usage() > 0;
        drop(probe);
        counted
    })
}

/// Installs the probe Monty's memory checks consult (once per process).
pub(crate) fn install_probe() {
    // `false` only means it was installed before.
    let _ = monty_types::set_memory_probe(probe);
}

/// The usage of the session current on this thread, or `None` outside any session; "all of
/// it" for a cancelled session, so its next memory check raises (uncatchably) and its block
/// ends.
fn probe() -> Option<usize> {
    let tag = table::current();
    if tag == 0 {
        return None;
    }
    if table::is_cancelled(tag) {
        return Some(usize::MAX);
    }
    Some(table::usage(tag))
}

/// A session's meter: a slot of the static table, given back when dropped.
#[derive(Debug)]
pub(crate) struct Meter {
    /// The slot's tag; 0 when the table was full (the session then runs unmetered).
    tag: u64,
}

impl Meter {
    /// Claims a slot. When every slot is held (65,535 live sessions) the session runs unmetered
    /// and a warning is logged.
    pub(crate) fn new() -> Self {
        let tag = table::claim().unwrap_or_else(|| {
            tracing::warn!(
                "all 65535 memory meters are in use: this Monty session's memory is not capped"
            );
            0
        });
        Self { tag }
    }

    /// Bytes charged to this session and not yet freed.
    pub(crate) fn usage(&self) -> usize {
        table::usage(self.tag)
    }

    /// Stops the session's code: from now on every memory check of a step running under this
    /// meter fails, so a block nobody waits for any more ends at its next checkpoint instead of
    /// at its time limit. A session that runs unmetered (table full) cannot be cancelled.
    pub(crate) fn cancel(&self) {
        table::cancel(self.tag);
    }

    /// Makes this meter current on this thread until the guard is dropped.
    pub(crate) fn enter(&self) -> Entered {
        Entered {
            previous: table::set_current(self.tag),
            _not_send: PhantomData,
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        table::release(self.tag);
    }
}

/// This thread's meter while alive; restores the previous one when dropped.
#[derive(Debug)]
pub(crate) struct Entered {
    previous: u64,
    /// The guard belongs to the thread whose meter it set.
    _not_send: PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        table::set_current(self.previous);
    }
}
