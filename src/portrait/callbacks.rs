//! Sends a finished task's callback (the outbox row written with the task's end) through the
//! signed webhook deliverer, and records how it went. Delivery runs in its own task: a retry
//! schedule can last hours, and a worker must go on to the next portrait task meanwhile.

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::portrait::Portraits;
use crate::state::PortraitCallback;
use crate::webhooks::DeliveryOutcome;

/// Hands `callback` to a delivery task and returns at once.
pub fn spawn_delivery(portraits: Arc<Portraits>, callback: PortraitCallback) {
    tokio::spawn(async move { deliver(&portraits, &callback).await });
}

/// At start-up: sends again every callback the store holds undelivered (a process that died
/// mid-schedule left them), with the same webhook id so a receiver drops what it already has.
pub async fn resume(portraits: Arc<Portraits>, shutdown: CancellationToken) {
    let limit = portraits.settings.max_resumed_callbacks;
    if limit == 0 || shutdown.is_cancelled() {
        return;
    }
    match portraits.state.pending_callbacks(limit).await {
        Ok(pending) => {
            if !pending.is_empty() {
                tracing::info!(count = pending.len(), "re-delivering undelivered callbacks");
            }
            for callback in pending {
                spawn_delivery(portraits.clone(), callback);
            }
        }
        Err(e) => tracing::warn!(error = %e.message, "cannot read undelivered callbacks"),
    }
}

/// One delivery, retried by the deliverer's schedule. The row counts as done when the
/// receiver took it or refused it for good (410): neither is worth sending after a restart.
async fn deliver(portraits: &Portraits, callback: &PortraitCallback) {
    let body: Value = match serde_json::from_str(&callback.body) {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(webhook_id = %callback.webhook_id, error = %e, "stored callback body is not JSON");
            return;
        }
    };
    let outcome = portraits
        .callbacks
        .deliver(&callback.tenant, &callback.webhook_id, &callback.url, &body)
        .await;
    let done = match &outcome {
        Ok(DeliveryOutcome::Delivered { .. } | DeliveryOutcome::Disabled { .. }) => true,
        Ok(DeliveryOutcome::GaveUp { attempts }) => {
            tracing::warn!(task_id = %callback.task_id, attempts, "portrait callback not delivered: the retry schedule is spent");
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
