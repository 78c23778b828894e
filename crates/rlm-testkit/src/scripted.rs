//! An in-process [`LanguageModel`] that answers from a script.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rlm_core::{
    CompletionRequest, CompletionResponse, FinishReason, LanguageModel, LlmError, Usage,
};

/// One scripted answer of a [`ScriptedModel`]: a text, a full response, or an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Answer with this text (finish reason `stop`, the model's default usage).
    Text(String),
    /// Answer with exactly this response.
    Response(CompletionResponse),
    /// Fail with this error.
    Error(LlmError),
}

impl From<&str> for Step {
    fn from(text: &str) -> Self {
        Step::Text(text.to_string())
    }
}

impl From<String> for Step {
    fn from(text: String) -> Self {
        Step::Text(text)
    }
}

impl From<CompletionResponse> for Step {
    fn from(response: CompletionResponse) -> Self {
        Step::Response(response)
    }
}

impl From<LlmError> for Step {
    fn from(error: LlmError) -> Self {
        Step::Error(error)
    }
}

impl<T: Into<Step>> From<Result<T, LlmError>> for Step {
    fn from(result: Result<T, LlmError>) -> Self {
        match result {
            Ok(step) => step.into(),
            Err(error) => Step::Error(error),
        }
    }
}

type StepFn = Arc<dyn Fn(&CompletionRequest) -> Step + Send + Sync>;

#[derive(Default)]
struct Inner {
    queue: VecDeque<Step>,
    fail_with: Option<LlmError>,
    requests: Vec<CompletionRequest>,
}

/// A [`LanguageModel`] for tests: it answers from a FIFO queue of [`Step`]s, then from a function
/// of the request if one is set, records every request, and can be made slow or failing.
///
/// - The response's `model` is the request's `model`, or the scripted model's name.
/// - Text answers carry `usage` of [`ScriptedModel::DEFAULT_USAGE`] unless
///   [`ScriptedModel::with_usage`] says otherwise.
/// - With nothing left to say it fails with [`LlmError::Config`] `scripted model ...: script
///   exhausted`, so a test that makes more calls than it scripted fails loudly.
/// - Latency uses `tokio::time::sleep`, so it follows a paused clock.
///
/// ```
/// use rlm_core::{CompletionRequest, LanguageModel, LlmError, Message};
/// use rlm_testkit::ScriptedModel;
///
/// # block_on(async {
/// let model = ScriptedModel::new("scripted").then_text("first").then_error(LlmError::ContentFilter);
/// let req = CompletionRequest::new(vec![Message::user("hi")]);
/// assert_eq!(model.complete(req.clone()).await.unwrap().text, "first");
/// assert_eq!(model.complete(req).await, Err(LlmError::ContentFilter));
/// assert_eq!(model.requests().len(), 2);
/// # });
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
/// # }
/// ```
pub struct ScriptedModel {
    name: String,
    inner: Mutex<Inner>,
    fallback: Option<StepFn>,
    latency: Option<Duration>,
    usage: Usage,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl fmt::Debug for ScriptedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("ScriptedModel")
            .field("name", &self.name)
            .field("queued", &inner.queue.len())
            .field("calls", &inner.requests.len())
            .field("fail_with", &inner.fail_with)
            .field("latency", &self.latency)
            .finish()
    }
}

