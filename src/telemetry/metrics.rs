//! Prometheus metrics through the `metrics` facade.
//!
//! Why `metrics` + `metrics-exporter-prometheus` rather than the `prometheus` crate: call
//! sites are one macro against a process-wide recorder, so providers, the circuit breaker and
//! the admission lanes need no registry handle threaded through their constructors (they are
//! being reshaped into layers); with no recorder installed (`telemetry.metrics = false`)
//! every macro is a no-op. Both crates are maintained; the exporter is used only as a text
//! renderer (default features off): the bridge serves `/metrics` itself.
//!
//! Labels are bounded sets only: operation names, known gRPC methods or REST routes,
//! provider names, codes and lanes; never ids or URLs.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::Operation;

/// Requests answered, by `transport` (grpc, http), `operation` (gRPC method or REST route)
/// and `code` (gRPC status name or HTTP status).
pub const REQUESTS: &str = "imgforge_requests_total";
/// Time from request head to the end of the reply (a stream's last message), by `transport`
/// and `operation`.
pub const REQUEST_SECONDS: &str = "imgforge_request_duration_seconds";
/// Calls of a provider by the engine (one per provider of the chain tried), by `provider`,
/// `operation` and `outcome` (`ok` or the error code).
pub const PROVIDER_CALLS: &str = "imgforge_provider_calls_total";
/// Duration of those calls, retries included, by `provider` and `operation`.
pub const PROVIDER_SECONDS: &str = "imgforge_provider_call_duration_seconds";
/// Retries of a failed remote provider attempt, by `provider` and `operation`.
pub const PROVIDER_RETRIES: &str = "imgforge_provider_retries_total";
/// Circuit breaker state per `provider` and `operation`: 0 closed, 1 open, 2 half-open.
pub const CIRCUIT_STATE: &str = "imgforge_circuit_state";
/// Jobs waiting for a slot of an admission `lane` (utility, heavy).
pub const QUEUE_DEPTH: &str = "imgforge_lane_queue_depth";
/// Server-streaming calls whose stream is open, by `transport` and `operation`.
pub const STREAMS_OPEN: &str = "imgforge_streams_open";

/// Histogram buckets (seconds): from a small resize to a long remote generation.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle). `None`
/// when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.to_owned()), BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(PROVIDER_SECONDS.to_owned()), BUCKETS)
                })
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()?;
            describe();
            Some(recorder)
        })
        .clone()
}

/// The Prometheus text exposition of every metric.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    handle.render()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "Requests answered, by transport, operation and code."
    );
    describe_histogram!(
        REQUEST_SECONDS,
        Unit::Seconds,
        "Request latency until the reply (or stream) ends."
    );
    describe_counter!(
        PROVIDER_CALLS,
        "Provider calls by provider, operation and outcome."
    );
    describe_histogram!(
        PROVIDER_SECONDS,
        Unit::Seconds,
        "Provider call latency, retries included."
    );
    describe_counter!(
        PROVIDER_RETRIES,
        "Retries of failed remote provider attempts."
    );
    describe_gauge!(
        CIRCUIT_STATE,
        "Circuit state: 0 closed, 1 open, 2 half-open."
    );
    describe_gauge!(QUEUE_DEPTH, "Jobs waiting for a slot of an admission lane.");
    describe_gauge!(STREAMS_OPEN, "Server-streaming calls currently open.");
}

/// One request answered.
pub fn request_done(transport: &'static str, operation: &str, code: &str, took: Duration) {
    metrics::counter!(REQUESTS, "transport" => transport, "operation" => operation.to_owned(), "code" => code.to_owned())
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "transport" => transport, "operation" => operation.to_owned())
        .record(took.as_secs_f64());
}

/// One provider call by the engine ended.
pub fn provider_call(provider: &'static str, op: Operation, outcome: &'static str, took: Duration) {
    metrics::counter!(PROVIDER_CALLS, "provider" => provider, "operation" => op.name(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(PROVIDER_SECONDS, "provider" => provider, "operation" => op.name())
        .record(took.as_secs_f64());
}

/// A failed remote attempt is about to be retried.
pub fn provider_retry(provider: &'static str, op: Operation) {
    metrics::counter!(PROVIDER_RETRIES, "provider" => provider, "operation" => op.name())
        .increment(1);
}

/// States of a circuit breaker, as the gauge reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// A breaker of `provider`'s `op` is now in `state`.
pub fn circuit_state(provider: &'static str, op: Operation, state: Circuit) {
    metrics::gauge!(CIRCUIT_STATE, "provider" => provider, "operation" => op.name())
        .set(state as i32 as f64);
}

/// A lane exists: its queue depth shows (as 0) before anyone waits.
pub fn lane_created(lane: &'static str) {
    metrics::gauge!(QUEUE_DEPTH, "lane" => lane).set(0.0);
}

/// Counts a job in its lane's queue for as long as it is held.
#[must_use = "the job counts as queued while the guard lives"]
pub struct Queued(&'static str);

impl Queued {
    pub fn enter(lane: &'static str) -> Queued {
        metrics::gauge!(QUEUE_DEPTH, "lane" => lane).increment(1.0);
        Queued(lane)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        metrics::gauge!(QUEUE_DEPTH, "lane" => self.0).decrement(1.0);
    }
}

/// Counts an open response stream for as long as it is held.
pub(crate) struct OpenStream {
    transport: &'static str,
    operation: String,
}

impl OpenStream {
    pub(crate) fn enter(transport: &'static str, operation: String) -> OpenStream {
        metrics::gauge!(STREAMS_OPEN, "transport" => transport, "operation" => operation.clone())
            .increment(1.0);
        OpenStream {
            transport,
            operation,
        }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(STREAMS_OPEN, "transport" => self.transport, "operation" => self.operation.clone())
            .decrement(1.0);
    }
}
