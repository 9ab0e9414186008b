//! Admission of local CPU work: a decorator around the in-process provider that makes each job
//! wait for a slot of its operation's lane, with a bounded queue and a bounded wait.
//!
//! The slot is taken here, where computing starts, never around a whole request: a request
//! whose body is still arriving, or that waits on a remote provider, holds no slot. A caller
//! that would wait too long is refused at once with `RESOURCE_EXHAUSTED` and a `Retry-After`,
//! so load turns into fast refusals instead of hung calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Decorator, Layer};
use crate::config::{LaneLimits, LaneSettings};
use crate::domain::Operation;
use crate::error::{Error, ErrorCode, Result};
use crate::providers::{Call, OpRequest, Output, Provider};

/// The class of an operation's local work; each lane has its own slots, so long jobs never
/// delay short ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Utility,
    Heavy,
}

impl Lane {
    pub fn of(op: Operation) -> Lane {
        match op {
            Operation::Resize | Operation::ConvertToPng => Lane::Utility,
            Operation::RemoveBackground
            | Operation::ChangeBackground
            | Operation::ChangeClothes
            | Operation::Expand
            | Operation::Fix
            | Operation::RemoveWatermark
            | Operation::GenerateCover
            | Operation::CoverOptions
            | Operation::UploadReferenceImage
            | Operation::PortraitUpload
            | Operation::PortraitCreateUserModel
            | Operation::PortraitListStyles
            | Operation::PortraitCreateTask
            | Operation::PortraitQueryTask
            | Operation::CreateCharacter => Lane::Heavy,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Lane::Utility => "utility",
            Lane::Heavy => "heavy",
        }
    }
}

/// The slots and queue of one lane.
struct Gate {
    lane: Lane,
    limits: LaneLimits,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Counts a caller in the queue for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    fn new(lane: Lane, limits: LaneLimits) -> Gate {
        crate::telemetry::metrics::lane_created(lane.name());
        Gate {
            lane,
            limits,
            slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            waiting: AtomicUsize::new(0),
        }
    }

    async fn admit(&self) -> Result<OwnedSemaphorePermit> {
        // Freed slots go to queued callers first, so this never jumps the queue.
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        let _queued = crate::telemetry::metrics::Queued::enter(self.lane.name());
        if queued >= self.limits.queue {
            return Err(self.busy(format!(
                "{} jobs are running and {} are waiting (server.lanes.{}.queue)",
                self.limits.concurrency,
                self.limits.queue,
                self.lane.name()
            )));
        }
        let wait = Duration::from_millis(self.limits.queue_timeout_ms);
        match tokio::time::timeout(wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::internal("admission lane is closed")),
            Err(_) => Err(self.busy(format!(
                "no slot freed within {} ms (server.lanes.{}.queue_timeout_ms)",
                self.limits.queue_timeout_ms,
                self.lane.name()
            ))),
        }
    }

    fn busy(&self, why: String) -> Error {
        // A queue's worth of wait is a fair guess of when a slot frees; at least one second.
        let retry_after = Duration::from_millis(self.limits.queue_timeout_ms)
            .max(Duration::from_secs(1))
            .min(Duration::from_secs(60));
        Error::new(
            ErrorCode::ResourceExhausted,
            format!(
                "the server is busy: {why}; retry in {} s",
                retry_after.as_secs()
            ),
        )
        .with_retry_after(Some(retry_after))
    }
}

/// Every lane of this process.
pub struct Lanes {
    utility: Gate,
    heavy: Gate,
}

impl Lanes {
    pub fn new(settings: &LaneSettings) -> Lanes {
        Lanes {
            utility: Gate::new(Lane::Utility, settings.utility),
            heavy: Gate::new(Lane::Heavy, settings.heavy),
        }
    }

    /// Waits for a slot of `op`'s lane within the lane's queue limits.
    pub async fn admit(&self, op: Operation) -> Result<OwnedSemaphorePermit> {
        match Lane::of(op) {
            Lane::Utility => self.utility.admit().await,
            Lane::Heavy => self.heavy.admit().await,
        }
    }
}

/// Makes every call of the provider it wraps first take a slot of its operation's lane, held
/// until the call returns (or is dropped because the caller left).
pub struct AdmissionLayer {
    lanes: Arc<Lanes>,
}

impl AdmissionLayer {
    pub fn new(lanes: Arc<Lanes>) -> Self {
        AdmissionLayer { lanes }
    }
}

impl Layer for AdmissionLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Admitted {
            inner,
            lanes: self.lanes.clone(),
        })
    }
}

struct Admitted {
    inner: Arc<dyn Provider>,
    lanes: Arc<Lanes>,
}

#[async_trait]
impl Decorator for Admitted {
    fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        let _slot = self.lanes.admit(request.operation()).await?;
        self.inner.run(request, call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(concurrency: usize, queue: usize, queue_timeout_ms: u64) -> Lanes {
        let limits = LaneLimits {
            concurrency,
            queue,
            queue_timeout_ms,
        };
        Lanes::new(&LaneSettings {
            utility: limits,
            heavy: limits,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_at_once_with_retry_after() {
        let lanes = Arc::new(lanes(1, 1, 5_000));
        let running = lanes.admit(Operation::Resize).await.unwrap();
        let queued = {
            let lanes = lanes.clone();
            tokio::spawn(async move { lanes.admit(Operation::Resize).await.map(drop) })
        };
        tokio::task::yield_now().await;
        let err = lanes.admit(Operation::Resize).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceExhausted);
        assert_eq!(err.retry_after, Some(Duration::from_secs(5)));
        assert!(err.message.contains("server.lanes.utility.queue"), "{err}");
        drop(running);
        queued.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_queue_timeout_is_refused() {
        let lanes = lanes(1, 8, 200);
        let _running = lanes.admit(Operation::RemoveBackground).await.unwrap();
        let err = lanes.admit(Operation::ChangeBackground).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceExhausted);
        assert!(err.message.contains("queue_timeout_ms"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn heavy_work_does_not_hold_utility_slots() {
        let lanes = lanes(1, 0, 100);
        let _heavy = lanes.admit(Operation::CreateCharacter).await.unwrap();
        let utility = lanes.admit(Operation::Resize).await;
        assert!(utility.is_ok());
    }
}
