//! The language-model trait.

use async_trait::async_trait;

use crate::{CompletionRequest, CompletionResponse, LlmError};

/// Anything that completes a chat: an HTTP provider, a scripted test model, or a decorator
/// (retry, limits, tracing) around another model.
///
/// Object-safe: `Arc<dyn LanguageModel>` is the usual handle.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// The model used when a request does not name one.
    fn model_name(&self) -> &str;

    /// The provider, as OpenTelemetry's `gen_ai.provider.name` names it (`openai`, `anthropic`,
    /// `gcp.gemini`, `azure.ai.openai`); `unknown` for models that are not a provider.
    fn provider_name(&self) -> &str {
        "unknown"
    }

    /// Checks, without sending anything, that this model can encode `request` (its sampling
    /// above all: Anthropic refuses a temperature with extended thinking, Gemini a seed over
    /// 32 bits). The default accepts everything; HTTP providers run their codec. Used to refuse
    /// bad settings before a run starts.
    fn check_request(&self, request: &CompletionRequest) -> Result<(), LlmError> {
        let _ = request;
        Ok(())
    }

    /// Completes one request.
    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError>;
}

#[async_trait]
impl<T: LanguageModel + ?Sized> LanguageModel for std::sync::Arc<T> {
    fn model_name(&self) -> &str {
        (**self).model_name()
    }

    fn provider_name(&self) -> &str {
        (**self).provider_name()
    }

    fn check_request(&self, request: &CompletionRequest) -> Result<(), LlmError> {
        (**self).check_request(request)
    }

    async fn complete(&self, request: CompletionRequest) -> Result<CompletionResponse, LlmError> {
        (**self).complete(request).await
    }
}
