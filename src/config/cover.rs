//! `[cover]`: seed 001's option catalogue, how a cover's prompt is written, how its stream
//! behaves, and the lifetimes of what covers leave behind.

use serde::{Deserialize, Serialize};

/// The embedded prompt template: one comma-separated phrase per attribute, so a phrase whose
/// attribute was not given (a male cover's breast size) is left out whole.
pub const DEFAULT_PROMPT_TEMPLATE: &str = "full-body character cover illustration, \
     {age} year old {ethnicity} {gender}, {body_type} build, {breast_size} bust, \
     {butt_size} hips, {hair_color} {hair_style} hair, looking at the viewer, soft studio \
     light, high detail";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoverSettings {
    /// A JSON file replacing the embedded option catalogue (same shape as
    /// src/cover/options.json); empty keeps the embedded one.
    pub options_file: String,
    /// How long a `coverId` resolves (seed 001: 30 minutes).
    pub cover_ttl_secs: u64,
    /// The prompt sent to the backend; placeholders `{gender}`, `{age}`, `{ethnicity}`,
    /// `{body_type}`, `{breast_size}`, `{butt_size}`, `{hair_color}`, `{hair_style}` take the
    /// option labels. A comma-separated phrase with an attribute not given is dropped.
    /// Empty: [`DEFAULT_PROMPT_TEMPLATE`].
    pub prompt_template: String,
    pub negative_prompt: String,
    /// Size of the cover asked of the backend (each backend may round it; the reply's notes
    /// say so).
    pub width: u32,
    pub height: u32,
    /// Longest silence on an open stream: the last state is sent again after it, so proxies
    /// do not cut a stream waiting on a slow backend.
    pub keepalive_secs: u64,
    /// Events buffered per stream for a slow reader; beyond it progress and previews are
    /// dropped (the next one supersedes them), never the final event.
    pub stream_buffer: usize,
    /// Deadline of the blocking REST call `POST /v1/agent/cover` (seed 001 tells callers to
    /// wait at least 350 s), instead of `server.request_timeout_secs`.
    pub rest_timeout_secs: u64,
}

impl Default for CoverSettings {
    fn default() -> Self {
        CoverSettings {
            options_file: String::new(),
            cover_ttl_secs: 1800,
            prompt_template: String::new(),
            negative_prompt: "blurry, deformed, extra limbs, text, watermark".to_owned(),
            width: 768,
            height: 1024,
            keepalive_secs: 10,
            stream_buffer: 16,
            rest_timeout_secs: 400,
        }
    }
}

impl CoverSettings {
    /// The template in effect.
    pub fn prompt_template(&self) -> &str {
        if self.prompt_template.trim().is_empty() {
            DEFAULT_PROMPT_TEMPLATE
        } else {
            &self.prompt_template
        }
    }

    /// Refuses settings that cannot work, naming the key to fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (key, value) in [
            ("cover_ttl_secs", self.cover_ttl_secs),
            ("keepalive_secs", self.keepalive_secs),
            ("stream_buffer", self.stream_buffer as u64),
            ("rest_timeout_secs", self.rest_timeout_secs),
        ] {
            if value == 0 {
                anyhow::bail!("cover.{key} must be positive");
            }
        }
        for (key, side) in [("width", self.width), ("height", self.height)] {
            if !(256..=2048).contains(&side) {
                anyhow::bail!("cover.{key} = {side} must be between 256 and 2048");
            }
        }
        // The template's placeholders are checked where it is parsed, when the cover
        // generator is built at start-up (config sits below `cover`).
        Ok(())
    }
}
