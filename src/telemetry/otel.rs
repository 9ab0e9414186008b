//! The OpenTelemetry side of tracing: an OTLP/gRPC exporter behind a batch processor, joined
//! to `tracing` by `tracing-opentelemetry`. Without an endpoint no layer is added, so spans
//! cost what plain `tracing` spans cost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::TelemetrySettings;

/// Whether the installed subscriber exports spans (and so owns the trace ids).
static EXPORTING: AtomicBool = AtomicBool::new(false);

pub(crate) fn mark_installed(exporting: bool) {
    EXPORTING.store(exporting, Ordering::Relaxed);
}

/// True when spans are exported: trace ids then come from OpenTelemetry's span contexts.
pub fn is_exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Keeps the exporter alive; flushes what is batched when dropped.
#[must_use = "dropping the guard shuts the exporter down"]
pub struct TracingGuard {
    provider: Option<SdkTracerProvider>,
}

impl TracingGuard {
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends every finished span now (tests, and before exit).
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            if let Err(e) = provider.force_flush() {
                tracing::warn!(error = %e, "flushing spans to the OTLP collector failed");
            }
        }
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

/// A boxed tracing layer over the subscriber `S`.
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// The tracing layer exporting to `settings.otlp_endpoint`, or none when it is empty.
pub fn layer<S>(
    settings: &TelemetrySettings,
) -> anyhow::Result<(Option<BoxedLayer<S>>, TracingGuard)>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let endpoint = settings.otlp_endpoint.trim();
    if endpoint.is_empty() {
        return Ok((None, TracingGuard { provider: None }));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the OTLP exporter for {endpoint}: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("imgforge");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).boxed();
    Ok((
        Some(layer),
        TracingGuard {
            provider: Some(provider),
        },
    ))
}
