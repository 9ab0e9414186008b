//! The span and metrics of one provider call made by the engine, whichever provider it is
//! (local or remote): a child of the request's span, parent of the provider's own spans
//! (attempts, HTTP requests).

use std::time::Instant;

use tracing::Span;

use crate::domain::Operation;
use crate::error::Result;

/// A provider call in progress; [`ProviderStep::finish`] records how it ended.
pub struct ProviderStep {
    span: Span,
    provider: &'static str,
    op: Operation,
    started: Instant,
}

impl ProviderStep {
    pub fn start(provider: &'static str, op: Operation) -> ProviderStep {
        let span = tracing::info_span!(
            "provider",
            otel.name = format!("provider {provider} {}", op.name()),
            provider,
            operation = op.name(),
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        ProviderStep {
            span,
            provider,
            op,
            started: Instant::now(),
        }
    }

    /// The span to run the call in.
    pub fn span(&self) -> Span {
        self.span.clone()
    }

    pub fn finish<T>(self, result: &Result<T>) {
        let outcome = record_outcome(&self.span, result);
        super::metrics::provider_call(self.provider, self.op, outcome, self.started.elapsed());
    }
}

/// Writes `outcome` (`ok` or the error code) and the OpenTelemetry status on `span`.
pub fn record_outcome<T>(span: &Span, result: &Result<T>) -> &'static str {
    let outcome = match result {
        Ok(_) => "ok",
        Err(err) => err.code.name(),
    };
    span.record("outcome", outcome);
    span.record(
        "otel.status_code",
        if result.is_ok() { "OK" } else { "ERROR" },
    );
    outcome
}
