//! A bounded pool for CPU-bound work, so decoding and resizing never block the async runtime
//! and never oversubscribe the cores.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::media::cancel;

#[derive(Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
    /// How long one job may run once started (`limits.max_job_secs`).
    job_budget: Duration,
}

impl CpuPool {
    pub fn new(size: usize, job_budget: Duration) -> Self {
        CpuPool {
            permits: Arc::new(Semaphore::new(size.max(1))),
            job_budget,
        }
    }

    /// Sized to the machine: one job per core.
    pub fn per_core(job_budget: Duration) -> Self {
        Self::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
            job_budget,
        )
    }

    /// Runs `job` on a blocking thread once a permit is free, under a cancellation flag that
    /// trips when this future is dropped or the job's time budget is spent (see
    /// [`cancel`]). A panic becomes an Internal error instead of taking the server down.
    pub async fn run<T, F>(&self, job: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("cpu pool is closed"))?;
        cancel::run_blocking(self.job_budget, move || {
            let _permit = permit;
            job()
        })
        .await
    }
}
