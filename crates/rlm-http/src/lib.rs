//! `rlm-http`: the HTTP transport under the recursive-lm providers.
//!
//! Layer: the transport, above `rlm-core` and `rlm-limits` (for [`RetryPolicy`]) and below the
//! providers. It depends on them, `reqwest` (rustls), `tokio` (time only), `serde`,
//! `serde_json`, `tracing` and the small pure crates `fastrand` (jitter) and `httpdate`
//! (`Retry-After` dates). It must not depend on a provider, a REPL backend, the runner or the
//! facade. It opens no span: the tracing decorator does; the transport only records the retry
//! attempt into the current span (`rlm.retry.attempt`) and logs retries (never a key or a body).
//!
//! [`HttpModel<W>`](HttpModel) implements [`rlm_core::LanguageModel`] once, over a
//! [`WireFormat`] codec `W`; [`HttpModelBuilder<W>`](HttpModelBuilder) is the one builder. A
//! provider crate (`rlm-openai`, `rlm-anthropic`, `rlm-gemini`) is a codec and a type alias,
//! `pub type OpenAiClient = HttpModel<OpenAi>;`. The transport owns:
//!
//! - the `reqwest` client: rustls, the key and extra headers marked sensitive, `tcp_nodelay`,
//!   the codec's user agent, a connect timeout;
//! - body reads capped at [`MAX_RESPONSE_BYTES`];
//! - the retry loop ([`retry`]): backoff with jitter per [`RetryPolicy`] (2 retries, 0.5 s·2^n
//!   capped at 8 s by default; connect errors, dropped connections, truncated bodies, 408, 409,
//!   429, 5xx), `x-should-retry`, `retry-after-ms` and `Retry-After` ([`hints`]) honoured up to a
//!   cap, and one deadline per call, retries included;
//! - key scrubbing ([`redact`]): the [`ApiKey`] that never prints, body snippets, and the
//!   [`redact::Scrubber`] that takes the key and header values out of every error;
//! - URLs shown without user info or query, so a key put in a URL never shows.
//!
//! Streaming ([`rlm_core::LanguageModel::complete_streaming`]): the transport parses the
//! server-sent events once ([`sse`]) and the codec decodes each event's JSON into a
//! [`stream::StreamState`] ([`WireFormat::decode_event`]). A stream is retried like a plain call
//! until the first byte of its body; after that a failure is an error (the caller has seen
//! text). A server that answers a streaming request with a plain JSON body still works.
//!
//! [`codec`] holds the pieces every codec shares (the JSON body in and out, the error object in
//! an HTTP 200, the finish-reason and status rules); [`merge_patch`] applies a request's
//! provider extras (`Sampling::extra_body`) to its body. `docs/providers.md` shows how to add a
//! provider.
//!
//! ```no_run
//! use std::time::Duration;
//! use rlm_core::{CompletionRequest, LanguageModel, Message};
//! use rlm_http::{HttpModel, WireFormat};
//! use rlm_http::RetryPolicy;
//!
//! /// Any codec: `rlm_openai::OpenAi`, `rlm_anthropic::Anthropic`, `rlm_gemini::Gemini`.
//! async fn ask<W: WireFormat + Default>(model: &str) -> Result<String, rlm_core::LlmError> {
//!     let client = HttpModel::<W>::builder(model)
//!         .env() // the codec's key and base-URL variables
//!         .retry_policy(RetryPolicy { max_retries: 3, ..RetryPolicy::default() })
//!         .timeout(Duration::from_secs(120))
//!         .build()?;
//!     let request = CompletionRequest::new(vec![Message::user("2+2?")]);
//!     Ok(client.complete(request).await?.text)
//! }
//! ```

mod builder;
pub mod codec;
pub mod hints;
pub mod merge_patch;
mod model;
pub mod redact;
pub mod retry;
pub mod sse;
pub mod stream;
mod wire;

pub use builder::{DEFAULT_CONNECT_TIMEOUT, HttpModelBuilder};
pub use model::{HttpModel, MAX_RESPONSE_BYTES, shown_url};
pub use redact::{ApiKey, MAX_BODY_SNIPPET};
pub use reqwest::Url;
pub use reqwest::header;
pub use rlm_limits::RetryPolicy;
pub use wire::WireFormat;
