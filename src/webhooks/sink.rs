//! What the portrait workflow calls when a task ends with a `callback_url`.

use async_trait::async_trait;

use crate::error::Result;
use crate::webhooks::deliverer::DeliveryOutcome;

/// Delivers one signed callback, retrying as configured; returns once it is delivered, the
/// endpoint is disabled, or the schedule is spent. `webhook_id` must be stable for the event
/// (the task id and its final state, say) so a resumed delivery after a restart reuses it and
/// the receiver can drop the duplicate.
#[async_trait]
pub trait CallbackSink: Send + Sync {
    async fn deliver(
        &self,
        tenant: &str,
        webhook_id: &str,
        url: &str,
        body_json: &serde_json::Value,
    ) -> Result<DeliveryOutcome>;
}
