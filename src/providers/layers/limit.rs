//! Rate and concurrency limits: the primitives (a token bucket, a cap on work in flight)
//! that adapters also use inside their protocols (PROVIDERS.md §1.10, §5: DashScope's submit
//! rate per model, tasks that outlive their call), and [`LimitLayer`], which applies them
//! per key around any provider's calls. Both make callers wait their turn, first come first
//! served, instead of failing; both are cancel-safe.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{Decorator, Layer};
use crate::domain::Operation;
use crate::error::Result;
use crate::providers::{Call, OpRequest, Output, Provider};

/// A token bucket refilled at `per_second`, holding at most `burst` tokens, that queues
/// callers in arrival order.
///
/// Implemented as GCRA (the "virtual scheduling" form of a token bucket) behind a fair
/// `tokio::sync::Mutex`: the caller at the head of the queue holds the lock while it sleeps
/// until its token exists, and takes the token only after waking. Dropping a waiter at any
/// point therefore leaves the bucket untouched and hands the head of the queue on.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between two tokens.
    interval: Duration,
    /// How far ahead of the theoretical schedule a burst may run: `(burst - 1) · interval`.
    tolerance: Duration,
    /// Theoretical arrival time: when the bucket would next be empty-and-refilled by one.
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// # Panics
    ///
    /// If `per_second` is not a positive finite number. A `burst` of 0 counts as 1.
    pub fn new(per_second: f64, burst: u32) -> Self {
        assert!(
            per_second.is_finite() && per_second > 0.0,
            "rate limit must be a positive number of calls per second, got {per_second}"
        );
        let interval = Duration::try_from_secs_f64(1.0 / per_second)
            .unwrap_or_else(|_| panic!("rate limit {per_second}/s is too small"));
        RateLimiter {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits until a token is available and takes it. Callers are served in the order they
    /// called; a caller dropped while waiting takes no token.
    pub async fn acquire(&self) {
        let mut next = self.next.lock().await;
        // `None`: the token was due before the clock's origin, so long ago that it is there.
        if let Some(allowed_at) = next.checked_sub(self.tolerance)
            && allowed_at > Instant::now()
        {
            tokio::time::sleep_until(allowed_at).await;
        }
        *next = (*next).max(Instant::now()) + self.interval;
    }
}

/// At most `max` holders at once; the rest wait in arrival order.
///
/// Hold the permit for as long as the backend counts the work as running (for a DashScope
/// task: from submit until it finished or was cancelled); dropping it frees the slot.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit {
    semaphore: Arc<Semaphore>,
    max: usize,
}

/// A slot of a [`ConcurrencyLimit`], released on drop.
#[derive(Debug)]
pub struct ConcurrencyPermit {
    _permit: OwnedSemaphorePermit,
}

impl ConcurrencyLimit {
    /// # Panics
    ///
    /// If `max` is 0 (nothing could ever run) or above [`Semaphore::MAX_PERMITS`].
    pub fn new(max: usize) -> Self {
        assert!(max > 0, "a concurrency limit must allow at least one call");
        ConcurrencyLimit {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Waits for a free slot. Callers are served in the order they called; a caller
    /// dropped while waiting takes no slot.
    pub async fn acquire(&self) -> ConcurrencyPermit {
        let permit = Arc::clone(&self.semaphore)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        ConcurrencyPermit { _permit: permit }
    }

    /// The most holders at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }
}

/// What a [`LimitLayer`] counts calls by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBy {
    /// One budget per operation (for a remote provider: per backend model).
    Operation,
    /// One budget per calling API key; unauthenticated calls share one.
    Caller,
}

/// At most `per_second` calls started (burst `burst`) and `in_flight` calls running per key;
/// callers over either limit wait their turn.
#[derive(Debug, Clone, Copy)]
pub struct LimitLayer {
    pub key: KeyBy,
    pub per_second: Option<f64>,
    pub burst: u32,
    pub in_flight: Option<usize>,
}

impl LimitLayer {
    /// Whether the layer limits anything (an inactive one is not worth stacking).
    pub fn is_active(&self) -> bool {
        self.per_second.is_some() || self.in_flight.is_some()
    }
}

impl Layer for LimitLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Limited {
            inner,
            spec: *self,
            budgets: std::sync::Mutex::new(HashMap::new()),
        })
    }
}

/// The limiters of one key.
struct Budget {
    rate: Option<RateLimiter>,
    slots: Option<ConcurrencyLimit>,
}

struct Limited {
    inner: Arc<dyn Provider>,
    spec: LimitLayer,
    budgets: std::sync::Mutex<HashMap<String, Arc<Budget>>>,
}

