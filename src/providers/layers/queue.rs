//! A backend's own limit on jobs running at once, as a line callers can see: each waiting
//! call is told how many are ahead of it ([`Progress::Queued`]) when it joins and whenever
//! that number changes.
//!
//! Waiting here costs a parked future, not a thread or an admission slot: generation runs on
//! the remote backend, so thousands of callers may wait at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::{Decorator, Layer};
use crate::domain::Progress;
use crate::error::{Error, Result};
use crate::providers::{Call, OpRequest, Output, Provider};

/// First come, first served slots with a visible line.
#[derive(Debug)]
pub struct JobQueue {
    slots: Arc<Semaphore>,
    line: Mutex<Line>,
    /// Bumped whenever someone leaves the line, so those behind recompute their place.
    moved: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Line {
    next_ticket: u64,
    waiting: VecDeque<u64>,
}

impl JobQueue {
    /// `max_running` of 0 counts as 1.
    pub fn new(max_running: u32) -> Self {
        JobQueue {
            slots: Arc::new(Semaphore::new(max_running.max(1) as usize)),
            line: Mutex::new(Line::default()),
            moved: watch::channel(0).0,
        }
    }

    fn line(&self) -> std::sync::MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Callers waiting ahead of `ticket`.
    fn ahead_of(&self, ticket: u64) -> u32 {
        let ahead = self
            .line()
            .waiting
            .iter()
            .take_while(|t| **t != ticket)
            .count();
        u32::try_from(ahead).unwrap_or(u32::MAX)
    }

    /// Waits for a slot, reporting the place in line to `call.progress` (once at least, as
    /// 0 when a slot is free). Dropping the future leaves the line.
    pub async fn enter(&self, call: &Call) -> Result<OwnedSemaphorePermit> {
        let mut moved = self.moved.subscribe();
        let ticket = {
            let mut line = self.line();
            let ticket = line.next_ticket;
            line.next_ticket += 1;
            line.waiting.push_back(ticket);
            ticket
        };
        let _leave = LeaveLine {
            queue: self,
            ticket,
        };
        // Tokio's semaphore is fair, and tickets are taken in the order callers get here,
        // so the line and the semaphore's own queue agree.
        let acquire = self.slots.clone().acquire_owned();
        tokio::pin!(acquire);
        let mut reported = None;
        loop {
            let ahead = self.ahead_of(ticket);
            if reported != Some(ahead) {
                call.progress.report(Progress::Queued {
                    position: Some(ahead),
                });
                reported = Some(ahead);
            }
            tokio::select! {
                biased;
                permit = &mut acquire => {
                    return permit.map_err(|_| Error::internal("job queue closed"));
                }
                changed = moved.changed() => {
                    if changed.is_err() {
                        return Err(Error::internal("job queue dropped"));
                    }
                }
            }
        }
    }
}

/// Takes a ticket out of the line however its holder stops waiting (a slot, a caller gone).
struct LeaveLine<'a> {
    queue: &'a JobQueue,
    ticket: u64,
}

impl Drop for LeaveLine<'_> {
    fn drop(&mut self) {
        self.queue.line().waiting.retain(|t| *t != self.ticket);
        self.queue.moved.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Puts a provider's calls behind one [`JobQueue`].
pub struct QueueLayer {
    queue: Arc<JobQueue>,
}

impl QueueLayer {
    pub fn new(max_running: u32) -> Self {
        QueueLayer {
            queue: Arc::new(JobQueue::new(max_running)),
        }
    }
}

impl Layer for QueueLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Queued {
            inner,
            queue: self.queue.clone(),
        })
    }
}

struct Queued {
    inner: Arc<dyn Provider>,
    queue: Arc<JobQueue>,
}

#[async_trait]
impl Decorator for Queued {
    fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        let _slot = self.queue.enter(call).await?;
        self.inner.run(request, call).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::domain::ProgressSink;

    fn recording() -> (Call, Arc<Mutex<Vec<Option<u32>>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            ProgressSink::new(move |p| {
                if let Progress::Queued { position } = p {
                    seen.lock().unwrap().push(position);
                }
            })
        };
        (Call::with_progress(sink), seen)
    }

    #[tokio::test]
    async fn waiters_see_their_place_move_up_as_slots_free() {
        let queue = Arc::new(JobQueue::new(1));
        let (call0, seen0) = recording();
        let first = queue.enter(&call0).await.unwrap();
        assert_eq!(*seen0.lock().unwrap(), vec![Some(0)]);

        let (call1, seen1) = recording();
        let (call2, seen2) = recording();
        let q1 = queue.clone();
        let second = tokio::spawn(async move { q1.enter(&call1).await });
        tokio::task::yield_now().await;
        let q2 = queue.clone();
        let third = tokio::spawn(async move {
            let permit = q2.enter(&call2).await;
            permit.map(drop)
        });
        // Both wait: one ahead of the second (none waiting), one ahead of the third.
        while seen2.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(*seen1.lock().unwrap(), vec![Some(0)]);
        assert_eq!(*seen2.lock().unwrap(), vec![Some(1)]);
        drop(first);
        // The second holds its slot: the third is now first in line.
        let second = second.await.unwrap().unwrap();
        while seen2.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*seen2.lock().unwrap(), vec![Some(1), Some(0)]);
        drop(second);
        third.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_caller_that_leaves_the_line_moves_those_behind_up() {
        let queue = Arc::new(JobQueue::new(1));
        let held = queue.enter(&Call::default()).await.unwrap();
        let q1 = queue.clone();
        let leaver = tokio::spawn(async move { q1.enter(&Call::default()).await.map(drop) });
        tokio::task::yield_now().await;
        let (call, seen) = recording();
        let q2 = queue.clone();
        let stayer = tokio::spawn(async move { q2.enter(&call).await.map(drop) });
        while seen.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        leaver.abort();
        while seen.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*seen.lock().unwrap(), vec![Some(1), Some(0)]);
        drop(held);
        stayer.await.unwrap().unwrap();
    }
}
