//! Tree-global counters: one [`TreeBudget`] is shared by a run and all its children.
//!
//! Calls are *reserved* before they are sent ([`TreeBudget::reserve_call`]) and *settled* with
//! the provider's reported usage afterwards ([`CallReservation::settle`]). A reservation that is
//! dropped unsettled (the call failed or was cancelled) is released. So the token budget is
//! never over-reserved: at any moment `used + reserved <= max_tokens` holds for every accepted
//! reservation, and the overshoot past the budget is at most what the calls already in flight
//! produce beyond their estimate.

use std::sync::{Arc, Mutex, MutexGuard};

use rlm_core::{LlmError, Usage};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{BackendLimits, RunLimits};

/// A tree-global limit refused an operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The token budget would be exceeded.
    #[error(
        "max_tokens budget reached: {used} used and {reserved} reserved of {limit}, call needs ~{requested}"
    )]
    Tokens {
        /// Tokens used by settled calls.
        used: u64,
        /// Tokens reserved by calls in flight.
        reserved: u64,
        /// Estimate for the refused call.
        requested: u64,
        /// The budget.
        limit: u64,
    },
    /// The cost budget is spent.
    #[error("max_cost budget reached: spent ${spent:.4} of ${limit:.4}")]
    Cost {
        /// USD spent so far.
        spent: f64,
        /// The budget.
        limit: f64,
    },
    /// The total LLM-call cap is reached.
    #[error("max_llm_calls reached: {limit} calls")]
    LlmCalls {
        /// The cap.
        limit: u64,
    },
    /// The tree-wide child cap is reached.
    #[error("max_children_total exceeded: {limit} children")]
    Children {
        /// The cap.
        limit: u64,
    },
}

impl LimitError {
    /// The config field of the limit (`max_tokens`, `max_cost`, ...).
    pub fn field(&self) -> &'static str {
        match self {
            LimitError::Tokens { .. } => "max_tokens",
            LimitError::Cost { .. } => "max_cost",
            LimitError::LlmCalls { .. } => "max_llm_calls",
            LimitError::Children { .. } => "max_children_total",
        }
    }
}

