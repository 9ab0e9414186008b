//! Behaviour under load and faults, as decorators around any provider (STYLE.md §6):
//! a deadline on every call, retries with backoff and jitter for retryable errors, a circuit
//! breaker ([`Guarded`]), and the rate and concurrency limits remote clients keep per backend
//! model ([`RateLimiter`], [`ConcurrencyLimit`]).

mod circuit;
mod guarded;
mod rate_limit;
mod retry;
mod settings;

pub use guarded::Guarded;
pub use rate_limit::{ConcurrencyLimit, ConcurrencyPermit, RateLimiter};
pub use settings::ResilienceSettings;

use std::sync::Arc;

use crate::providers::Provider;

/// `inner` behind the guards `settings` describe.
pub fn wrap(inner: Arc<dyn Provider>, settings: &ResilienceSettings) -> Arc<dyn Provider> {
    Arc::new(Guarded::new(inner, settings))
}
