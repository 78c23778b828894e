//! Where the process's `tracing` spans and logs go: `RUST_LOG`-filtered lines on stderr, and,
//! with the `otlp` feature, the runtime's spans to an OpenTelemetry collector
//! (`--otlp-endpoint URL`, or `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`;
//! `OTEL_SERVICE_NAME` names the service, `rlm` by default).
//!
//! The exporter batches spans; [`shutdown`] sends what is left and is called on every way out
//! of the process ([`crate::interrupt::exit`], the exit of `rlm serve`), with a bound so that
//! a collector that does not answer cannot hold the exit for long.

use std::time::Duration;

use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::Failure;
use crate::args::Cli;
#[cfg(feature = "otlp")]
use crate::args::Command;

/// How long an orderly exit waits for the last spans to reach the collector.
pub const ORDERLY: Duration = Duration::from_secs(5);
/// How long an exit at once (a second Ctrl-C) gives them.
pub const AT_ONCE: Duration = Duration::from_millis(300);

/// The `--otlp-endpoint` flag (global: it goes before or after the subcommand).
#[cfg(feature = "otlp")]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OtlpArgs {
    /// Export the spans (`chat {model}` per LLM call with token usage, runs, iterations, REPL
    /// blocks) to this OpenTelemetry collector over OTLP/HTTP, e.g. http://127.0.0.1:4318
    /// (`/v1/traces` is appended). Default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then
    /// $OTEL_EXPORTER_OTLP_ENDPOINT; with neither, nothing is exported. $OTEL_SERVICE_NAME
    /// names the service (default `rlm`); prompts and code go out only with --log-content.
    #[arg(long, global = true, value_name = "URL", value_parser = parse_endpoint)]
    pub otlp_endpoint: Option<String>,
}

#[cfg(feature = "otlp")]
fn parse_endpoint(value: &str) -> Result<String, String> {
    rlm::otlp::traces_url(value)
        .map(|_| value.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(feature = "otlp")]
static GUARD: std::sync::Mutex<Option<rlm::otlp::OtlpGuard>> = std::sync::Mutex::new(None);

/// Sets the process's subscriber: stderr lines for what `RUST_LOG` enables (default: errors
/// only) and, with the `otlp` feature and an endpoint, the export.
pub fn init(cli: &Cli) -> Result<(), Failure> {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // One line per closed span (run, iteration, LLM call, REPL execution) with its fields
        // and timings, for whichever spans RUST_LOG enables.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        );
    let registry = tracing_subscriber::registry().with(stderr);
    #[cfg(feature = "otlp")]
    {
        let content = match &cli.command {
            Command::Run(args) | Command::Chat(args) => args.log_content,
            _ => false,
        };
        let config = rlm::otlp::OtlpConfig {
            endpoint: cli.otlp.otlp_endpoint.clone(),
            service_name: None,
            content,
        };
        let (layer, guard) = match rlm::otlp::layer(&config) {
            Ok(Some((layer, guard))) => (Some(layer), Some(guard)),
            Ok(None) => (None, None),
            Err(e) => return Err(Failure::new(2, e.to_string())),
        };
        *GUARD.lock().unwrap_or_else(|e| e.into_inner()) = guard;
        let _ = registry.with(layer).try_init();
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = cli;
        let _ = registry.try_init();
    }
    Ok(())
}

/// Sends the spans not yet exported, waiting at most `within`; later calls do nothing. Without
/// the `otlp` feature, or without an endpoint, it does nothing.
pub fn shutdown(within: Duration) {
    #[cfg(feature = "otlp")]
    {
        let guard = GUARD.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(guard) = guard
            && let Err(e) = guard.shutdown_within(within)
        {
            eprintln!("[rlm] warning: {e}");
        }
    }
    #[cfg(not(feature = "otlp"))]
    let _ = within;
}
