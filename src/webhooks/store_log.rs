//! The server's attempt log: every attempt goes to the tracing log and to the state store's
//! callback history, and endpoints disabled by a 410 are kept in the store, so the history and
//! the refusals outlive a restart and are shared by every replica on the same database.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::state::{CallbackAttempt, StateStore};
use crate::webhooks::attempt_log::{AttemptLog, AttemptRecord, TracingAttemptLog};

pub struct StoreAttemptLog {
    state: Arc<dyn StateStore>,
    /// Writes the log lines, and caches disabled endpoints in front of the store.
    trace: TracingAttemptLog,
    /// How long attempts and disabled endpoints are kept (`webhooks.history_retention_secs`).
    retention: Duration,
}

impl StoreAttemptLog {
    pub fn new(
        state: Arc<dyn StateStore>,
        max_cached_disabled: usize,
        retention: Duration,
    ) -> Self {
        StoreAttemptLog {
            state,
            trace: TracingAttemptLog::new(max_cached_disabled),
            retention,
        }
    }
}

/// The endpoint's key: its URL's SHA-256, so a token in a callback URL's query is not stored.
fn endpoint_key(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

#[async_trait]
impl AttemptLog for StoreAttemptLog {
    async fn record(&self, a: AttemptRecord) -> Result<()> {
        self.trace.record(a.clone()).await?;
        self.state
            .insert_callback_attempt(&CallbackAttempt {
                webhook_id: a.webhook_id,
                tenant: a.tenant,
                url: a.url,
                attempt: i64::from(a.attempt),
                sent_timestamp: a.timestamp,
                outcome: a.outcome.as_str().to_owned(),
                status: a.status.map(i64::from),
                detail: crate::redact::truncate(&a.detail, 1000).into_owned(),
                next_in: a.next_in,
                at: a.at,
                expires_at: a.at + self.retention,
            })
            .await
    }

    async fn disable_endpoint(&self, tenant: &str, url: &str) -> Result<()> {
        self.trace.disable_endpoint(tenant, url).await?;
        self.state
            .disable_callback_endpoint(
                tenant,
                &endpoint_key(url),
                &crate::redact::url(url),
                SystemTime::now() + self.retention,
            )
            .await
    }

    async fn endpoint_disabled(&self, tenant: &str, url: &str) -> Result<bool> {
        if self.trace.endpoint_disabled(tenant, url).await? {
            return Ok(true);
        }
        self.state
            .callback_endpoint_disabled(tenant, &endpoint_key(url))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StateSettings;
    use crate::state::SystemClock;
    use crate::webhooks::AttemptOutcome;

    async fn store(dir: &std::path::Path) -> Arc<dyn StateStore> {
        let settings = StateSettings {
            data_dir: dir.to_path_buf(),
            ..StateSettings::default()
        };
        crate::state::open(&settings, Arc::new(SystemClock))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_410_outlives_the_process_and_the_token_in_the_url_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let url = "https://hooks.example.com/p?token=s3cret";
        let log = StoreAttemptLog::new(store(dir.path()).await, 10, Duration::from_secs(60));
        log.disable_endpoint("ak_a", url).await.unwrap();
        log.record(AttemptRecord {
            tenant: "ak_a".into(),
            webhook_id: "msg_1".into(),
            url: crate::redact::url(url),
            attempt: 1,
            timestamp: 1_700_000_000,
            outcome: AttemptOutcome::Disabled,
            status: Some(410),
            detail: "gone".into(),
            next_in: None,
            at: SystemTime::now(),
        })
        .await
        .unwrap();
        drop(log);

        // A new process (empty cache) on the same database still refuses the endpoint.
        let state = store(dir.path()).await;
        let log = StoreAttemptLog::new(state.clone(), 10, Duration::from_secs(60));
        assert!(log.endpoint_disabled("ak_a", url).await.unwrap());
        assert!(!log.endpoint_disabled("ak_b", url).await.unwrap());
        assert!(
            !log.endpoint_disabled("ak_a", "https://hooks.example.com/p")
                .await
                .unwrap()
        );
        let history = state.callback_attempts("msg_1").await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(
            (history[0].outcome.as_str(), history[0].status),
            ("disabled", Some(410))
        );
        drop(state);
        let sqlite = std::fs::read(dir.path().join("state.sqlite")).unwrap();
        assert!(
            !sqlite.windows(6).any(|w| w == b"s3cret"),
            "the URL's token is not stored"
        );
    }
}
