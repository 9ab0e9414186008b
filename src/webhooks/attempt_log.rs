//! Every delivery attempt is recorded, and endpoints that answered 410 stay disabled. The
//! deliverer only sees this trait: the portrait store persists it, tests keep it in memory.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::error::Result;

/// What one attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer: done.
    Delivered,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed and the schedule is spent.
    GaveUp,
    /// 410 Gone: the endpoint is disabled, nothing more is sent to it.
    Disabled,
    /// The URL is refused by the address policy; nothing was sent.
    Refused,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retrying => "retrying",
            AttemptOutcome::GaveUp => "gave_up",
            AttemptOutcome::Disabled => "disabled",
            AttemptOutcome::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub tenant: String,
    pub webhook_id: String,
    /// Redacted: no query string, no credentials.
    pub url: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The `webhook-timestamp` sent, Unix seconds.
    pub timestamp: i64,
    pub outcome: AttemptOutcome,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed, or the start of the receiver's answer (bounded).
    pub detail: String,
    /// The wait before the next attempt, when one is scheduled.
    pub next_in: Option<Duration>,
    pub at: SystemTime,
}

#[async_trait]
pub trait AttemptLog: Send + Sync {
    async fn record(&self, attempt: AttemptRecord) -> Result<()>;
    /// Called on 410: later deliveries to `url` for `tenant` are not attempted.
    async fn disable_endpoint(&self, tenant: &str, url: &str) -> Result<()>;
    async fn endpoint_disabled(&self, tenant: &str, url: &str) -> Result<bool>;
}

/// For tests and single-process use; forgets everything on restart.
#[derive(Debug, Default)]
pub struct InMemoryAttemptLog {
    attempts: Mutex<Vec<AttemptRecord>>,
    disabled: Mutex<HashSet<(String, String)>>,
}

impl InMemoryAttemptLog {
    pub fn attempts(&self) -> Vec<AttemptRecord> {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl AttemptLog for InMemoryAttemptLog {
    async fn record(&self, attempt: AttemptRecord) -> Result<()> {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(attempt);
        Ok(())
    }

    async fn disable_endpoint(&self, tenant: &str, url: &str) -> Result<()> {
        self.disabled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((tenant.to_owned(), url.to_owned()));
        Ok(())
    }

    async fn endpoint_disabled(&self, tenant: &str, url: &str) -> Result<bool> {
        let key = (tenant.to_owned(), url.to_owned());
        Ok(self
            .disabled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key))
    }
}

/// The server's log: each attempt is written to the tracing log (the operator's log is the
/// record, so memory does not grow with traffic), and endpoints that answered 410 are kept,
/// at most `max_disabled` (`webhooks.max_disabled_endpoints`), the oldest forgotten first.
#[derive(Debug)]
pub struct TracingAttemptLog {
    disabled: Mutex<BoundedSet>,
}

#[derive(Debug)]
struct BoundedSet {
    members: HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
    max: usize,
}

impl TracingAttemptLog {
    pub fn new(max_disabled: usize) -> Self {
        TracingAttemptLog {
            disabled: Mutex::new(BoundedSet {
                members: HashSet::new(),
                order: VecDeque::new(),
                max: max_disabled.max(1),
            }),
        }
    }
}

#[async_trait]
impl AttemptLog for TracingAttemptLog {
    async fn record(&self, a: AttemptRecord) -> Result<()> {
        let next_in_secs = a.next_in.map(|d| d.as_secs_f64());
        let detail = crate::redact::truncate(&a.detail, 200);
        match a.outcome {
            AttemptOutcome::Delivered => tracing::info!(
                tenant = %a.tenant, webhook_id = %a.webhook_id, url = %a.url, attempt = a.attempt,
                status = a.status, "callback delivered"
            ),
            outcome @ (AttemptOutcome::Retrying
            | AttemptOutcome::GaveUp
            | AttemptOutcome::Disabled
            | AttemptOutcome::Refused) => tracing::warn!(
                tenant = %a.tenant, webhook_id = %a.webhook_id, url = %a.url, attempt = a.attempt,
                outcome = outcome.as_str(), status = a.status, next_in_secs, detail = %detail,
                "callback attempt failed"
            ),
        }
        Ok(())
    }

    async fn disable_endpoint(&self, tenant: &str, url: &str) -> Result<()> {
        let mut set = self.disabled.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant.to_owned(), url.to_owned());
        if set.members.insert(key.clone()) {
            set.order.push_back(key);
            while set.order.len() > set.max {
                if let Some(oldest) = set.order.pop_front() {
                    set.members.remove(&oldest);
                }
            }
        }
        tracing::warn!(tenant, url = %crate::redact::url(url), "callback endpoint disabled (410 Gone)");
        Ok(())
    }

    async fn endpoint_disabled(&self, tenant: &str, url: &str) -> Result<bool> {
        let key = (tenant.to_owned(), url.to_owned());
        Ok(self
            .disabled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .members
            .contains(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn disabled_endpoints_are_kept_up_to_the_bound_oldest_forgotten_first() {
        let log = TracingAttemptLog::new(2);
        for url in ["https://a/", "https://b/", "https://c/"] {
            log.disable_endpoint("ak", url).await.unwrap();
        }
        assert!(!log.endpoint_disabled("ak", "https://a/").await.unwrap());
        assert!(log.endpoint_disabled("ak", "https://b/").await.unwrap());
        assert!(log.endpoint_disabled("ak", "https://c/").await.unwrap());
        assert!(
            !log.endpoint_disabled("ak_other", "https://c/")
                .await
                .unwrap()
        );
        // Disabling again does not take a second slot.
        log.disable_endpoint("ak", "https://c/").await.unwrap();
        assert!(log.endpoint_disabled("ak", "https://b/").await.unwrap());
    }
}
