//! The rows of the state store, free of any SQL or proto type.

use std::time::SystemTime;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl CoverStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CoverStatus::Queued => "queued",
            CoverStatus::Running => "running",
            CoverStatus::Completed => "completed",
            CoverStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "queued" => CoverStatus::Queued,
            "running" => CoverStatus::Running,
            "completed" => CoverStatus::Completed,
            "failed" => CoverStatus::Failed,
            other => {
                return Err(Error::internal(format!(
                    "state store: unknown cover status {other:?}"
                )));
            }
        })
    }
}

/// A generated (or generating) cover: what a `coverId` resolves to on any replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverRecord {
    pub id: String,
    pub owner_key: String,
    pub status: CoverStatus,
    /// Blob store key of the finished image.
    pub result_blob: Option<String>,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
}

/// An uploaded reference image: the blob and the key that may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceImage {
    pub id: String,
    pub owner_key: String,
    pub blob_key: String,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
}

/// Rows one sweep deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub covers: u64,
    pub reference_images: u64,
    pub nonces: u64,
    /// Portrait uploads, user models, tasks and callbacks.
    pub portraits: u64,
}

impl SweepReport {
    pub fn total(&self) -> u64 {
        self.covers + self.reference_images + self.nonces + self.portraits
    }
}