impl From<LimitError> for LlmError {
    fn from(e: LimitError) -> Self {
        LlmError::LimitExceeded {
            limit: e.field().to_string(),
            detail: e.to_string(),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BudgetSnapshot {
    /// Tokens of settled calls.
    pub tokens_used: u64,
    /// Tokens reserved by calls in flight.
    pub tokens_reserved: u64,
    /// USD spent by settled calls.
    pub cost_spent: f64,
    /// Calls reserved (sent or about to be).
    pub calls_started: u64,
    /// Calls settled with usage.
    pub calls_settled: u64,
    /// Reservations in flight now.
    pub in_flight: u64,
    /// Most reservations in flight at once.
    pub peak_in_flight: u64,
    /// Children spawned.
    pub children_spawned: u64,
}

#[derive(Debug)]
struct Inner {
    max_tokens: Option<u64>,
    max_cost: Option<f64>,
    max_llm_calls: Option<u64>,
    max_children_total: Option<u64>,
    concurrency: Option<Arc<Semaphore>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    snap: BudgetSnapshot,
    first_refusal: Option<LimitError>,
}

/// Shared counters of one recursion tree. Clone it to hand it to a child: clones share state.
#[derive(Debug, Clone)]
pub struct TreeBudget {
    inner: Arc<Inner>,
}

impl TreeBudget {
    /// Counters for a new tree with these limits.
    pub fn new(run: &RunLimits, backend: &BackendLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_tokens: run.max_tokens,
                max_cost: run.max_cost,
                max_llm_calls: run.max_llm_calls,
                max_children_total: backend.max_children_total,
                concurrency: run.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A budget with no limits at all.
    pub fn unlimited() -> Self {
        Self::new(&RunLimits::default(), &BackendLimits::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters inconsistent (every update
        // is a few integer operations), so a poisoned lock is still safe to use.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refuse(state: &mut State, err: LimitError) -> LimitError {
        if state.first_refusal.is_none() {
            state.first_refusal = Some(err.clone());
        }
        err
    }

    /// Reserves one LLM call estimated to use `estimated_tokens`, or refuses it.
    pub fn reserve_call(&self, estimated_tokens: u64) -> Result<CallReservation, LimitError> {
        let mut st = self.state();
        if let Some(limit) = self.inner.max_llm_calls
            && st.snap.calls_started >= limit
        {
            return Err(Self::refuse(&mut st, LimitError::LlmCalls { limit }));
        }
        if let Some(limit) = self.inner.max_cost
            && st.snap.cost_spent >= limit
        {
            let spent = st.snap.cost_spent;
            return Err(Self::refuse(&mut st, LimitError::Cost { spent, limit }));
        }
        if let Some(limit) = self.inner.max_tokens {
            let committed = st.snap.tokens_used.saturating_add(st.snap.tokens_reserved);
            if committed.saturating_add(estimated_tokens) > limit || st.snap.tokens_used >= limit {
                let err = LimitError::Tokens {
                    used: st.snap.tokens_used,
                    reserved: st.snap.tokens_reserved,
                    requested: estimated_tokens,
                    limit,
                };
                return Err(Self::refuse(&mut st, err));
            }
        }
        st.snap.calls_started += 1;
        st.snap.tokens_reserved = st.snap.tokens_reserved.saturating_add(estimated_tokens);
        st.snap.in_flight += 1;
        st.snap.peak_in_flight = st.snap.peak_in_flight.max(st.snap.in_flight);
        Ok(CallReservation {
            budget: self.clone(),
            estimate: estimated_tokens,
            open: true,
        })
    }

    /// Waits for a slot under the tree-wide concurrency cap (`None` when there is no cap).
    /// Hold the permit for the duration of the call.
    pub async fn acquire_concurrency(&self) -> Option<OwnedSemaphorePermit> {
        match &self.inner.concurrency {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// Counts one more child against `max_children_total`, or refuses it.
    pub fn reserve_child(&self) -> Result<ChildSlot, LimitError> {
        let mut st = self.state();
        if let Some(limit) = self.inner.max_children_total
            && st.snap.children_spawned >= limit
        {
            return Err(Self::refuse(&mut st, LimitError::Children { limit }));
        }
        st.snap.children_spawned += 1;
        Ok(ChildSlot {
            index: st.snap.children_spawned - 1,
        })
    }

    /// Checks, without reserving, whether a budget is already spent (for checks between turns).
    pub fn check_spent(&self) -> Result<(), LimitError> {
        let mut st = self.state();
        if let Some(limit) = self.inner.max_tokens
            && st.snap.tokens_used >= limit
        {
            let err = LimitError::Tokens {
                used: st.snap.tokens_used,
                reserved: st.snap.tokens_reserved,
                requested: 0,
                limit,
            };
            return Err(Self::refuse(&mut st, err));
        }
        if let Some(limit) = self.inner.max_cost
            && st.snap.cost_spent >= limit
        {
            let spent = st.snap.cost_spent;
            return Err(Self::refuse(&mut st, LimitError::Cost { spent, limit }));
        }
        if let Some(limit) = self.inner.max_llm_calls
            && st.snap.calls_started >= limit
        {
            return Err(Self::refuse(&mut st, LimitError::LlmCalls { limit }));
        }
        Ok(())
    }

    /// The first limit that refused something in this tree, if any.
    pub fn first_refusal(&self) -> Option<LimitError> {
        self.state().first_refusal.clone()
    }

    /// The counters now.
    pub fn snapshot(&self) -> BudgetSnapshot {
        self.state().snap
    }

    fn settle(&self, estimate: u64, usage: Option<(&Usage, Option<f64>)>) {
        let mut st = self.state();
        st.snap.tokens_reserved = st.snap.tokens_reserved.saturating_sub(estimate);
        st.snap.in_flight = st.snap.in_flight.saturating_sub(1);
        if let Some((usage, cost)) = usage {
            st.snap.tokens_used = st.snap.tokens_used.saturating_add(usage.total_tokens());
            st.snap.calls_settled += 1;
            if let Some(cost) = cost.or(usage.cost)
                && cost.is_finite()
                && cost > 0.0
            {
                st.snap.cost_spent += cost;
            }
        }
    }
}

/// One reserved LLM call. Settle it with the call's usage; dropping it unsettled releases it.
#[derive(Debug)]
#[must_use = "settle the reservation with the call's usage, or drop it to release it"]
pub struct CallReservation {
    budget: TreeBudget,
    estimate: u64,
    open: bool,
}

impl CallReservation {
    /// Records the call's usage (cost from `usage.cost` when the provider reported it).
    pub fn settle(self, usage: &Usage) {
        self.settle_with_cost(usage, None);
    }

    /// Records the call's usage with a cost computed by the caller (e.g. from a price table);
    /// `None` falls back to `usage.cost`.
    pub fn settle_with_cost(mut self, usage: &Usage, cost: Option<f64>) {
        self.open = false;
        self.budget.settle(self.estimate, Some((usage, cost)));
    }
}

impl Drop for CallReservation {
    fn drop(&mut self) {
        if self.open {
            self.budget.settle(self.estimate, None);
        }
    }
}

/// Proof that a child was counted against `max_children_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSlot {
    /// 0-based index of the child in the tree.
    pub index: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn budget(tokens: Option<u64>, calls: Option<u64>, children: Option<u64>) -> TreeBudget {
        TreeBudget::new(
            &RunLimits {
                max_tokens: tokens,
                max_llm_calls: calls,
                ..RunLimits::default()
            },
            &BackendLimits {
                max_children_total: children,
                ..BackendLimits::default()
            },
        )
    }

    fn usage(tokens: u64) -> Usage {
        Usage {
            input_tokens: tokens,
            ..Usage::default()
        }
    }

    #[test]
    fn clones_share_counters() {
        let root = budget(None, Some(2), Some(1));
        let child = root.clone();
        root.reserve_call(1).unwrap().settle(&usage(5));
        child.reserve_call(1).unwrap().settle(&usage(5));
        assert!(matches!(
            root.reserve_call(1),
            Err(LimitError::LlmCalls { limit: 2 })
        ));
        assert!(child.reserve_child().is_ok());
        assert!(matches!(
            root.reserve_child(),
            Err(LimitError::Children { limit: 1 })
        ));
        assert_eq!(root.snapshot().tokens_used, 10);
        assert_eq!(
            root.first_refusal().map(|e| e.field()),
            Some("max_llm_calls")
        );
    }

    #[test]
    fn dropped_reservation_is_released() {
        let b = budget(Some(100), None, None);
        let r = b.reserve_call(80).unwrap();
        assert!(b.reserve_call(30).is_err());
        drop(r);
        assert_eq!(b.snapshot().tokens_reserved, 0);
        assert_eq!(b.snapshot().in_flight, 0);
        assert!(b.reserve_call(30).is_ok());
    }

    #[test]
    fn cost_budget_uses_reported_or_given_cost() {
        let b = TreeBudget::new(
            &RunLimits {
                max_cost: Some(1.0),
                ..RunLimits::default()
            },
            &BackendLimits::default(),
        );
        b.reserve_call(0).unwrap().settle(&Usage {
            cost: Some(0.6),
            ..Usage::default()
        });
        b.reserve_call(0)
            .unwrap()
            .settle_with_cost(&Usage::default(), Some(0.5));
        let err = b.reserve_call(0).unwrap_err();
        assert_eq!(err.field(), "max_cost");
        assert!(b.check_spent().is_err());
    }

    #[tokio::test]
    async fn concurrency_cap_holds() {
        let b = TreeBudget::new(
            &RunLimits {
                max_concurrency: Some(2),
                ..RunLimits::default()
            },
            &BackendLimits::default(),
        );
        let p1 = b.acquire_concurrency().await;
        let p2 = b.acquire_concurrency().await;
        assert!(p1.is_some() && p2.is_some());
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            b.acquire_concurrency(),
        )
        .await;
        assert!(waiting.is_err(), "a third permit must wait");
        drop(p1);
        assert!(b.acquire_concurrency().await.is_some());
    }

    proptest! {
        /// From many threads at once, accepted reservations never exceed the budget, and the
        /// call and child caps are never passed.
        #[test]
        fn never_over_reserves(
            limit in 1u64..5_000,
            call_cap in 1u64..200,
            child_cap in 0u64..50,
            estimates in proptest::collection::vec(0u64..400, 1..200),
            threads in 1usize..6,
        ) {
            let b = budget(Some(limit), Some(call_cap), Some(child_cap));
            let peak_committed = Arc::new(Mutex::new(0u64));
            std::thread::scope(|s| {
                for t in 0..threads {
                    let b = b.clone();
                    let estimates = &estimates;
                    let peak = peak_committed.clone();
                    s.spawn(move || {
                        let mut held = Vec::new();
                        for (i, est) in estimates.iter().enumerate().filter(|(i, _)| i % threads == t) {
                            let _ = b.reserve_child();
                            if let Ok(r) = b.reserve_call(*est) {
                                let snap = b.snapshot();
                                let committed = snap.tokens_used + snap.tokens_reserved;
                                let mut p = peak.lock().unwrap();
                                *p = (*p).max(committed);
                                drop(p);
                                if i % 3 == 0 { r.settle(&usage(est / 2)); } else { held.push(r); }
                            }
                        }
                        drop(held);
                    });
                }
            });
            let snap = b.snapshot();
            prop_assert!(*peak_committed.lock().unwrap() <= limit);
            prop_assert!(snap.calls_started <= call_cap);
            prop_assert!(snap.children_spawned <= child_cap);
            prop_assert_eq!(snap.in_flight, 0);
            prop_assert_eq!(snap.tokens_reserved, 0);
            prop_assert!(snap.tokens_used <= limit);
        }
    }
}
