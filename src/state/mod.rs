//! Durable state shared by every replica: cover records, reference images and the nonces of
//! signed requests, in SQLite (embedded default) or PostgreSQL (scale-out), behind
//! [`StateStore`].
//!
//! Not to be confused with [`crate::store`], which keeps blobs (image bytes); rows here name
//! blobs by key. Every row carries its expiry and reads never return an expired row, so
//! correctness does not depend on how often [`sweeper`] runs.

mod clock;
mod portrait_records;
mod portrait_sql;
#[cfg(test)]
mod portrait_tests;
mod portraits;
mod records;
mod sql;
pub mod sweeper;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

pub use clock::{Clock, ManualClock, SystemClock, from_millis, to_millis};
pub use portrait_records::{
    CallbackAttempt, DeletedUserModel, PortraitCallback, PortraitTask, PortraitUpload, TaskEnd,
    TaskState, TaskType, UserModel, UserModelStatus,
};
pub use portraits::PortraitStore;
pub use records::{CoverRecord, CoverStatus, ReferenceImage, SweepReport};
pub use sql::SqlStateStore;

use crate::config::StateSettings;
use crate::error::Result;

/// Where state lives. One trait so the transports and workers never know the engine; the
/// portrait tables are [`PortraitStore`], a supertrait.
#[async_trait]
pub trait StateStore: PortraitStore + Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`, for logs and health.
    fn backend(&self) -> &'static str;

    fn clock(&self) -> &Arc<dyn Clock>;

    async fn insert_cover(&self, cover: &CoverRecord) -> Result<()>;

    /// Moves a live cover to `status` (and its result blob); false when it does not exist,
    /// belongs to another key or has expired.
    async fn update_cover(
        &self,
        owner_key: &str,
        id: &str,
        status: CoverStatus,
        result_blob: Option<&str>,
    ) -> Result<bool>;

    /// A live cover of `owner_key`; another key's cover is as absent as an expired one.
    async fn cover(&self, owner_key: &str, id: &str) -> Result<Option<CoverRecord>>;

    async fn insert_reference_image(&self, image: &ReferenceImage) -> Result<()>;

    async fn reference_image(&self, owner_key: &str, id: &str) -> Result<Option<ReferenceImage>>;

    /// Records the nonce of a signed request; false when the same key already used it and the
    /// record has not expired (a replay).
    async fn claim_nonce(&self, key_id: &str, nonce: &str, expires_at: SystemTime) -> Result<bool>;

    /// Up to `limit` unexpired nonces as `(key id, nonce, expiry)`, for a process that keeps
    /// them in memory to start from what earlier processes accepted.
    async fn live_nonces(&self, limit: usize) -> Result<Vec<(String, String, SystemTime)>>;

    /// Deletes every expired row.
    async fn sweep(&self) -> Result<SweepReport>;
}

/// Opens the configured store, creating the SQLite file and applying migrations as needed.
pub async fn open(settings: &StateSettings, clock: Arc<dyn Clock>) -> Result<Arc<dyn StateStore>> {
    Ok(Arc::new(SqlStateStore::open(settings, clock).await?))
}