impl Limited {
    fn budget(&self, op: Operation, call: &Call) -> Arc<Budget> {
        let key = match self.spec.key {
            KeyBy::Operation => op.name().to_owned(),
            KeyBy::Caller => call.caller.as_deref().unwrap_or("").to_owned(),
        };
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        budgets
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Budget {
                    rate: self
                        .spec
                        .per_second
                        .filter(|r| r.is_finite() && *r > 0.0)
                        .map(|r| RateLimiter::new(r, self.spec.burst)),
                    slots: self
                        .spec
                        .in_flight
                        .filter(|n| *n > 0)
                        .map(ConcurrencyLimit::new),
                })
            })
            .clone()
    }
}

#[async_trait]
impl Decorator for Limited {
    fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        let budget = self.budget(request.operation(), call);
        // The slot first: a call waiting for a slot must not spend a rate token meanwhile.
        let _slot = match &budget.slots {
            Some(slots) => Some(slots.acquire().await),
            None => None,
        };
        if let Some(rate) = &budget.rate {
            rate.acquire().await;
        }
        self.inner.run(request, call).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use futures::future::join_all;

    use super::*;

    /// Milliseconds since `start`, rounded, for readable assertions.
    fn ms_since(start: Instant) -> u64 {
        start.elapsed().as_millis() as u64
    }

    #[tokio::test(start_paused = true)]
    async fn queued_acquirers_pass_at_the_rate_in_arrival_order() {
        let limiter = RateLimiter::new(2.0, 1);
        let start = Instant::now();
        let passed = StdMutex::new(Vec::new());
        join_all((0..10).map(|i| {
            let (limiter, passed) = (&limiter, &passed);
            async move {
                limiter.acquire().await;
                passed.lock().unwrap().push((i, ms_since(start)));
            }
        }))
        .await;
        let passed = passed.into_inner().unwrap();
        let expected: Vec<(i32, u64)> = (0..10).map(|i| (i, i as u64 * 500)).collect();
        assert_eq!(passed, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn burst_passes_at_once_then_the_rate_applies() {
        let limiter = RateLimiter::new(10.0, 3);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..5 {
            limiter.acquire().await;
            times.push(ms_since(start));
        }
        assert_eq!(times, [0, 0, 0, 100, 200]);
        // An idle bucket refills to the burst, no further.
        tokio::time::advance(Duration::from_secs(10)).await;
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..4 {
            limiter.acquire().await;
            times.push(ms_since(start));
        }
        assert_eq!(times, [0, 0, 0, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_does_not_lose_a_token() {
        let limiter = Arc::new(RateLimiter::new(2.0, 1));
        let start = Instant::now();
        limiter.acquire().await; // the bucket is now empty until t = 500 ms
        // The head of the queue (sleeping while it holds the lock) and one behind it (waiting
        // for the lock) both give up; the third must get the token due at 500 ms.
        let head = tokio::spawn({
            let limiter = Arc::clone(&limiter);
            async move { limiter.acquire().await }
        });
        tokio::task::yield_now().await;
        let queued = tokio::spawn({
            let limiter = Arc::clone(&limiter);
            async move { limiter.acquire().await }
        });
        tokio::task::yield_now().await;
        let last = tokio::spawn({
            let limiter = Arc::clone(&limiter);
            async move {
                limiter.acquire().await;
                ms_since(start)
            }
        });
        tokio::time::sleep(Duration::from_millis(250)).await;
        queued.abort();
        head.abort();
        assert!(head.await.unwrap_err().is_cancelled());
        assert!(queued.await.unwrap_err().is_cancelled());
        assert_eq!(last.await.unwrap(), 500);
        // And the schedule carries on from there.
        limiter.acquire().await;
        assert_eq!(ms_since(start), 1_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_fifty_acquirers_all_pass() {
        let limiter = Arc::new(RateLimiter::new(2.0, 5));
        let start = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move {
                    limiter.acquire().await;
                    ms_since(start)
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.expect("no acquirer fails"));
        }
        times.sort_unstable();
        assert_eq!(times.len(), 50);
        assert_eq!(times.iter().filter(|t| **t == 0).count(), 5);
        // 45 more at 2/s after the burst of 5.
        assert_eq!(*times.last().unwrap(), 45 * 500);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_acquirers_on_many_threads_all_pass() {
        let limiter = Arc::new(RateLimiter::new(1_000.0, 10));
        let start = std::time::Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move { limiter.acquire().await })
            })
            .collect();
        for task in tasks {
            task.await.expect("no acquirer fails");
        }
        // 40 tokens after the burst at 1 ms each; generous bound for a loaded machine.
        assert!(start.elapsed() >= Duration::from_millis(39));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_limit_queues_and_frees_slots_on_drop() {
        let limit = ConcurrencyLimit::new(2);
        let first = limit.acquire().await;
        let _second = limit.acquire().await;
        assert_eq!(limit.available(), 0);
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await;
            }
        });
        // A cancelled waiter takes no slot.
        let cancelled = tokio::spawn({
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await;
            }
        });
        tokio::task::yield_now().await;
        cancelled.abort();
        assert!(cancelled.await.unwrap_err().is_cancelled());
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap();
        assert_eq!(limit.available(), 1);
        assert_eq!(limit.max(), 2);
    }
}
