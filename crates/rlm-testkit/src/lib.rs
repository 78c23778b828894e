//! `rlm-testkit`: test support for the recursive-lm runtime (unpublished).
//!
//! Layer: beside the runtime, used only as a dev-dependency. It depends on `rlm-core` (with its
//! `mock` feature), `rlm-limits` (for `RetryPolicy`), `tokio` and `serde_json`; it must not depend on a provider, a REPL backend or
//! the runner, so that any of them can use it in their tests.
//!
//! - [`FakeServer`]: a fake LLM HTTP/1.1 server on 127.0.0.1 with scripted [`Reply`]s and
//!   faults (error statuses with headers, stalls, dropped connections, truncated and trickled
//!   bodies, non-JSON bodies), counting requests, concurrency and connections. Every `POST` path
//!   goes to the script; replies speak OpenAI's, Anthropic's or Gemini's format ([`Wire`]), as
//!   server-sent events when the request asks for a stream ([`stream`]: with scripted faults,
//!   a plain JSON answer and a stream cut after some events).
//! - [`stream_checks`]: the streaming cases every provider's transport passes.
//! - [`terminal`]: a command on a pseudo-terminal (`script`), for the CLI's process tests.
//! - `OtlpReceiver` (feature `otlp`): an OTLP/HTTP trace receiver stub on 127.0.0.1 that
//!   decodes the protobuf bodies of `POST /v1/traces` into spans.
//! - [`Attempts`]: per-key request counts, for scripts that fail first attempts by prompt.
//! - [`provider_tests`]: the helpers the providers' transport tests share (retry policy,
//!   outcomes, a checked call, recorded waits), parameterised by a closure building the client.
//! - [`ScriptedModel`]: an in-process [`rlm_core::LanguageModel`] answering from a script.
//! - The mockall mocks of the core traits: [`MockLanguageModel`], [`MockRepl`],
//!   [`MockReplHost`], [`MockReplFactory`] (and [`mockall`] itself, for its predicates).
//!
//! ```no_run
//! use std::time::Duration;
//! use rlm_testkit::{FakeServer, Reply, Script};
//!
//! # async fn demo() {
//! let server = FakeServer::builder()
//!     .default_latency(Duration::from_millis(10))
//!     .start(Script::queue([
//!         Reply::status(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "1"),
//!         Reply::text("the answer is 42").usage(1200, 8),
//!     ]))
//!     .await;
//! // Point the client under test at `server.base_url()` (`http://127.0.0.1:PORT/v1`), then:
//! assert_eq!(server.request_count(), 2);
//! assert!(server.wait_connections_closed(Duration::from_secs(1)).await);
//! # }
//! ```

// Test support: a panic here is a failed test with a clear message.
#![allow(clippy::panic)]

mod attempts;
pub mod conversation;
pub mod demo;
mod http;
#[cfg(feature = "otlp")]
mod otlp;
pub mod provider_tests;
pub mod python_env;
mod reply;
pub mod schema;
mod scripted;
mod server;
pub mod stream;
pub mod stream_checks;
pub mod terminal;
mod wire;

pub use attempts::Attempts;
#[cfg(feature = "otlp")]
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use reply::{RecordedRequest, Reply, Script};
pub use scripted::{ScriptedModel, Step};
pub use server::{FakeServer, FakeServerBuilder, ServerStats};
pub use wire::Wire;

pub use mockall;
pub use rlm_core::{MockLanguageModel, MockRepl, MockReplFactory, MockReplHost};
