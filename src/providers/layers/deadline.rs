//! One deadline for a whole provider call, attempts and backoffs included.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Decorator, Layer};
use crate::domain::Operation;
use crate::error::{Error, ErrorCode, Result};
use crate::providers::{Call, OpRequest, Output, Provider};

/// When the deadline passes the call's future is dropped (adapters cancel their remote task
/// on drop) and the call fails with `DeadlineExceeded`. `None` disables it.
pub struct DeadlineLayer {
    timeout: Option<Duration>,
}

impl DeadlineLayer {
    pub fn new(timeout: Option<Duration>) -> Self {
        DeadlineLayer { timeout }
    }
}

impl Layer for DeadlineLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Deadline {
            inner,
            timeout: self.timeout,
        })
    }
}

struct Deadline {
    inner: Arc<dyn Provider>,
    timeout: Option<Duration>,
}

impl Deadline {
    fn exceeded(&self, op: Operation) -> Error {
        let secs = self.timeout.map_or(0, |t| t.as_secs());
        Error::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "provider {} did not finish {op} within {secs} s (providers.resilience.timeout_secs)",
                self.inner.name()
            ),
        )
    }
}

#[async_trait]
impl Decorator for Deadline {
    fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        let Some(timeout) = self.timeout else {
            return self.inner.run(request, call).await;
        };
        let op = request.operation();
        let ours = Instant::now() + timeout;
        let call = Call {
            // An outer deadline that comes first still wins.
            deadline: Some(call.deadline.map_or(ours, |outer| outer.min(ours))),
            ..call.clone()
        };
        // On expiry `timeout_at` drops the inner call, which is how the adapter learns to cancel.
        match tokio::time::timeout_at(ours, self.inner.run(request, &call)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(self.exceeded(op)),
        }
    }
}
