//! `[portrait]`: seed 003's AI portraits: workers, leases, retention and photo curation.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortraitSettings {
    /// What renders portraits: this process (`local`), DashScope FaceChain (`facechain`,
    /// needs `providers.dashscope.api_key`) or a ComfyUI server (`comfyui`, needs
    /// `[providers.comfyui]`).
    pub backend: PortraitBackendKind,
    /// Workers of this process claiming tasks from the state store (0: this replica only
    /// serves the API and leaves the work to others).
    pub workers: usize,
    /// How long a claim holds without a heartbeat; a task whose worker died is taken over
    /// after this.
    pub lease_secs: u64,
    /// How often a running worker extends its lease (must be well under `lease_secs`).
    pub heartbeat_secs: u64,
    /// How often an idle worker looks for work.
    pub poll_interval_ms: u64,
    /// Claims of one task before it fails for good (a crash or a retryable error each count).
    pub max_attempts: i64,
    /// Wait before a task whose step failed with a retryable error is claimable again.
    pub retry_delay_secs: u64,
    /// How long uploads, user models, tasks and their results are kept (faces: short). At
    /// most `results.url_ttl_secs`, which is how long the blob store keeps their bytes.
    pub retention_secs: u64,
    /// `img_set` size (seed 003: 8 to 20).
    pub min_photos: usize,
    pub max_photos: usize,
    /// Curation: fewer usable photos than this fails training.
    pub min_usable_photos: usize,
    /// Curation: shortest side a usable photo has, in pixels.
    pub min_photo_side: u32,
    /// Curation: variance of the Laplacian (grey levels², photo fitted in 512 px) below which
    /// a photo is too blurred.
    pub min_sharpness: f64,
    /// Curation: difference hashes (64 bits) this close or closer are near-duplicates.
    pub duplicate_distance: u32,
    /// Curation: median subject distance (silhouette and chromaticity, 0..1) to the other
    /// photos above which a photo shows a different subject.
    pub max_subject_distance: f64,
    /// Portraits per generation task.
    pub images_per_task: usize,
    /// How often WatchPortraitTask reads the task (any replica may be running it).
    pub watch_poll_ms: u64,
    /// A JSON file replacing the embedded style catalogue (src/portrait/styles.json's shape).
    pub styles_file: String,
    /// Undelivered callbacks whose delivery claim has lapsed that a process takes per pass
    /// (at start and every `lease_secs`), oldest first; the rest wait for the next pass.
    pub max_resumed_callbacks: i64,
    /// `[portrait.comfyui]`: the portrait workflow when `backend = "comfyui"`.
    pub comfyui: PortraitComfyUiSettings,
}

/// How `portrait.backend = "comfyui"` renders: each style's `comfyui_template` names
/// `<workflow_dir>/<template>.json`, an API-format graph fed with the user's best photo
/// (`{{reference_image}}`) and the style's `comfyui_prompt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortraitComfyUiSettings {
    /// Where the styles' templates are (relative paths: to the working directory).
    pub workflow_dir: std::path::PathBuf,
    /// Replaces `{{checkpoint}}`: InstantID needs an SDXL checkpoint, so not the cover's
    /// `providers.comfyui.checkpoint`.
    pub checkpoint: String,
    /// Portrait size; multiples of 8 (latents are 1/8 of the picture).
    pub width: u32,
    pub height: u32,
    /// Replaces `{{negative_prompt}}` for every style.
    pub negative_prompt: String,
}

impl Default for PortraitComfyUiSettings {
    fn default() -> Self {
        PortraitComfyUiSettings {
            workflow_dir: "workflows/comfyui".into(),
            checkpoint: "sd_xl_base_1.0.safetensors".to_owned(),
            width: 768,
            height: 1024,
            negative_prompt: "lowres, blurry, deformed face, distorted features, extra limbs, \
                              watermark, text"
                .to_owned(),
        }
    }
}

impl PortraitComfyUiSettings {
    fn validate(&self) -> anyhow::Result<()> {
        for (key, side) in [("width", self.width), ("height", self.height)] {
            if !(256..=2048).contains(&side) || side % 8 != 0 {
                anyhow::bail!(
                    "portrait.comfyui.{key} must be a multiple of 8 within 256..=2048, got {side}"
                );
            }
        }
        if self.checkpoint.trim().is_empty() {
            anyhow::bail!("portrait.comfyui.checkpoint must name the server's checkpoint");
        }
        Ok(())
    }
}

/// `portrait.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortraitBackendKind {
    Local,
    FaceChain,
    ComfyUi,
}

impl Default for PortraitSettings {
    fn default() -> Self {
        PortraitSettings {
            backend: PortraitBackendKind::Local,
            workers: 2,
            lease_secs: 60,
            heartbeat_secs: 15,
            poll_interval_ms: 500,
            max_attempts: 3,
            retry_delay_secs: 10,
            retention_secs: 1800,
            min_photos: 8,
            max_photos: 20,
            min_usable_photos: 5,
            min_photo_side: 256,
            min_sharpness: 15.0,
            duplicate_distance: 3,
            max_subject_distance: 0.27,
            images_per_task: 4,
            watch_poll_ms: 500,
            styles_file: String::new(),
            max_resumed_callbacks: 1000,
            comfyui: PortraitComfyUiSettings::default(),
        }
    }
}

impl PortraitSettings {
    pub fn validate(&self, blob_ttl_secs: u64) -> anyhow::Result<()> {
        if self.lease_secs == 0
            || self.heartbeat_secs == 0
            || self.heartbeat_secs.saturating_mul(2) > self.lease_secs
        {
            anyhow::bail!(
                "portrait.heartbeat_secs must be positive and at most half of portrait.lease_secs"
            );
        }
        if self.poll_interval_ms == 0 || self.watch_poll_ms == 0 {
            anyhow::bail!("portrait.poll_interval_ms and portrait.watch_poll_ms must be positive");
        }
        if self.max_attempts < 1 {
            anyhow::bail!("portrait.max_attempts must be at least 1");
        }
        if self.retention_secs == 0 || self.retention_secs > blob_ttl_secs {
            anyhow::bail!(
                "portrait.retention_secs must be within 1..={blob_ttl_secs} (results.url_ttl_secs: \
                 the blob store keeps the photos no longer)"
            );
        }
        if self.min_photos == 0 || self.min_photos > self.max_photos {
            anyhow::bail!("portrait.min_photos must be within 1..=portrait.max_photos");
        }
        if self.min_usable_photos == 0 || self.min_usable_photos > self.min_photos {
            anyhow::bail!("portrait.min_usable_photos must be within 1..=portrait.min_photos");
        }
        if self.max_resumed_callbacks < 0 {
            anyhow::bail!("portrait.max_resumed_callbacks must be >= 0");
        }
        if !(1..=16).contains(&self.images_per_task) {
            anyhow::bail!("portrait.images_per_task must be within 1..=16");
        }
        if !(0.0..=f64::MAX).contains(&self.min_sharpness)
            || !(0.0..=1.0).contains(&self.max_subject_distance)
        {
            anyhow::bail!(
                "portrait.min_sharpness must be >= 0 and portrait.max_subject_distance within 0..=1"
            );
        }
        self.comfyui.validate()
    }
}
