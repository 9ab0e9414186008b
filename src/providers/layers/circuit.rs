//! A consecutive-failure circuit breaker: closed → open → half-open (one probe) → closed.
//!
//! While a backend keeps failing, calls fail fast with `Unavailable` so the engine moves to
//! the next provider of the chain at once instead of waiting out timeouts and retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Decorator, Layer};
use crate::config::ResilienceSettings;
use crate::domain::Operation;
use crate::error::{Error, ErrorCode, Result};
use crate::providers::{Call, OpRequest, Output, Provider};

/// How one attempt's outcome bears on the backend's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The backend answered (a caller error counts: the backend was there to refuse it).
    Healthy,
    /// The backend failed, timed out or was overloaded.
    Failing,
    /// Nothing was learnt (the call was cancelled).
    Unknown,
}

impl Verdict {
    pub(crate) fn of<T>(result: &Result<T>) -> Self {
        let Err(err) = result else {
            return Verdict::Healthy;
        };
        match err.code {
            ErrorCode::Unavailable | ErrorCode::DeadlineExceeded | ErrorCode::Internal => {
                Verdict::Failing
            }
            // Throttling (a shared account quota, a 429) is backpressure, not a broken
            // backend: opening the circuit would fail every queued caller fast while the
            // provider works. It is retried after `Retry-After` instead, and teaches the
            // breaker nothing either way.
            ErrorCode::ResourceExhausted | ErrorCode::Cancelled => Verdict::Unknown,
            ErrorCode::InvalidArgument
            | ErrorCode::PayloadTooLarge
            | ErrorCode::Unauthenticated
            | ErrorCode::NotFound
            | ErrorCode::FailedPrecondition
            | ErrorCode::ContentRejected
            | ErrorCode::Unimplemented => Verdict::Healthy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        failures: u32,
    },
    /// One probe is in flight; everyone else fails fast until it settles.
    HalfOpen {
        failures: u32,
    },
}

/// The breaker of one provider operation.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    provider: &'static str,
    operation: Operation,
    /// Consecutive failures that open the circuit; 0 disables the breaker.
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

/// Leave to run one attempt; settle it with the attempt's outcome. A permit dropped
/// unsettled (the caller went away) teaches the breaker nothing, and a probe dropped that way
/// lets the next call probe instead.
#[must_use = "settle the permit with the attempt's result"]
pub(crate) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    settled: bool,
}

impl CircuitBreaker {
    pub(crate) fn new(
        provider: &'static str,
        operation: Operation,
        threshold: u32,
        open_for: Duration,
    ) -> Self {
        CircuitBreaker {
            provider,
            operation,
            threshold,
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a plain value, valid whatever a panicking holder left in it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leave to call the backend, or the `Unavailable` error to fail fast with.
    pub(crate) fn admit(&self) -> Result<Permit<'_>> {
        let permit = |probe| Permit {
            breaker: self,
            probe,
            settled: false,
        };
        if self.threshold == 0 {
            return Ok(permit(false));
        }
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Ok(permit(false)),
            State::Open { until, failures } => {
                let now = Instant::now();
                if now < until {
                    return Err(self.open_error(failures, Some(until - now)));
                }
                *state = State::HalfOpen { failures };
                self.report(&state);
                tracing::info!(
                    provider = self.provider,
                    operation = %self.operation,
                    "circuit half-open, probing the provider"
                );
                Ok(permit(true))
            }
            State::HalfOpen { failures } => Err(self.open_error(failures, None)),
        }
    }

    /// Whether a call would be let through now (closed, or open long enough to probe).
    pub(crate) fn is_ready(&self) -> bool {
        if self.threshold == 0 {
            return true;
        }
        match *self.state() {
            State::Closed { .. } => true,
            State::Open { until, .. } => Instant::now() >= until,
            State::HalfOpen { .. } => false,
        }
    }

    fn open_error(&self, failures: u32, remaining: Option<Duration>) -> Error {
        Error::new(
            ErrorCode::Unavailable,
            format!(
                "provider {} is failing (circuit open for {} s after {failures} consecutive \
                 failures)",
                self.provider,
                self.open_for.as_secs()
            ),
        )
        .with_provider(self.provider)
        // The next provider of the chain should run now, not this one again.
        .retryable(false)
        .with_retry_after(remaining)
    }

    fn settle(&self, probe: bool, verdict: Verdict) {
        if self.threshold == 0 {
            return;
        }
        let mut state = self.state();
        let next = match (*state, verdict) {
            // A probe that taught nothing hands the probe to the next call.
            (State::HalfOpen { failures }, Verdict::Unknown) if probe => Some(State::Open {
                until: Instant::now(),
                failures,
            }),
            (State::HalfOpen { .. }, Verdict::Healthy) if probe => {
                tracing::info!(
                    provider = self.provider,
                    operation = %self.operation,
                    "circuit closed, the provider answered the probe"
                );
                Some(State::Closed { failures: 0 })
            }
            (State::HalfOpen { failures }, Verdict::Failing) if probe => {
                Some(self.open(failures.saturating_add(1)))
            }
            (State::Closed { .. }, Verdict::Healthy) => Some(State::Closed { failures: 0 }),
            (State::Closed { failures }, Verdict::Failing) => {
                let failures = failures.saturating_add(1);
                Some(if failures >= self.threshold {
                    self.open(failures)
                } else {
                    State::Closed { failures }
                })
            }
            // Calls admitted before the circuit opened do not overrule it: the probe decides.
            (State::Closed { .. }, Verdict::Unknown)
            | (State::Open { .. } | State::HalfOpen { .. }, _) => None,
        };
        if let Some(next) = next {
            *state = next;
            self.report(&next);
        }
    }

