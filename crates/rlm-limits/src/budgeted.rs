//! [`Budgeted`]: a model under the tree's limits — the concurrency permit, the budget
//! reservation, the cost and the usage ledger, and the halt of the whole tree on a spent
//! budget or a run-fatal error.

use std::sync::Arc;

use async_trait::async_trait;
use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError, OnDelta};

use crate::TreeState;

/// A [`LanguageModel`] whose calls are limited and booked in a tree's [`TreeState`].
///
/// One call, in order: refused at once when the tree already has a fatal error; waits for a
/// slot under the tree's concurrency cap; reserves its estimated tokens in the budget (a
/// refusal halts the tree: every later call would be refused too); sends; then books the
/// usage with its cost (the provider's, else the [`PriceTable`](crate::PriceTable)) under the
/// request's model name, or notes the error (a run-fatal one halts the tree).
///
/// The call's deadline is the caller's: dropping the future releases the permit and the
/// reservation.
///
/// ```
/// use std::sync::Arc;
/// use rlm_core::{CompletionRequest, CompletionResponse, LanguageModel, LlmError, Message};
/// use rlm_limits::{Budgeted, PriceTable, TreeBudget, TreeState};
///
/// struct Echo;
/// #[async_trait::async_trait]
/// impl LanguageModel for Echo {
///     fn model_name(&self) -> &str { "echo" }
///     async fn complete(&self, _: CompletionRequest) -> Result<CompletionResponse, LlmError> {
///         Ok(CompletionResponse::text("echo", "hi"))
///     }
/// }
///
/// let state = Arc::new(TreeState::new(TreeBudget::unlimited(), PriceTable::default()));
/// let model = Budgeted::new(Echo, state.clone());
/// let request = CompletionRequest::new(vec![Message::user("hello")]);
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// model.complete(request).await.unwrap();
/// # });
/// assert_eq!(state.usage()["echo"].calls, 1);
/// ```
#[derive(Debug, Clone)]
pub struct Budgeted<M> {
    inner: M,
    state: Arc<TreeState>,
}

impl<M> Budgeted<M> {
    /// `inner` under the limits of `state`'s tree.
    pub fn new(inner: M, state: Arc<TreeState>) -> Self {
        Self { inner, state }
    }

    /// The tree's shared state.
    pub fn state(&self) -> &Arc<TreeState> {
        &self.state
    }
}

#[async_trait]
impl<M: LanguageModel> LanguageModel for Budgeted<M> {
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn provider_name(&self) -> &str {
        self.inner.provider_name()
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        self.guarded(request, |request| self.inner.complete(request))
            .await
    }

    /// The same budget, concurrency cap and booking as `complete`, around the inner model's
    /// stream.
    async fn complete_streaming(
        &self,
        request: CompletionRequest,
        on_delta: OnDelta,
    ) -> Result<CompletionResponse, LlmError> {
        self.guarded(request, |request| {
            self.inner.complete_streaming(request, on_delta)
        })
        .await
    }
}

