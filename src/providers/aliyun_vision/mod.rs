//! Alibaba Cloud Vision Intelligence (viapi) `imageseg`: remove background through signed
//! RPC calls.
//!
//! The input is published to the blob store and viapi fetches it by its signed link (so
//! `results.public_base_url` must be reachable from Alibaba Cloud); the action runs
//! (`SegmentCommonImage` / `SegmentBody` synchronously, `SegmentHDCommonImage` as a job
//! polled with `GetAsyncJobResult`); its result link, valid for minutes, is downloaded at once.
//! `ReturnForm` asks for a mask, a crop or a white background when that is exactly what was
//! asked; margins, other colours and the HD action's forms are rendered here from the cut-out.
//! The request's `model` and `refine` belong to the local engine and are not used.
//!
//! Retries, deadlines of whole calls and circuit breaking are the resilience decorators'
//! work; this adapter marks each error retryable or not and passes `Retry-After` on.

mod client;
mod error;
mod render;
mod signing;

pub use crate::config::aliyun_vision::{
    AliyunVisionSettings, Oversize, SegmentAction, SignatureVersion,
};

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::domain::params::RemoveBackgroundParams;
use crate::domain::{EncodedImage, ImageLimits, Operation, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::remote::{InputPublisher, ResultDownloader};
use crate::providers::{
    Call, Capabilities, OpRequest, OperationSupport, Output, Provider, ProviderContext, unsupported,
};

use client::{AsyncJobResponse, JobResult, SegmentResponse, VisionClient};
use error::{PROVIDER, from_job, malformed};
use render::{InputLimits, Plan};

/// Poll failures in a row tolerated before a job is given up.
const POLL_FAILURES: u32 = 3;

pub struct AliyunVisionProvider {
    client: VisionClient,
    publisher: InputPublisher,
    downloader: ResultDownloader,
    action: SegmentAction,
    limits: ImageLimits,
    input_limits: InputLimits,
    poll_initial: Duration,
    poll_max: Duration,
    job_timeout: Duration,
    capabilities: Capabilities,
}

impl AliyunVisionProvider {
    pub fn build(context: &ProviderContext) -> anyhow::Result<Self> {
        let settings = &context.settings.providers.aliyun_vision;
        if settings.access_key_id.trim().is_empty() || settings.access_key_secret.is_empty() {
            anyhow::bail!(
                "providers.aliyun_vision.access_key_id and access_key_secret must be set to use \
                 the aliyun-vision provider (IMGFORGE__PROVIDERS__ALIYUN_VISION__ACCESS_KEY_ID \
                 and __ACCESS_KEY_SECRET): an AccessKey of a RAM user with AliyunVIAPIFullAccess"
            );
        }
        if !(settings.qps.is_finite() && settings.qps >= 0.0) {
            anyhow::bail!("providers.aliyun_vision.qps must be 0 (unpaced) or positive");
        }
        if settings.poll_initial_ms == 0 || settings.poll_max_ms < settings.poll_initial_ms {
            anyhow::bail!(
                "providers.aliyun_vision.poll_initial_ms must be positive and at most poll_max_ms"
            );
        }
        if settings.job_timeout_secs == 0 || settings.request_timeout_secs == 0 {
            anyhow::bail!(
                "providers.aliyun_vision.request_timeout_secs and job_timeout_secs must be positive"
            );
        }
        if settings.max_input_side < render::MIN_SIDE || settings.max_input_bytes == 0 {
            anyhow::bail!(
                "providers.aliyun_vision.max_input_side must be at least {} and max_input_bytes \
                 positive",
                render::MIN_SIDE
            );
        }
        Ok(AliyunVisionProvider {
            client: VisionClient::new(settings)?,
            publisher: context.publisher.clone(),
            downloader: context.downloader.clone(),
            action: settings.action,
            limits: context.settings.limits,
            input_limits: InputLimits {
                max_bytes: settings.max_input_bytes,
                max_side: settings.max_input_side,
                downscale: settings.oversize == Oversize::Downscale,
            },
            poll_initial: Duration::from_millis(settings.poll_initial_ms),
            poll_max: Duration::from_millis(settings.poll_max_ms),
            job_timeout: Duration::from_secs(settings.job_timeout_secs),
            // The request's `model` and `refine` belong to the local engine.
            capabilities: Capabilities::new([OperationSupport::new(
                Operation::RemoveBackground,
                &["mode", "crop_to_subject", "crop_margin", "output"],
            )]),
        })
    }

    /// Runs the action on the image at `image_url`; the link to its result.
    async fn segment(&self, image_url: &str, return_form: Option<&str>) -> Result<String> {
        let action = self.action;
        let mut params = vec![(action.image_param(), image_url.to_owned())];
        if let Some(form) = return_form {
            params.push(("ReturnForm", form.to_owned()));
        }
        let response: SegmentResponse = self.client.call(action.name(), &params).await?;
        let url = response
            .data
            .and_then(|d| d.image_url)
            .filter(|u| !u.is_empty());
        if let Some(url) = url {
            return Ok(url);
        }
        if !action.is_async() {
            return Err(malformed(action.name(), "no Data.ImageURL", b""));
        }
        if response.request_id.is_empty() {
            return Err(malformed(action.name(), "no RequestId to poll", b""));
        }
        self.wait_for_job(&response.request_id).await
    }

    /// Polls `GetAsyncJobResult` with a doubling interval until the job ends or times out.
    #[tracing::instrument(skip(self))]
    async fn wait_for_job(&self, job_id: &str) -> Result<String> {
        let started = Instant::now();
        let mut delay = self.poll_initial;
        let mut failures = 0;
        let mut last_status = String::from("submitted");
        loop {
            if started.elapsed() + delay > self.job_timeout {
                return Err(Error::new(
                    ErrorCode::DeadlineExceeded,
                    format!(
                        "{PROVIDER} job {job_id} did not finish within {} s (last status \
                         {last_status}; providers.aliyun_vision.job_timeout_secs)",
                        self.job_timeout.as_secs()
                    ),
                )
                .retryable(false)
                .with_provider(PROVIDER));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.poll_max);
            let answer: Result<AsyncJobResponse> = self
                .client
                .call("GetAsyncJobResult", &[("JobId", job_id.to_owned())])
                .await;
            let job = match answer {
                Ok(response) => response
                    .data
                    .ok_or_else(|| malformed("GetAsyncJobResult", "no Data", b""))?,
                Err(err) if err.retryable && failures + 1 < POLL_FAILURES => {
                    failures += 1;
                    tracing::warn!(job_id, error = %err, "polling the job failed; polling again");
                    continue;
                }
                Err(err) => return Err(err),
            };
            failures = 0;
            match job.status.as_str() {
                "PROCESS_SUCCESS" => return job_result_url(job.result),
                "PROCESS_FAILED" | "TIMEOUT_FAILED" | "LIMIT_RETRY_FAILED" => {
                    let id = if job.job_id.is_empty() {
                        job_id
                    } else {
                        &job.job_id
                    };
                    return Err(from_job(
                        &job.status,
                        job.error_code.as_deref().unwrap_or_default(),
                        job.error_message.as_deref().unwrap_or_default(),
                        id,
                    ));
                }
                // QUEUING, PROCESSING, and any state this adapter does not know yet.
                status => {
                    tracing::debug!(job_id, status, "job still running");
                    last_status = status.to_owned();
                }
            }
        }
    }
}

/// The image link in a successful job's `Result`, a JSON document in a string.
fn job_result_url(result: Option<serde_json::Value>) -> Result<String> {
    let document = match result {
        Some(serde_json::Value::String(text)) => serde_json::from_str(&text).map_err(|e| {
            malformed(
                "GetAsyncJobResult",
                &format!("Result is not JSON: {e}"),
                text.as_bytes(),
            )
        })?,
        Some(value @ serde_json::Value::Object(_)) => value,
        Some(_) | None => return Err(malformed("GetAsyncJobResult", "no Result", b"")),
    };
    let parsed: JobResult = serde_json::from_value(document.clone()).map_err(|e| {
        malformed(
            "GetAsyncJobResult",
            &format!("unexpected Result: {e}"),
            document.to_string().as_bytes(),
        )
    })?;
    parsed
        .image_url
        .filter(|u| !u.is_empty())
        .ok_or_else(|| malformed("GetAsyncJobResult", "no ImageUrl in Result", b""))
}

async fn blocking<T: Send + 'static>(
    limits: &ImageLimits,
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    crate::media::cancel::run_blocking(limits.job_budget(), job).await
}

