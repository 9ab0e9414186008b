//! Workers: claim a task from the state store under a lease, run its next step, store what the
//! step produced, move the state. Every step can run twice (a worker may die between any two
//! writes) without harm: the backend's job id is stored before it is polled, result blobs are
//! written under names fixed by the task, and the state moves only after they are stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::domain::EncodedImage;
use crate::error::{Error, ErrorCode, Result};
use crate::portrait::Portraits;
use crate::portrait::backend::{
    GenerationInput, Heartbeat, RemoteRef, TrainingInput, TrainingPhoto, UserModelHandle,
};
use crate::state::{PortraitCallback, PortraitTask, TaskEnd, TaskState, TaskType, UserModelStatus};

/// Starts `portrait.workers` workers; they stop when `shutdown` is cancelled (a task in hand
/// is abandoned to its lease, and taken over by the next claim). First, callbacks a previous
/// process left undelivered are sent again.
pub fn spawn(portraits: Arc<Portraits>, shutdown: CancellationToken) {
    tokio::spawn(super::callbacks::redeliver(
        portraits.clone(),
        shutdown.clone(),
    ));
    let process = uuid::Uuid::new_v4().simple().to_string();
    for n in 0..portraits.settings.workers {
        let owner = format!("{}-{n}", &process[..12]);
        tokio::spawn(run(portraits.clone(), owner, shutdown.clone()));
    }
}

