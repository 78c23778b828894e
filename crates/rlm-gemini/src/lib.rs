//! `rlm-gemini`: a Google Gemini API provider (`generateContent`) for the recursive-lm runtime.
//!
//! Layer: a provider, directly above `rlm-core` and `rlm-limits`. It depends on them, `reqwest`
//! (rustls) and serde; it must not depend on the runner, a REPL backend, another provider or
//! the facade. The retry loop, `Retry-After` parsing and key scrubbing it shares with the other
//! providers live in [`rlm_limits::http_retry`] and [`rlm_limits::redact`].
//!
//! [`GeminiClient`] implements [`rlm_core::LanguageModel`] over
//! `POST {base}/v1beta/models/{model}:generateContent` (base
//! `https://generativelanguage.googleapis.com`, or `GEMINI_BASE_URL`; key `GEMINI_API_KEY`,
//! sent in the `x-goog-api-key` header, never in the URL).
//!
//! - [`codec`]: request bodies and response decoding, pure functions tested against recorded
//!   fixtures. Roles `user`/`model`; system messages become `systemInstruction`; sampling goes
//!   in `generationConfig` (`temperature`, `topP`, `maxOutputTokens`, `stopSequences`, `seed`).
//!   Usage from `usageMetadata` (thinking tokens count as output). Safety stops
//!   (`finishReason` `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, and a
//!   blocked prompt's `promptFeedback.blockReason`) are [`rlm_core::LlmError::ContentFilter`];
//!   `MAX_TOKENS` is [`rlm_core::LlmError::Truncated`].
//! - [`error_body`]: error responses to typed errors: 401/403 and a refused key (a 400
//!   `API_KEY_INVALID`) authentication; a 429 `RESOURCE_EXHAUSTED` for a daily quota or
//!   depleted credits [`rlm_core::LlmError::QuotaExhausted`] (never retried), other 429s
//!   retried after the body's `RetryInfo.retryDelay`; "input token count exceeds the maximum"
//!   [`rlm_core::LlmError::ContextLengthExceeded`].
//! - The client retries like the other providers (2 retries, 0.5 s·2^n backoff capped at 8 s
//!   with jitter; connect errors, dropped connections, 408, 409, 429, 5xx), honours
//!   `Retry-After` up to a cap, and keeps one deadline per call, retries included
//!   ([`rlm_limits::RetryPolicy`]).
//! - The key never appears in errors, `Debug` output or traces. Each call is a `gen_ai.chat`
//!   span with the model and token counts, never the prompt.
//!
//! ```no_run
//! use std::time::Duration;
//! use rlm_core::{CompletionRequest, LanguageModel, Message};
//! use rlm_gemini::GeminiClient;
//!
//! # async fn demo() -> Result<(), rlm_core::LlmError> {
//! // Key and endpoint from GEMINI_API_KEY / GEMINI_BASE_URL; code overrides them.
//! let client = GeminiClient::builder("gemini-2.5-flash")
//!     .env()
//!     .timeout(Duration::from_secs(300))
//!     .build()?;
//! let request = CompletionRequest::new(vec![Message::system("Be brief."), Message::user("2+2?")]);
//! let response = client.complete(request).await?;
//! println!("{} ({} tokens out)", response.text, response.usage.output_tokens);
//! # Ok(()) }
//! ```

mod client;
pub mod codec;
mod config;
pub mod error_body;

pub use client::{GeminiClient, MAX_RESPONSE_BYTES};
pub use config::{
    API_KEY_ENV, ApiKey, BASE_URL_ENV, DEFAULT_API_VERSION, DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT, GeminiClientBuilder,
};
