//! [`TreeState`]: what every model call of one recursion tree shares — the budget, the prices,
//! the usage ledger per model, the first run-fatal error and the halt signal.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rlm_core::{LlmError, Usage};
use tokio::sync::watch;

use crate::{PriceTable, TreeBudget};

/// The shared state of one recursion tree. One handle (`Arc<TreeState>`) is given to every
/// [`Budgeted`](crate::Budgeted) route of the tree; the runner reads usage, the fatal error
/// and the halt signal from it.
#[derive(Debug)]
pub struct TreeState {
    budget: TreeBudget,
    prices: PriceTable,
    ledger: Mutex<BTreeMap<String, Usage>>,
    fatal: Mutex<Option<LlmError>>,
    /// Turns true when the whole tree must stop (a spent budget, a fatal model error), so code
    /// blocks still running are abandoned instead of looping on refused sub-calls.
    halt: watch::Sender<bool>,
}

impl TreeState {
    /// A fresh tree: nothing used, nothing failed.
    pub fn new(budget: TreeBudget, prices: PriceTable) -> Self {
        Self {
            budget,
            prices,
            ledger: Mutex::new(BTreeMap::new()),
            fatal: Mutex::new(None),
            halt: watch::Sender::new(false),
        }
    }

    /// The tree's budget.
    pub fn budget(&self) -> &TreeBudget {
        &self.budget
    }

    /// The prices used when a provider reports no cost.
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    /// Usage of the whole tree so far, by model name.
    pub fn usage(&self) -> BTreeMap<String, Usage> {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Books one call's usage under `model`.
    pub fn book(&self, model: String, usage: &Usage) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        ledger.entry(model).or_default().add(usage);
    }

    /// The first error that stops the whole tree (a refused key, an exhausted quota).
    pub fn fatal(&self) -> Option<LlmError> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Notes a failed call: a run-fatal error ([`LlmError::is_fatal_for_run`]) is kept (the
    /// first one wins) and halts the tree.
    pub fn note_error(&self, err: &LlmError) {
        if err.is_fatal_for_run() {
            let mut fatal = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
            if fatal.is_none() {
                *fatal = Some(err.clone());
            }
            drop(fatal);
            self.halt();
        }
    }

    /// Tells every run of the tree to stop.
    pub fn halt(&self) {
        self.halt.send_replace(true);
    }

    /// Whether the whole tree must stop.
    pub fn is_halted(&self) -> bool {
        *self.halt.borrow()
    }

    /// Resolves once the whole tree must stop.
    pub async fn halted(&self) {
        let mut rx = self.halt.subscribe();
        // An error means the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|halted| *halted).await;
    }
}
