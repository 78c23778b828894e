//! [`StreamState`]: what a codec gathers from the events of one streamed reply, and the
//! default way a codec turns it into a [`CompletionResponse`] once the stream has ended.
//!
//! ```
//! use rlm_core::{FinishReason, LlmError};
//! use rlm_http::stream::{StreamState, finish};
//!
//! let mut state = StreamState::default();
//! state.text.push_str("4");
//! state.finish_reason = Some("stop".into());
//! let response = finish(state, "m", FinishReason::parse).unwrap();
//! assert_eq!((response.text.as_str(), response.model.as_str()), ("4", "m"));
//!
//! let mut cut = StreamState::default();
//! cut.text.push_str("partial");
//! cut.finish_reason = Some("length".into());
//! assert!(matches!(finish(cut, "m", FinishReason::parse), Err(LlmError::Truncated { .. })));
//! ```

use rlm_core::{CompletionResponse, FinishReason, LlmError, Usage};

use crate::codec;

/// The reply so far, as the codec's [`crate::WireFormat::decode_event`] fills it in.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct StreamState {
    /// The model the server named, if it did.
    pub model: Option<String>,
    /// The text of every delta so far (the transport appends the deltas the codec returns).
    pub text: String,
    /// The provider's finish reason, as it wrote it.
    pub finish_reason: Option<String>,
    /// Usage as reported so far (providers send it at the start, the end, or with each event).
    pub usage: Usage,
    /// Whether the stream's last event arrived (`[DONE]`, `message_stop`, a finish reason).
    /// A stream that ends without it was cut.
    pub done: bool,
    /// Codec-specific progress (Anthropic: the index of the current text block), free to use.
    pub scratch: u64,
}

/// The response of a finished stream: the finish reason parsed with `parse` and checked like a
/// plain response's ([`codec::check_finish`]: a cut-off answer is [`LlmError::Truncated`], a
/// filtered one [`LlmError::ContentFilter`]), no text is [`LlmError::EmptyCompletion`], and the
/// usage counts one call. `requested_model` fills in the model when the stream named none.
pub fn finish(
    state: StreamState,
    requested_model: &str,
    parse: impl Fn(Option<&str>) -> FinishReason,
) -> Result<CompletionResponse, LlmError> {
    let raw = state.finish_reason.filter(|r| !r.is_empty());
    let reason = parse(raw.as_deref());
    codec::check_finish(&reason, || {
        format!(
            "finish reason {}: max_tokens or the context window was reached",
            raw.as_deref().unwrap_or("length")
        )
    })?;
    let usage = Usage {
        calls: 1,
        ..state.usage
    };
    codec::completion(state.model, requested_model, state.text, raw, reason, usage)
}
