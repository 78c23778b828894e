//! New sessions start from a copy of a scaffolded interpreter.
//!
//! Building a session's interpreter means parsing and compiling the scaffold (the prelude and
//! the first variable probe), which was most of the cost of `rlm serve`'s reset. The first
//! session of each configuration builds it and keeps a dump of the idle interpreter (Monty's
//! own snapshot format, under a kilobyte); later sessions of the same configuration load that
//! dump instead. A dump that does not load (it never should: it was written by this process)
//! is dropped and the session is built from scratch.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use monty::MontyRepl as Interpreter;
use monty::{Dump, Session, SessionRef};
use rlm_core::ReplConfig;

/// Configurations kept; the oldest is dropped past this (a server has one).
const KEEP: usize = 8;
/// The script name the dump carries (tracebacks name it).
pub(crate) const SCRIPT: &str = "rlm.py";

/// What makes two sessions' fresh interpreters identical.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    execution_timeout: Duration,
    max_memory: usize,
    max_host_calls: u32,
    tools: Vec<String>,
}

impl Key {
    fn of(config: &ReplConfig) -> Self {
        Self {
            execution_timeout: config.execution_timeout,
            max_memory: config.max_memory,
            max_host_calls: config.max_host_calls,
            tools: config.tools.clone(),
        }
    }
}

static TEMPLATES: Mutex<Vec<(Key, Arc<[u8]>)>> = Mutex::new(Vec::new());

/// A copy of the kept interpreter for `config`, if there is one and it loads.
pub(crate) fn load(config: &ReplConfig) -> Option<Interpreter> {
    let key = Key::of(config);
    let bytes = {
        let kept = TEMPLATES.lock().unwrap_or_else(PoisonError::into_inner);
        kept.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, bytes)| Arc::clone(bytes))?
    };
    match Dump::load(&bytes).map(|dump| dump.state) {
        Ok(Session::Idle(interp)) => Some(*interp),
        other => {
            let why = other.map_or_else(|e| e.to_string(), |_| "not idle".to_string());
            tracing::warn!(error = %why, "the session template did not load; building the session");
            forget(&key);
            None
        }
    }
}

/// Keeps a dump of `interp` (a freshly scaffolded, idle interpreter) for `config`. Call it
/// outside any session's memory meter: the bytes belong to the process.
pub(crate) fn keep(config: &ReplConfig, interp: &Interpreter) {
    let bytes = match monty::dump(SCRIPT, None, &[], SessionRef::Idle(interp)) {
        Ok(bytes) => Arc::<[u8]>::from(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "could not keep a session template");
            return;
        }
    };
    let key = Key::of(config);
    let mut kept = TEMPLATES.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.iter().any(|(k, _)| *k == key) {
        return;
    }
    if kept.len() >= KEEP {
        kept.remove(0);
    }
    kept.push((key, bytes));
}

fn forget(key: &Key) {
    TEMPLATES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(k, _)| k != key);
}
