//! One typed configuration: embedded defaults → file → `IMGFORGE__SECTION__KEY` environment →
//! CLI flags, each layer overriding the one before.

pub mod aliyun_vision;
mod auth;
mod blob_store;
pub mod comfyui;
mod cover;
pub mod dashscope;
pub mod facechain;
mod inpaint;
pub mod openai_images;
mod portrait;
mod resilience;
mod secret;
mod state;
mod style_models;
mod super_resolution;
mod webhooks;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use auth::{API_KEYS_ENV, ApiKeySettings, AuthSettings};
pub use blob_store::{
    Addressing, BlobStoreKind, BlobStoreSettings, MAX_PRESIGNED_URL_TTL_SECS, S3Settings,
};
pub use cover::{CoverSettings, DEFAULT_PROMPT_TEMPLATE};
pub use inpaint::InpaintSettings;
pub use portrait::{PortraitBackendKind, PortraitComfyUiSettings, PortraitSettings};
pub use resilience::ResilienceSettings;
pub use secret::Secret;
pub use state::StateSettings;
pub use style_models::{PixelRange, StyleModelSettings, TensorLayout};
pub use super_resolution::{SUPER_RESOLUTION_MODELS, SuperResolutionSettings};
pub use webhooks::WebhookSettings;

use crate::domain::{ImageLimits, Operation};

/// The embedded defaults, also printed by `imgforge config --defaults`.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub limits: ImageLimits,
    pub fetch: FetchSettings,
    pub results: ResultSettings,
    pub blob_store: BlobStoreSettings,
    pub providers: ProviderSettings,
    pub models: ModelSettings,
    /// Local watermark removal and expand.
    #[serde(default)]
    pub inpaint: InpaintSettings,
    /// Covers, reference images, nonces: SQLite by default, PostgreSQL when scaled out.
    #[serde(default)]
    pub state: StateSettings,
    /// API keys and request signing of `/v1/*` and the Cover and Portrait services.
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub cover: CoverSettings,
    /// Seed 003 portraits: workers, leases, retention, curation.
    #[serde(default)]
    pub portrait: PortraitSettings,
    /// Signed task callbacks (portraits).
    #[serde(default)]
    pub webhooks: WebhookSettings,
    pub telemetry: TelemetrySettings,
}

/// The local engine's models and the ONNX Runtime that runs them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Folder holding model files (`u2netp.onnx`, ...).
    pub dir: PathBuf,
    /// Path of `libonnxruntime.so`; empty searches `ORT_DYLIB_PATH`, then an installed
    /// `onnxruntime` Python package, then the system library path.
    pub onnxruntime: String,
    /// Segmentation model used when a request names none.
    pub default_segmentation: String,
    /// Threads one inference may use; 0 = one per core.
    pub intra_threads: usize,
    /// Inferences run at once across all models.
    pub concurrency: usize,
    /// Execution providers in order of preference: "cpu", "cuda", "tensorrt".
    pub execution_providers: Vec<String>,
    /// Style models an operator installed for create character.
    #[serde(default)]
    pub style: StyleModelSettings,
    /// Super-resolution (local fix).
    #[serde(default)]
    pub super_resolution: SuperResolutionSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub request_timeout_secs: u64,
    pub max_message_bytes: usize,
    pub max_body_bytes: usize,
    pub shutdown_grace_secs: u64,
    /// Open connections per listener; more are closed as soon as they are accepted. Lowered
    /// at start to fit the process's open-files limit.
    pub max_connections: usize,
    /// An HTTP/1 request's headers must arrive within this time (also the keep-alive idle
    /// time between requests).
    pub header_read_timeout_secs: u64,
    /// A request's body must be complete within this time after its headers.
    pub body_read_timeout_secs: u64,
    /// A connection with no request running and no byte read or written for this long is
    /// closed.
    pub idle_timeout_secs: u64,
    pub http2: Http2Settings,
    pub lanes: LaneSettings,
}

/// HTTP/2 settings of both listeners, chosen so one client cannot pin the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http2Settings {
    /// Streams one connection may have open at once; the client queues the rest.
    pub max_concurrent_streams: u32,
    /// Flow-control window of one stream and of a whole connection: bytes a client may send
    /// before the server has read them.
    pub stream_window_bytes: u32,
    pub connection_window_bytes: u32,
    /// Pings find dead peers: a ping unanswered within the timeout closes the connection.
    pub keepalive_interval_secs: u64,
    pub keepalive_timeout_secs: u64,
}

