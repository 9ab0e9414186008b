//! `[providers.comfyui]`: where the server is, which workflow it runs, and the bounds of one
//! generation (time, previews, bytes).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComfyUiSettings {
    /// `http://127.0.0.1:8188`; the WebSocket is derived from it (`ws://…/ws`). An `https`
    /// server is followed by polling, since the WebSocket client speaks plain `ws` only.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …` when set: ComfyUI has no auth of its own and is
    /// usually put behind a proxy that checks one.
    pub api_key: Secret,
    /// An API-format workflow (ComfyUI's "Export (API)") for text-to-image; the embedded
    /// SD 1.5 graph when unset. Placeholders: see `template.rs`.
    pub workflow: Option<PathBuf>,
    /// The workflow used when a job carries a reference image; the embedded image-to-image
    /// graph when unset.
    pub reference_workflow: Option<PathBuf>,
    /// Replaces `{{checkpoint}}` in the workflows.
    pub checkpoint: String,
    /// Share of the overall percent a node of this `class_type` is worth. Nodes not listed
    /// weigh 1, samplers their `steps`; see `progress.rs`.
    pub node_weights: BTreeMap<String, f64>,
    /// Deadline of each HTTP call (submit, upload, view, poll, cancel).
    pub request_timeout_secs: u64,
    /// A run unfinished after this long is cancelled at the server and fails.
    pub job_timeout_secs: u64,
    /// Progress through the WebSocket; when false (or when it cannot connect) the run is
    /// followed by polling `/api/jobs` or `/history`.
    pub websocket: bool,
    /// Wait between polls when there is no WebSocket.
    pub poll_interval_ms: u64,
    /// Polls (or reconnects) in a row that may fail before the server counts as gone.
    pub max_poll_failures: u32,
    /// Preview frames passed on per run; later ones are dropped.
    pub max_preview_frames: u32,
    /// Largest preview frame passed on; larger ones are dropped.
    pub max_preview_bytes: u64,
    /// Largest WebSocket message accepted (a preview is one message).
    pub max_message_bytes: usize,
    /// Largest result image fetched with `/view`.
    pub max_image_bytes: u64,
    /// Most result images taken from one run.
    pub max_images: u32,
    /// Runs submitted at once; further covers wait in imgforge's line and are told their
    /// place. Two keep the GPU busy (one running, one queued at the server) while the rest
    /// of the line stays cancellable without touching the server.
    pub max_concurrent_jobs: u32,
}

impl Default for ComfyUiSettings {
    fn default() -> Self {
        ComfyUiSettings {
            base_url: "http://127.0.0.1:8188".to_owned(),
            api_key: Secret::default(),
            workflow: None,
            reference_workflow: None,
            checkpoint: "v1-5-pruned-emaonly.safetensors".to_owned(),
            node_weights: BTreeMap::new(),
            request_timeout_secs: 30,
            job_timeout_secs: 600,
            websocket: true,
            poll_interval_ms: 1000,
            max_poll_failures: 5,
            max_preview_frames: 50,
            max_preview_bytes: 4 << 20,
            max_message_bytes: 16 << 20,
            max_image_bytes: 64 << 20,
            max_images: 8,
            max_concurrent_jobs: 2,
        }
    }
}

impl ComfyUiSettings {
    /// Refuses settings that cannot work, naming the key to fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        let url = url::Url::parse(&self.base_url).map_err(|e| {
            anyhow::anyhow!(
                "providers.comfyui.base_url {:?} is not a URL: {e}",
                self.base_url
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("providers.comfyui.base_url must be http(s)");
        }
        for (key, value) in [
            ("request_timeout_secs", self.request_timeout_secs),
            ("job_timeout_secs", self.job_timeout_secs),
            ("poll_interval_ms", self.poll_interval_ms),
            ("max_image_bytes", self.max_image_bytes),
            ("max_images", u64::from(self.max_images)),
            ("max_concurrent_jobs", u64::from(self.max_concurrent_jobs)),
            ("max_message_bytes", self.max_message_bytes as u64),
        ] {
            if value == 0 {
                anyhow::bail!("providers.comfyui.{key} must be positive");
            }
        }
        if let Some((class, weight)) = self
            .node_weights
            .iter()
            .find(|(_, w)| !w.is_finite() || **w < 0.0)
        {
            anyhow::bail!("providers.comfyui.node_weights.{class} = {weight} must be ≥ 0");
        }
        Ok(())
    }
}
