//! `rlm-gemini`: the Google Gemini API codec (`generateContent`) for the recursive-lm runtime.
//!
//! Layer: a provider, a codec over the transport `rlm-http`. It depends on `rlm-core`,
//! `rlm-http` and serde; it must not depend on the runner, a REPL backend, another provider or
//! the facade.
//!
//! [`GeminiClient`] is `rlm_http::HttpModel<Gemini>`: the transport (client, retries with
//! `Retry-After`, one deadline per call, capped bodies, key scrubbing) is `rlm-http`'s, and
//! this crate says only what differs: `POST {base}/v1beta/models/{model}:generateContent`
//! (base `https://generativelanguage.googleapis.com`, or `GEMINI_BASE_URL`; key
//! `GEMINI_API_KEY`, sent in the `x-goog-api-key` header, never in the URL).
//!
//! - [`Gemini`]: the [`rlm_http::WireFormat`] codec, with the API version in the path
//!   ([`GeminiBuilderExt::api_version`]).
//! - [`codec`]: request bodies and response decoding, pure functions tested against recorded
//!   fixtures. Roles `user`/`model`; system messages become `systemInstruction`; sampling goes
//!   in `generationConfig` (`temperature`, `topP`, `maxOutputTokens`, `stopSequences`, `seed`,
//!   a reasoning effort as `thinkingConfig.thinkingBudget`); provider extras are merged in.
//!   Usage from `usageMetadata` (thinking tokens count as output). Safety stops
//!   (`finishReason` `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, and a
//!   blocked prompt's `promptFeedback.blockReason`) are [`rlm_core::LlmError::ContentFilter`];
//!   `MAX_TOKENS` is [`rlm_core::LlmError::Truncated`].
//! - [`stream`]: a streamed reply (`:streamGenerateContent?alt=sse`: one
//!   `GenerateContentResponse` per event, with the running usage), decoded event by event.
//! - [`error_body`]: error responses to typed errors: 401/403 and a refused key (a 400
//!   `API_KEY_INVALID`) authentication; a 429 `RESOURCE_EXHAUSTED` for a daily quota or
//!   depleted credits [`rlm_core::LlmError::QuotaExhausted`] (never retried), other 429s
//!   retried after the body's `RetryInfo.retryDelay`; "input token count exceeds the maximum"
//!   [`rlm_core::LlmError::ContextLengthExceeded`].
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

pub mod codec;
pub mod error_body;
pub mod stream;
mod wire;

pub use rlm_http::{ApiKey, DEFAULT_CONNECT_TIMEOUT, MAX_RESPONSE_BYTES};
pub use wire::{
    API_KEY_ENV, BASE_URL_ENV, DEFAULT_API_VERSION, DEFAULT_BASE_URL, Gemini, GeminiBuilderExt,
    GeminiClient, GeminiClientBuilder,
};