/// Admission of local CPU work, per class of operation. A request takes a slot of its lane
/// only once its inputs are complete and checked, and only while it computes locally.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneSettings {
    /// Resize and convert: short jobs.
    pub utility: LaneLimits,
    /// Segmentation, compositing, stylisation: long jobs that must not delay the short ones.
    pub heavy: LaneLimits,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneLimits {
    /// Jobs of the lane running at once.
    pub concurrency: usize,
    /// Jobs waiting for a slot; one more is refused with RESOURCE_EXHAUSTED at once.
    pub queue: usize,
    /// Longest wait for a slot before RESOURCE_EXHAUSTED.
    pub queue_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchSettings {
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub max_bytes: u64,
    pub max_redirects: u32,
    pub allow: Vec<String>,
    pub user_agent: String,
    #[serde(default)]
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    Inline,
    Url,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultSettings {
    pub delivery: Delivery,
    pub url_ttl_secs: u64,
    pub public_base_url: String,
    pub signing_key: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Operation name (or `default`) → ordered provider names.
    pub chains: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub resilience: ResilienceSettings,
    #[serde(default)]
    pub dashscope: dashscope::DashScopeSettings,
    #[serde(default)]
    pub facechain: facechain::FaceChainSettings,
    #[serde(default)]
    pub aliyun_vision: aliyun_vision::AliyunVisionSettings,
    /// A self-hosted ComfyUI generation backend; absent unless configured.
    #[serde(default)]
    pub comfyui: Option<comfyui::ComfyUiSettings>,
    /// An OpenAI-compatible images API generation backend; absent unless configured.
    #[serde(default)]
    pub openai_images: Option<openai_images::OpenAiImagesSettings>,
}

impl ProviderSettings {
    /// The ordered provider names configured for `op`.
    pub fn chain(&self, op: Operation) -> &[String] {
        self.chains
            .get(op.name())
            .or_else(|| self.chains.get("default"))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    pub log_filter: String,
    /// OTLP/gRPC collector address (`http://127.0.0.1:4317`); empty exports no traces and
    /// installs no OpenTelemetry layer at all.
    #[serde(default)]
    pub otlp_endpoint: String,
    /// `service.name` of the exported traces.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Serve Prometheus metrics at `/metrics` on the HTTP bridge; false records nothing.
    #[serde(default = "default_true")]
    pub metrics: bool,
}

fn default_service_name() -> String {
    "imgforge".to_owned()
}

fn default_true() -> bool {
    true
}

/// Overrides given as CLI flags: the last layer.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CliOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerOverrides>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct ServerOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
}

impl Settings {
    /// Loads every layer. A `file` that is named but missing is an error, not a silent default.
    pub fn load(file: Option<&Path>, cli: &CliOverrides) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Toml::string(DEFAULTS_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                anyhow::bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(Env::prefixed("IMGFORGE__").split("__"))
            .merge(Serialized::defaults(cli));
        let mut settings: Settings = figment.extract()?;
        if let Ok(keys) = std::env::var(API_KEYS_ENV) {
            settings.auth.add_keys_from_env(&keys)?;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// The embedded defaults alone; what tests start from.
    pub fn embedded() -> Settings {
        Figment::from(Toml::string(DEFAULTS_TOML))
            .extract()
            .expect("embedded defaults are valid")
    }

    fn validate(&self) -> anyhow::Result<()> {
        for (name, chain) in &self.providers.chains {
            if name != "default" && Operation::from_name(name).is_none() {
                let known: Vec<_> = Operation::ALL.iter().map(|op| op.name()).collect();
                anyhow::bail!(
                    "providers.chains.{name}: unknown operation; known: default, {}",
                    known.join(", ")
                );
            }
            if chain.is_empty() {
                anyhow::bail!("providers.chains.{name}: the chain is empty");
            }
        }
        if self.server.max_message_bytes == 0 || self.server.max_body_bytes == 0 {
            anyhow::bail!("server.max_message_bytes and server.max_body_bytes must be positive");
        }
        for (name, lane) in [
            ("utility", self.server.lanes.utility),
            ("heavy", self.server.lanes.heavy),
        ] {
            if lane.concurrency == 0 {
                anyhow::bail!("server.lanes.{name}.concurrency must be positive");
            }
        }
        if self.server.max_connections == 0 {
            anyhow::bail!("server.max_connections must be positive");
        }
        if self.server.header_read_timeout_secs == 0
            || self.server.body_read_timeout_secs == 0
            || self.server.idle_timeout_secs == 0
        {
            anyhow::bail!(
                "server.header_read_timeout_secs, body_read_timeout_secs and idle_timeout_secs \
                 must be positive"
            );
        }
        if self.results.url_ttl_secs == 0 {
            anyhow::bail!(
                "results.url_ttl_secs must be positive (it is also how long stored blobs live)"
            );
        }
        let limits = &self.limits;
        if limits.max_job_secs == 0
            || limits.svg_max_depth == 0
            || limits.svg_max_elements == 0
            || limits.svg_max_render_cost == 0
            || limits.max_output_pixels == Some(0)
        {
            anyhow::bail!(
                "limits.max_job_secs, svg_max_depth, svg_max_elements, svg_max_render_cost and \
                 max_output_pixels must be positive"
            );
        }
        self.blob_store.validate()?;
        self.portrait.validate(self.results.url_ttl_secs)?;
        self.state.validate()?;
        self.cover.validate()?;
        self.auth.validate()?;
        self.webhooks.validate()?;
        self.providers.facechain.validate()?;
        if self.portrait.backend == PortraitBackendKind::FaceChain {
            // Refuse to start rather than fail every portrait task later.
            self.providers.dashscope.validate().map_err(|e| {
                anyhow::anyhow!("portrait.backend = \"facechain\" needs DashScope: {e}")
            })?;
            let most = facechain::MAX_IMAGES_PER_TASK;
            anyhow::ensure!(
                self.portrait.images_per_task <= most as usize,
                "portrait.backend = \"facechain\" renders at most {most} portraits per task; \
                 portrait.images_per_task is {}",
                self.portrait.images_per_task
            );
        }
        if self.portrait.backend == PortraitBackendKind::ComfyUi {
            let Some(comfyui) = &self.providers.comfyui else {
                anyhow::bail!(
                    "portrait.backend = \"comfyui\" needs [providers.comfyui] (at least \
                     providers.comfyui.base_url)"
                );
            };
            // One run renders the whole task; ComfyUI results past max_images are not read.
            anyhow::ensure!(
                self.portrait.images_per_task <= comfyui.max_images as usize,
                "portrait.backend = \"comfyui\" reads at most providers.comfyui.max_images ({}) \
                 images per run; portrait.images_per_task is {}",
                comfyui.max_images,
                self.portrait.images_per_task
            );
        }
        self.models.style.validate()?;
        self.models.super_resolution.validate()?;
        if let Some(comfyui) = &self.providers.comfyui {
            comfyui.validate()?;
        }
        if let Some(openai_images) = &self.providers.openai_images {
            openai_images.validate()?;
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }

    /// The base URL of signed result links.
    pub fn public_base_url(&self) -> String {
        if self.results.public_base_url.is_empty() {
            format!("http://{}", self.server.http_addr)
        } else {
            self.results
                .public_base_url
                .trim_end_matches('/')
                .to_owned()
        }
    }
}

#[cfg(test)]
// figment's Jail closures return its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load() {
        let settings = Settings::embedded();
        assert_eq!(settings.server.max_body_bytes, 5 * 1024 * 1024);
        assert_eq!(settings.providers.chain(Operation::Resize), ["local"]);
        assert_eq!(settings.results.delivery, Delivery::Inline);
    }

    #[test]
    fn layers_override_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "imgforge.toml",
                "[server]\nhttp_addr = \"127.0.0.1:9000\"\ngrpc_addr = \"127.0.0.1:9001\"\n",
            )?;
            jail.set_env("IMGFORGE__SERVER__GRPC_ADDR", "127.0.0.1:9002");
            jail.set_env("IMGFORGE__RESULTS__SIGNING_KEY", "s3cret");
            let cli = CliOverrides::default();
            let settings = Settings::load(Some(Path::new("imgforge.toml")), &cli).unwrap();
            assert_eq!(settings.server.http_addr.port(), 9000);
            assert_eq!(settings.server.grpc_addr.port(), 9002);
            let printed = settings.to_redacted_toml();
            assert!(!printed.contains("s3cret"), "{printed}");
            assert!(printed.contains("***"));

            let cli = CliOverrides {
                server: Some(ServerOverrides {
                    grpc_addr: Some("127.0.0.1:9003".parse().unwrap()),
                    http_addr: None,
                }),
            };
            let settings = Settings::load(Some(Path::new("imgforge.toml")), &cli).unwrap();
            assert_eq!(settings.server.grpc_addr.port(), 9003);
            Ok(())
        });
    }

    #[test]
    fn the_embedded_blob_store_is_local_and_its_s3_defaults_match_the_code() {
        let settings = Settings::embedded();
        assert_eq!(settings.blob_store.kind, BlobStoreKind::Local);
        assert_eq!(settings.blob_store.path, Path::new("data/blobs"));
        assert_eq!(settings.blob_store.s3, S3Settings::default());
    }

    #[test]
    fn an_s3_store_is_configured_from_a_file_with_the_secret_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "imgforge.toml",
                r#"
