//! `[providers.dashscope]`: endpoint, key, model names, limits and how inputs reach it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashScopeSettings {
    /// `https://dashscope.aliyuncs.com/api/v1` (Beijing; most image models live only there),
    /// `https://dashscope-intl.aliyuncs.com/api/v1`, or a workspace host. Keys are bound to
    /// their region.
    pub base_url: String,
    pub api_key: Secret,
    /// Sent as `X-DashScope-WorkSpace` when set (sub-workspace keys, RAM users).
    pub workspace: String,
    /// How input images reach DashScope.
    pub inputs: InputDelivery,
    /// Deadline of each HTTP call (submit, poll, cancel, upload).
    pub request_timeout_secs: u64,
    /// First wait between polls of a task; it doubles every three polls up to `poll_max_ms`,
    /// as the official SDK does.
    pub poll_initial_ms: u64,
    pub poll_max_ms: u64,
    /// Task queries per second across the whole account (DashScope allows 20).
    pub poll_qps: f64,
    /// A task still unfinished after this long is cancelled and reported as timed out.
    pub task_timeout_secs: u64,
    /// DashScope's task times carry no zone; they are Beijing time (UTC+8).
    pub utc_offset_hours: i8,
    /// Cut the subject out locally before background generation, which wants a
    /// transparent subject (PROVIDERS.md §2.1).
    pub cutout_subject: bool,
    pub models: ModelNames,
    /// Per model: submits per second and tasks running at once (PROVIDERS.md §1.10). Calls
    /// beyond them wait in line here instead of meeting a 429 there.
    pub limits: BTreeMap<String, ModelLimits>,
    /// Limits of a model missing from `limits`.
    pub default_limits: ModelLimits,
    /// `create-character` preset name → `wanx-style-repaint-v1` style.
    pub style_presets: BTreeMap<String, StyleChoice>,
}

/// How input images reach DashScope, which only fetches URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputDelivery {
    /// A signed link to the blob store: a presigned bucket URL with the S3 store (OSS in
    /// production), the bridge's `/blobs/...` with the local store, whose
    /// `results.public_base_url` must then be reachable from DashScope.
    BlobUrl,
    /// DashScope's temporary upload (`oss://` links valid 48 h, bound to the model); the
    /// docs call it a development aid.
    TemporaryUpload,
    /// `data:` URIs in the request body for the models that accept them (image edit, style
    /// repaint), blob links for the rest.
    DataUri,
}

/// Which model each operation calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelNames {
    pub change_background: String,
    /// `parameters.model_version` of background generation; "v3" selects the newer model.
    pub background_model_version: String,
    pub change_clothes: String,
    /// `wanx2.1-imageedit`: expand, super-resolution and watermark removal.
    pub image_edit: String,
    pub style_repaint: String,
    /// `wanx2.1-t2i-*`, `wan2.2-t2i-*`, `wan2.5-t2i-preview` (legacy protocol) or
    /// `wan2.6-t2i` (messages protocol).
    pub text_to_image: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelLimits {
    pub submit_rps: f64,
    pub concurrency: u32,
}

/// A style of `wanx-style-repaint-v1`: a preset index, or (index −1) a reference image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleChoice {
    pub style_index: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub style_ref_url: String,
}

impl Default for DashScopeSettings {
    fn default() -> Self {
        let limits = [
            ("wanx-background-generation-v2", 2.0, 1),
            ("wanx2.1-imageedit", 2.0, 2),
            ("image-out-painting", 2.0, 5),
            ("aitryon-plus", 10.0, 5),
            ("aitryon", 10.0, 5),
            ("wanx-style-repaint-v1", 2.0, 1),
            ("wanx2.1-t2i-turbo", 2.0, 2),
            ("wanx2.1-t2i-plus", 2.0, 2),
        ]
        .into_iter()
        .map(|(model, submit_rps, concurrency)| {
            (
                model.to_owned(),
                ModelLimits {
                    submit_rps,
                    concurrency,
                },
            )
        })
        .collect();
        let style = |index: i32| StyleChoice {
            style_index: index,
            style_ref_url: String::new(),
        };
        DashScopeSettings {
            base_url: "https://dashscope.aliyuncs.com/api/v1".to_owned(),
            api_key: Secret::default(),
            workspace: String::new(),
            inputs: InputDelivery::BlobUrl,
            request_timeout_secs: 30,
            poll_initial_ms: 1000,
            poll_max_ms: 5000,
            poll_qps: 20.0,
            task_timeout_secs: 600,
            utc_offset_hours: 8,
            cutout_subject: true,
            models: ModelNames::default(),
            limits,
            default_limits: ModelLimits {
                submit_rps: 2.0,
                concurrency: 1,
            },
            // 1 3D童话 (fairy-tale 3D), 7 炫彩卡通 (colourful cartoon), 8 清雅国风 (ink wash).
            style_presets: BTreeMap::from([
                ("default".to_owned(), style(1)),
                ("cartoon".to_owned(), style(7)),
                ("watercolor".to_owned(), style(8)),
            ]),
        }
    }
}

impl Default for ModelNames {
    fn default() -> Self {
        ModelNames {
            change_background: "wanx-background-generation-v2".to_owned(),
            background_model_version: "v3".to_owned(),
            change_clothes: "aitryon-plus".to_owned(),
            image_edit: "wanx2.1-imageedit".to_owned(),
            style_repaint: "wanx-style-repaint-v1".to_owned(),
            text_to_image: "wanx2.1-t2i-turbo".to_owned(),
        }
    }
}

impl DashScopeSettings {
    pub fn limits_of(&self, model: &str) -> ModelLimits {
        self.limits
            .get(model)
            .copied()
            .unwrap_or(self.default_limits)
    }

    /// Refuses settings that cannot work, naming the key to fix.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.api_key.is_empty() {
            anyhow::bail!(
                "providers.dashscope.api_key is empty; set it (IMGFORGE__PROVIDERS__DASHSCOPE__API_KEY) \
                 or remove dashscope from providers.chains"
            );
        }
        let url = url::Url::parse(&self.base_url).map_err(|e| {
            anyhow::anyhow!(
                "providers.dashscope.base_url {:?} is not a URL: {e}",
                self.base_url
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("providers.dashscope.base_url must be http(s)");
        }
        for (model, limits) in self
            .limits
            .iter()
            .chain([(&"default_limits".to_owned(), &self.default_limits)])
        {
            if limits.submit_rps.is_nan() || limits.submit_rps <= 0.0 || limits.concurrency == 0 {
                anyhow::bail!(
                    "providers.dashscope.limits.{model}: submit_rps and concurrency must be positive"
                );
            }
        }
        if self.poll_qps.is_nan() || self.poll_qps <= 0.0 {
            anyhow::bail!("providers.dashscope.poll_qps must be positive");
        }
        Ok(())
    }
}
