//! `rlm-openai`: the OpenAI chat-completions codec for the recursive-lm runtime.
//!
//! Layer: a provider, a codec over the transport `rlm-http`. It depends on `rlm-core`,
//! `rlm-http` and serde; it must not depend on the runner, a REPL backend, another provider or
//! the facade.
//!
//! [`OpenAiClient`] is `rlm_http::HttpModel<OpenAi>`: the transport (client, retries,
//! `Retry-After`, one deadline per call, capped bodies, key scrubbing) is `rlm-http`'s, and
//! this crate says only what differs. It speaks to any OpenAI-compatible server through its
//! base URL: OpenAI, vLLM, Ollama, OpenRouter, LM Studio, llama.cpp server, SGLang. An Azure
//! OpenAI deployment is an [`AzureOpenAiClient`] (`HttpModel<AzureOpenAi>`: the deployment URL
//! with `api-version`, the key in an `api-key` header, `AZURE_OPENAI_API_KEY`,
//! `AZURE_OPENAI_ENDPOINT`, `OPENAI_API_VERSION`).
//!
//! - [`OpenAi`], [`AzureOpenAi`]: the [`rlm_http::WireFormat`] codecs: endpoint, key header,
//!   variables ([`API_KEY_ENV`], [`BASE_URL_ENV`], ...), and the builder options
//!   ([`OpenAiBuilderExt`]: `max_tokens_field`, `api_version`).
//! - [`codec`]: request bodies and response decoding, pure functions tested against recorded
//!   fixtures. A reasoning effort is `reasoning_effort` (the cap then goes in
//!   `max_completion_tokens`); provider extras are merged in. Reasoning servers'
//!   `reasoning_content` is kept out of the text, and a response
//!   without `usage` counts zero tokens. HTTP 200 is not yet success: `content: null`, no
//!   choices, `finish_reason` `length` or `content_filter`, a non-JSON body and an error object
//!   inside a 200 are typed errors.
//! - [`stream`]: the chunks of a streamed reply (`"stream": true` with
//!   `stream_options.include_usage`, so usage is still counted), decoded event by event.
//! - [`error_body`]: error responses to typed errors (authentication, exhausted quota, context
//!   length, Azure's content-filter refusal, other HTTP errors), bodies cut to 2 KiB.
//!
//! The key is sent only as `Authorization: Bearer` (Azure: `api-key`); it never appears in
//! errors, `Debug` output or logs.
//!
//! ```no_run
//! use std::time::Duration;
//! use rlm_core::{CompletionRequest, LanguageModel, Message};
//! use rlm_http::RetryPolicy;
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

pub mod codec;
pub mod error_body;
pub mod stream;
mod wire;

pub use codec::MaxTokensField;
pub use rlm_http::{ApiKey, DEFAULT_CONNECT_TIMEOUT, MAX_RESPONSE_BYTES};
pub use wire::{
    API_KEY_ENV, API_VERSION_ENV, AZURE_API_KEY_ENV, AZURE_ENDPOINT_ENV, AzureOpenAi,
    AzureOpenAiClient, AzureOpenAiClientBuilder, BASE_URL_ENV, DEFAULT_BASE_URL, OpenAi,
    OpenAiBuilderExt, OpenAiClient, OpenAiClientBuilder, OpenAiOptions,
};
