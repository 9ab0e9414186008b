//! `POST /fine-tunes` and `GET /fine-tunes/{job_id}`: FaceChain training, which is not a
//! DashScope async task (no `X-DashScope-Async`, its own job resource).

use serde::Deserialize;
use serde_json::json;
use tokio::time::{Duration, Instant};

use crate::config::facechain::FaceChainSettings;
use crate::domain::{Progress, ProgressSink};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::dashscope::{
    PROVIDER, TaskClient, http_error, malformed, transport_error, vendor_error,
};
use crate::providers::facechain::{RemoteJobId, TrainedModel};

#[derive(Debug, Deserialize)]
struct JobReply {
    output: Option<JobOutput>,
    #[serde(default)]
    request_id: String,
}

#[derive(Debug, Default, Deserialize)]
struct JobOutput {
    #[serde(default)]
    job_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    finetuned_output: String,
    code: Option<String>,
    message: Option<String>,
}

/// Polls in a row that may fail for a passing reason before the wait gives up.
const MAX_TRANSIENT_FAILURES: u32 = 5;

pub(super) async fn submit(
    tasks: &TaskClient,
    settings: &FaceChainSettings,
    urls: &[String],
) -> Result<RemoteJobId> {
    let body = json!({"model": settings.finetune_model, "training_file_ids": urls});
    let call = tasks
        .authorized(tasks.http().post(tasks.url("/fine-tunes")))
        .json(&body);
    let output = exchange(call, "fine-tune submit").await?;
    if output.job_id.is_empty() {
        return Err(malformed("fine-tune submit", 200, "no output.job_id"));
    }
    tracing::info!(provider = PROVIDER, job_id = %output.job_id, photos = urls.len(), "facechain training submitted");
    Ok(RemoteJobId(output.job_id))
}

pub(super) async fn wait(
    tasks: &TaskClient,
    settings: &FaceChainSettings,
    job_id: &RemoteJobId,
    progress: &ProgressSink,
) -> Result<TrainedModel> {
    let deadline = Instant::now() + Duration::from_secs(settings.training_timeout_secs);
    let mut interval = Duration::from_millis(settings.training_poll_initial_ms.max(1));
    let max_interval = Duration::from_millis(settings.training_poll_max_ms.max(1));
    let mut failures = 0u32;
    loop {
        let output = match query(tasks, job_id).await {
            Ok(output) => {
                failures = 0;
                output
            }
            Err(e) if e.retryable && failures < MAX_TRANSIENT_FAILURES => {
                failures += 1;
                tracing::warn!(job_id = %job_id.0, error = %e, "facechain training poll failed, polling again");
                tokio::time::sleep(interval).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        match output.status.as_str() {
            "SUCCEEDED" => {
                if output.finetuned_output.is_empty() {
                    return Err(malformed(
                        "fine-tune query",
                        200,
                        "SUCCEEDED without output.finetuned_output",
                    ));
                }
                return Ok(TrainedModel {
                    job_id: job_id.clone(),
                    resource_id: output.finetuned_output,
                });
            }
            "FAILED" | "CANCELED" | "CANCELLED" => {
                let code = output.code.unwrap_or_else(|| output.status.clone());
                let mut err =
                    vendor_error(None, &code, output.message.as_deref().unwrap_or(""), None);
                err.message = format!(
                    "facechain training {} ended {}: {}",
                    job_id.0, output.status, err.message
                );
                return Err(err);
            }
            "PENDING" => progress.report(Progress::Queued { position: None }),
            "" => {}
            other => progress.report(Progress::Running {
                percent: None,
                stage: format!("training ({other})"),
            }),
        }
        if Instant::now() + interval > deadline {
            return Err(Error::new(
                ErrorCode::DeadlineExceeded,
                format!(
                    "facechain training {} did not finish within {} s \
                     (providers.facechain.training_timeout_secs)",
                    job_id.0, settings.training_timeout_secs
                ),
            )
            .with_provider(PROVIDER));
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(max_interval);
    }
}

async fn query(tasks: &TaskClient, job_id: &RemoteJobId) -> Result<JobOutput> {
    let path = format!("/fine-tunes/{}", job_id.0);
    let call = tasks.authorized(tasks.http().get(tasks.url(&path)));
    exchange(call, "fine-tune query").await
}

/// Sends a call and reads DashScope's `{output, request_id}` or its error body.
async fn exchange(call: reqwest::RequestBuilder, what: &str) -> Result<JobOutput> {
    let response = call.send().await.map_err(|e| transport_error(what, e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(what, e))?;
    if !status.is_success() {
        return Err(http_error(status.as_u16(), &headers, &body));
    }
    match serde_json::from_slice::<JobReply>(&body) {
        Ok(JobReply {
            output: Some(output),
            ..
        }) => Ok(output),
        Ok(reply) => Err(malformed(
            what,
            status.as_u16(),
            &format!("no output (request_id {})", reply.request_id),
        )),
        Err(e) => Err(malformed(what, status.as_u16(), &e.to_string())),
    }
}
