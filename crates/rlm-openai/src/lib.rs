//! `rlm-openai`: an OpenAI chat-completions provider for the recursive-lm runtime.
//!
//! Layer: a provider, directly above `rlm-core` and `rlm-limits`. It depends on them, `reqwest`
//! (rustls) and `tokio` (time only); it must not depend on the runner, a REPL backend, another
//! provider or the facade.
//!
//! [`OpenAiClient`] implements [`rlm_core::LanguageModel`] over any OpenAI-compatible server
//! through its base URL: OpenAI, vLLM, Ollama, OpenRouter, LM Studio, llama.cpp server, SGLang;
//! and over Azure OpenAI deployments ([`OpenAiClient::azure`]: the deployment URL with
//! `api-version`, the key in an `api-key` header, `AZURE_OPENAI_API_KEY`,
//! `AZURE_OPENAI_ENDPOINT`, `OPENAI_API_VERSION`). Reasoning servers' `reasoning_content` is
//! kept out of the text, and a response without `usage` counts zero tokens.
//!
//! - [`codec`]: request bodies and response decoding, pure functions tested against recorded
//!   fixtures. HTTP 200 is not yet success: `content: null`, no choices, `finish_reason`
//!   `length` or `content_filter`, a non-JSON body and an error object inside a 200 are typed
//!   errors.
//! - [`error_body`]: error responses to typed errors (authentication, exhausted quota, context
//!   length, Azure's content-filter refusal, other HTTP errors), bodies cut to 2 KiB.
//! - The client retries like the official SDKs (2 retries, 0.5 s·2^n backoff capped at 8 s with
//!   jitter; connect errors, dropped connections, 408, 409, 429, 5xx), honours
//!   `x-should-retry`, `retry-after-ms` and `Retry-After` up to a cap (a longer wait fails fast
//!   with [`rlm_core::LlmError::RetryAfterTooLong`]), and keeps one deadline per call, retries
//!   included ([`rlm_limits::RetryPolicy`]). The loop, the header parsing and the key scrubbing
//!   are the provider-neutral [`rlm_limits::http_retry`] and [`rlm_limits::redact`].
//! - The key is sent only as `Authorization: Bearer` (Azure: `api-key`); it never appears in
//!   errors, `Debug` output or traces. Each call is a `gen_ai.chat` span with the model and
//!   token counts, never the prompt.
//!
//! ```no_run
//! use std::time::Duration;
//! use rlm_core::{CompletionRequest, LanguageModel, Message};
//! use rlm_limits::RetryPolicy;
//! use rlm_openai::OpenAiClient;
//!
//! # async fn demo() -> Result<(), rlm_core::LlmError> {
//! // Key and endpoint from OPENAI_API_KEY / OPENAI_BASE_URL; code overrides them.
//! let client = OpenAiClient::builder("gpt-4o-mini")
//!     .env()
//!     .retry_policy(RetryPolicy { max_retries: 3, ..RetryPolicy::default() })
//!     .timeout(Duration::from_secs(120))
//!     .build()?;
//! let request = CompletionRequest::new(vec![Message::system("Be brief."), Message::user("2+2?")]);
//! let response = client.complete(request).await?;
//! println!("{}", response.text);
//! # Ok(()) }
//! ```

mod client;
pub mod codec;
mod config;
pub mod error_body;

pub use client::{MAX_RESPONSE_BYTES, OpenAiClient};
pub use codec::MaxTokensField;
pub use config::{
    API_KEY_ENV, API_VERSION_ENV, AZURE_API_KEY_ENV, AZURE_ENDPOINT_ENV, ApiKey, BASE_URL_ENV,
    DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT, OpenAiClientBuilder,
};
