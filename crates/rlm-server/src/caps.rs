//! Model decorators of the server: the server-wide caps every session's sub-calls share
//! ([`ServerCaps`], [`Capped`]), and a session's `llm_model`/`seed` from its reset
//! ([`Overridden`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use rlm::{CompletionRequest, CompletionResponse, LanguageModel, LlmError};
use tokio::sync::Semaphore;

/// Server-wide limits on LLM calls, shared by all sessions (each session also has its own
/// tree limits from the runner's configuration).
#[derive(Debug)]
pub struct ServerCaps {
    permits: Option<Arc<Semaphore>>,
    max_calls: Option<u64>,
    calls: AtomicU64,
}

impl ServerCaps {
    /// At most `concurrency` calls in flight across the server, at most `max_calls` calls in
    /// the server's lifetime (`None`: no limit).
    pub fn new(concurrency: Option<usize>, max_calls: Option<u64>) -> Self {
        Self {
            permits: concurrency.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            max_calls,
            calls: AtomicU64::new(0),
        }
    }

    /// LLM calls sent so far (or refused by the call cap).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// A model under the server's [`ServerCaps`].
pub struct Capped {
    inner: Arc<dyn LanguageModel>,
    caps: Arc<ServerCaps>,
}

impl Capped {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn LanguageModel>, caps: Arc<ServerCaps>) -> Self {
        Self { inner, caps }
    }
}

#[async_trait]
impl LanguageModel for Capped {
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn provider_name(&self) -> &str {
        self.inner.provider_name()
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        let n = self.caps.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(max) = self.caps.max_calls
            && n > max
        {
            return Err(LlmError::LimitExceeded {
                limit: "server max_llm_calls".into(),
                detail: format!("the server's {max} LLM calls are spent"),
            });
        }
        let _permit = match &self.caps.permits {
            Some(permits) => Some(permits.acquire().await.map_err(|_| LlmError::Cancelled)?),
            None => None,
        };
        self.inner.complete(request).await
    }
}

/// A model whose requests name `model` and carry `seed` unless they set their own.
pub struct Overridden {
    inner: Arc<dyn LanguageModel>,
    model: Option<String>,
    seed: Option<u64>,
}

impl Overridden {
    /// Wraps `inner`; with neither override, returns it unchanged.
    pub fn wrap(
        inner: Arc<dyn LanguageModel>,
        model: Option<String>,
        seed: Option<u64>,
    ) -> Arc<dyn LanguageModel> {
        if model.is_none() && seed.is_none() {
            return inner;
        }
        Arc::new(Self { inner, model, seed })
    }
}

#[async_trait]
impl LanguageModel for Overridden {
    fn model_name(&self) -> &str {
        self.model
            .as_deref()
            .unwrap_or_else(|| self.inner.model_name())
    }

    fn provider_name(&self) -> &str {
        self.inner.provider_name()
    }

    async fn complete(
        &self,
        mut request: CompletionRequest,
    ) -> Result<CompletionResponse, LlmError> {
        if request.model.is_none() {
            request.model.clone_from(&self.model);
        }
        if request.sampling.seed.is_none() {
            request.sampling.seed = self.seed;
        }
        self.inner.complete(request).await
    }
}
