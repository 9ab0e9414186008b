//! When to try a delivery again: a configured list of waits, each stretched by random jitter,
//! never shorter than the receiver's `Retry-After` (capped).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    /// Wait before the 2nd, 3rd, … attempt; its length is the number of retries.
    delays: Vec<Duration>,
    /// Each wait is lengthened by up to this fraction of itself, so receivers that failed
    /// together are not retried together.
    jitter: f64,
    /// A longer `Retry-After` is cut to this.
    max_retry_after: Duration,
}

impl RetrySchedule {
    pub fn new(
        delays: Vec<Duration>,
        jitter: f64,
        max_retry_after: Duration,
    ) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&jitter) {
            return Err(format!("jitter must be between 0 and 1, got {jitter}"));
        }
        Ok(RetrySchedule {
            delays,
            jitter,
            max_retry_after,
        })
    }

    /// Attempts in all: the first plus one per configured wait.
    pub fn max_attempts(&self) -> usize {
        self.delays.len() + 1
    }

    /// The wait after failed attempt number `attempt` (1-based), or `None` once the schedule
    /// is spent. `unit` is a random number in [0, 1) that picks the jitter.
    pub fn delay_after(
        &self,
        attempt: usize,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        let base = *self.delays.get(attempt.checked_sub(1)?)?;
        let jittered = base.mul_f64(1.0 + self.jitter * unit.clamp(0.0, 1.0));
        let asked = retry_after.map_or(Duration::ZERO, |wait| wait.min(self.max_retry_after));
        Some(jittered.max(asked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().copied().map(Duration::from_secs).collect()
    }

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let schedule = RetrySchedule::new(secs(&[5, 300]), 0.0, Duration::from_secs(60)).unwrap();
        assert_eq!(schedule.max_attempts(), 3);
        assert_eq!(
            schedule.delay_after(1, None, 0.5),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            schedule.delay_after(2, None, 0.5),
            Some(Duration::from_secs(300))
        );
        assert_eq!(schedule.delay_after(3, None, 0.5), None);
        assert_eq!(schedule.delay_after(0, None, 0.5), None);
    }

    #[test]
    fn jitter_only_lengthens_within_its_fraction() {
        let schedule = RetrySchedule::new(secs(&[100]), 0.2, Duration::from_secs(60)).unwrap();
        assert_eq!(
            schedule.delay_after(1, None, 0.0),
            Some(Duration::from_secs(100))
        );
        assert_eq!(
            schedule.delay_after(1, None, 0.5),
            Some(Duration::from_secs(110))
        );
        let top = schedule.delay_after(1, None, 0.999_999).unwrap();
        assert!(top < Duration::from_secs(120) && top > Duration::from_secs(119));
        assert!(RetrySchedule::new(secs(&[1]), 1.5, Duration::ZERO).is_err());
    }

    #[test]
    fn retry_after_stretches_a_wait_up_to_its_cap() {
        let schedule = RetrySchedule::new(secs(&[5]), 0.0, Duration::from_secs(60)).unwrap();
        let wait = |asked: u64| schedule.delay_after(1, Some(Duration::from_secs(asked)), 0.0);
        assert_eq!(wait(2), Some(Duration::from_secs(5)));
        assert_eq!(wait(30), Some(Duration::from_secs(30)));
        assert_eq!(wait(86_400), Some(Duration::from_secs(60)));
    }
}
