//! `rlm-anthropic`: the Anthropic Messages API codec (Claude models) for the recursive-lm
//! runtime.
//!
//! Layer: a provider, a codec over the transport `rlm-http`. It depends on `rlm-core`,
//! `rlm-http` and serde; it must not depend on the runner, a REPL backend, another provider or
//! the facade.
//!
//! [`AnthropicClient`] is `rlm_http::HttpModel<Anthropic>`: the transport (client, retries with
//! `Retry-After` and `x-should-retry`, one deadline per call, capped bodies, key scrubbing) is
//! `rlm-http`'s, and this crate says only what differs: `POST {base}/v1/messages` (base
//! `https://api.anthropic.com`, or `ANTHROPIC_BASE_URL`; key `ANTHROPIC_API_KEY`, sent as
//! `x-api-key` with `anthropic-version: 2023-06-01`).
//!
//! - [`Anthropic`]: the [`rlm_http::WireFormat`] codec, with the default `max_tokens`
//!   ([`AnthropicBuilderExt::max_tokens`]).
//! - [`codec`]: request bodies and response decoding, pure functions tested against recorded
//!   fixtures. System messages become the top-level `system` field; consecutive messages of the
//!   same role are merged; `max_tokens` is always sent (default 8192); a reasoning effort is an
//!   extended-thinking budget; provider extras are merged in. Usage counts the whole
//!   prompt (`input_tokens` plus cache writes and reads), with cache reads as `cached_tokens`.
//!   `stop_reason` `max_tokens` is [`rlm_core::LlmError::Truncated`], `refusal`
//!   [`rlm_core::LlmError::ContentFilter`]; an error object inside a 200 is typed.
//! - [`stream`]: the events of a streamed reply (`"stream": true`: `message_start`,
//!   `content_block_delta`, `message_delta` with the usage, `message_stop`), decoded one by one.
//! - [`error_body`]: error responses to typed errors: 401/403 authentication, a spend-limit or
//!   credit-balance error [`rlm_core::LlmError::QuotaExhausted`] (never retried), `prompt is
//!   too long` [`rlm_core::LlmError::ContextLengthExceeded`]; 529 `overloaded_error` is retried.
//!
//! ```no_run
//! use std::time::Duration;
//! use rlm_anthropic::{AnthropicBuilderExt, AnthropicClient};
//! use rlm_core::{CompletionRequest, LanguageModel, Message};
//! use rlm_http::RetryPolicy;
//!
//! # async fn demo() -> Result<(), rlm_core::LlmError> {
//! // Key and endpoint from ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL; code overrides them.
//! let client = AnthropicClient::builder("claude-sonnet-4-5")
//!     .env()
//!     .max_tokens(4096)
//!     .retry_policy(RetryPolicy { max_retries: 3, ..RetryPolicy::default() })
//!     .timeout(Duration::from_secs(300))
//!     .build()?;
//! let request = CompletionRequest::new(vec![Message::system("Be brief."), Message::user("2+2?")]);
//! let response = client.complete(request).await?;
//! println!("{} ({} cached prompt tokens)", response.text, response.usage.cached_tokens);
//! # Ok(()) }
//! ```

pub mod codec;
pub mod error_body;
pub mod stream;
mod wire;

pub use codec::DEFAULT_MAX_TOKENS;
pub use rlm_http::{ApiKey, DEFAULT_CONNECT_TIMEOUT, MAX_RESPONSE_BYTES};
pub use wire::{
    ANTHROPIC_VERSION, API_KEY_ENV, Anthropic, AnthropicBuilderExt, AnthropicClient,
    AnthropicClientBuilder, BASE_URL_ENV, DEFAULT_BASE_URL,
};