#[async_trait]
impl Provider for AliyunVisionProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn run(&self, request: OpRequest, _call: &Call) -> Result<Output> {
        match request {
            OpRequest::RemoveBackground { image, params } => self
                .remove_background(image, params)
                .await
                .map(Output::image),
            other @ (OpRequest::Resize { .. }
            | OpRequest::ConvertToPng { .. }
            | OpRequest::ChangeBackground { .. }
            | OpRequest::ChangeClothes { .. }
            | OpRequest::Expand { .. }
            | OpRequest::Fix { .. }
            | OpRequest::RemoveWatermark { .. }
            | OpRequest::TextToImage { .. }
            | OpRequest::CreateCharacter { .. }) => Err(unsupported(PROVIDER, other.operation())),
        }
    }
}

impl AliyunVisionProvider {
    #[tracing::instrument(skip_all, fields(action = %self.action, mode = ?params.mode))]
    async fn remove_background(
        &self,
        image: SourceImage,
        params: RemoveBackgroundParams,
    ) -> Result<EncodedImage> {
        let action = self.action;
        let plan = Plan::new(action, &params);
        let limits = self.limits;
        let input_limits = (!action.is_async()).then_some(self.input_limits);
        let image = blocking(&limits, move || {
            render::prepare_input(image, action, input_limits, &limits)
        })
        .await?;
        let published = self
            .publisher
            .publish(&image)
            .await
            .map_err(|e| e.with_provider(PROVIDER))?;
        let result_url = self.segment(&published.url, plan.return_form).await?;
        tracing::debug!(
            result = %crate::providers::remote::download::redact(&result_url),
            "downloading the result"
        );
        let result = self.downloader.fetch(PROVIDER, &result_url).await?;
        let output = params.output;
        blocking(&limits, move || {
            render::finish(result, &plan, output, &limits)
        })
        .await
        .map_err(|e| e.with_provider(PROVIDER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, Settings};
    use crate::providers::ProviderExt;
    use crate::store::BlobStore;

    fn context(configure: impl FnOnce(&mut AliyunVisionSettings)) -> ProviderContext {
        let mut settings = Settings::embedded();
        settings.blob_store = crate::config::BlobStoreSettings::memory();
        configure(&mut settings.providers.aliyun_vision);
        let blobs = BlobStore::from_settings(&settings).unwrap();
        ProviderContext::new(&settings, blobs).unwrap()
    }

    #[test]
    fn build_needs_an_access_key() {
        let err = AliyunVisionProvider::build(&context(|_| {})).err().unwrap();
        let message = err.to_string();
        assert!(
            message.contains("providers.aliyun_vision.access_key_id"),
            "{message}"
        );
        let err = AliyunVisionProvider::build(&context(|s| s.access_key_id = "id".into()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("access_key_secret"), "{err}");
        let provider = AliyunVisionProvider::build(&context(|s| {
            s.access_key_id = "id".into();
            s.access_key_secret = Secret::new("secret");
        }))
        .unwrap();
        assert_eq!(provider.name(), "aliyun-vision");
        assert!(provider.supports(Operation::RemoveBackground));
        assert!(!provider.supports(Operation::ChangeBackground));
    }

    #[test]
    fn build_refuses_inconsistent_settings() {
        let keyed = |s: &mut AliyunVisionSettings| {
            s.access_key_id = "id".into();
            s.access_key_secret = Secret::new("secret");
        };
        for broken in [
            (|s: &mut AliyunVisionSettings| s.qps = -1.0) as fn(&mut AliyunVisionSettings),
            |s| s.poll_max_ms = 1,
            |s| s.job_timeout_secs = 0,
            |s| s.max_input_side = 10,
            |s| s.endpoint = "imageseg.cn-shanghai.aliyuncs.com".into(),
        ] {
            let built = AliyunVisionProvider::build(&context(|s| {
                keyed(s);
                broken(s);
            }));
            assert!(built.is_err());
        }
    }

    #[test]
    fn job_results_are_parsed_from_their_json_string() {
        let url = job_result_url(Some(serde_json::Value::String(
            r#"{"ImageUrl":"http://x/y.png"}"#.into(),
        )))
        .unwrap();
        assert_eq!(url, "http://x/y.png");
        let err = job_result_url(Some(serde_json::Value::String("{not json".into()))).unwrap_err();
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.message.contains("malformed"), "{}", err.message);
        assert!(job_result_url(None).is_err());
    }
}
