//! Seed 003 AI portraits: uploads, user models (training tasks), styles, generation tasks and
//! their queries, the same for REST and gRPC. Tasks are rows in the state store worked by
//! [`worker`]s on any replica; a [`backend::PortraitBackend`] renders them.

pub mod backend;
pub mod callbacks;
pub mod comfyui;
pub mod facechain;
pub mod local;
pub mod styles;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::Caller;
use crate::config::{PortraitBackendKind, PortraitSettings, Settings};
use crate::domain::{ImageFormat, ImageLimits, ImageSource};
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::state::{
    PortraitTask, PortraitUpload, StateStore, TaskType, UserModel, UserModelStatus,
};
use crate::store::BlobStore;
use crate::webhooks::{CallbackSink, Deliverer, StoreAttemptLog};
use backend::PortraitBackend;
use styles::StyleCatalogue;

/// The upload path callers hold: `user_upload/<tenant>/<uuid>.jpg`.
const UPLOAD_PREFIX: &str = "user_upload/";

/// Where an upload path's bytes live in the blob store.
pub fn upload_blob_key(path: &str) -> String {
    format!("portraits/{path}")
}

pub struct Portraits {
    pub engine: Arc<Engine>,
    pub state: Arc<dyn StateStore>,
    pub backend: Arc<dyn PortraitBackend>,
    /// Where finished tasks' callbacks go; the `deliverer` unless a test substitutes it.
    pub callbacks: Arc<dyn CallbackSink>,
    /// Judges callback URLs and tenants' secrets at task creation.
    pub deliverer: Arc<Deliverer>,
    pub styles: StyleCatalogue,
    pub settings: PortraitSettings,
    pub limits: ImageLimits,
    /// This process's name on the callback claims it holds (`portrait_callbacks.sender`).
    pub sender: String,
}

/// What a create call returns (seed: `{task_id, user_id}`).
#[derive(Debug, Clone)]
pub struct Created {
    pub task_id: String,
    pub user_id: String,
}

impl Portraits {
    /// The backend `portrait.backend` names (local, FaceChain or ComfyUI), and callbacks signed and delivered by the
    /// webhook deliverer under the image fetch address policy.
    pub fn from_settings(
        settings: &Settings,
        engine: Arc<Engine>,
        state: Arc<dyn StateStore>,
    ) -> anyhow::Result<Self> {
        let log = Arc::new(StoreAttemptLog::new(
            state.clone(),
            settings.webhooks.max_disabled_endpoints,
            Duration::from_secs(settings.webhooks.history_retention_secs),
        ));
        let deliverer = Arc::new(Deliverer::new(&settings.fetch, &settings.webhooks, log)?);
        // Loaded first: the ComfyUI backend loads the workflows its styles name.
        let styles = StyleCatalogue::load(&settings.portrait.styles_file)?;
        let backend: Arc<dyn PortraitBackend> = match settings.portrait.backend {
            PortraitBackendKind::Local => Arc::new(local::LocalBackend::new(
                engine.clone(),
                settings.limits,
                &settings.portrait,
            )),
            PortraitBackendKind::FaceChain => {
                // Same download limits as the DashScope adapter's (ProviderContext).
                let downloader = crate::providers::remote::ResultDownloader::new(
                    Duration::from_secs(settings.fetch.timeout_secs.max(1)),
                    settings.limits.max_input_bytes,
                    settings.limits,
                )?;
                let client = crate::providers::facechain::FaceChainClient::new(
                    &settings.providers.dashscope,
                    &settings.providers.facechain,
                    downloader,
                )?;
                Arc::new(facechain::FaceChainBackend::new(
                    Arc::new(client),
                    engine.blobs().clone(),
                    settings.limits,
                    Duration::from_secs(settings.portrait.heartbeat_secs),
                ))
            }
            PortraitBackendKind::ComfyUi => {
                let Some(comfyui) = &settings.providers.comfyui else {
                    anyhow::bail!("portrait.backend = \"comfyui\" needs [providers.comfyui]");
                };
                let client =
                    crate::providers::comfyui::ComfyUiClient::new(comfyui, settings.limits)?;
                Arc::new(comfyui::ComfyUiBackend::new(
                    Arc::new(client),
                    local::LocalBackend::new(engine.clone(), settings.limits, &settings.portrait),
                    engine.blobs().clone(),
                    settings.limits,
                    &styles,
                    &settings.portrait.comfyui,
                    Duration::from_secs(settings.portrait.heartbeat_secs),
                )?)
            }
        };
        Ok(Portraits {
            backend,
            engine,
            state,
            callbacks: deliverer.clone(),
            deliverer,
            styles,
            settings: settings.portrait.clone(),
            limits: settings.limits,
            sender: format!("cb-{}", uuid::Uuid::new_v4().simple()),
        })
    }

