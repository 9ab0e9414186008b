//! Every delivery attempt is recorded, and endpoints that answered 410 stay disabled. The
//! deliverer only sees this trait: the portrait store persists it, tests keep it in memory.

use std::collections::HashSet;
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
