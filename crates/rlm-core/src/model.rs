//! The language-model trait.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{CompletionRequest, CompletionResponse, LlmError};

/// Receives the text of a streamed reply as it arrives, one piece (a delta) at a time. The
/// pieces joined are the reply's text. Called on the caller's task: keep it quick.
pub type OnDelta = Arc<dyn Fn(&str) + Send + Sync>;

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

    /// Completes one request, handing the reply's text to `on_delta` piece by piece as it
    /// arrives (HTTP providers ask for a server-sent-event stream), and returns the same
    /// response as [`LanguageModel::complete`] would: the whole text, finish reason and usage.
    ///
    /// The default calls `complete` and hands the whole text over as one delta, so every model
    /// can be asked to stream. A decorator must forward this method (not only `complete`),
    /// or streaming stops at it.
    async fn complete_streaming(
        &self,
        request: CompletionRequest,
        on_delta: OnDelta,
    ) -> Result<CompletionResponse, LlmError> {
        let response = self.complete(request).await?;
        if !response.text.is_empty() {
            on_delta(&response.text);
        }
        Ok(response)
    }
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

    async fn complete_streaming(
        &self,
        request: CompletionRequest,
        on_delta: OnDelta,
    ) -> Result<CompletionResponse, LlmError> {
        (**self).complete_streaming(request, on_delta).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use super::*;
    use crate::Message;

    struct Echo;

    #[async_trait]
    impl LanguageModel for Echo {
        fn model_name(&self) -> &str {
            "echo"
        }
        async fn complete(&self, r: CompletionRequest) -> Result<CompletionResponse, LlmError> {
            Ok(CompletionResponse::text(
                "echo",
                r.messages[0].content.clone(),
            ))
        }
    }

    #[test]
    fn a_model_that_cannot_stream_hands_over_its_whole_text_once() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let on_delta: OnDelta = Arc::new(move |t: &str| log.lock().unwrap().push(t.to_string()));
        let model: Arc<dyn LanguageModel> = Arc::new(Echo);
        let request = CompletionRequest::new(vec![Message::user("hello")]);
        let response =
            futures::executor::block_on(model.complete_streaming(request, on_delta)).unwrap();
        assert_eq!(response.text, "hello");
        assert_eq!(*seen.lock().unwrap(), vec!["hello".to_string()]);
    }
}
