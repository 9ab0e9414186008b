//! Sends a finished task's callback (the outbox row written with the task's end) through the
//! signed webhook deliverer, and records how it went. Delivery runs in its own task: a retry
//! schedule can last hours, and a worker must go on to the next portrait task meanwhile.
//!
//! A process delivers a callback only while it holds the row's claim, renewed every
//! `portrait.heartbeat_secs` for `portrait.lease_secs`; every lease period each process takes
//! the callbacks whose claim has lapsed (a dead process's, or one nobody took), so a callback
//! is neither lost with its process nor sent by two at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::portrait::Portraits;
use crate::state::PortraitCallback;
use crate::webhooks::DeliveryOutcome;

fn lease(portraits: &Portraits) -> Duration {
    Duration::from_secs(portraits.settings.lease_secs)
}

/// Claims `callback` and hands it to a delivery task; returns at once. Unclaimable means
/// another process already has it.
pub fn spawn_delivery(portraits: Arc<Portraits>, callback: PortraitCallback) {
    tokio::spawn(async move {
        let claimed = portraits
            .state
            .claim_callbacks(
                &portraits.sender,
                lease(&portraits),
                1,
                Some(&callback.webhook_id),
            )
            .await;
        match claimed {
            Ok(claimed) => {
                for callback in claimed {
                    deliver(&portraits, &callback).await;
                }
            }
            Err(e) => {
                tracing::warn!(webhook_id = %callback.webhook_id, error = %e.message, "cannot claim a callback; another pass will")
            }
        }
    });
}

/// At start-up and then every lease period: delivers every undelivered callback whose claim
/// has lapsed (a process that died mid-schedule left it), with the same webhook id so a
/// receiver drops what it already has. At most `portrait.max_resumed_callbacks` per pass.
pub async fn redeliver(portraits: Arc<Portraits>, shutdown: CancellationToken) {
    let limit = portraits.settings.max_resumed_callbacks;
    if limit == 0 {
        return;
    }
    while !shutdown.is_cancelled() {
        match portraits
            .state
            .claim_callbacks(&portraits.sender, lease(&portraits), limit, None)
            .await
        {
            Ok(claimed) => {
                if !claimed.is_empty() {
                    tracing::info!(count = claimed.len(), "re-delivering undelivered callbacks");
                }
                for callback in claimed {
                    let portraits = portraits.clone();
                    tokio::spawn(async move { deliver(&portraits, &callback).await });
                }
            }
            Err(e) => tracing::warn!(error = %e.message, "cannot claim undelivered callbacks"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(lease(&portraits)) => {}
        }
    }
}

/// Renews the claim until it is lost; returns then.
async fn hold_claim(portraits: &Portraits, webhook_id: &str) {
    let every = Duration::from_secs(portraits.settings.heartbeat_secs);
    loop {
        tokio::time::sleep(every).await;
        match portraits
            .state
            .renew_callback_claim(webhook_id, &portraits.sender, lease(portraits))
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            // The store is unreachable: keep sending; the claim may lapse, and a duplicate
            // (same webhook-id) is better than a lost callback.
            Err(e) => {
                tracing::warn!(webhook_id, error = %e.message, "cannot renew a callback claim")
            }
        }
    }
}

/// One delivery under the claim, retried by the deliverer's schedule. The row counts as done
/// when the receiver took it or refused it for good (410).
async fn deliver(portraits: &Portraits, callback: &PortraitCallback) {
    let body: Value = match serde_json::from_str(&callback.body) {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(webhook_id = %callback.webhook_id, error = %e, "stored callback body is not JSON");
            return;
        }
    };
    let sending =
        portraits
            .callbacks
            .deliver(&callback.tenant, &callback.webhook_id, &callback.url, &body);
    let outcome = tokio::select! {
        outcome = sending => outcome,
        _ = hold_claim(portraits, &callback.webhook_id) => {
            tracing::warn!(webhook_id = %callback.webhook_id, "callback claim lost to another process; it delivers");
            return;
        }
    };
    let done = match &outcome {
        Ok(DeliveryOutcome::Delivered { .. } | DeliveryOutcome::Disabled { .. }) => true,
        Ok(DeliveryOutcome::GaveUp { attempts }) => {
            tracing::warn!(task_id = %callback.task_id, attempts, "portrait callback not delivered: the retry schedule is spent");
            // Held until the row expires: a spent schedule is not started again elsewhere.
            let rest = callback
                .expires_at
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let _ = portraits
                .state
                .renew_callback_claim(&callback.webhook_id, &portraits.sender, rest)
                .await;
            false
        }
        Err(e) => {
            tracing::warn!(task_id = %callback.task_id, error = %e.message, "portrait callback not delivered");
            false
        }
    };
    if let Err(e) = portraits
        .state
        .record_callback_attempt(&callback.webhook_id, done)
        .await
    {
        tracing::warn!(webhook_id = %callback.webhook_id, error = %e.message, "cannot record a callback delivery");
    }
}
