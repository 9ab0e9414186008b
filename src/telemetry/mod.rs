//! Logs, traces and metrics.
//!
//! - Logs: `tracing` to stderr, text or JSON ([`init`]).
//! - Traces: the same `tracing` spans exported over OTLP when `telemetry.otlp_endpoint` is set
//!   ([`otel`]); W3C `traceparent` is read from callers ([`request`]) and passed on to remote
//!   providers ([`outgoing`]). Every reply carries its trace id ([`TRACE_ID_HEADER`]).
//! - Metrics: Prometheus text at `/metrics` ([`metrics`]).
//!
//! Spans carry names, codes and counts only: never image bytes, base64, signed URLs or
//! secrets (URLs go through [`crate::redact::url_parsed`]).

pub mod methods;
pub mod metrics;
pub mod otel;
pub mod outgoing;
pub mod propagation;
pub mod provider;
pub mod request;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetrySettings};

pub use otel::TracingGuard;
pub use propagation::current_trace_id;
pub use request::{RequestTelemetryLayer, TRACE_ID_HEADER, Transport};

/// Installs the global subscriber; `RUST_LOG` overrides the configured filter. With an OTLP
/// endpoint, spans are also exported; keep the guard until exit so the last ones are sent.
///
/// Call it inside a Tokio runtime: the OTLP exporter's gRPC channel runs on it.
pub fn init(settings: &TelemetrySettings) -> anyhow::Result<TracingGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log_filter));
    let (otel_layer, guard) = otel::layer(settings)?;
    let registry = tracing_subscriber::registry().with(filter).with(otel_layer);
    let result = match settings.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    // A second init (tests starting several servers) keeps the first subscriber.
    if result.is_ok() {
        otel::mark_installed(guard.is_exporting());
    }
    Ok(guard)
}
