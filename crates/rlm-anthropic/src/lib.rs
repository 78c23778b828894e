//! `rlm-anthropic`: an Anthropic Messages API provider (Claude models) for the recursive-lm
//! runtime.
//!
//! Layer: a provider, directly above `rlm-core` and `rlm-limits`. It depends on them, `reqwest`
//! (rustls) and serde; it must not depend on the runner, a REPL backend, another provider or
//! the facade. The retry loop, `Retry-After` parsing and key scrubbing it shares with the other
//! providers live in [`rlm_limits::http_retry`] and [`rlm_limits::redact`].
//!
//! [`AnthropicClient`] implements [`rlm_core::LanguageModel`] over `POST {base}/v1/messages`
//! (base `https://api.anthropic.com`, or `ANTHROPIC_BASE_URL`; key `ANTHROPIC_API_KEY`, sent as
//! `x-api-key` with `anthropic-version: 2023-06-01`).
//!
//! - [`codec`]: request bodies and response decoding, pure functions tested against recorded
//!   fixtures. System messages become the top-level `system` field; consecutive messages of the
//!   same role are merged; `max_tokens` is always sent (default 8192). Usage counts the whole
//!   prompt (`input_tokens` plus cache writes and reads), with cache reads as `cached_tokens`.
//!   `stop_reason` `max_tokens` is [`rlm_core::LlmError::Truncated`], `refusal`
//!   [`rlm_core::LlmError::ContentFilter`]; an error object inside a 200 is typed.
//! - [`error_body`]: error responses to typed errors: 401/403 authentication, a spend-limit or
//!   credit-balance error [`rlm_core::LlmError::QuotaExhausted`] (never retried), `prompt is
//!   too long` [`rlm_core::LlmError::ContextLengthExceeded`].
//! - The client retries like the official SDK (2 retries, 0.5 s·2^n backoff capped at 8 s with
//!   jitter; connect errors, dropped connections, 408, 409, 429, 5xx and 529
//!   `overloaded_error`), honours `x-should-retry`, `retry-after-ms` and `Retry-After` up to a
//!   cap, and keeps one deadline per call, retries included ([`rlm_limits::RetryPolicy`]).
//! - The key never appears in errors, `Debug` output or traces. Each call is a `gen_ai.chat`
//!   span with the model and token counts, never the prompt.
//!
//! ```no_run
//! use std::time::Duration;
//! use rlm_anthropic::AnthropicClient;
//! use rlm_core::{CompletionRequest, LanguageModel, Message};
//! use rlm_limits::RetryPolicy;
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

mod client;
pub mod codec;
mod config;
pub mod error_body;

pub use client::{AnthropicClient, MAX_RESPONSE_BYTES};
pub use codec::DEFAULT_MAX_TOKENS;
pub use config::{
    ANTHROPIC_VERSION, API_KEY_ENV, AnthropicClientBuilder, ApiKey, BASE_URL_ENV, DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
};
