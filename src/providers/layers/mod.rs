//! Decorators around any provider (STYLE.md §6), each wrapping the one entry point
//! [`Provider::run`], as opendal's layers wrap its accessor: a deadline on the whole call,
//! retries with backoff and jitter, a circuit breaker per operation, rate and concurrency
//! limits per key, admission of local CPU work, and a tracing span.
//!
//! A remote provider is stacked as `trace(deadline(retry(circuit(limits(adapter)))))`: the
//! deadline covers every attempt and backoff, each attempt passes the breaker, and a caller
//! waiting for a limit slot has not yet been counted as a backend failure.

pub mod admission;
mod circuit;
mod deadline;
mod limit;
mod queue;
mod retry;
#[cfg(test)]
mod stack_tests;
mod trace;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::ResilienceSettings;
use crate::domain::Operation;
use crate::error::Result;
use crate::providers::{Call, Capabilities, OpRequest, Output, Provider};

pub use admission::{AdmissionLayer, Lanes};
pub use circuit::CircuitLayer;
pub use deadline::DeadlineLayer;
pub use limit::{ConcurrencyLimit, ConcurrencyPermit, KeyBy, LimitLayer, RateLimiter};
pub use queue::{JobQueue, QueueLayer};
pub use retry::RetryLayer;
pub use trace::TraceLayer;

/// Wraps a provider in one decorator.
pub trait Layer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider>;
}

/// A provider wrapped by a layer: it names the provider it wraps and implements `run`; its
/// name and capabilities are the wrapped provider's, and so is its readiness unless it has a
/// reason of its own (an open circuit). Every decorator is a [`Provider`] through this.
#[async_trait]
pub trait Decorator: Send + Sync + 'static {
    fn inner(&self) -> &Arc<dyn Provider>;

    fn unready_reason(&self, op: Operation) -> Option<String> {
        self.inner().unready_reason(op)
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output>;
}

#[async_trait]
impl<D: Decorator> Provider for D {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn capabilities(&self) -> &Capabilities {
        self.inner().capabilities()
    }

    fn unready_reason(&self, op: Operation) -> Option<String> {
        Decorator::unready_reason(self, op)
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        Decorator::run(self, request, call).await
    }
}

/// Stacks layers onto a provider: the last one given ends up outermost.
pub struct Stack(Arc<dyn Provider>);

impl Stack {
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        Stack(provider)
    }

    pub fn layer(self, layer: impl Layer) -> Self {
        Stack(layer.layer(self.0))
    }

    pub fn build(self) -> Arc<dyn Provider> {
        self.0
    }
}

/// `inner` behind the resilience guards `settings` describe, with a span per call.
pub fn resilient(inner: Arc<dyn Provider>, settings: &ResilienceSettings) -> Arc<dyn Provider> {
    let mut stack = Stack::new(inner);
    if let Some((per_second, burst, in_flight)) = settings.caller_limits() {
        stack = stack.layer(LimitLayer {
            key: KeyBy::Caller,
            per_second,
            burst,
            in_flight,
        });
    }
    stack
        .layer(CircuitLayer::new(settings))
        .layer(RetryLayer::new(settings))
        .layer(DeadlineLayer::new(settings.timeout()))
        .layer(TraceLayer)
        .build()
}