    pub fn blobs(&self) -> &BlobStore {
        self.engine.blobs()
    }

    fn retention(&self) -> Duration {
        Duration::from_secs(self.settings.retention_secs)
    }

    /// Stores a base photo for `caller` and returns its path. Anything but JPEG is re-encoded
    /// so the `.jpg` the seed names is true.
    pub async fn upload(
        &self,
        caller: &Caller,
        source: ImageSource,
        field: &str,
    ) -> Result<String> {
        let image = self.engine.inputs().resolve(source, field).await?;
        let bytes = if image.format == ImageFormat::Jpeg {
            image.bytes
        } else {
            let limits = self.limits;
            let bytes = image.bytes;
            crate::media::cancel::run_blocking(limits.job_budget(), move || {
                let decoded = crate::media::decode(&bytes, &limits)?.1;
                crate::media::encode(
                    &image::DynamicImage::ImageRgb8(decoded.to_rgb8()),
                    ImageFormat::Jpeg,
                    95,
                )
            })
            .await
            .map_err(|e| e.or_field(field))?
        };
        let path = format!(
            "{UPLOAD_PREFIX}{}/{}.jpg",
            caller.key_id,
            uuid::Uuid::new_v4()
        );
        let key = upload_blob_key(&path);
        self.blobs().put(&key, bytes).await?;
        let now = self.state.clock().now();
        self.state
            .insert_portrait_upload(&PortraitUpload {
                path: path.clone(),
                tenant: caller.key_id.clone(),
                blob_key: key,
                created_at: now,
                expires_at: now + self.retention(),
            })
            .await?;
        Ok(path)
    }

    /// Starts training a user model from `img_set`.
    pub async fn create_user_model(
        &self,
        caller: &Caller,
        img_set: &[String],
        callback_url: Option<&str>,
    ) -> Result<Created> {
        let (min, max) = (self.settings.min_photos, self.settings.max_photos);
        if img_set.len() < min || img_set.len() > max {
            return Err(Error::invalid(
                "img_set",
                format!(
                    "img_set must hold {min} to {max} upload paths, got {}",
                    img_set.len()
                ),
            ));
        }
        for (i, path) in img_set.iter().enumerate() {
            // Another tenant's path is as unknown as a made-up one.
            if self
                .state
                .portrait_upload(&caller.key_id, path)
                .await?
                .is_none()
            {
                return Err(Error::not_found(format!(
                    "img_set[{i}]: upload {} does not exist or has expired",
                    crate::redact::echo(path)
                ))
                .with_field(format!("img_set[{i}]")));
            }
        }
        let callback_url = self.check_callback(&caller.key_id, callback_url)?;
        let now = self.state.clock().now();
        let expires_at = now + self.retention();
        let user_id = format!(
            "U{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
        );
        self.state
            .insert_user_model(&UserModel {
                user_id: user_id.clone(),
                tenant: caller.key_id.clone(),
                status: UserModelStatus::Training,
                photo_keys: Vec::new(),
                remote_handle: None,
                created_at: now,
                expires_at,
            })
            .await?;
        let mut task = PortraitTask::new(
            &caller.key_id,
            TaskType::Training,
            &user_id,
            now,
            expires_at,
        );
        task.input_paths = img_set.to_vec();
        task.callback_url = callback_url;
        self.state.insert_portrait_task(&task).await?;
        tracing::info!(task_id = %task.id, user_id, tenant = %caller.key_id, "training task created");
        Ok(Created {
            task_id: task.id,
            user_id,
        })
    }

