//! The ComfyUI generation backend: fill the workflow, submit it, follow the run, fetch the
//! results (PROVIDERS.md §4.1; research/generation-backends.md §1).

use std::sync::Arc;
use std::time::Duration;

use super::api::Api;
use super::cancel::CancelOnDrop;
use super::error::{PROVIDER, timed_out};
use super::follow::{Follower, select};
use super::progress::RunProgress;
use super::socket::EventSocket;
use super::template::{Fill, Workflow};
use crate::config::comfyui::ComfyUiSettings;
use crate::domain::{Generated, GenerationJob, ImageLimits, ProgressSink};
use crate::error::{Error, ErrorCode, Result};

pub struct ComfyUiClient {
    pub(super) api: Arc<Api>,
    text_to_image: Workflow,
    image_to_image: Workflow,
}

impl ComfyUiClient {
    /// Checks the settings and loads the workflows; `limits` bound the images read back.
    pub fn new(settings: &ComfyUiSettings, limits: ImageLimits) -> anyhow::Result<Self> {
        settings.validate()?;
        let text_to_image = match &settings.workflow {
            Some(path) => Workflow::load(path)?,
            None => Workflow::embedded_text_to_image(),
        };
        let image_to_image = match &settings.reference_workflow {
            Some(path) => Workflow::load(path)?,
            None => Workflow::embedded_image_to_image(),
        };
        if !image_to_image.uses("reference_image") {
            anyhow::bail!(
                "providers.comfyui.reference_workflow: {} has no {{{{reference_image}}}} placeholder",
                image_to_image.origin()
            );
        }
        Ok(ComfyUiClient {
            api: Arc::new(Api::new(settings, limits)?),
            text_to_image,
            image_to_image,
        })
    }

    /// Runs `job` to its end, reporting to `progress`. Dropping the future cancels the run
    /// at the server.
    #[tracing::instrument(skip_all, fields(provider = PROVIDER, prompt_id))]
    pub async fn generate(&self, job: GenerationJob, progress: &ProgressSink) -> Result<Generated> {
        job.params.validate()?;
        let settings = self.api.settings();
        let params = &job.params;
        let mut notes = Vec::new();
        // Latents are 1/8 of the picture, so sides are multiples of 8.
        let (width, height) = (params.width / 8 * 8, params.height / 8 * 8);
        if (width, height) != (params.width, params.height) {
            notes.push(format!(
                "comfyui: size rounded down to {width}x{height} (multiples of 8)"
            ));
        }
        let (workflow, reference) = match &job.reference {
            Some(image) => (&self.image_to_image, Some(self.api.upload(image).await?)),
            None => (&self.text_to_image, None),
        };
        let graph = workflow.render(&Fill {
            prompt: &params.prompt,
            negative_prompt: &params.negative_prompt,
            seed: params
                .seed
                .map_or_else(|| u64::from(fastrand::u32(..)), u64::from),
            width,
            height,
            batch_size: params.n,
            checkpoint: &settings.checkpoint,
            reference_image: reference.as_deref(),
        });
        let client_id = uuid::Uuid::new_v4().to_string();
        let prompt_id = uuid::Uuid::new_v4().to_string();
        // The socket is opened before submitting, so no event of the run is missed.
        let socket = if settings.websocket {
            let timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
            match EventSocket::connect(
                &settings.base_url,
                &client_id,
                &settings.api_key,
                settings.max_message_bytes,
                timeout,
            )
            .await
            {
                Ok(socket) => Some(socket),
                Err(why) => {
                    tracing::info!(reason = %why.0, "comfyui websocket unusable; polling instead");
                    None
                }
            }
        } else {
            None
        };
        let reply = self.api.submit(&graph, &client_id, &prompt_id).await?;
        let prompt_id = reply.prompt_id;
        tracing::Span::current().record("prompt_id", prompt_id.as_str());
        tracing::debug!(number = ?reply.number, "comfyui run submitted");
        let mut guard = CancelOnDrop::new(self.api.clone(), prompt_id.clone());

        let follower = Follower::new(
            &self.api,
            prompt_id.clone(),
            progress,
            RunProgress::new(&graph, &settings.node_weights),
        );
        let deadline = Duration::from_secs(settings.job_timeout_secs);
        let files = match tokio::time::timeout(deadline, follower.follow(socket)).await {
            Err(_) => {
                // The guard, still armed, cancels the run as it drops.
                return Err(timed_out(&prompt_id, deadline));
            }
            Ok(Err(e)) => {
                // A run the server ended needs no cancel; one in an unknown state gets one.
                if !matches!(e.code, ErrorCode::Unavailable | ErrorCode::DeadlineExceeded) {
                    guard.disarm();
                }
                return Err(e);
            }
            Ok(Ok(files)) => {
                guard.disarm();
                files
            }
        };
        let files = if files.is_empty() {
            // Outputs not announced by `executed` (polling, older servers): from history.
            match self.api.history(&prompt_id).await? {
                Some(entry) => entry
                    .outputs
                    .into_values()
                    .flat_map(|output| output.images)
                    .collect(),
                None => Vec::new(),
            }
        } else {
            files
        };
        let files = select(files, settings.max_images);
        if files.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "comfyui run {prompt_id} produced no image; the workflow needs a SaveImage \
                     (or PreviewImage) node"
                ),
            )
            .with_provider(PROVIDER));
        }
        let mut images = Vec::with_capacity(files.len());
        for file in &files {
            images.push(self.api.view(file).await?);
        }
        Ok(Generated { images, notes })
    }
}
