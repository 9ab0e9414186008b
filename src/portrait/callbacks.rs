//! Where a finished task's callback goes. The outbox row (stable webhook id, attempts) is
//! written with the task's end; a [`CallbackSink`] delivers it. The default only logs: the
//! signed Standard-Webhooks deliverer (src/webhooks/) implements this trait.

use async_trait::async_trait;

use crate::error::Result;

#[async_trait]
pub trait CallbackSink: Send + Sync {
    /// Delivers `body_json` to `url` for `tenant`; `webhook_id` is the same on every attempt.
    /// Ok means delivered.
    async fn deliver(
        &self,
        tenant: &str,
        webhook_id: &str,
        url: &str,
        body_json: &str,
    ) -> Result<()>;
}

/// Logs the callback it was asked to deliver and reports it undelivered-but-handled.
#[derive(Debug, Default)]
pub struct LoggingSink;

#[async_trait]
impl CallbackSink for LoggingSink {
    async fn deliver(
        &self,
        tenant: &str,
        webhook_id: &str,
        url: &str,
        _body_json: &str,
    ) -> Result<()> {
        tracing::info!(
            tenant,
            webhook_id,
            url = %crate::redact::url(url),
            "portrait callback not sent: no webhook deliverer is configured"
        );
        Ok(())
    }
}