    /// Queues a generation task for a trained user model.
    pub async fn create_task(
        &self,
        caller: &Caller,
        user_id: &str,
        style: &str,
        callback_url: Option<&str>,
    ) -> Result<Created> {
        if user_id.trim().is_empty() {
            return Err(Error::invalid("user_id", "user_id is required"));
        }
        self.styles.get(style)?;
        let model = self
            .state
            .user_model(&caller.key_id, user_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "user model {} does not exist or has expired",
                    crate::redact::echo(user_id)
                ))
                .with_field("user_id")
            })?;
        match model.status {
            UserModelStatus::Ready => {}
            UserModelStatus::Training => {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    "the user model is still training: poll its training task until state 3",
                )
                .with_field("user_id"));
            }
            UserModelStatus::Failed => {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    "the user model's training failed (see its training task); create a new one",
                )
                .with_field("user_id"));
            }
        }
        let callback_url = self.check_callback(&caller.key_id, callback_url)?;
        let now = self.state.clock().now();
        let mut task = PortraitTask::new(
            &caller.key_id,
            TaskType::Generation,
            user_id,
            now,
            now + self.retention(),
        );
        task.style = Some(style.to_owned());
        task.callback_url = callback_url;
        self.state.insert_portrait_task(&task).await?;
        tracing::info!(task_id = %task.id, user_id, style, "generation task created");
        Ok(Created {
            task_id: task.id,
            user_id: user_id.to_owned(),
        })
    }

    /// `caller`'s task, or NOT_FOUND (also for another tenant's).
    pub async fn task(&self, caller: &Caller, task_id: &str) -> Result<PortraitTask> {
        if task_id.trim().is_empty() {
            return Err(Error::invalid("task_id", "task_id is required"));
        }
        self.state
            .portrait_task(&caller.key_id, task_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "task {} does not exist or has expired",
                    crate::redact::echo(task_id)
                ))
                .with_field("task_id")
            })
    }

    /// Links to a task's results, each living as long as its blob.
    pub async fn result_urls(&self, task: &PortraitTask) -> Result<Vec<String>> {
        let mut urls = Vec::with_capacity(task.result_keys.len());
        // Only an ended task shows results: a running one may still overwrite them.
        if task.state.is_final() {
            for key in &task.result_keys {
                if let Some(link) = self.blobs().link_to_stored(key).await? {
                    urls.push(link.url);
                }
            }
        }
        Ok(urls)
    }

    /// Seed 003's task-query `body` (also the callback body).
    pub async fn query_body(&self, task: &PortraitTask) -> Result<Value> {
        let mut body = json!({
            "state": task.state.code(),
            "id": task.id,
            "tsk_type": task.task_type.code(),
            "result_paths": self.result_urls(task).await?,
            "user_id": task.user_id,
        });
        if let Some(message) = &task.error {
            body["msg"] = json!(message);
        }
        Ok(body)
    }

    /// Deletes a user model, its tasks and every blob they made.
    pub async fn delete_user_model(&self, caller: &Caller, user_id: &str) -> Result<u64> {
        let deleted = self
            .state
            .delete_user_model(&caller.key_id, user_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "user model {} does not exist or has expired",
                    crate::redact::echo(user_id)
                ))
                .with_field("user_id")
            })?;
        for key in &deleted.blob_keys {
            // The rows are gone, so nothing links here any more; a blob left behind by a
            // failed delete still goes with the blob store's TTL.
            if let Err(e) = self.blobs().delete(key).await {
                tracing::warn!(key, error = %e.message, "cannot delete a portrait blob");
            }
        }
        tracing::info!(user_id, tenant = %caller.key_id, tasks = deleted.tasks, blobs = deleted.blob_keys.len(), "user model deleted");
        Ok(deleted.tasks)
    }
}

impl Portraits {
    /// An optional http(s) callback URL, refused at creation when the deliverer would refuse
    /// it later: an address the policy forbids (loopback and private ranges unless `fetch.allow`
    /// lists them; host names are judged again when they resolve) or a tenant with no secret.
    fn check_callback(&self, tenant: &str, url: Option<&str>) -> Result<Option<String>> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        match url::Url::parse(url) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            _ => {
                return Err(Error::invalid(
                    "callback_url",
                    format!(
                        "callback_url must be an http(s) URL, got {}",
                        crate::redact::echo(url)
                    ),
                ));
            }
        }
        self.deliverer.check_url(url)?;
        self.deliverer.check_tenant(tenant)?;
        Ok(Some(url.to_owned()))
    }
}
