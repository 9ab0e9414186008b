use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[providers.resilience]`: how every remote provider call is guarded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResilienceSettings {
    /// Deadline of one whole provider call (submit, wait, download), retries included;
    /// 0 disables it (the request deadline still applies).
    pub timeout_secs: u64,
    /// Attempts of a call that fails with a retryable error, the first included; 0 counts
    /// as 1.
    pub max_attempts: u32,
    /// First backoff between attempts; doubles each time, with full jitter.
    pub backoff_initial_ms: u64,
    /// Longest backoff between attempts (a provider's `Retry-After` may ask for longer).
    pub backoff_max_ms: u64,
    /// Consecutive failures that open the circuit; 0 disables the breaker.
    pub circuit_failures: u32,
    /// How long an open circuit refuses calls before letting one through to probe.
    pub circuit_open_secs: u64,
    /// Calls one API key may start per second on one provider (burst `caller_burst`); 0 is
    /// no limit. Over it, calls wait their turn (inside the call's deadline).
    pub caller_rate_per_sec: f64,
    pub caller_burst: u32,
    /// Calls of one API key running at once on one provider; 0 is no limit.
    pub caller_in_flight: usize,
}

impl Default for ResilienceSettings {
    fn default() -> Self {
        ResilienceSettings {
            timeout_secs: 600,
            max_attempts: 3,
            backoff_initial_ms: 500,
            backoff_max_ms: 20_000,
            circuit_failures: 5,
            circuit_open_secs: 30,
            caller_rate_per_sec: 0.0,
            caller_burst: 10,
            caller_in_flight: 0,
        }
    }
}

impl ResilienceSettings {
    /// The deadline of one whole call, if there is one.
    pub fn timeout(&self) -> Option<Duration> {
        (self.timeout_secs > 0).then(|| Duration::from_secs(self.timeout_secs))
    }

    pub fn backoff_initial(&self) -> Duration {
        Duration::from_millis(self.backoff_initial_ms)
    }

    pub fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.backoff_max_ms)
    }

    pub fn circuit_open(&self) -> Duration {
        Duration::from_secs(self.circuit_open_secs)
    }

    /// Where one API key's calls to a provider are bounded; `None` when both limits are off.
    pub fn caller_limits(&self) -> Option<(Option<f64>, u32, Option<usize>)> {
        let rate = (self.caller_rate_per_sec.is_finite() && self.caller_rate_per_sec > 0.0)
            .then_some(self.caller_rate_per_sec);
        let in_flight = (self.caller_in_flight > 0).then_some(self.caller_in_flight);
        (rate.is_some() || in_flight.is_some()).then_some((
            rate,
            self.caller_burst.max(1),
            in_flight,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_match_the_struct_defaults() {
        let embedded = crate::config::Settings::embedded().providers.resilience;
        assert_eq!(embedded, ResilienceSettings::default());
    }

    #[test]
    fn zero_timeout_means_no_deadline() {
        let settings = ResilienceSettings {
            timeout_secs: 0,
            ..ResilienceSettings::default()
        };
        assert_eq!(settings.timeout(), None);
        assert_eq!(
            ResilienceSettings::default().timeout(),
            Some(Duration::from_secs(600))
        );
    }
}
