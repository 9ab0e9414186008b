//! Stopping blocking image work once nobody waits for it, or once it has run too long.
//!
//! A decode, rasterisation, resize or encode runs on a blocking thread, where dropping the
//! future that awaits it does nothing: without help, the work of a caller who has gone (or
//! whose deadline has passed) goes on to the end, holding a core. [`run_blocking`] gives every
//! job a [`CancelFlag`] that trips when the awaiting future is dropped, and a deadline counted
//! from when the job starts running. The job sees the flag through [`checkpoint`], which the
//! media and imaging code calls between stages and inside long loops.
//!
//! The flag is installed for the job's thread rather than passed to every function: decoding
//! is reached from many providers through `media::decode`, and a blocking thread runs one job
//! at a time, so the thread is an exact scope. Outside a job, [`checkpoint`] always passes.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode, Result};

/// What one blocking job may still do: stop when its caller has gone or its time is up.
#[derive(Clone, Debug)]
pub struct CancelFlag {
    stopped: Arc<AtomicBool>,
    deadline: Instant,
    budget: Duration,
}

impl CancelFlag {
    /// A flag for a job that starts now and may run for `budget`.
    fn starting_now(stopped: Arc<AtomicBool>, budget: Duration) -> Self {
        CancelFlag {
            stopped,
            // An absurd budget saturates to "no deadline" instead of overflowing.
            deadline: Instant::now()
                .checked_add(budget)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365)),
            budget,
        }
    }

    /// `Cancelled` once the caller has gone, `DeadlineExceeded` once the budget is spent.
    pub fn check(&self) -> Result<()> {
        if self.stopped.load(Ordering::Relaxed) {
            return Err(Error::new(
                ErrorCode::Cancelled,
                "the request ended, so its image work was abandoned",
            ));
        }
        if Instant::now() >= self.deadline {
            return Err(Error::new(
                ErrorCode::DeadlineExceeded,
                format!(
                    "image work exceeded its time budget of {} s (limits.max_job_secs)",
                    self.budget.as_secs_f32()
                ),
            )
            // The same input would take as long again.
            .retryable(false));
        }
        Ok(())
    }
}

/// Sets the flag when dropped: held by the future awaiting the job, so a caller that goes
/// away (client disconnect, request timeout, shutdown) stops the job at its next checkpoint.
struct StopWhenDropped(Arc<AtomicBool>);

impl Drop for StopWhenDropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

thread_local! {
    static CURRENT: RefCell<Option<CancelFlag>> = const { RefCell::new(None) };
}

/// Installs a flag for the current thread until dropped.
struct Installed;

impl Installed {
    fn new(flag: CancelFlag) -> Self {
        CURRENT.with(|current| *current.borrow_mut() = Some(flag));
        Installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}

/// Whether the current job should go on: an error once its caller has gone or its time
/// budget is spent; always `Ok` outside a job.
pub fn checkpoint() -> Result<()> {
    CURRENT.with(|current| match current.borrow().as_ref() {
        Some(flag) => flag.check(),
        None => Ok(()),
    })
}

/// Runs `job` on a blocking thread with a [`CancelFlag`] installed: it trips when the returned
/// future is dropped, and `budget` counts from when the job starts. A panic becomes an
/// `Internal` error instead of taking the server down.
pub async fn run_blocking<T, F>(budget: Duration, job: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let stopped = Arc::new(AtomicBool::new(false));
    let _stop_when_dropped = StopWhenDropped(stopped.clone());
    tokio::task::spawn_blocking(move || {
        let _installed = Installed::new(CancelFlag::starting_now(stopped, budget));
        checkpoint()?;
        job()
    })
    .await
    .map_err(|e| Error::internal(format!("image worker failed: {e}")))?
}

/// Runs `job` on the current thread with a flag that only its budget can trip: for callers
/// already on a blocking thread, and for tests.
pub fn run_here<T>(budget: Duration, job: impl FnOnce() -> Result<T>) -> Result<T> {
    let _installed = Installed::new(CancelFlag::starting_now(
        Arc::new(AtomicBool::new(false)),
        budget,
    ));
    job()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_passes_outside_a_job() {
        assert!(checkpoint().is_ok());
    }

    #[test]
    fn spent_budget_stops_the_job() {
        let err = run_here(Duration::ZERO, checkpoint).unwrap_err();
        assert_eq!(err.code, ErrorCode::DeadlineExceeded);
        assert!(
            err.message.contains("limits.max_job_secs"),
            "{}",
            err.message
        );
        assert!(!err.retryable);
        // The flag is gone once the job ends.
        assert!(checkpoint().is_ok());
    }

    #[tokio::test]
    async fn dropping_the_caller_stops_the_job() {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finished_tx, finished_rx) = std::sync::mpsc::channel();
        let job = run_blocking(Duration::from_secs(60), move || {
            started_tx.send(()).unwrap();
            let outcome = loop {
                if let Err(err) = checkpoint() {
                    break err;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            finished_tx.send(outcome.code).unwrap();
            Ok(())
        });
        let handle = tokio::spawn(job);
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        handle.abort();
        let code = tokio::task::spawn_blocking(move || {
            finished_rx.recv_timeout(Duration::from_secs(10)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(code, ErrorCode::Cancelled);
    }
}
