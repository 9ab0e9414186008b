//! DashScope FaceChain portraits (PROVIDERS.md §2.7): train a person LoRA with
//! `facechain-finetune`, generate styled portraits with `facechain-generation`, or skip
//! training with its train-free template mode.
//!
//! Shaped as resumable steps for a durable worker: each `submit_*` returns the remote id at
//! once, so the worker stores it before it calls the matching `await_*`, which may run in
//! another process after a restart. Transport, key, errors and task polling are the DashScope
//! adapter's ([`crate::providers::dashscope`]).

mod finetune;
mod generation;
pub mod select;

use std::sync::Arc;

use bytes::Bytes;

use crate::config::dashscope::DashScopeSettings;
use crate::config::facechain::{FaceChainSettings, MAX_IMAGES_PER_TASK};
use crate::domain::{EncodedImage, ProgressSink};
use crate::error::{Error, Result};
use crate::providers::dashscope::TaskClient;
use crate::providers::remote::ResultDownloader;
pub use select::PhotoVerdict;

/// A training job at DashScope (`ft-…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJobId(pub String);

/// A generation task at DashScope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTaskId(pub String);

/// A trained person: the LoRA resource generation refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainedModel {
    pub job_id: RemoteJobId,
    /// `finetuned_output`, sent as `resources[].resource_id`.
    pub resource_id: String,
}

/// One uploaded photo: where DashScope can fetch it, and its bytes for local scoring.
#[derive(Debug, Clone)]
pub struct TrainingPhoto {
    pub url: String,
    pub bytes: Bytes,
}

#[derive(Debug, Clone)]
pub struct TrainingSubmission {
    pub job_id: RemoteJobId,
    /// Per photo given, in order: kept, or why not.
    pub verdicts: Vec<PhotoVerdict>,
}

/// What a generation starts from.
#[derive(Debug, Clone)]
pub enum GenerationSource {
    Model(TrainedModel),
    /// No training: frontal single-person photo URLs (at least one).
    TrainFree {
        photo_urls: Vec<String>,
    },
}

/// A style as FaceChain knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortraitStyle {
    /// A preset such as `f_idcard_female` (needs a trained model).
    Preset(String),
    /// A template photo whose scene and clothes the person is put into.
    Template { template_url: String },
}

pub struct FaceChainClient {
    tasks: Arc<TaskClient>,
    downloader: ResultDownloader,
    settings: FaceChainSettings,
}

impl FaceChainClient {
    pub fn new(
        dashscope: &DashScopeSettings,
        facechain: &FaceChainSettings,
        downloader: ResultDownloader,
    ) -> anyhow::Result<Self> {
        dashscope.validate()?;
        facechain.validate()?;
        Ok(FaceChainClient {
            tasks: TaskClient::new(dashscope)?,
            downloader,
            settings: facechain.clone(),
        })
    }

    /// Keeps the best photos FaceChain accepts and submits the training job.
    pub async fn submit_training(&self, photos: &[TrainingPhoto]) -> Result<TrainingSubmission> {
        let verdicts = self.select(photos).await?;
        let urls: Vec<String> = photos
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| matches!(verdict, PhotoVerdict::Kept { .. }))
            .map(|(photo, _)| photo.url.clone())
            .collect();
        if urls.is_empty() {
            let reasons: Vec<String> = verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| format!("photo {}: {}", i + 1, describe(v)))
                .collect();
            return Err(Error::invalid(
                "img_set",
                format!("no photo is usable for training ({})", reasons.join("; ")),
            ));
        }
        let job_id = finetune::submit(&self.tasks, &self.settings, &urls).await?;
        Ok(TrainingSubmission { job_id, verdicts })
    }

    /// Polls a training job until it ends; resumable with the stored id.
    pub async fn await_training(
        &self,
        job_id: &RemoteJobId,
        progress: &ProgressSink,
    ) -> Result<TrainedModel> {
        finetune::wait(&self.tasks, &self.settings, job_id, progress).await
    }

    /// Starts a generation of `images` portraits (FaceChain renders 1–4 per task; `None`
    /// asks for `providers.facechain.images_per_task`).
    pub async fn submit_generation(
        &self,
        source: &GenerationSource,
        style: &PortraitStyle,
        images: Option<u32>,
    ) -> Result<RemoteTaskId> {
        let images = images.unwrap_or(self.settings.images_per_task);
        if !(1..=MAX_IMAGES_PER_TASK).contains(&images) {
            return Err(Error::invalid(
                "images",
                format!("FaceChain renders 1–{MAX_IMAGES_PER_TASK} images per task, not {images}"),
            ));
        }
        let request = generation::request(&self.settings, source, style, images)?;
        let id = self.tasks.submit_paced(&request).await?;
        Ok(RemoteTaskId(id))
    }

    /// Waits for a generation and brings its images home. One entry per image FaceChain
    /// reported: a failed image stays an `Err` so the caller can report partial success.
    pub async fn await_generation(
        &self,
        task_id: &RemoteTaskId,
        progress: &ProgressSink,
    ) -> Result<Vec<Result<EncodedImage>>> {
        generation::wait(&self.tasks, &self.downloader, task_id, progress).await
    }

    /// Which photos training keeps (the same choice `submit_training` makes), and why the
    /// others are left out. CPU work on a blocking thread.
    pub async fn select(&self, photos: &[TrainingPhoto]) -> Result<Vec<PhotoVerdict>> {
        let bytes: Vec<Bytes> = photos.iter().map(|p| p.bytes.clone()).collect();
        let keep = self.settings.max_training_photos;
        let min_side = self.settings.min_photo_side;
        tokio::task::spawn_blocking(move || {
            let views: Vec<&[u8]> = bytes.iter().map(|b| b.as_ref()).collect();
            select::select(&views, keep, min_side)
        })
        .await
        .map_err(|e| Error::internal(format!("scoring training photos: {e}")))
    }
}

/// A verdict in words, for task messages.
pub fn describe(verdict: &PhotoVerdict) -> String {
    match verdict {
        PhotoVerdict::Kept { .. } => "kept".to_owned(),
        PhotoVerdict::Surplus { .. } => "better photos filled the places".to_owned(),
        PhotoVerdict::TooSmall { width, height } => format!("too small ({width}×{height})"),
        PhotoVerdict::Undecodable(why) => format!("not a readable image ({why})"),
    }
}
