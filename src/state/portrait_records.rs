//! Portrait rows (seed 003), free of any SQL or proto type.

use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Seed 003's `tsk_type`: the numbers are the seed's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskType {
    Training = 1,
    Generation = 2,
}

impl TaskType {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            1 => Ok(TaskType::Training),
            2 => Ok(TaskType::Generation),
            other => Err(Error::internal(format!(
                "state store: unknown portrait task type {other}"
            ))),
        }
    }
}

/// Seed 003's `state`: 1 waiting, 2 running, 3 succeeded, 4 partly succeeded, 5 failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    Waiting = 1,
    Running = 2,
    Succeeded = 3,
    PartlySucceeded = 4,
    Failed = 5,
}

impl TaskState {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Result<Self> {
        Ok(match code {
            1 => TaskState::Waiting,
            2 => TaskState::Running,
            3 => TaskState::Succeeded,
            4 => TaskState::PartlySucceeded,
            5 => TaskState::Failed,
            other => {
                return Err(Error::internal(format!(
                    "state store: unknown portrait task state {other}"
                )));
            }
        })
    }

    /// Whether the task has ended (no worker will touch it again).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::PartlySucceeded | TaskState::Failed
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortraitUpload {
    /// `user_upload/<tenant>/<uuid>.jpg`, what the caller passes in `img_set`.
    pub path: String,
    pub tenant: String,
    pub blob_key: String,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserModelStatus {
    Training,
    Ready,
    Failed,
}

impl UserModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserModelStatus::Training => "training",
            UserModelStatus::Ready => "ready",
            UserModelStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "training" => Ok(UserModelStatus::Training),
            "ready" => Ok(UserModelStatus::Ready),
            "failed" => Ok(UserModelStatus::Failed),
            other => Err(Error::internal(format!(
                "state store: unknown user model status {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserModel {
    pub user_id: String,
    pub tenant: String,
    pub status: UserModelStatus,
    /// Blob keys of the curated photos (the local backend's "model").
    pub photo_keys: Vec<String>,
    /// A remote provider's model id (FaceChain's fine-tuned model), when one trained it.
    pub remote_handle: Option<String>,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortraitTask {
    pub id: String,
    pub tenant: String,
    pub task_type: TaskType,
    pub state: TaskState,
    pub user_id: String,
    /// Generation: the style id.
    pub style: Option<String>,
    pub callback_url: Option<String>,
    /// Training: the upload paths of `img_set`.
    pub input_paths: Vec<String>,
    /// Stored before the backend is polled, so a worker taking over polls the same job.
    pub remote_task_id: Option<String>,
    /// Blob keys of the results, stored before the state moves.
    pub result_keys: Vec<String>,
    pub error: Option<String>,
    /// How many times a worker claimed the task.
    pub attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<SystemTime>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    pub expires_at: SystemTime,
}

impl PortraitTask {
    /// A new waiting task.
    pub fn new(
        tenant: &str,
        task_type: TaskType,
        user_id: &str,
        now: SystemTime,
        expires_at: SystemTime,
    ) -> Self {
        PortraitTask {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.to_owned(),
            task_type,
            state: TaskState::Waiting,
            user_id: user_id.to_owned(),
            style: None,
            callback_url: None,
            input_paths: Vec::new(),
            remote_task_id: None,
            result_keys: Vec::new(),
            error: None,
            attempts: 0,
            lease_owner: None,
            lease_expires_at: None,
            created_at: now,
            updated_at: now,
            expires_at,
        }
    }
}

/// How a task ended, written with the callback row in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnd {
    pub state: TaskState,
    pub result_keys: Vec<String>,
    pub error: Option<String>,
}

/// The callback owed for a finished task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortraitCallback {
    pub webhook_id: String,
    pub task_id: String,
    pub tenant: String,
    pub url: String,
    /// The task-query body, JSON.
    pub body: String,
    pub attempts: i64,
    pub delivered_at: Option<SystemTime>,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
}

/// One callback delivery attempt as the history keeps it (the webhooks module's
/// `AttemptRecord`, in the store's own terms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAttempt {
    pub webhook_id: String,
    pub tenant: String,
    /// Redacted: no query string, no credentials.
    pub url: String,
    pub attempt: i64,
    /// The `webhook-timestamp` sent, Unix seconds.
    pub sent_timestamp: i64,
    /// `delivered`, `retrying`, `gave_up`, `disabled` or `refused`.
    pub outcome: String,
    pub status: Option<i64>,
    pub detail: String,
    pub next_in: Option<Duration>,
    pub at: SystemTime,
    pub expires_at: SystemTime,
}

/// What deleting a user model removed: the blobs its rows named, for the caller to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedUserModel {
    pub blob_keys: Vec<String>,
    pub tasks: u64,
}
