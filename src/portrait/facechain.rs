//! `portrait.backend = "facechain"`: portraits rendered by DashScope FaceChain through
//! [`crate::providers::facechain::FaceChainClient`]. `submit_*` returns the DashScope id at
//! once so the worker stores it (`remote_task_id`) before `await_*` polls; a worker resuming
//! after a crash polls the stored id instead of submitting again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{EncodedImage, ProgressSink, SourceImage};
use crate::error::{Error, Result};
use crate::portrait::backend::{
    GenerationInput, Heartbeat, PortraitBackend, RemoteRef, TrainingInput, UserModelHandle, beating,
};
use crate::providers::facechain::{
    FaceChainClient, GenerationSource, PhotoVerdict, PortraitStyle, RemoteJobId, RemoteTaskId,
    TrainedModel, TrainingPhoto, describe,
};
use crate::providers::remote::InputPublisher;
use crate::store::BlobStore;

pub struct FaceChainBackend {
    client: Arc<FaceChainClient>,
    blobs: BlobStore,
    /// Publishes uploads as signed links, as the DashScope adapter does: FaceChain takes URLs.
    publisher: InputPublisher,
    limits: crate::domain::ImageLimits,
    /// How often the lease is extended while DashScope works (the worker's heartbeat period).
    heartbeat_every: Duration,
}

impl FaceChainBackend {
    pub fn new(
        client: Arc<FaceChainClient>,
        blobs: BlobStore,
        limits: crate::domain::ImageLimits,
        heartbeat_every: Duration,
    ) -> Self {
        FaceChainBackend {
            client,
            publisher: InputPublisher::new(blobs.clone()),
            blobs,
            limits,
            heartbeat_every,
        }
    }

    async fn photo(&self, path: &str, blob_key: &str) -> Result<TrainingPhoto> {
        let bytes = self.blobs.get_live(blob_key).await?;
        let (format, width, height) =
            crate::media::probe(&bytes, &self.limits).map_err(|e| e.or_field("img_set"))?;
        let published = self
            .publisher
            .publish(&SourceImage {
                bytes: bytes.clone(),
                format,
                width,
                height,
            })
            .await
            .map_err(|mut e| {
                // Keeps the code and retryability; names the photo.
                e.message = format!("publishing {path}: {}", e.message);
                e
            })?;
        Ok(TrainingPhoto {
            url: published.url,
            bytes,
        })
    }

    /// What the caller should know about the photos training left out, each by its path.
    /// Recomputed from the stored uploads (the same deterministic choice `submit_training`
    /// made), so a worker resuming after a restart reports it too.
    async fn left_out(&self, input: &TrainingInput) -> Result<Option<String>> {
        let mut photos = Vec::with_capacity(input.photos.len());
        for photo in &input.photos {
            photos.push(TrainingPhoto {
                url: String::new(),
                bytes: self.blobs.get_live(&photo.blob_key).await?,
            });
        }
        let verdicts = self.client.select(&photos).await?;
        let kept = verdicts
            .iter()
            .filter(|v| matches!(v, PhotoVerdict::Kept { .. }))
            .count();
        let left: Vec<String> = input
            .photos
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| !matches!(v, PhotoVerdict::Kept { .. }))
            .map(|(photo, v)| format!("{}: {}", photo.path, describe(v)))
            .collect();
        Ok((!left.is_empty()).then(|| {
            format!(
                "FaceChain trained on {kept} of {} photos; left out: {}",
                input.photos.len(),
                left.join("; ")
            )
        }))
    }
}

#[async_trait]
impl PortraitBackend for FaceChainBackend {
    fn name(&self) -> &'static str {
        "facechain"
    }

    async fn submit_training(&self, input: &TrainingInput) -> Result<RemoteRef> {
        let mut photos = Vec::with_capacity(input.photos.len());
        for photo in &input.photos {
            photos.push(self.photo(&photo.path, &photo.blob_key).await?);
        }
        let submission = self.client.submit_training(&photos).await?;
        Ok(RemoteRef(submission.job_id.0))
    }

    async fn await_training(
        &self,
        job: &RemoteRef,
        input: &TrainingInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<UserModelHandle> {
        let job_id = RemoteJobId(job.0.clone());
        let progress = ProgressSink::none();
        let model = beating(
            heartbeat,
            self.heartbeat_every,
            self.client.await_training(&job_id, &progress),
        )
        .await?;
        Ok(UserModelHandle {
            photo_keys: Vec::new(),
            remote_handle: Some(model.resource_id),
            note: self.left_out(input).await?,
        })
    }

    async fn submit_generation(&self, input: &GenerationInput) -> Result<RemoteRef> {
        let resource_id = input.model.remote_handle.clone().ok_or_else(|| {
            Error::invalid(
                "user_id",
                "this user model was trained by another backend; train it again",
            )
        })?;
        if input.style.facechain_style.is_empty() {
            return Err(Error::invalid(
                "style",
                format!("style {:?} has no FaceChain preset", input.style.style),
            ));
        }
        let source = GenerationSource::Model(TrainedModel {
            // Generation refers to the LoRA by resource id only; the job id is not sent.
            job_id: RemoteJobId(String::new()),
            resource_id,
        });
        let style = PortraitStyle::Preset(input.style.facechain_style.clone());
        let images = u32::try_from(input.count).unwrap_or(u32::MAX);
        let id = self
            .client
            .submit_generation(&source, &style, Some(images))
            .await?;
        Ok(RemoteRef(id.0))
    }

    async fn await_generation(
        &self,
        job: &RemoteRef,
        _input: &GenerationInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<Vec<Result<EncodedImage>>> {
        let task_id = RemoteTaskId(job.0.clone());
        let progress = ProgressSink::none();
        beating(
            heartbeat,
            self.heartbeat_every,
            self.client.await_generation(&task_id, &progress),
        )
        .await
    }
}
