//! Retrying a failed provider call: when to try again, how long to wait first, and the
//! layer that does it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::Instrument;

use super::{Decorator, Layer};
use crate::config::ResilienceSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::providers::{Call, OpRequest, Output, Provider};

/// Exponential backoff with full jitter (the AWS Architecture Blog's "Exponential Backoff And
/// Jitter"): the wait before retry `n` is uniform in `[0, min(max, initial · 2ⁿ⁻¹)]`, so
/// callers that failed together do not come back together.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    max_attempts: u32,
    initial: Duration,
    max: Duration,
    /// Draws the actual wait from `[0, cap]`; tests swap it for a predictable one.
    jitter: fn(Duration) -> Duration,
}

impl RetryPolicy {
    pub(crate) fn new(settings: &ResilienceSettings) -> Self {
        RetryPolicy {
            max_attempts: settings.max_attempts.max(1),
            initial: settings.backoff_initial(),
            max: settings.backoff_max(),
            jitter: full_jitter,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_jitter(mut self, jitter: fn(Duration) -> Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The upper bound of the wait after attempt `failed_attempt` (1-based) failed.
    pub(crate) fn backoff_cap(&self, failed_attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failed_attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// How long to wait before trying again after attempt `failed_attempt` failed with `err`,
    /// or `None` to give up and return `err`.
    ///
    /// The wait is the jittered backoff or the provider's `Retry-After`, whichever is longer.
    /// A wait that would use up all of `remaining` (the time left before the call's deadline)
    /// gives up at once: the next attempt could not run, and the real error says more than
    /// a deadline would.
    pub(crate) fn wait_before_retry(
        &self,
        failed_attempt: u32,
        err: &Error,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        if failed_attempt >= self.max_attempts || !is_retryable(err) {
            return None;
        }
        let backoff = (self.jitter)(self.backoff_cap(failed_attempt));
        let wait = err.retry_after.map_or(backoff, |asked| asked.max(backoff));
        match remaining {
            Some(remaining) if wait >= remaining => None,
            Some(_) | None => Some(wait),
        }
    }
}

/// Whether `err` may be retried: the provider says so and the code is not one that the same
/// request will meet again (bad input, refused content, a caller who left, a missing
/// operation), whatever the flag says.
pub(crate) fn is_retryable(err: &Error) -> bool {
    let code_allows = match err.code {
        ErrorCode::InvalidArgument
        | ErrorCode::PayloadTooLarge
        | ErrorCode::ContentRejected
        | ErrorCode::Cancelled
        | ErrorCode::Unimplemented => false,
        ErrorCode::Unauthenticated
        | ErrorCode::NotFound
        | ErrorCode::ResourceExhausted
        | ErrorCode::DeadlineExceeded
        | ErrorCode::Unavailable
        | ErrorCode::FailedPrecondition
        | ErrorCode::Internal => true,
    };
    code_allows && err.retryable
}

/// A uniformly random duration in `[0, cap]`.
pub(crate) fn full_jitter(cap: Duration) -> Duration {
    let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=cap_nanos))
}

/// Retries retryable errors with [`RetryPolicy`]'s waits, within the call's deadline (set by
/// an outer [`super::DeadlineLayer`]).
pub struct RetryLayer {
    policy: RetryPolicy,
}

impl RetryLayer {
    pub fn new(settings: &ResilienceSettings) -> Self {
        RetryLayer {
            policy: RetryPolicy::new(settings),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_policy(policy: RetryPolicy) -> Self {
        RetryLayer { policy }
    }
}

impl Layer for RetryLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(Retry {
            inner,
            policy: self.policy.clone(),
        })
    }
}

struct Retry {
    inner: Arc<dyn Provider>,
    policy: RetryPolicy,
}

#[async_trait]
impl Decorator for Retry {
    fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output> {
        let op = request.operation();
        let mut number: u32 = 1;
        loop {
            tracing::Span::current().record("attempt", number);
            let span = tracing::info_span!(
                "provider_attempt",
                attempt = number,
                outcome = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let result = self
                .inner
                .run(request.clone(), call)
                .instrument(span.clone())
                .await;
            crate::telemetry::provider::record_outcome(&span, &result);
            let err = match result {
                Ok(output) => return Ok(output),
                Err(err) => err,
            };
            let remaining = call
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            let Some(wait) = self.policy.wait_before_retry(number, &err, remaining) else {
                return Err(err);
            };
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(
                provider = self.name(),
                operation = op.name(),
                attempt = number,
                wait_ms,
                error = %err,
                "retrying provider call"
            );
            crate::telemetry::metrics::provider_retry(self.name(), op);
            tokio::time::sleep(wait).await;
            // The circuit may have opened meanwhile (other calls failing too); this call's own
            // error then says more than "circuit open".
            if self.inner.unready_reason(op).is_some() {
                return Err(err);
            }
            number += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy::new(&ResilienceSettings {
            max_attempts,
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            ..ResilienceSettings::default()
        })
        .with_jitter(|cap| cap)
    }

    fn unavailable() -> Error {
        Error::new(ErrorCode::Unavailable, "backend is down")
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = policy(10);
        let caps: Vec<u64> = (1..=6)
            .map(|n| policy.backoff_cap(n).as_millis() as u64)
            .collect();
        assert_eq!(caps, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(policy.backoff_cap(200), Duration::from_millis(1_000));
    }

    #[test]
    fn full_jitter_stays_within_the_cap_and_varies() {
        let cap = Duration::from_millis(500);
        let draws: Vec<Duration> = (0..200).map(|_| full_jitter(cap)).collect();
        assert!(draws.iter().all(|d| *d <= cap));
        assert!(draws.iter().any(|d| *d != draws[0]), "jitter never varied");
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn never_retries_caller_errors_whatever_the_flag_says() {
        let policy = policy(5);
        for code in [
            ErrorCode::InvalidArgument,
            ErrorCode::PayloadTooLarge,
            ErrorCode::ContentRejected,
            ErrorCode::Cancelled,
            ErrorCode::Unimplemented,
        ] {
            let err = Error::new(code, "no").retryable(true);
            assert_eq!(policy.wait_before_retry(1, &err, None), None, "{code:?}");
        }
        let err = unavailable().retryable(false);
        assert_eq!(policy.wait_before_retry(1, &err, None), None);
    }

    #[test]
    fn stops_when_attempts_are_used_up() {
        let policy = policy(3);
        assert!(policy.wait_before_retry(2, &unavailable(), None).is_some());
        assert_eq!(policy.wait_before_retry(3, &unavailable(), None), None);
    }

    #[test]
    fn retry_after_wins_over_a_shorter_backoff_but_not_over_the_deadline() {
        let policy = policy(3);
        let err = unavailable().with_retry_after(Some(Duration::from_secs(5)));
        assert_eq!(
            policy.wait_before_retry(1, &err, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            policy.wait_before_retry(1, &err, Some(Duration::from_secs(4))),
            None
        );
        let short = unavailable().with_retry_after(Some(Duration::from_millis(10)));
        assert_eq!(
            policy.wait_before_retry(1, &short, None),
            Some(Duration::from_millis(100))
        );
    }
}
