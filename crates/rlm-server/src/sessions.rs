//! Session accounting: the `--max-sessions` slots, and the counters `GET /metrics` reports.
//!
//! A session's environment is owned by its connection's task, never shared, so no lock is
//! held across a step; the registry only counts. A [`Slot`] is the right to hold a session and
//! frees itself when dropped (a closed, reaped or cancelled connection).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

/// The session slots and counters of one server.
#[derive(Debug)]
pub struct Registry {
    max_sessions: usize,
    active: AtomicUsize,
    busy: AtomicUsize,
    opened: AtomicU64,
    closed: AtomicU64,
    reaped: AtomicU64,
    refused: AtomicU64,
    resets: AtomicU64,
    steps: AtomicU64,
    errors: AtomicU64,
    cancelled_steps: AtomicU64,
}

/// `GET /metrics`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Metrics {
    /// Sessions open now (WebSocket sessions, and HTTP requests in progress).
    pub active_sessions: usize,
    /// The cap (`--max-sessions`).
    pub max_sessions: usize,
    /// Sessions running a reset or step now.
    pub busy_sessions: usize,
    /// Sessions opened since the start.
    pub sessions_opened: u64,
    /// Sessions closed since the start (reaped ones included).
    pub sessions_closed: u64,
    /// Sessions closed for being idle.
    pub sessions_reaped: u64,
    /// Connections refused at the cap.
    pub sessions_refused: u64,
    /// Resets answered.
    pub resets: u64,
    /// Steps answered.
    pub steps: u64,
    /// Error frames and error responses sent.
    pub errors: u64,
    /// Steps dropped because their client left or the server shut down.
    pub cancelled_steps: u64,
    /// LLM calls sent by all sessions (or refused by the server's call cap).
    pub llm_calls: u64,
    /// Whether the server is draining (SIGTERM received).
    pub draining: bool,
}

/// Which counter an event bumps.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    /// A reset answered.
    Reset,
    /// A step answered.
    Step,
    /// An error sent.
    Error,
    /// A step dropped.
    Cancelled,
    /// An idle session closed.
    Reaped,
}

impl Registry {
    /// A registry with `max_sessions` slots.
    pub fn new(max_sessions: usize) -> Arc<Self> {
        Arc::new(Self {
            max_sessions: max_sessions.max(1),
            active: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            reaped: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            steps: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cancelled_steps: AtomicU64::new(0),
        })
    }

    /// Takes a slot, or says how full the server is: `Err((active, max))`.
    pub fn open(self: &Arc<Self>) -> Result<Slot, (usize, usize)> {
        let taken = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_sessions).then_some(n + 1)
            });
        match taken {
            Ok(_) => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                Ok(Slot {
                    registry: self.clone(),
                })
            }
            Err(active) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err((active, self.max_sessions))
            }
        }
    }

    /// Bumps a counter.
    pub fn count(&self, what: Count) {
        let counter = match what {
            Count::Reset => &self.resets,
            Count::Step => &self.steps,
            Count::Error => &self.errors,
            Count::Cancelled => &self.cancelled_steps,
            Count::Reaped => &self.reaped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a session busy until the guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy {
            registry: self.clone(),
        }
    }

    /// The counters now.
    pub fn metrics(&self, llm_calls: u64, draining: bool) -> Metrics {
        Metrics {
            active_sessions: self.active.load(Ordering::Acquire),
            max_sessions: self.max_sessions,
            busy_sessions: self.busy.load(Ordering::Relaxed),
            sessions_opened: self.opened.load(Ordering::Relaxed),
            sessions_closed: self.closed.load(Ordering::Relaxed),
            sessions_reaped: self.reaped.load(Ordering::Relaxed),
            sessions_refused: self.refused.load(Ordering::Relaxed),
            resets: self.resets.load(Ordering::Relaxed),
            steps: self.steps.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            cancelled_steps: self.cancelled_steps.load(Ordering::Relaxed),
            llm_calls,
            draining,
        }
    }
}

/// The right to hold one session; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    registry: Arc<Registry>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.closed.fetch_add(1, Ordering::Relaxed);
        self.registry.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A session is running a reset or step while this lives.
#[derive(Debug)]
pub struct Busy {
    registry: Arc<Registry>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.registry.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_and_freed_on_drop() {
        let registry = Registry::new(2);
        let a = registry.open().unwrap();
        let _b = registry.open().unwrap();
        assert_eq!(registry.open().unwrap_err(), (2, 2));
        drop(a);
        let _c = registry.open().unwrap();
        let m = registry.metrics(0, false);
        assert_eq!(
            (
                m.active_sessions,
                m.sessions_opened,
                m.sessions_closed,
                m.sessions_refused
            ),
            (2, 3, 1, 1)
        );
    }
}