[blob_store]
kind = "s3"

[blob_store.s3]
endpoint = "https://s3.oss-cn-beijing.aliyuncs.com"
region = "cn-beijing"
bucket = "my-images"
access_key_id = "LTAI5t"
addressing = "virtual_hosted"
key_prefix = "imgforge/"
presigned_url_ttl_secs = 900
"#,
            )?;
            jail.set_env("IMGFORGE__BLOB_STORE__S3__SECRET_ACCESS_KEY", "oss-s3cret");
            let settings =
                Settings::load(Some(Path::new("imgforge.toml")), &CliOverrides::default()).unwrap();
            let store = &settings.blob_store;
            assert_eq!(store.kind, BlobStoreKind::S3);
            assert_eq!(store.s3.bucket, "my-images");
            assert_eq!(store.s3.addressing, Addressing::VirtualHosted);
            assert_eq!(store.s3.presigned_url_ttl_secs, 900);
            assert_eq!(store.s3.secret_access_key.expose(), "oss-s3cret");
            // Keys left out keep their embedded defaults.
            assert_eq!(store.s3.request_timeout_secs, 30);
            let printed = settings.to_redacted_toml();
            assert!(!printed.contains("oss-s3cret"), "{printed}");
            assert!(!format!("{settings:?}").contains("oss-s3cret"));
            Ok(())
        });
    }

    #[test]
    fn an_s3_store_without_a_bucket_or_with_an_unknown_key_does_not_load() {
        let cli = CliOverrides::default();
        figment::Jail::expect_with(|jail| {
            jail.set_env("IMGFORGE__BLOB_STORE__KIND", "s3");
            let err = Settings::load(None, &cli).unwrap_err();
            assert!(err.to_string().contains("blob_store.s3.bucket"), "{err}");

            jail.create_file("typo.toml", "[blob_store.s3]\nbuckets = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("typo.toml")), &cli).unwrap_err();
            assert!(err.to_string().contains("buckets"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_facechain_portrait_backend_needs_a_dashscope_key() {
        let cli = CliOverrides::default();
        assert_eq!(
            Settings::embedded().portrait.backend,
            PortraitBackendKind::Local
        );
        figment::Jail::expect_with(|jail| {
            jail.set_env("IMGFORGE__PORTRAIT__BACKEND", "facechain");
            let err = Settings::load(None, &cli).unwrap_err();
            assert!(
                err.to_string().contains("providers.dashscope.api_key"),
                "{err}"
            );
            jail.set_env("IMGFORGE__PROVIDERS__DASHSCOPE__API_KEY", "sk-test");
            let settings = Settings::load(None, &cli).unwrap();
            assert_eq!(settings.portrait.backend, PortraitBackendKind::FaceChain);
            jail.set_env("IMGFORGE__PORTRAIT__IMAGES_PER_TASK", "8");
            let err = Settings::load(None, &cli).unwrap_err();
            assert!(
                err.to_string().contains("portrait.images_per_task"),
                "{err}"
            );
            jail.set_env("IMGFORGE__PORTRAIT__IMAGES_PER_TASK", "4");
            jail.set_env("IMGFORGE__PORTRAIT__BACKEND", "cloud");
            assert!(Settings::load(None, &cli).is_err());
            Ok(())
        });
    }

    #[test]
    fn the_comfyui_portrait_backend_needs_a_comfyui_server() {
        let cli = CliOverrides::default();
        figment::Jail::expect_with(|jail| {
            jail.set_env("IMGFORGE__PORTRAIT__BACKEND", "comfyui");
            let err = Settings::load(None, &cli).unwrap_err();
            assert!(err.to_string().contains("[providers.comfyui]"), "{err}");
            jail.set_env(
                "IMGFORGE__PROVIDERS__COMFYUI__BASE_URL",
                "http://127.0.0.1:8188",
            );
            let settings = Settings::load(None, &cli).unwrap();
            assert_eq!(settings.portrait.backend, PortraitBackendKind::ComfyUi);
            assert_eq!(
                settings.portrait.comfyui.workflow_dir,
                std::path::PathBuf::from("workflows/comfyui")
            );
            jail.set_env("IMGFORGE__PORTRAIT__COMFYUI__WIDTH", "770");
            let err = Settings::load(None, &cli).unwrap_err();
            assert!(err.to_string().contains("portrait.comfyui.width"), "{err}");
            jail.set_env("IMGFORGE__PORTRAIT__COMFYUI__WIDTH", "768");
            jail.set_env("IMGFORGE__PROVIDERS__COMFYUI__MAX_IMAGES", "2");
            let err = Settings::load(None, &cli).unwrap_err();
            assert!(err.to_string().contains("max_images"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_file_and_unknown_operation_are_errors() {
        let cli = CliOverrides::default();
        let err = Settings::load(Some(Path::new("/nonexistent/imgforge.toml")), &cli).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[providers.chains]\nresise = [\"local\"]\n")?;
            let err = Settings::load(Some(Path::new("bad.toml")), &cli).unwrap_err();
            assert!(err.to_string().contains("unknown operation"), "{err}");
            Ok(())
        });
    }
}