    /// The state as the `imgforge_circuit_state` gauge shows it.
    fn report(&self, state: &State) {
        use crate::telemetry::metrics::{Circuit, circuit_state};
        let shown = match state {
            State::Closed { .. } => Circuit::Closed,
            State::Open { .. } => Circuit::Open,
            State::HalfOpen { .. } => Circuit::HalfOpen,
        };
        circuit_state(self.provider, self.operation, shown);
    }

    fn open(&self, failures: u32) -> State {
        tracing::warn!(
            provider = self.provider,
            operation = %self.operation,
            failures,
            open_secs = self.open_for.as_secs(),
            "circuit opened, failing fast"
        );
        State::Open {
            until: Instant::now() + self.open_for,
            failures,
        }
    }
}

impl Permit<'_> {
    pub(crate) fn settle<T>(mut self, result: &Result<T>) {
        self.settled = true;
        self.breaker.settle(self.probe, Verdict::of(result));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.settle(self.probe, Verdict::Unknown);
        }
    }
}

/// A breaker per operation in front of a provider, so one failing backend model (DashScope
/// runs a different model, with its own quota and outages, for each operation) does not take
/// the provider's other operations down with it, and health reports each operation alone.
pub struct CircuitLayer {
    failures: u32,
    open_for: Duration,
}

impl CircuitLayer {
    pub fn new(settings: &ResilienceSettings) -> Self {
        CircuitLayer {
            failures: settings.circuit_failures,
            open_for: settings.circuit_open(),
        }
    }
}

impl Layer for CircuitLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        let name = inner.name();
        let circuits = Operation::ALL
            .into_iter()
            .map(|op| {
                (
                    op,
                    CircuitBreaker::new(name, op, self.failures, self.open_for),
                )
            })
            .collect();
        Arc::new(Circuit { inner, circuits })
    }
}

struct Circuit {
    inner: Arc<dyn Provider>,
    circuits: BTreeMap<Operation, CircuitBreaker>,
}

impl Circuit {
    fn breaker(&self, op: Operation) -> &CircuitBreaker {
        self.circuits
            .get(&op)
            .expect("a breaker exists for every operation")
    }
}

#[async_trait]
impl Decorator for Circuit {
    fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    fn unready_reason(&self, op: Operation) -> Option<String> {
        self.inner.unready_reason(op).or_else(|| {
            (!self.breaker(op).is_ready())
                .then(|| format!("provider {} is failing (circuit open)", self.name()))
        })
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        let permit = self.breaker(request.operation()).admit()?;
        let result = self.inner.run(request, call).await;
        permit.settle(&result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32) -> CircuitBreaker {
        CircuitBreaker::new(
            "fake",
            Operation::Resize,
            threshold,
            Duration::from_secs(30),
        )
    }

    fn failure() -> Result<()> {
        Err(Error::new(ErrorCode::Unavailable, "down"))
    }

    fn fail(breaker: &CircuitBreaker, times: u32) {
        for _ in 0..times {
            breaker.admit().expect("admitted").settle(&failure());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_only() {
        let breaker = breaker(3);
        fail(&breaker, 2);
        breaker.admit().unwrap().settle(&Ok(()));
        fail(&breaker, 2);
        assert!(breaker.is_ready(), "a success in between resets the count");
        fail(&breaker, 1);
        assert!(!breaker.is_ready());
        let err = breaker.admit().err().expect("open");
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(!err.retryable);
        assert_eq!(err.provider.as_deref(), Some("fake"));
        assert_eq!(
            err.message,
            "provider fake is failing (circuit open for 30 s after 3 consecutive failures)"
        );
        assert_eq!(err.retry_after, Some(Duration::from_secs(30)));
    }

    #[tokio::test(start_paused = true)]
    async fn caller_errors_do_not_count() {
        let breaker = breaker(2);
        for _ in 0..5 {
            let rejected: Result<()> = Err(Error::invalid("max_dim", "bad"));
            breaker.admit().unwrap().settle(&rejected);
        }
        assert!(breaker.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_never_opens_the_circuit() {
        let b = breaker(2);
        for _ in 0..10 {
            let throttled: Result<()> = Err(Error::new(
                ErrorCode::ResourceExhausted,
                "Throttling.RateQuota",
            ));
            b.admit().unwrap().settle(&throttled);
        }
        assert!(b.is_ready());
        // Nor does it reset real failures in between.
        fail(&b, 1);
        b.admit().unwrap().settle(&Err::<(), _>(Error::new(
            ErrorCode::ResourceExhausted,
            "Throttling.RateQuota",
        )));
        fail(&b, 1);
        assert!(!b.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_after_the_window_then_failure_reopens() {
        let breaker = breaker(1);
        fail(&breaker, 1);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(breaker.is_ready());
        let probe = breaker.admit().expect("probe");
        assert!(breaker.admit().is_err(), "only one probe at a time");
        assert!(!breaker.is_ready());
        probe.settle(&failure());
        let err = breaker.admit().err().expect("reopened");
        assert!(
            err.message.contains("after 2 consecutive failures"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_the_next_call_probe() {
        let breaker = breaker(1);
        fail(&breaker, 1);
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(breaker.admit().expect("probe"));
        let probe = breaker.admit().expect("the next call probes");
        probe.settle(&Ok(()));
        assert!(breaker.is_ready());
        breaker.admit().expect("closed").settle(&Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn late_successes_do_not_close_an_open_circuit() {
        let breaker = breaker(1);
        let slow = breaker.admit().unwrap();
        fail(&breaker, 1);
        slow.settle(&Ok(()));
        assert!(breaker.admit().is_err());
    }

    #[test]
    fn zero_threshold_disables_the_breaker() {
        let breaker = breaker(0);
        fail(&breaker, 100);
        assert!(breaker.is_ready());
    }
}
