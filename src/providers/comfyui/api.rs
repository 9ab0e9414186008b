//! The HTTP calls of ComfyUI's API this adapter makes, each bounded in time and bytes.
//!
//! Whether the server has the jobs API (`/api/jobs`, newer builds) is learned from the first
//! call that needs it and remembered; older servers are followed with `/history` and
//! `/queue`, and cancelled with `/interrupt` plus a queue delete.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::AUTHORIZATION;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::error::{PROVIDER, http_error, malformed, transport_error};
use super::wire::{FileRef, HistoryEntry, Job, Queue, SubmitBody, SubmitReply, UploadReply};
use crate::config::comfyui::ComfyUiSettings;
use crate::domain::{EncodedImage, ImageLimits, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::remote::retry_after;

const JOBS_UNKNOWN: u8 = 0;
const JOBS_YES: u8 = 1;
const JOBS_NO: u8 = 2;

/// Largest JSON answer read (history of a run, the queue, a job).
const MAX_JSON_BYTES: u64 = 8 << 20;

pub struct Api {
    http: reqwest::Client,
    settings: ComfyUiSettings,
    limits: ImageLimits,
    jobs_api: AtomicU8,
}

impl Api {
    pub fn new(settings: &ComfyUiSettings, limits: ImageLimits) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .no_proxy()
            .build()?;
        Ok(Api {
            http,
            settings: settings.clone(),
            limits,
            jobs_api: AtomicU8::new(JOBS_UNKNOWN),
        })
    }

    pub fn settings(&self) -> &ComfyUiSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url.trim_end_matches('/'))
    }

    fn call(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.settings.api_key.is_empty() {
            request
        } else {
            request.header(
                AUTHORIZATION,
                format!("Bearer {}", self.settings.api_key.expose()),
            )
        }
    }

    /// Sends `request`; a non-2xx answer becomes the mapped error.
    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let response = self
            .call(request)
            .send()
            .await
            .map_err(|e| transport_error(what, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = retry_after(response.headers());
        let body = read_capped(response, 64 << 10).await.unwrap_or_default();
        Err(http_error(what, status.as_u16(), &body, wait))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T> {
        let response = self.send(what, request).await?;
        let body = read_capped(response, MAX_JSON_BYTES)
            .await
            .map_err(|e| e.into_error(what))?;
        serde_json::from_slice(&body).map_err(|e| malformed(what, &e.to_string()))
    }

    /// `POST /prompt`; the id the server answers with is the run's id.
    pub async fn submit(
        &self,
        graph: &Map<String, Value>,
        client_id: &str,
        prompt_id: &str,
    ) -> Result<SubmitReply> {
        let body = SubmitBody {
            prompt: graph,
            client_id,
            prompt_id,
        };
        let reply: SubmitReply = self
            .json("submit", self.http.post(self.url("/prompt")).json(&body))
            .await?;
        if reply.prompt_id.is_empty() {
            return Err(malformed("submit", "no prompt_id"));
        }
        Ok(reply)
    }

    /// `POST /upload/image`; returns the name to put in the workflow. The name is derived
    /// from the content, so a reference sent twice is stored once.
    pub async fn upload(&self, image: &SourceImage) -> Result<String> {
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(&image.bytes));
        let name = format!("imgforge-{}.{}", &digest[..32], image.format.extension());
        let part = reqwest::multipart::Part::bytes(image.bytes.to_vec())
            .file_name(name)
            .mime_str(image.format.media_type())
            .map_err(|e| Error::internal(format!("bad media type: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .part("image", part)
            .text("type", "input")
            .text("overwrite", "true");
        let reply: UploadReply = self
            .json(
                "upload",
                self.http.post(self.url("/upload/image")).multipart(form),
            )
            .await?;
        // `LoadImage` takes `subfolder/name` for files outside the input folder's root.
        let _ = reply.kind;
        Ok(if reply.subfolder.is_empty() {
            reply.name
        } else {
            format!("{}/{}", reply.subfolder, reply.name)
        })
    }

    /// `GET /view`: one result image, bounded by `max_image_bytes`, checked to be an image.
    pub async fn view(&self, file: &FileRef) -> Result<EncodedImage> {
        let kind = if file.kind.is_empty() {
            "output"
        } else {
            &file.kind
        };
        let request = self.http.get(self.url("/view")).query(&[
            ("filename", file.filename.as_str()),
            ("subfolder", file.subfolder.as_str()),
            ("type", kind),
        ]);
        let response = self.send("view", request).await?;
        let bytes = read_capped(response, self.settings.max_image_bytes)
            .await
            .map_err(|e| e.into_error("view"))?;
        self.image(bytes.into()).await.map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!(
                    "comfyui result {} is not a usable image: {e}",
                    file.filename
                ),
            )
            .with_provider(PROVIDER)
        })
    }

    /// Checks `bytes` are an image the service reads (header only) and sizes it.
    pub async fn image(&self, bytes: bytes::Bytes) -> Result<EncodedImage> {
        let limits = self.limits;
        let probed = bytes.clone();
        let (format, width, height) =
            crate::media::cancel::run_blocking(limits.job_budget(), move || {
                crate::media::probe(&probed, &limits)
            })
            .await?;
        Ok(EncodedImage {
            bytes,
            format,
            width,
            height,
        })
    }

    /// `GET /history/{id}`: `None` until the run has ended.
    pub async fn history(&self, prompt_id: &str) -> Result<Option<HistoryEntry>> {
        let mut all: Map<String, Value> = self
            .json(
                "history",
                self.http.get(self.url(&format!("/history/{prompt_id}"))),
            )
            .await?;
        match all.remove(prompt_id) {
            None => Ok(None),
            Some(entry) => serde_json::from_value(entry)
                .map(Some)
                .map_err(|e| malformed("history", &e.to_string())),
        }
    }

    /// `GET /api/jobs/{id}`, or `None` when the server has no jobs API.
    pub async fn job(&self, prompt_id: &str) -> Result<Option<Job>> {
        if self.jobs_api.load(Ordering::Relaxed) == JOBS_NO {
            return Ok(None);
        }
        let response = self
            .call(self.http.get(self.url(&format!("/api/jobs/{prompt_id}"))))
            .send()
            .await
            .map_err(|e| transport_error("job query", e))?;
        // A job just submitted is known to a server that has the API, so a 404 here means
        // the route is missing.
        if matches!(response.status().as_u16(), 404 | 405) {
            self.jobs_api.store(JOBS_NO, Ordering::Relaxed);
            return Ok(None);
        }
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let wait = retry_after(response.headers());
            let body = read_capped(response, 64 << 10).await.unwrap_or_default();
            return Err(http_error("job query", status, &body, wait));
        }
        self.jobs_api.store(JOBS_YES, Ordering::Relaxed);
        let body = read_capped(response, MAX_JSON_BYTES)
            .await
            .map_err(|e| e.into_error("job query"))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| malformed("job query", &e.to_string()))
    }

    /// `GET /queue`.
    pub async fn queue(&self) -> Result<Queue> {
        self.json("queue", self.http.get(self.url("/queue"))).await
    }

    /// Stops the run whether it is pending or running: `POST /api/jobs/{id}/cancel` where
    /// the jobs API exists, else `/interrupt` for that prompt and a delete from the queue.
    /// Best effort: failures are logged, not raised (nobody waits for the answer).
    pub async fn cancel(&self, prompt_id: &str) {
        if self.jobs_api.load(Ordering::Relaxed) != JOBS_NO {
            let url = self.url(&format!("/api/jobs/{prompt_id}/cancel"));
            match self.call(self.http.post(url)).send().await {
                Ok(r) if r.status().is_success() => {
                    self.jobs_api.store(JOBS_YES, Ordering::Relaxed);
                    tracing::info!(provider = PROVIDER, prompt_id, "comfyui job cancelled");
                    return;
                }
                Ok(r) if matches!(r.status().as_u16(), 404 | 405) => {
                    self.jobs_api.store(JOBS_NO, Ordering::Relaxed);
                }
                Ok(r) => {
                    tracing::warn!(
                        provider = PROVIDER,
                        prompt_id,
                        status = r.status().as_u16(),
                        "comfyui refused to cancel the job"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(provider = PROVIDER, prompt_id, error = %e.without_url(), "cannot cancel comfyui job");
                    return;
                }
            }
        }
        // Older servers: the interrupt only hits this prompt if it is the one running; the
        // delete takes it out of the queue if it is still waiting.
        let interrupt = self
            .call(self.http.post(self.url("/interrupt")))
            .json(&json!({ "prompt_id": prompt_id }))
            .send()
            .await;
        let delete = self
            .call(self.http.post(self.url("/queue")))
            .json(&json!({ "delete": [prompt_id] }))
            .send()
            .await;
        match (interrupt, delete) {
            (Ok(_), Ok(_)) => {
                tracing::info!(provider = PROVIDER, prompt_id, "comfyui run interrupted")
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(provider = PROVIDER, prompt_id, error = %e.without_url(), "cannot interrupt comfyui run")
            }
        }
    }
}

/// Why a body could not be read.
pub enum ReadError {
    TooLarge(u64),
    Transport(reqwest::Error),
}

impl ReadError {
    fn into_error(self, what: &str) -> Error {
        match self {
            ReadError::TooLarge(max) => Error::new(
                ErrorCode::PayloadTooLarge,
                format!("comfyui {what} answer is larger than {max} bytes"),
            )
            .retryable(false)
            .with_provider(PROVIDER),
            ReadError::Transport(e) => transport_error(what, e),
        }
    }
}

/// The body of `response`, refused past `max` bytes before it is all in memory.
async fn read_capped(response: reqwest::Response, max: u64) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(ReadError::TooLarge(max));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(ReadError::Transport)?;
        if (body.len() + chunk.len()) as u64 > max {
            return Err(ReadError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
