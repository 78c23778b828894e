//! Where the interpreter lives, and how it survives a cancelled execution.
//!
//! Between operations the interpreter rests in a shared [`Slot`]. An operation checks it out
//! into a [`Parked`] value that travels with the work (into `spawn_blocking` and back, or held
//! across a host call's `.await`). Dropping a `Parked` puts the interpreter back in the slot, so
//! the normal return path and cancellation are the same code: if the future of
//! [`rlm_core::Repl::execute`] is dropped while awaiting a host call, the suspended snippet is
//! abandoned (its globals kept) and the session stays usable; if it is dropped while the
//! interpreter runs on the blocking pool, the interpreter returns to the slot when that step
//! ends (within the execution time limit).

use std::sync::{Arc, Mutex, PoisonError};

use monty::{MontyRepl as Interpreter, ReplFunctionCall};

/// The resting place of the interpreter; empty while an operation holds it.
pub(crate) type Slot = Arc<Mutex<Option<Interpreter>>>;

/// The interpreter's state while an operation holds it.
// Moved once or twice per step, next to interpreter work that dwarfs a memcpy: no boxing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum State {
    /// Idle, ready for a feed.
    Idle(Interpreter),
    /// Suspended at a sub-call, waiting for the host's answer.
    Suspended(ReplFunctionCall),
}

/// An interpreter checked out of its [`Slot`]; returns there when dropped.
pub(crate) struct Parked {
    state: Option<State>,
    slot: Slot,
}

impl Parked {
    /// Takes the interpreter out of `slot`, if it is there.
    pub(crate) fn checkout(slot: &Slot) -> Option<Self> {
        let interp = slot.lock().unwrap_or_else(PoisonError::into_inner).take()?;
        Some(Self {
            state: Some(State::Idle(interp)),
            slot: Arc::clone(slot),
        })
    }

    /// Takes the idle interpreter out to work on it; put it back with [`Parked::set`].
    /// Any other state stays parked.
    pub(crate) fn take_idle(&mut self) -> Option<Interpreter> {
        match self.state.take()? {
            State::Idle(interp) => Some(interp),
            other => {
                self.state = Some(other);
                None
            }
        }
    }

    /// Takes the suspended call out to resume it; any other state stays parked.
    pub(crate) fn take_suspended(&mut self) -> Option<ReplFunctionCall> {
        match self.state.take()? {
            State::Suspended(call) => Some(call),
            other => {
                self.state = Some(other);
                None
            }
        }
    }

    /// Stores the state after a step.
    pub(crate) fn set(&mut self, state: State) {
        self.state = Some(state);
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        // After a panic inside the interpreter its state cannot be trusted: leave the slot empty.
        if std::thread::panicking() {
            return;
        }
        let interp = match self.state.take() {
            Some(State::Idle(interp)) => interp,
            Some(State::Suspended(call)) => call.into_repl(),
            None => return,
        };
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(interp);
    }
}