impl<M: LanguageModel> Budgeted<M> {
    /// Runs `call` under the tree's budget: refused when the tree has stopped or the budget is
    /// spent, after a slot under the concurrency cap; its usage and cost booked.
    async fn guarded<'a, F, Fut>(
        &'a self,
        request: CompletionRequest,
        call: F,
    ) -> Result<CompletionResponse, LlmError>
    where
        F: FnOnce(CompletionRequest) -> Fut,
        Fut: std::future::Future<Output = Result<CompletionResponse, LlmError>> + Send + 'a,
    {
        let state = &self.state;
        if let Some(err) = state.fatal() {
            return Err(err);
        }
        let estimate = (request.content_chars() as u64).div_ceil(4) + 1;
        let name = request
            .model
            .clone()
            .unwrap_or_else(|| self.inner.model_name().to_string());
        // Wait for a slot under the concurrency cap first, then reserve: a reservation is only
        // ever held by a call that is being sent, so the budget's overshoot is bounded by the
        // calls in flight, and a call refused by the budget never waited.
        let permit = state.budget().acquire_concurrency().await;
        if let Some(err) = state.fatal() {
            return Err(err);
        }
        let reservation = state.budget().reserve_call(estimate).map_err(|e| {
            // Every later call would be refused too: the tree is out of budget.
            state.halt();
            LlmError::from(e)
        })?;
        let result = call(request).await;
        drop(permit);
        match result {
            Ok(response) => {
                let mut usage = response.usage;
                usage.calls = 1;
                let cost = state.prices().cost(&name, &usage);
                usage.cost = cost;
                reservation.settle_with_cost(&usage, cost);
                state.book(name, &usage);
                // The caller sees the usage as booked: one call, with its cost when known.
                Ok(CompletionResponse { usage, ..response })
            }
            Err(err) => {
                drop(reservation);
                state.note_error(&err);
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rlm_core::{Message, Usage};
    use tokio::sync::Semaphore;

    use super::*;
    use crate::{BackendLimits, ModelPrice, PriceTable, RunLimits, TreeBudget};

    /// A model that answers (or fails) once the test opens its gate.
    struct Gated {
        gate: Arc<Semaphore>,
        seen: Mutex<Vec<Option<String>>>,
        fail: Option<LlmError>,
    }

    impl Gated {
        fn new(open: usize) -> Self {
            Self {
                gate: Arc::new(Semaphore::new(open)),
                seen: Mutex::new(Vec::new()),
                fail: None,
            }
        }
    }

    #[async_trait]
    impl LanguageModel for Gated {
        fn model_name(&self) -> &str {
            "gated"
        }
        async fn complete(&self, req: CompletionRequest) -> Result<CompletionResponse, LlmError> {
            self.seen.lock().unwrap().push(req.model.clone());
            self.gate.acquire().await.unwrap().forget();
            if let Some(err) = &self.fail {
                return Err(err.clone());
            }
            let mut response = CompletionResponse::text("gated", "ok");
            response.usage = Usage {
                input_tokens: 1_000,
                output_tokens: 500,
                ..Usage::default()
            };
            Ok(response)
        }
    }

    fn state(run: RunLimits, prices: PriceTable) -> Arc<TreeState> {
        Arc::new(TreeState::new(
            TreeBudget::new(&run, &BackendLimits::default()),
            prices,
        ))
    }

    fn request(model: Option<&str>) -> CompletionRequest {
        CompletionRequest {
            model: model.map(str::to_string),
            ..CompletionRequest::new(vec![Message::user("hello")])
        }
    }

    #[tokio::test]
    async fn the_permit_is_taken_before_the_reservation() {
        let limits = RunLimits {
            max_concurrency: Some(1),
            max_llm_calls: Some(1),
            ..RunLimits::default()
        };
        let state = state(limits, PriceTable::default());
        let inner = Arc::new(Gated::new(0));
        let model = Arc::new(Budgeted::new(inner.clone(), state.clone()));
        let first = tokio::spawn({
            let model = model.clone();
            async move { model.complete(request(None)).await }
        });
        while inner.seen.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let model = model.clone();
            async move { model.complete(request(None)).await }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // The second call waits for the slot without holding a reservation.
        let snap = state.budget().snapshot();
        assert_eq!((snap.calls_started, snap.in_flight), (1, 1));
        assert!(!state.is_halted());
        inner.gate.add_permits(1);
        assert!(first.await.unwrap().is_ok());
        // Only once it holds the slot is it refused by the call budget, which halts the tree.
        let refused = second.await.unwrap().unwrap_err();
        assert!(
            matches!(&refused, LlmError::LimitExceeded { limit, .. } if limit == "max_llm_calls"),
            "{refused:?}"
        );
        assert!(state.is_halted());
        assert_eq!(state.fatal(), None);
        assert_eq!(
            inner.seen.lock().unwrap().len(),
            1,
            "the refused call was never sent"
        );
    }

    #[tokio::test]
    async fn usage_and_cost_are_booked_per_model_name() {
        let prices = PriceTable::default().with(
            "gated",
            ModelPrice {
                input: 1.0,
                cached_input: 0.0,
                output: 2.0,
            },
        );
        let state = state(RunLimits::default(), prices);
        let model = Budgeted::new(Gated::new(10), state.clone());
        let response = model.complete(request(None)).await.unwrap();
        assert_eq!(response.usage.calls, 1);
        assert_eq!(response.usage.cost, Some(0.002));
        model.complete(request(Some("other"))).await.unwrap();
        model.complete(request(Some("other"))).await.unwrap();
        let usage = state.usage();
        assert_eq!(usage.keys().collect::<Vec<_>>(), ["gated", "other"]);
        assert_eq!(
            (usage["gated"].calls, usage["gated"].cost),
            (1, Some(0.002))
        );
        assert_eq!((usage["other"].calls, usage["other"].cost), (2, None));
        assert_eq!(usage["other"].input_tokens, 2_000);
        let snap = state.budget().snapshot();
        assert_eq!((snap.calls_settled, snap.tokens_used), (3, 4_500));
    }

    /// A model that streams its answer in two pieces (not the default one-piece fallback).
    struct TwoPieces;

    #[async_trait]
    impl LanguageModel for TwoPieces {
        fn model_name(&self) -> &str {
            "pieces"
        }
        async fn complete(&self, _: CompletionRequest) -> Result<CompletionResponse, LlmError> {
            Ok(CompletionResponse {
                usage: Usage {
                    input_tokens: 7,
                    output_tokens: 3,
                    ..Usage::default()
                },
                ..CompletionResponse::text("pieces", "ab")
            })
        }
        async fn complete_streaming(
            &self,
            request: CompletionRequest,
            on_delta: OnDelta,
        ) -> Result<CompletionResponse, LlmError> {
            on_delta("a");
            on_delta("b");
            self.complete(request).await
        }
    }

    #[tokio::test]
    async fn streams_pass_through_the_stack_and_are_booked() {
        let state = state(RunLimits::default(), PriceTable::default());
        let model = Budgeted::new(crate::Traced::new(TwoPieces), state.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let on_delta: OnDelta = Arc::new(move |t: &str| log.lock().unwrap().push(t.to_string()));
        let response = model
            .complete_streaming(request(None), on_delta)
            .await
            .unwrap();
        assert_eq!(response.text, "ab");
        assert_eq!(
            *seen.lock().unwrap(),
            ["a", "b"],
            "forwarded, not one piece"
        );
        let usage = state.usage();
        assert_eq!(
            (usage["pieces"].calls, usage["pieces"].input_tokens),
            (1, 7)
        );
        assert_eq!(state.budget().snapshot().calls_settled, 1);
    }

    #[tokio::test]
    async fn a_fatal_error_halts_the_tree_and_refuses_later_calls() {
        let state = state(RunLimits::default(), PriceTable::default());
        let auth = LlmError::Authentication {
            status: 401,
            body: "bad key".into(),
        };
        let inner = Arc::new(Gated {
            fail: Some(auth.clone()),
            ..Gated::new(10)
        });
        let model = Budgeted::new(inner.clone(), state.clone());
        assert_eq!(model.complete(request(None)).await.unwrap_err(), auth);
        assert!(state.is_halted());
        assert_eq!(state.fatal(), Some(auth.clone()));
        state.halted().await;
        // Refused without reaching the model.
        assert_eq!(model.complete(request(None)).await.unwrap_err(), auth);
        assert_eq!(inner.seen.lock().unwrap().len(), 1);
        assert_eq!(state.budget().snapshot().in_flight, 0);
        assert!(state.usage().is_empty());
    }

    #[tokio::test]
    async fn a_transient_error_does_not_halt() {
        let state = state(RunLimits::default(), PriceTable::default());
        let inner = Gated {
            fail: Some(LlmError::ContentFilter),
            ..Gated::new(10)
        };
        let model = Budgeted::new(inner, state.clone());
        assert!(model.complete(request(None)).await.is_err());
        assert!(!state.is_halted());
        assert_eq!(state.fatal(), None);
        let snap = state.budget().snapshot();
        assert_eq!((snap.in_flight, snap.tokens_reserved), (0, 0));
    }
}
