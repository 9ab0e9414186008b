//! What renders portraits: a backend with resumable steps for the two task types. `submit_*`
//! starts a job and returns its reference, which the worker stores before calling `await_*`;
//! a worker taking over a task after a crash calls `await_*` again with the stored reference.
//! A remote provider (FaceChain: `POST /fine-tunes` then poll) submits in `submit_*` and polls
//! in `await_*`; the local backend does all its work in `await_*`.

use async_trait::async_trait;

use crate::domain::EncodedImage;
use crate::error::Result;
use crate::portrait::styles::PortraitStyle;

/// A backend's job id, as stored in the task row (`remote_task_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef(pub String);

/// One photo of the training set.
#[derive(Debug, Clone)]
pub struct TrainingPhoto {
    /// The caller's upload path, for messages ("user_upload/.../x.jpg was rejected: ...").
    pub path: String,
    pub blob_key: String,
}

#[derive(Debug, Clone)]
pub struct TrainingInput {
    pub tenant: String,
    pub user_id: String,
    pub photos: Vec<TrainingPhoto>,
}

/// What training leaves behind: the curated photos (blob keys the backend wrote) and/or a
/// remote model id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserModelHandle {
    pub photo_keys: Vec<String>,
    pub remote_handle: Option<String>,
    /// What the caller should know although training succeeded (photos dropped and why).
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GenerationInput {
    pub tenant: String,
    pub user_id: String,
    pub task_id: String,
    pub model: UserModelHandle,
    pub style: PortraitStyle,
    /// How many portraits to render.
    pub count: usize,
}

/// Extends the worker's lease while a long step runs; `false` means the task was taken over
/// and the step should stop.
#[async_trait]
pub trait Heartbeat: Send + Sync {
    async fn beat(&self) -> bool;
}

/// Runs `work` while extending the lease every `every`; stops (CANCELLED) when the task was
/// taken over. For remote backends, whose step is one long wait on someone else's server.
pub async fn beating<T>(
    heartbeat: &dyn Heartbeat,
    every: std::time::Duration,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::pin!(work);
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => {
                if !heartbeat.beat().await {
                    return Err(crate::error::Error::new(
                        crate::error::ErrorCode::Cancelled,
                        "the task was taken over by another worker",
                    ));
                }
            }
        }
    }
}

/// Errors: a retryable [`crate::error::Error`] gives the task back to the queue; any other
/// ends it in state 5 with the error's message.
#[async_trait]
pub trait PortraitBackend: Send + Sync {
    fn name(&self) -> &'static str;

    async fn submit_training(&self, input: &TrainingInput) -> Result<RemoteRef>;

    async fn await_training(
        &self,
        job: &RemoteRef,
        input: &TrainingInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<UserModelHandle>;

    async fn submit_generation(&self, input: &GenerationInput) -> Result<RemoteRef>;

    /// One entry per image the backend got: some may fail while others succeed (state 4). The
    /// worker fits the list to the task's count (missing images count as failed).
    async fn await_generation(
        &self,
        job: &RemoteRef,
        input: &GenerationInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<Vec<Result<EncodedImage>>>;
}
