//! The exporter's set-up: [`OtlpConfig`], the `tracing` [`layer`] that feeds it, [`install`]
//! for programs without a subscriber of their own, and the [`OtlpGuard`] that flushes.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracing::Level;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use crate::{GenAiSpans, OtlpError, endpoint};

/// The service name when neither the configuration nor `OTEL_SERVICE_NAME` gives one.
const DEFAULT_SERVICE: &str = "rlm";
/// The target prefix of the runtime's crates (`rlm_limits`, `rlm_runner`, the `rlm` binary...).
const RUNTIME_TARGETS: &str = "rlm";
/// How long dropping the guard waits for the last spans to be sent.
const DROP_FLUSH: Duration = Duration::from_secs(5);

/// What to export and where; `Default` reads everything from the standard variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The collector's base URL (`http://127.0.0.1:4318`; `/v1/traces` is appended), or a full
    /// traces URL ending in `/v1/traces`. `None`: the variables (see [`endpoint`]).
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute. `None`: `OTEL_SERVICE_NAME` (or
    /// `OTEL_RESOURCE_ATTRIBUTES`), else `rlm`.
    pub service_name: Option<String>,
    /// Also export the `DEBUG` events that carry prompts, completions, code and output
    /// (recorded only by a runtime built with `trace_content`). Off: they may hold private data.
    pub content: bool,
}

impl OtlpConfig {
    /// A configuration that exports to `endpoint` (a base URL).
    pub fn endpoint(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
            ..Self::default()
        }
    }

    /// The traces URL this configuration exports to, `None` when no endpoint is configured
    /// (neither here nor in the variables).
    pub fn traces_endpoint(&self) -> Result<Option<String>, OtlpError> {
        endpoint::resolve(self.endpoint.as_deref(), |name| std::env::var(name).ok())
    }
}

/// The layer [`layer`] returns: OpenTelemetry's, filtered to the runtime's targets.
pub type OtlpLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// A `tracing` layer that exports the runtime's spans, and the guard that flushes them; `None`
/// when no endpoint is configured. Add the layer to your own subscriber:
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
///
/// # fn demo() -> Result<(), rlm_otlp::OtlpError> {
/// let config = rlm_otlp::OtlpConfig::endpoint("http://127.0.0.1:4318");
/// if let Some((layer, guard)) = rlm_otlp::layer(&config)? {
///     let subscriber = tracing_subscriber::registry().with(layer);
///     let _ = tracing::subscriber::set_global_default(subscriber);
///     // ... keep `guard` until the program ends ...
/// #   drop(guard);
/// }
/// # Ok(())
/// # }
/// ```
pub fn layer<S>(config: &OtlpConfig) -> Result<Option<(OtlpLayer<S>, OtlpGuard)>, OtlpError>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let Some(traces) = config.traces_endpoint()? else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces.clone())
        .build()
        .map_err(|e| OtlpError::Exporter {
            endpoint: traces.clone(),
            message: e.to_string(),
        })?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(GenAiSpans::new(
            BatchSpanProcessor::builder(exporter).build(),
        ))
        .with_resource(resource(config.service_name.as_deref()))
        .build();
    let tracer = provider.tracer("recursive-lm");
    let level = if config.content {
        Level::DEBUG
    } else {
        Level::INFO
    };
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(Targets::new().with_target(RUNTIME_TARGETS, level));
    Ok(Some((
        Box::new(layer),
        OtlpGuard {
            provider,
            endpoint: traces,
        },
    )))
}

/// Sets a global `tracing` subscriber that exports the runtime's spans to `endpoint` (a base
/// URL such as `http://127.0.0.1:4318`, or `""` to take it from the variables). Keep the guard:
/// dropping it sends what is left.
pub fn install(endpoint: &str) -> Result<OtlpGuard, OtlpError> {
    let config = OtlpConfig {
        endpoint: Some(endpoint.to_string()).filter(|e| !e.trim().is_empty()),
        ..OtlpConfig::default()
    };
    let (layer, guard) = layer(&config)?.ok_or(OtlpError::NoEndpoint)?;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|_| OtlpError::SubscriberAlreadySet)?;
    Ok(guard)
}

/// The resource: the service name, plus what the SDK detects (`OTEL_RESOURCE_ATTRIBUTES`,
/// `OTEL_SERVICE_NAME`, the SDK's own attributes).
fn resource(service_name: Option<&str>) -> Resource {
    if let Some(name) = service_name {
        return Resource::builder()
            .with_service_name(name.to_string())
            .build();
    }
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder()
            .with_service_name(DEFAULT_SERVICE)
            .build()
    }
}

/// Keeps the exporter alive; dropping it sends the spans not yet sent (waiting up to 5 s).
#[derive(Debug)]
pub struct OtlpGuard {
    provider: SdkTracerProvider,
    endpoint: String,
}

impl OtlpGuard {
    /// The traces URL spans go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends every ended span now, waiting for the collector's answer.
    pub fn flush(&self) -> Result<(), OtlpError> {
        self.provider.force_flush().map_err(|e| self.error(e))
    }

    /// Sends what is left and stops exporting, waiting at most `timeout` (a collector that
    /// does not answer must not hold a process that is exiting). Later calls do nothing.
    pub fn shutdown_within(&self, timeout: Duration) -> Result<(), OtlpError> {
        match self.provider.shutdown_with_timeout(timeout) {
            Ok(()) | Err(opentelemetry_sdk::error::OTelSdkError::AlreadyShutdown) => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }

    fn error(&self, error: opentelemetry_sdk::error::OTelSdkError) -> OtlpError {
        OtlpError::Exporter {
            endpoint: self.endpoint.clone(),
            message: error.to_string(),
        }
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        let _ = self.shutdown_within(DROP_FLUSH);
    }
}
