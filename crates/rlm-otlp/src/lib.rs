//! `rlm-otlp`: exports the recursive-lm runtime's `tracing` spans to an OpenTelemetry
//! collector over OTLP/HTTP (protobuf bodies).
//!
//! Layer: beside the trajectory, under the facade (which re-exports it as `rlm::otlp` behind its
//! `otlp` feature). It depends on `rlm-limits` (the span names) and on the OpenTelemetry crates
//! only; never on a provider, a REPL backend or the runner.
//!
//! What goes out: the spans of targets `rlm*` at `INFO` and above (`rlm.run`, `rlm.iteration`,
//! one `chat {model}` span per LLM call with the GenAI attributes `gen_ai.operation.name`,
//! `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model`,
//! `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, `gen_ai.response.finish_reasons`,
//! and `rlm.repl.execute` per code block), parented as the recursion runs. With
//! [`OtlpConfig::content`] also the `DEBUG` events that carry prompts, completions and code
//! (the runtime records them only when built with `trace_content`). Attributes whose name or
//! value looks like a credential are dropped before export ([`GenAiSpans`]).
//!
//! Where they go: [`OtlpConfig::endpoint`], else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (see [`endpoint`]); the service name is
//! [`OtlpConfig::service_name`], else `OTEL_SERVICE_NAME`, else `rlm`. Headers
//! (`OTEL_EXPORTER_OTLP_HEADERS`) and the export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`) are the
//! exporter's standard variables.
//!
//! Spans are batched on a thread of the exporter's own and sent when the [`OtlpGuard`] is
//! dropped or [shut down](OtlpGuard::shutdown_within): hold it for the life of the program.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Every span of the runtime goes to the collector until `guard` is dropped.
//! let guard = rlm_otlp::install("http://127.0.0.1:4318")?;
//! // ... run completions ...
//! drop(guard); // flushes what is left
//! # Ok(())
//! # }
//! ```

pub mod endpoint;
mod export;
mod genai;

pub use endpoint::traces_url;
pub use export::{OtlpConfig, OtlpGuard, OtlpLayer, install, layer};
pub use genai::GenAiSpans;

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// The endpoint is not an `http(s)://host` URL.
    #[error("invalid OTLP endpoint `{endpoint}`{}: {reason}", source_var.map(|v| format!(" in {v}")).unwrap_or_default())]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
        /// The variable it came from, when it came from one.
        source_var: Option<&'static str>,
    },
    /// [`install`] needs an endpoint and none is configured.
    #[error(
        "no OTLP endpoint: give one, or set OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )]
    NoEndpoint,
    /// The OTLP exporter refused its configuration.
    #[error("cannot build the OTLP exporter for {endpoint}: {message}")]
    Exporter {
        /// The traces URL.
        endpoint: String,
        /// The exporter's error.
        message: String,
    },
    /// [`install`] found a global `tracing` subscriber already set; use [`layer`] to add the
    /// export to it.
    #[error("a global tracing subscriber is already set: add rlm_otlp::layer() to it instead")]
    SubscriberAlreadySet,
}

impl OtlpError {
    /// The same error, saying which variable the endpoint came from.
    pub(crate) fn in_var(self, var: &'static str) -> Self {
        match self {
            OtlpError::InvalidEndpoint {
                endpoint, reason, ..
            } => OtlpError::InvalidEndpoint {
                endpoint,
                reason,
                source_var: Some(var),
            },
            other => other,
        }
    }
}
