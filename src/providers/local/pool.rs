//! A bounded pool for CPU-bound work, so decoding and resizing never block the async runtime
//! and never oversubscribe the cores.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
}

impl CpuPool {
    pub fn new(size: usize) -> Self {
        CpuPool {
            permits: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// Sized to the machine: one job per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Runs `job` on a blocking thread once a permit is free. A panic becomes an Internal
    /// error instead of taking the server down.
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
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| Error::internal(format!("image worker failed: {e}")))?
    }
}
