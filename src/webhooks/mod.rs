//! Signed callbacks the Standard Webhooks way (<https://www.standardwebhooks.com>).
//!
//! A task's `callback_url` receives the task's JSON with three headers: `webhook-id` (the same
//! on every retry, so a receiver can drop duplicates), `webhook-timestamp` (Unix seconds of the
//! attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`,
//! several space-separated while a secret is rotated). Deliveries are retried on a configured
//! schedule with jitter, honour `Retry-After`, stop for good on 410, and go through the same
//! address policy as image URL fetches.

pub mod attempt_log;
pub mod deliverer;
pub mod retry_after;
pub mod schedule;
pub mod secret;
pub mod signature;
pub mod sink;
pub mod store_log;
pub mod tenant_secrets;

pub use attempt_log::{
    AttemptLog, AttemptOutcome, AttemptRecord, InMemoryAttemptLog, TracingAttemptLog,
};
pub use deliverer::{Deliverer, DeliveryOutcome, Pause, TokioPause};
pub use schedule::RetrySchedule;
pub use secret::WebhookSecret;
pub use signature::{Verifier, VerifyError, signature_header};
pub use sink::CallbackSink;
pub use store_log::StoreAttemptLog;
pub use tenant_secrets::TenantSecrets;