impl ScriptedModel {
    /// Usage of a text answer unless [`ScriptedModel::with_usage`] changes it: 10 input tokens,
    /// 5 output tokens, one call (the same numbers as the fake server's `Reply::text`).
    pub const DEFAULT_USAGE: Usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        cached_tokens: 0,
        cost: None,
        calls: 1,
    };

    /// A model with this name and an empty script.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            inner: Mutex::new(Inner::default()),
            fallback: None,
            latency: None,
            usage: Self::DEFAULT_USAGE,
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        }
    }

    /// A model answering these texts in order.
    pub fn from_texts<I, S>(name: impl Into<String>, texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let model = Self::new(name);
        for text in texts {
            model.push(Step::Text(text.into()));
        }
        model
    }

    /// A model answering every request with `f(request)`; `f` may return a `&str`, a `String`, a
    /// [`CompletionResponse`], an [`LlmError`], a `Result` of those, or a [`Step`].
    pub fn from_fn<F, R>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(&CompletionRequest) -> R + Send + Sync + 'static,
        R: Into<Step>,
    {
        Self::new(name).then_fn(f)
    }

    /// Queues a text answer.
    pub fn then_text(self, text: impl Into<String>) -> Self {
        self.push(Step::Text(text.into()));
        self
    }

    /// Queues a full response.
    pub fn then_response(self, response: CompletionResponse) -> Self {
        self.push(Step::Response(response));
        self
    }

    /// Queues one failure.
    pub fn then_error(self, error: LlmError) -> Self {
        self.push(Step::Error(error));
        self
    }

    /// Answers with `f(request)` once the queue is empty.
    pub fn then_fn<F, R>(mut self, f: F) -> Self
    where
        F: Fn(&CompletionRequest) -> R + Send + Sync + 'static,
        R: Into<Step>,
    {
        self.fallback = Some(Arc::new(move |req| f(req).into()));
        self
    }

    /// Waits this long (tokio time) before every answer.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    /// The usage reported with text answers.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = usage;
        self
    }

    /// Appends a step to the queue (usable through a shared `Arc`).
    pub fn push(&self, step: impl Into<Step>) {
        self.lock().queue.push_back(step.into());
    }

    /// From now on every call fails with `error` (the queue is left untouched) until
    /// [`ScriptedModel::clear_failure`].
    pub fn fail_with(&self, error: LlmError) {
        self.lock().fail_with = Some(error);
    }

    /// Stops the failure set by [`ScriptedModel::fail_with`].
    pub fn clear_failure(&self) {
        self.lock().fail_with = None;
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<CompletionRequest> {
        self.lock().requests.clone()
    }

    /// How many calls were made.
    pub fn call_count(&self) -> usize {
        self.lock().requests.len()
    }

    /// Steps still queued.
    pub fn remaining(&self) -> usize {
        self.lock().queue.len()
    }

    /// The most calls ever in progress at once.
    pub fn peak_concurrency(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_step(&self, request: &CompletionRequest) -> Step {
        let (step, calls) = {
            let mut inner = self.lock();
            inner.requests.push(request.clone());
            let calls = inner.requests.len();
            if let Some(error) = inner.fail_with.clone() {
                return Step::Error(error);
            }
            (inner.queue.pop_front(), calls)
        };
        match (step, &self.fallback) {
            (Some(step), _) => step,
            (None, Some(f)) => f(request),
            (None, None) => Step::Error(LlmError::Config {
                message: format!(
                    "scripted model {:?}: script exhausted at call {calls}",
                    self.name
                ),
            }),
        }
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl LanguageModel for ScriptedModel {
    fn model_name(&self) -> &str {
        &self.name
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _in_flight = InFlight(&self.in_flight);
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        let step = self.next_step(&request);
        if let Some(latency) = self.latency {
            tokio::time::sleep(latency).await;
        }
        let model = request.model.clone().unwrap_or_else(|| self.name.clone());
        match step {
            Step::Text(text) => Ok(CompletionResponse {
                model,
                text,
                finish_reason: FinishReason::Stop,
                usage: self.usage,
            }),
            Step::Response(response) => Ok(response),
            Step::Error(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use rlm_core::Message;

    use super::*;

    fn req(text: &str) -> CompletionRequest {
        CompletionRequest::new(vec![Message::user(text)])
    }

    #[tokio::test]
    async fn queue_then_fallback_then_exhausted() {
        let model = ScriptedModel::from_texts("m", ["a"]).then_fn(|r: &CompletionRequest| {
            if r.content_chars() > 3 {
                Step::Error(LlmError::ContentFilter)
            } else {
                Step::from("short")
            }
        });
        assert_eq!(model.complete(req("x")).await.unwrap().text, "a");
        assert_eq!(model.complete(req("y")).await.unwrap().text, "short");
        assert_eq!(
            model.complete(req("long one")).await,
            Err(LlmError::ContentFilter)
        );
        let bare = ScriptedModel::new("bare");
        let err = bare.complete(req("x")).await.unwrap_err();
        assert!(err.to_string().contains("script exhausted"), "{err}");
    }

    #[tokio::test]
    async fn model_echo_usage_and_sticky_failure() {
        let model = ScriptedModel::from_texts("m", ["a", "b"]);
        let resp = model.complete(req("x").with_model("other")).await.unwrap();
        assert_eq!(
            (resp.model.as_str(), resp.usage),
            ("other", ScriptedModel::DEFAULT_USAGE)
        );
        model.fail_with(LlmError::Cancelled);
        assert_eq!(model.complete(req("x")).await, Err(LlmError::Cancelled));
        model.clear_failure();
        assert_eq!(model.complete(req("x")).await.unwrap().model, "m");
        assert_eq!(model.call_count(), 3);
        assert_eq!(model.remaining(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_follows_paused_clock_and_peak_is_counted() {
        let model = Arc::new(
            ScriptedModel::from_fn("m", |_: &CompletionRequest| "ok")
                .with_latency(Duration::from_secs(30)),
        );
        let start = tokio::time::Instant::now();
        let calls = (0..4).map(|_| {
            let model = Arc::clone(&model);
            tokio::spawn(async move { model.complete(req("x")).await })
        });
        for call in calls.collect::<Vec<_>>() {
            assert_eq!(call.await.unwrap().unwrap().text, "ok");
        }
        assert!(start.elapsed() >= Duration::from_secs(30));
        assert_eq!(model.peak_concurrency(), 4);
    }
}
