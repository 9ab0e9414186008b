//! `[webhooks]`: how task callbacks are signed, retried and bounded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Seconds to wait before each retry; the first attempt is immediate, so a delivery makes
    /// at most `len + 1` attempts. Default: the Standard Webhooks example schedule cut to
    /// about a day (faces are kept briefly, a later callback would point at deleted results).
    pub retry_schedule_secs: Vec<u64>,
    /// Each wait is lengthened by a random fraction up to this (0–1).
    pub jitter: f64,
    /// Deadline of one attempt, connection included.
    pub attempt_timeout_secs: u64,
    /// A receiver's `Retry-After` longer than this is cut to it.
    pub max_retry_after_secs: u64,
    /// Bytes of a receiver's answer read (and kept in the attempt log); the rest is dropped.
    pub max_response_bytes: usize,
    pub user_agent: String,
    /// Endpoints disabled by a 410 cached in memory in front of the state store (which keeps
    /// them all for `history_retention_secs`); past this the oldest leaves the cache.
    pub max_disabled_endpoints: usize,
    /// How long the state store keeps each delivery attempt and each endpoint disabled by a
    /// 410.
    pub history_retention_secs: u64,
    /// Derives each tenant's signing secret when `secrets` does not list one:
    /// `whsec_` + base64(HMAC-SHA256(master_secret, "imgforge-webhook:" + tenant)).
    pub master_secret: Secret,
    /// Per tenant (API key id), its `whsec_…` secrets; the first signs alone unless several
    /// are listed, then each signs (rotation).
    pub secrets: BTreeMap<String, Vec<Secret>>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_schedule_secs: vec![5, 300, 1800, 7200, 18000, 36000],
            jitter: 0.2,
            attempt_timeout_secs: 15,
            max_retry_after_secs: 3600,
            max_response_bytes: 4096,
            user_agent: "imgforge-webhooks/1".to_owned(),
            max_disabled_endpoints: 10_000,
            history_retention_secs: 7 * 24 * 3600,
            master_secret: Secret::default(),
            secrets: BTreeMap::new(),
        }
    }
}

impl WebhookSettings {
    /// Refuses settings that cannot work, naming the key to fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.jitter),
            "webhooks.jitter must be between 0 and 1, got {}",
            self.jitter
        );
        anyhow::ensure!(
            self.attempt_timeout_secs > 0,
            "webhooks.attempt_timeout_secs must be positive"
        );
        anyhow::ensure!(
            self.max_response_bytes > 0,
            "webhooks.max_response_bytes must be positive"
        );
        anyhow::ensure!(
            self.max_disabled_endpoints > 0,
            "webhooks.max_disabled_endpoints must be positive"
        );
        anyhow::ensure!(
            self.history_retention_secs > 0,
            "webhooks.history_retention_secs must be positive"
        );
        Ok(())
    }
}