async fn run(portraits: Arc<Portraits>, owner: String, shutdown: CancellationToken) {
    let lease = Duration::from_secs(portraits.settings.lease_secs);
    let idle = Duration::from_millis(portraits.settings.poll_interval_ms);
    while !shutdown.is_cancelled() {
        match portraits.state.claim_portrait_task(&owner, lease).await {
            Ok(Some(task)) => {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = work(&portraits, &owner, task) => continue,
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(worker = %owner, error = %e.message, "cannot claim portrait tasks")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

/// Extends the lease in the background while a step runs; `beat` reports whether it still
/// holds.
struct Lease {
    lost: Arc<AtomicBool>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Lease {
    fn keep(portraits: &Arc<Portraits>, id: &str, owner: &str) -> Lease {
        let lost = Arc::new(AtomicBool::new(false));
        let (state, id, owner) = (portraits.state.clone(), id.to_owned(), owner.to_owned());
        let lease = Duration::from_secs(portraits.settings.lease_secs);
        let every = Duration::from_secs(portraits.settings.heartbeat_secs);
        let flag = lost.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match state.heartbeat_portrait_task(&id, &owner, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    // A store hiccup: try again next beat; the lease has slack for it.
                    Err(e) => tracing::warn!(task_id = %id, error = %e.message, "heartbeat failed"),
                }
            }
        });
        Lease { lost, ticker }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

#[async_trait]
impl Heartbeat for Lease {
    async fn beat(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
    }
}

/// What a step came to (a lost lease is an error: someone else owns the task now).
enum Outcome {
    End(TaskEnd),
}

fn lost(ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::Cancelled, "the lease was lost"))
    }
}

async fn work(portraits: &Arc<Portraits>, owner: &str, task: PortraitTask) {
    let settings = &portraits.settings;
    let id = task.id.clone();
    tracing::info!(task_id = %id, worker = owner, attempt = task.attempts, kind = ?task.task_type, "portrait task claimed");
    let outcome = if task.attempts > settings.max_attempts {
        Ok(Outcome::End(TaskEnd {
            state: TaskState::Failed,
            result_keys: task.result_keys.clone(),
            error: Some(format!(
                "gave up after {} attempts (portrait.max_attempts){}",
                settings.max_attempts,
                task.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )),
        }))
    } else {
        let lease = Lease::keep(portraits, &id, owner);
        match task.task_type {
            TaskType::Training => train(portraits, owner, &task, &lease).await,
            TaskType::Generation => generate(portraits, owner, &task, &lease).await,
        }
    };
    let end = match outcome {
        Ok(Outcome::End(end)) => end,
        Err(e) if e.code == ErrorCode::Cancelled => {
            tracing::warn!(task_id = %id, "portrait task taken over by another worker");
            return;
        }
        Err(e) if e.retryable && task.attempts < settings.max_attempts => {
            let retry_at =
                portraits.state.clock().now() + Duration::from_secs(settings.retry_delay_secs);
            tracing::warn!(task_id = %id, error = %e.message, "portrait step failed; will retry");
            if let Err(store) = portraits
                .state
                .release_portrait_task(&id, owner, retry_at, &e.message)
                .await
            {
                tracing::warn!(task_id = %id, error = %store.message, "cannot release the task");
            }
            return;
        }
        Err(e) => TaskEnd {
            state: TaskState::Failed,
            result_keys: task.result_keys.clone(),
            error: Some(e.message),
        },
    };
    if let Err(e) = finish(portraits, owner, &task, end).await {
        // The lease runs out and the next claim repeats the (idempotent) step.
        tracing::warn!(task_id = %id, error = %e.message, "cannot record the end of a portrait task");
    }
}

/// The backend's job for `task`: the stored one after a takeover, else a new one, stored
/// before anything polls it.
async fn job(
    portraits: &Arc<Portraits>,
    owner: &str,
    task: &PortraitTask,
    submit: impl std::future::Future<Output = Result<RemoteRef>>,
) -> Result<RemoteRef> {
    if let Some(remote) = &task.remote_task_id {
        return Ok(RemoteRef(remote.clone()));
    }
    let remote = submit.await?;
    lost(
        portraits
            .state
            .set_portrait_remote_task(&task.id, owner, &remote.0)
            .await?,
    )?;
    Ok(remote)
}

async fn train(
    portraits: &Arc<Portraits>,
    owner: &str,
    task: &PortraitTask,
    lease: &Lease,
) -> Result<Outcome> {
    let mut photos = Vec::with_capacity(task.input_paths.len());
    for path in &task.input_paths {
        // An upload that has expired since keeps a key that no longer resolves: the backend
        // reports it as such.
        let blob_key = match portraits.state.portrait_upload(&task.tenant, path).await? {
            Some(upload) => upload.blob_key,
            None => super::upload_blob_key(path),
        };
        photos.push(TrainingPhoto {
            path: path.clone(),
            blob_key,
        });
    }
    let input = TrainingInput {
        tenant: task.tenant.clone(),
        user_id: task.user_id.clone(),
        photos,
    };
    let backend = &portraits.backend;
    let remote = job(portraits, owner, task, backend.submit_training(&input)).await?;
    let state = &portraits.state;
    match backend.await_training(&remote, &input, lease).await {
        Ok(model) => {
            if !state
                .update_user_model(
                    &task.tenant,
                    &task.user_id,
                    UserModelStatus::Ready,
                    &model.photo_keys,
                    model.remote_handle.as_deref(),
                )
                .await?
            {
                return Ok(Outcome::End(TaskEnd {
                    state: TaskState::Failed,
                    result_keys: Vec::new(),
                    error: Some("the user model was deleted or expired while training".into()),
                }));
            }
            Ok(Outcome::End(TaskEnd {
                state: TaskState::Succeeded,
                result_keys: Vec::new(),
                error: model.note,
            }))
        }
        Err(e) if e.code == ErrorCode::Cancelled || e.retryable => Err(e),
        Err(e) => {
            state
                .update_user_model(
                    &task.tenant,
                    &task.user_id,
                    UserModelStatus::Failed,
                    &[],
                    None,
                )
                .await?;
            Ok(Outcome::End(TaskEnd {
                state: TaskState::Failed,
                result_keys: Vec::new(),
                error: Some(e.message),
            }))
        }
    }
}

async fn generate(
    portraits: &Arc<Portraits>,
    owner: &str,
    task: &PortraitTask,
    lease: &Lease,
) -> Result<Outcome> {
    let failed = |message: String| {
        Ok(Outcome::End(TaskEnd {
            state: TaskState::Failed,
            result_keys: Vec::new(),
            error: Some(message),
        }))
    };
    let Some(model) = portraits
        .state
        .user_model(&task.tenant, &task.user_id)
        .await?
    else {
        return failed(format!(
            "user model {} was deleted or has expired",
            task.user_id
        ));
    };
    if model.status != UserModelStatus::Ready {
        return failed(format!("user model {} is not trained", task.user_id));
    }
    let style = match portraits
        .styles
        .get(task.style.as_deref().unwrap_or_default())
    {
        Ok(style) => style.clone(),
        Err(e) => return failed(e.message),
    };
    let input = GenerationInput {
        tenant: task.tenant.clone(),
        user_id: task.user_id.clone(),
        task_id: task.id.clone(),
        model: UserModelHandle {
            photo_keys: model.photo_keys,
            remote_handle: model.remote_handle,
            note: None,
        },
        style,
        count: portraits.settings.images_per_task,
    };
    let backend = &portraits.backend;
    let remote = job(portraits, owner, task, backend.submit_generation(&input)).await?;
    let images = fit_to_count(
        backend.await_generation(&remote, &input, lease).await?,
        input.count,
        backend.name(),
    );
    let total = images.len();
    let mut keys = Vec::new();
    let mut failures = Vec::new();
    for (index, image) in images.into_iter().enumerate() {
        match image {
            Ok(image) => {
                let key = format!(
                    "portraits/{}/{}/result_{index:02}.{}",
                    task.tenant,
                    task.id,
                    image.format.extension()
                );
                portraits.blobs().put(&key, image.bytes).await?;
                keys.push(key);
            }
            Err(e) => failures.push(format!("image {}: {}", index + 1, e.message)),
        }
    }
    // Stored before the state moves: a crash here leaves the results for the next attempt
    // to find overwritten with the same names.
    lost(
        portraits
            .state
            .set_portrait_results(&task.id, owner, &keys)
            .await?,
    )?;
    let (state, error) = match (keys.len(), failures.is_empty()) {
        (_, true) => (TaskState::Succeeded, None),
        (0, false) => (
            TaskState::Failed,
            Some(format!("every image failed: {}", failures.join("; "))),
        ),
        (_, false) => (
            TaskState::PartlySucceeded,
            Some(format!(
                "{} of {total} images failed: {}",
                failures.len(),
                failures.join("; ")
            )),
        ),
    };
    Ok(Outcome::End(TaskEnd {
        state,
        result_keys: keys,
        error,
    }))
}

/// Ends the task with its callback row in one transaction, then hands the callback to a
/// delivery task (the deliverer retries on its schedule; a restart resumes from the outbox).
async fn finish(
    portraits: &Arc<Portraits>,
    owner: &str,
    task: &PortraitTask,
    end: TaskEnd,
) -> Result<()> {
    let mut ended = task.clone();
    ended.state = end.state;
    ended.result_keys = end.result_keys.clone();
    ended.error = end.error.clone();
    let callback = match &task.callback_url {
        Some(url) => {
            let now = portraits.state.clock().now();
            Some(PortraitCallback {
                // Derived from the task, so every attempt (and every replica) sends the same id.
                webhook_id: format!("msg_{}", task.id.replace('-', "")),
                task_id: task.id.clone(),
                tenant: task.tenant.clone(),
                url: url.clone(),
                body: portraits.query_body(&ended).await?.to_string(),
                attempts: 0,
                delivered_at: None,
                created_at: now,
                expires_at: task.expires_at,
            })
        }
        None => None,
    };
    if !portraits
        .state
        .finish_portrait_task(&task.id, owner, &end, callback.as_ref())
        .await?
    {
        tracing::warn!(task_id = %task.id, "portrait task taken over before it ended");
        return Ok(());
    }
    tracing::info!(task_id = %task.id, state = ?end.state, results = end.result_keys.len(), "portrait task ended");
    if let Some(callback) = callback {
        super::callbacks::spawn_delivery(portraits.clone(), callback);
    }
    Ok(())
}

/// The task promised `count` portraits, whatever the backend returned: extra ones are not
/// kept, missing ones are failures of their own (state 4), not silently fewer results.
fn fit_to_count(
    mut images: Vec<Result<EncodedImage>>,
    count: usize,
    backend: &str,
) -> Vec<Result<EncodedImage>> {
    let returned = images.len();
    images.truncate(count);
    while images.len() < count {
        images.push(Err(Error::internal(format!(
            "{backend} returned {returned} of {count} images"
        ))));
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImageFormat;

    fn image() -> Result<EncodedImage> {
        Ok(EncodedImage {
            bytes: bytes::Bytes::from_static(b"x"),
            format: ImageFormat::Png,
            width: 1,
            height: 1,
        })
    }

    #[test]
    fn results_are_fitted_to_the_count_the_task_promised() {
        let short = fit_to_count(vec![image(), image()], 4, "facechain");
        assert_eq!(short.len(), 4);
        assert!(short[..2].iter().all(Result::is_ok));
        let missing = short[3].as_ref().unwrap_err();
        assert_eq!(missing.message, "facechain returned 2 of 4 images");
        let long = fit_to_count(vec![image(), image(), image()], 2, "comfyui");
        assert_eq!(long.len(), 2);
        assert!(long.iter().all(Result::is_ok));
    }
}
