//! `[providers.openai_images]`: an OpenAI-compatible images API (OpenAI itself, LocalAI,
//! one-api/new-api relays), the model and its options, and the bounds of one generation.

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiImagesSettings {
    /// Up to and including `/v1`: `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Secret,
    /// Sent as `OpenAI-Organization` when set.
    pub organization: String,
    /// `gpt-image-1`, `gpt-image-1-mini`, `dall-e-3`, or what a compatible server calls it.
    pub model: String,
    /// Model of `/images/edits` (a job with a reference image); `model` when empty.
    pub edit_model: String,
    /// Ask for server-sent events (GPT image models); a server that answers with plain JSON
    /// is handled as well.
    pub stream: bool,
    /// `partial_images` of a streamed request (0–3): previews before the final image.
    pub partial_images: u8,
    /// Sent when not empty: `quality` (`low|medium|high|auto`, `hd|standard`).
    pub quality: String,
    /// Sent when not empty: `output_format` (`png|jpeg|webp`; GPT image models).
    pub output_format: String,
    /// Sent when not empty: `moderation` (`auto|low`; GPT image models).
    pub moderation: String,
    /// Sent when not empty: `response_format` (`b64_json|url`; dall-e models only).
    pub response_format: String,
    /// Sizes the model accepts; a job's size is mapped to the one of nearest aspect. Empty:
    /// the job's `WxH` is sent as is (gpt-image-2, most compatible servers).
    pub sizes: Vec<String>,
    /// Deadline of opening a connection.
    pub connect_timeout_secs: u64,
    /// A generation unfinished after this long (headers, body, stream) fails.
    pub job_timeout_secs: u64,
    /// Longest silence between two events of a stream.
    pub stream_idle_secs: u64,
    /// Largest JSON answer (non-streamed; images inline as base64).
    pub max_response_bytes: u64,
    /// Largest single server-sent event (one base64 image).
    pub max_event_bytes: u64,
    /// Largest result image, decoded or downloaded.
    pub max_image_bytes: u64,
    /// Preview frames passed on per generation; later ones are dropped.
    pub max_preview_frames: u32,
    /// Generations in flight at once (the account's rate limit, in effect); further covers
    /// wait in imgforge's line and are told their place.
    pub max_concurrent_jobs: u32,
}

impl Default for OpenAiImagesSettings {
    fn default() -> Self {
        OpenAiImagesSettings {
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: Secret::default(),
            organization: String::new(),
            model: "gpt-image-1".to_owned(),
            edit_model: String::new(),
            stream: true,
            partial_images: 2,
            quality: String::new(),
            output_format: "png".to_owned(),
            moderation: String::new(),
            response_format: String::new(),
            sizes: ["1024x1024", "1536x1024", "1024x1536"]
                .map(str::to_owned)
                .to_vec(),
            connect_timeout_secs: 10,
            job_timeout_secs: 300,
            stream_idle_secs: 120,
            max_response_bytes: 96 << 20,
            max_event_bytes: 64 << 20,
            max_image_bytes: 48 << 20,
            max_preview_frames: 8,
            max_concurrent_jobs: 8,
        }
    }
}

impl OpenAiImagesSettings {
    /// Refuses settings that cannot work, naming the key to fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        let url = url::Url::parse(&self.base_url).map_err(|e| {
            anyhow::anyhow!(
                "providers.openai_images.base_url {:?} is not a URL: {e}",
                self.base_url
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("providers.openai_images.base_url must be http(s)");
        }
        if self.model.is_empty() {
            anyhow::bail!("providers.openai_images.model is empty");
        }
        if self.partial_images > 3 {
            anyhow::bail!("providers.openai_images.partial_images must be 0–3");
        }
        for size in &self.sizes {
            if parse_size(size).is_none() {
                anyhow::bail!("providers.openai_images.sizes: {size:?} is not WIDTHxHEIGHT");
            }
        }
        for (key, value) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("job_timeout_secs", self.job_timeout_secs),
            ("stream_idle_secs", self.stream_idle_secs),
            ("max_response_bytes", self.max_response_bytes),
            ("max_event_bytes", self.max_event_bytes),
            ("max_image_bytes", self.max_image_bytes),
            ("max_concurrent_jobs", u64::from(self.max_concurrent_jobs)),
        ] {
            if value == 0 {
                anyhow::bail!("providers.openai_images.{key} must be positive");
            }
        }
        Ok(())
    }
}

/// `1024x1536` → (1024, 1536).
pub fn parse_size(size: &str) -> Option<(u32, u32)> {
    let (w, h) = size.split_once('x')?;
    let (w, h) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}
