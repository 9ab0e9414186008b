//! Runs that outlive the process that submitted them (portrait tasks): `submit_run` returns
//! the prompt id for the caller to store, `await_run` follows a stored id to its end. Unlike
//! [`ComfyUiClient::generate`] nothing cancels the run when the caller goes away: a worker
//! that crashed leaves it running, and the worker taking over polls the same prompt id.

use std::time::Duration;

use super::client::ComfyUiClient;
use super::error::{PROVIDER, timed_out};
use super::follow::{Follower, select};
use super::progress::RunProgress;
use super::template::{Fill, Workflow};
use crate::domain::{EncodedImage, ProgressSink, SourceImage};
use crate::error::Result;

impl ComfyUiClient {
    /// Uploads `reference`, fills `workflow` with it and submits; returns the prompt id.
    pub async fn submit_run(
        &self,
        workflow: &Workflow,
        fill: Fill<'_>,
        reference: &SourceImage,
    ) -> Result<String> {
        let name = self.api.upload(reference).await?;
        let graph = workflow.render(&Fill {
            reference_image: Some(&name),
            ..fill
        });
        let client_id = uuid::Uuid::new_v4().to_string();
        let prompt_id = uuid::Uuid::new_v4().to_string();
        let reply = self.api.submit(&graph, &client_id, &prompt_id).await?;
        tracing::debug!(provider = PROVIDER, prompt_id = %reply.prompt_id, "comfyui run submitted");
        Ok(reply.prompt_id)
    }

    /// Polls run `prompt_id` to its end and reads its images (at most
    /// `providers.comfyui.max_images`). A run still going after `job_timeout_secs` of this
    /// call is cancelled at the server.
    pub async fn await_run(
        &self,
        prompt_id: &str,
        progress: &ProgressSink,
    ) -> Result<Vec<EncodedImage>> {
        let settings = self.api.settings();
        // The graph is not kept across a restart, so progress is weighted by nodes alone.
        let follower = Follower::new(
            &self.api,
            prompt_id.to_owned(),
            progress,
            RunProgress::new(&serde_json::Map::new(), &settings.node_weights),
        );
        let deadline = Duration::from_secs(settings.job_timeout_secs);
        let files = match tokio::time::timeout(deadline, follower.follow(None)).await {
            Ok(files) => files?,
            Err(_) => {
                self.api.cancel(prompt_id).await;
                // Cancelled: polling it again cannot bring its images back.
                return Err(timed_out(prompt_id, deadline).retryable(false));
            }
        };
        let mut images = Vec::new();
        for file in &select(files, settings.max_images) {
            images.push(self.api.view(file).await?);
        }
        Ok(images)
    }
}
