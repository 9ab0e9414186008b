//! `portrait.backend = "comfyui"`: portraits rendered by a ComfyUI server running an
//! identity-preserving workflow (InstantID: `workflows/comfyui/portrait_instantid.json`).
//! Such workflows need no training, so training is the local backend's curation and the user
//! model is the curated photos. Generation uploads the best of them as the workflow's
//! reference image, submits one run of `count` images and returns its prompt id, which the
//! worker stores; a worker taking over polls that id instead of submitting again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::PortraitComfyUiSettings;
use crate::domain::{EncodedImage, ImageLimits, ProgressSink, SourceImage};
use crate::error::{Error, Result};
use crate::portrait::backend::{
    GenerationInput, Heartbeat, PortraitBackend, RemoteRef, TrainingInput, UserModelHandle, beating,
};
use crate::portrait::local::LocalBackend;
use crate::portrait::styles::StyleCatalogue;
use crate::providers::comfyui::ComfyUiClient;
use crate::providers::comfyui::template::{Fill, Workflow};
use crate::store::BlobStore;

pub struct ComfyUiBackend {
    client: Arc<ComfyUiClient>,
    /// Curates the photo set: the same training as `portrait.backend = "local"`.
    curation: LocalBackend,
    blobs: BlobStore,
    limits: ImageLimits,
    /// Each style's workflow, by `comfyui_template`.
    workflows: BTreeMap<String, Workflow>,
    settings: PortraitComfyUiSettings,
    /// How often the lease is extended while ComfyUI works (the worker's heartbeat period).
    heartbeat_every: Duration,
}

impl ComfyUiBackend {
    /// Loads every style's workflow, refusing (at start) a style with no prompt and a
    /// workflow that cannot take the user's photo.
    pub fn new(
        client: Arc<ComfyUiClient>,
        curation: LocalBackend,
        blobs: BlobStore,
        limits: ImageLimits,
        styles: &StyleCatalogue,
        settings: &PortraitComfyUiSettings,
        heartbeat_every: Duration,
    ) -> anyhow::Result<Self> {
        let mut workflows = BTreeMap::new();
        for style in styles.all() {
            if style.comfyui_prompt.trim().is_empty() {
                anyhow::bail!(
                    "portrait.backend = \"comfyui\": style {} has no comfyui_prompt",
                    style.style
                );
            }
            let name = &style.comfyui_template;
            if workflows.contains_key(name) {
                continue;
            }
            // A template name is a file name, not a path.
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
            {
                anyhow::bail!(
                    "style {}: comfyui_template {name:?} must be a file name (letters, digits, _ -) \
                     in portrait.comfyui.workflow_dir",
                    style.style
                );
            }
            let path = settings.workflow_dir.join(format!("{name}.json"));
            let workflow = Workflow::load(&path).map_err(|e| {
                anyhow::anyhow!("style {}: {e} (portrait.comfyui.workflow_dir)", style.style)
            })?;
            if !workflow.uses("reference_image") {
                anyhow::bail!(
                    "style {}: {} has no {{{{reference_image}}}} placeholder for the user's photo",
                    style.style,
                    workflow.origin()
                );
            }
            workflows.insert(name.clone(), workflow);
        }
        Ok(ComfyUiBackend {
            client,
            curation,
            blobs,
            limits,
            workflows,
            settings: settings.clone(),
            heartbeat_every,
        })
    }

    /// The user's best curated photo (curation stores them best first).
    async fn reference(&self, input: &GenerationInput) -> Result<SourceImage> {
        let Some(key) = input.model.photo_keys.first() else {
            return Err(Error::invalid(
                "user_id",
                "this user model was trained by another backend; train it again",
            ));
        };
        let bytes = self.blobs.get_live(key).await?;
        let (format, width, height) = crate::media::probe(&bytes, &self.limits)?;
        Ok(SourceImage {
            bytes,
            format,
            width,
            height,
        })
    }
}

#[async_trait]
impl PortraitBackend for ComfyUiBackend {
    fn name(&self) -> &'static str {
        "comfyui"
    }

    async fn submit_training(&self, input: &TrainingInput) -> Result<RemoteRef> {
        self.curation.submit_training(input).await
    }

    async fn await_training(
        &self,
        job: &RemoteRef,
        input: &TrainingInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<UserModelHandle> {
        self.curation.await_training(job, input, heartbeat).await
    }

    async fn submit_generation(&self, input: &GenerationInput) -> Result<RemoteRef> {
        let style = &input.style;
        let workflow = self.workflows.get(&style.comfyui_template).ok_or_else(|| {
            // Only a catalogue changed under a running process gets here.
            Error::invalid(
                "style",
                format!("style {:?} has no loaded ComfyUI workflow", style.style),
            )
        })?;
        let reference = self.reference(input).await?;
        let fill = Fill {
            prompt: &style.comfyui_prompt,
            negative_prompt: &self.settings.negative_prompt,
            seed: u64::from(fastrand::u32(..)),
            width: self.settings.width,
            height: self.settings.height,
            batch_size: u32::try_from(input.count).unwrap_or(u32::MAX),
            checkpoint: &self.settings.checkpoint,
            reference_image: None,
        };
        let prompt_id = self.client.submit_run(workflow, fill, &reference).await?;
        Ok(RemoteRef(prompt_id))
    }

    async fn await_generation(
        &self,
        job: &RemoteRef,
        _input: &GenerationInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<Vec<Result<EncodedImage>>> {
        let progress = ProgressSink::none();
        let images = beating(
            heartbeat,
            self.heartbeat_every,
            self.client.await_run(&job.0, &progress),
        )
        .await?;
        Ok(images.into_iter().map(Ok).collect())
    }
}
