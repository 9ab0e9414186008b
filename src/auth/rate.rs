//! Requests per second per API key: a token bucket each, in this process (a replica limits
//! what reaches it; the limit across N replicas is N times the rate).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::state::Clock;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last_millis: i64,
}

#[derive(Debug)]
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    // Only keys that passed authentication get a bucket, so the map is bounded by the
    // configured keys.
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        RateLimiter {
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is there.
    pub fn acquire(&self, key: &str, rate_per_sec: f64, burst: u32) -> Result<(), Duration> {
        if rate_per_sec <= 0.0 {
            return Ok(());
        }
        let now = self.clock.now_millis();
        let burst = f64::from(burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            last_millis: now,
        });
        let elapsed = (now - bucket.last_millis).max(0) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * rate_per_sec).min(burst);
        bucket.last_millis = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / rate_per_sec,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ManualClock;
    use std::time::UNIX_EPOCH;

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_keys_do_not_share() {
        let clock = Arc::new(ManualClock::at(UNIX_EPOCH + Duration::from_secs(1_000)));
        let limiter = RateLimiter::new(clock.clone());
        for _ in 0..3 {
            limiter.acquire("a", 2.0, 3).unwrap();
        }
        let wait = limiter.acquire("a", 2.0, 3).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        limiter.acquire("b", 2.0, 3).unwrap();
        clock.advance(Duration::from_millis(500));
        limiter.acquire("a", 2.0, 3).unwrap();
        assert!(limiter.acquire("a", 2.0, 3).is_err());
        assert!(limiter.acquire("a", 0.0, 0).is_ok(), "0 = unlimited");
    }
}
