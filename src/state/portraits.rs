//! The portrait part of the state store (seed 003): uploads, user models, durable tasks with
//! leases, and the callback outbox. A supertrait of [`super::StateStore`], so every store has it.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::portrait_records::{
    CallbackAttempt, DeletedUserModel, PortraitCallback, PortraitTask, PortraitUpload, TaskEnd,
    UserModel, UserModelStatus,
};
use crate::error::Result;

#[async_trait]
pub trait PortraitStore: Send + Sync {
    async fn insert_portrait_upload(&self, upload: &PortraitUpload) -> Result<()>;

    /// A live upload of `tenant`; another tenant's path is as absent as an expired one.
    async fn portrait_upload(&self, tenant: &str, path: &str) -> Result<Option<PortraitUpload>>;

    async fn insert_user_model(&self, model: &UserModel) -> Result<()>;

    async fn user_model(&self, tenant: &str, user_id: &str) -> Result<Option<UserModel>>;

    /// Records what training produced; false when the model is gone.
    async fn update_user_model(
        &self,
        tenant: &str,
        user_id: &str,
        status: UserModelStatus,
        photo_keys: &[String],
        remote_handle: Option<&str>,
    ) -> Result<bool>;

    /// Deletes the model and every task made from it (their callbacks too); `None` when the
    /// model does not exist for `tenant`.
    async fn delete_user_model(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<DeletedUserModel>>;

    async fn insert_portrait_task(&self, task: &PortraitTask) -> Result<()>;

    async fn portrait_task(&self, tenant: &str, id: &str) -> Result<Option<PortraitTask>>;

    /// Takes the oldest task that is waiting, or running under an expired lease, for `owner`
    /// until now + `lease`: state 2, attempts + 1. Two workers never get the same task while
    /// a lease holds.
    async fn claim_portrait_task(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<PortraitTask>>;

    /// Extends `owner`'s lease; false when the task was taken over or has ended.
    async fn heartbeat_portrait_task(&self, id: &str, owner: &str, lease: Duration)
    -> Result<bool>;

    /// Stores the backend's job id (before it is polled); false when `owner` lost the lease.
    async fn set_portrait_remote_task(&self, id: &str, owner: &str, remote: &str) -> Result<bool>;

    /// Stores result blob keys before the state moves; false when `owner` lost the lease.
    async fn set_portrait_results(&self, id: &str, owner: &str, keys: &[String]) -> Result<bool>;

    /// Gives the task back to the queue, claimable again from `retry_at`.
    async fn release_portrait_task(
        &self,
        id: &str,
        owner: &str,
        retry_at: SystemTime,
        error: &str,
    ) -> Result<bool>;

    /// Ends the task and, in the same transaction, queues its callback; false (and nothing
    /// written) when `owner` lost the lease.
    async fn finish_portrait_task(
        &self,
        id: &str,
        owner: &str,
        end: &TaskEnd,
        callback: Option<&PortraitCallback>,
    ) -> Result<bool>;

    async fn portrait_callback(&self, task_id: &str) -> Result<Option<PortraitCallback>>;

    /// Counts one delivery attempt; `delivered` marks it done.
    async fn record_callback_attempt(&self, webhook_id: &str, delivered: bool) -> Result<()>;

    /// Takes up to `limit` undelivered callbacks (only `webhook_id` when given) whose
    /// delivery claim is free or has lapsed, for `owner` until now + `lease`, oldest first.
    /// Two processes never hold the same callback at once.
    async fn claim_callbacks(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        webhook_id: Option<&str>,
    ) -> Result<Vec<PortraitCallback>>;

    /// Extends `owner`'s claim to now + `lease`; false when it lapsed and another took it, or
    /// the callback is done.
    async fn renew_callback_claim(
        &self,
        webhook_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool>;

    /// Adds one attempt to the delivery history (kept until its `expires_at`).
    async fn insert_callback_attempt(&self, attempt: &CallbackAttempt) -> Result<()>;

    /// The live history of one callback, oldest attempt first.
    async fn callback_attempts(&self, webhook_id: &str) -> Result<Vec<CallbackAttempt>>;

    /// Remembers that `tenant`'s endpoint (by the SHA-256 of its URL) answered 410, until
    /// `expires_at`; `url` is the redacted form, for operators.
    async fn disable_callback_endpoint(
        &self,
        tenant: &str,
        url_sha256: &str,
        url: &str,
        expires_at: SystemTime,
    ) -> Result<()>;

    async fn callback_endpoint_disabled(&self, tenant: &str, url_sha256: &str) -> Result<bool>;
}
