//! W3C Trace Context (`traceparent`, `tracestate`): read from callers, written on calls to
//! remote providers, and the trace id a request runs under.
//!
//! With an OTLP endpoint the ids are OpenTelemetry's (the request span joins the caller's
//! trace). Without one no OpenTelemetry layer runs, yet callers still get a trace id to quote
//! and providers still get a `traceparent`: the caller's trace id, or a fresh one, is kept
//! for the request in a task-local.

use std::future::Future;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

tokio::task_local! {
    /// The trace of the request being served, when no OpenTelemetry layer owns the ids.
    static REQUEST_TRACE: (TraceId, TraceFlags);
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The caller's trace context from `traceparent`/`tracestate` (gRPC metadata are HTTP/2
/// headers too); an empty context when absent or malformed.
pub fn extract(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Joins `span` (a request's root span) to the caller's trace and returns the trace it runs
/// under: OpenTelemetry's when exporting, else the caller's, else a fresh one.
pub(crate) fn adopt(span: &tracing::Span, headers: &http::HeaderMap) -> (TraceId, TraceFlags) {
    let parent = extract(headers);
    if super::otel::is_exporting() {
        let _ = span.set_parent(parent.clone());
        let own = span.context().span().span_context().clone();
        if own.is_valid() {
            return (own.trace_id(), own.trace_flags());
        }
        // Span disabled by the filter: nothing is exported, the ids are ours to make.
    }
    let incoming = parent.span().span_context().clone();
    if incoming.is_valid() {
        (incoming.trace_id(), incoming.trace_flags())
    } else {
        (fresh_trace_id(), TraceFlags::default())
    }
}

/// Runs `future` (a request) with its trace as the task-local fallback.
pub(crate) fn scope<F: Future>(
    trace: (TraceId, TraceFlags),
    future: F,
) -> impl Future<Output = F::Output> {
    REQUEST_TRACE.scope(trace, future)
}

fn fresh_trace_id() -> TraceId {
    // Zero is the invalid trace id; a draw of it is astronomically unlikely, but cheap to avoid.
    TraceId::from(fastrand::u128(1..))
}

/// The trace id (32 lowercase hex digits) of the request being served, as echoed in the
/// `x-trace-id` reply header: for seed 001's `traceId` and the like. Outside a request (a
/// spawned task that did not inherit one) a fresh id, so replies always have one.
pub fn current_trace_id() -> String {
    current().map_or_else(|| fresh_trace_id().to_string(), |(id, _)| id.to_string())
}

fn current() -> Option<(TraceId, TraceFlags)> {
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        return Some((span_context.trace_id(), span_context.trace_flags()));
    }
    REQUEST_TRACE.try_with(|trace| *trace).ok()
}

/// Writes `traceparent` (and `tracestate`) for an outgoing call made inside `span`.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let propagator = TraceContextPropagator::new();
    let context = span.context();
    if context.span().span_context().is_valid() {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
        return;
    }
    let Some((trace_id, flags)) = current() else {
        return;
    };
    // Not exporting: the provider sees our trace id under a span id of our own making.
    let span_context = SpanContext::new(
        trace_id,
        SpanId::from(fastrand::u64(1..)),
        flags,
        true,
        TraceState::default(),
    );
    let context = Context::new().with_remote_span_context(span_context);
    propagator.inject_context(&context, &mut HeaderInjector(headers));
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(traceparent: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", traceparent.parse().unwrap());
        headers
    }

    #[test]
    fn a_callers_traceparent_is_read() {
        let context = extract(&headers(PARENT));
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[tokio::test]
    async fn without_exporting_the_callers_trace_is_kept_and_passed_on() {
        let span = tracing::Span::none();
        let trace = adopt(&span, &headers(PARENT));
        let (id, outgoing) = scope(trace, async {
            let mut out = http::HeaderMap::new();
            inject(&tracing::Span::none(), &mut out);
            (current_trace_id(), out)
        })
        .await;
        assert_eq!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let sent = outgoing["traceparent"].to_str().unwrap();
        assert!(
            sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{sent}"
        );
        assert!(sent.ends_with("-01"), "sampling decision kept: {sent}");
    }

    #[tokio::test]
    async fn a_malformed_traceparent_starts_a_new_trace() {
        let trace = adopt(&tracing::Span::none(), &headers("00-zz-zz-01"));
        assert!(trace.0 != TraceId::INVALID);
        let id = scope(trace, async { current_trace_id() }).await;
        assert_eq!(id, trace.0.to_string());
        assert_eq!(id.len(), 32);
    }
}
