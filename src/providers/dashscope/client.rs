//! One generic client of DashScope's async tasks: submit with `X-DashScope-Async: enable`,
//! poll `GET /tasks/{id}` with backoff, cancel (PROVIDERS.md §1.3–1.6).
//!
//! Limits are kept here, before DashScope sees a request: per model, a token bucket paces
//! submits and a semaphore bounds the tasks in flight (held from submit until the task
//! ends); one bucket paces every poll of the account. Callers over a limit wait in line
//! instead of meeting a 429. A task whose caller goes away (the future is dropped: client
//! disconnect, deadline) is cancelled at DashScope by a guard, or, when already RUNNING (not
//! cancellable), followed until it ends before its concurrency slot is released.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde_json::Value;

use crate::config::dashscope::DashScopeSettings;
use crate::domain::{Progress, ProgressSink, RemoteTask};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::dashscope::error::{PROVIDER, malformed, transport_error, vendor_error};
use crate::providers::dashscope::wire::{
    ErrorReply, Outputs, SubmitReply, TaskOutput, TaskReply, TaskState, parse_time,
};
use crate::providers::layers::{ConcurrencyLimit, ConcurrencyPermit, RateLimiter};
use crate::providers::remote::retry_after;
use crate::telemetry::outgoing::TracedSend;

/// What to submit: the model's path under the base URL and its JSON body.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub model: String,
    pub path: &'static str,
    pub body: Value,
    /// Extra headers (e.g. `X-DashScope-OssResourceResolve` for `oss://` inputs).
    pub headers: Vec<(String, String)>,
}

/// Told each status a poll reads (`PENDING`, `RUNNING`, …).
pub type StatusListener<'a> = dyn Fn(&str) + Send + Sync + 'a;

/// A task that succeeded, with its image links.
#[derive(Debug)]
pub struct FinishedTask {
    pub task: RemoteTask,
    pub outputs: Outputs,
}

/// Submit pacing and in-flight bound of one model.
struct ModelGate {
    submits: RateLimiter,
    running: ConcurrencyLimit,
}

pub struct TaskClient {
    http: reqwest::Client,
    settings: DashScopeSettings,
    gates: Mutex<BTreeMap<String, Arc<ModelGate>>>,
    polls: RateLimiter,
}

impl TaskClient {
    pub fn new(settings: &DashScopeSettings) -> anyhow::Result<Arc<Self>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.request_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(
                settings.request_timeout_secs.clamp(1, 10),
            ))
            .no_proxy()
            .build()?;
        Ok(Arc::new(TaskClient {
            http,
            polls: RateLimiter::new(settings.poll_qps, settings.poll_qps.ceil().max(1.0) as u32),
            settings: settings.clone(),
            gates: Mutex::new(BTreeMap::new()),
        }))
    }

    pub fn settings(&self) -> &DashScopeSettings {
        &self.settings
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn gate(&self, model: &str) -> Arc<ModelGate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(model.to_owned())
            .or_insert_with(|| {
                let limits = self.settings.limits_of(model);
                Arc::new(ModelGate {
                    // A burst of one: DashScope counts requests per second, not per window.
                    submits: RateLimiter::new(limits.submit_rps, 1),
                    running: ConcurrencyLimit::new(limits.concurrency as usize),
                })
            })
            .clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url.trim_end_matches('/'))
    }

    pub fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.header(
            AUTHORIZATION,
            format!("Bearer {}", self.settings.api_key.expose()),
        );
        if self.settings.workspace.is_empty() {
            request
        } else {
            request.header("X-DashScope-WorkSpace", &self.settings.workspace)
        }
    }

    /// Submits `request`, waits for the task to end and returns its outputs. Waits in line
    /// for the model's limits first. Dropping the future cancels the task at DashScope.
    /// Each task state DashScope reports (`PENDING`, `RUNNING`, …) goes to `progress` as a
    /// stage when it changes: the API gives no percent, so none is made up.
    #[tracing::instrument(skip_all, fields(provider = PROVIDER, model = %request.model, task_id))]
    pub async fn run(
        self: &Arc<Self>,
        request: TaskRequest,
        progress: &ProgressSink,
    ) -> Result<FinishedTask> {
        let gate = self.gate(&request.model);
        let permit = gate.running.acquire().await;
        gate.submits.acquire().await;
        let submitted = Instant::now();
        let task_id = self.submit(&request).await?;
        tracing::Span::current().record("task_id", task_id.as_str());
        let mut guard = CancelOnDrop {
            client: self.clone(),
            task_id: Some(task_id.clone()),
            submitted,
            permit: Some(permit),
        };
        progress.running(None, "submitted");
        let last_status = std::sync::Mutex::new(String::new());
        let report = |status: &str| {
            let mut last = last_status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last == status {
                return;
            }
            status.clone_into(&mut last);
            let state = TaskState::parse(status);
            if state == TaskState::Pending {
                progress.report(Progress::Queued { position: None });
            } else if !state.is_terminal() {
                progress.running(None, format!("task {status}"));
            }
        };
        let outcome = self.wait(&task_id, &report).await;
        match &outcome {
            // A task that ended needs no cancel.
            Ok(_) => guard.disarm(),
            Err(e) if e.code != ErrorCode::DeadlineExceeded => guard.disarm(),
            Err(_) => {}
        }
        outcome
    }

    /// Submits `request` after the model's submit pacing and returns the task id at once,
    /// for a durable worker that stores the id before waiting. The model's in-flight bound is
    /// not held: it cannot outlive a restart, and DashScope's own 429 is the backstop.
    pub async fn submit_paced(&self, request: &TaskRequest) -> Result<String> {
        self.gate(&request.model).submits.acquire().await;
        self.submit(request).await
    }

    /// Waits for a task submitted earlier (perhaps by another process) to end, telling
    /// `on_status` each status polled. Bounded by `task_timeout_secs` counted from now.
    pub async fn await_task(
        &self,
        task_id: &str,
        on_status: &StatusListener<'_>,
    ) -> Result<FinishedTask> {
        self.wait(task_id, on_status).await
    }

    async fn submit(&self, request: &TaskRequest) -> Result<String> {
        let mut call = self
            .authorized(self.http.post(self.url(request.path)))
            .header(CONTENT_TYPE, "application/json")
            .header("X-DashScope-Async", "enable")
            .json(&request.body);
        for (name, value) in &request.headers {
            call = call.header(name, value);
        }
        let response = call
            .send_traced()
            .await
            .map_err(|e| transport_error("submit", e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error("submit", e))?;
        if !status.is_success() {
            return Err(http_error(status.as_u16(), &headers, &body));
        }
        match serde_json::from_slice::<SubmitReply>(&body) {
            Ok(SubmitReply {
                output: Some(output),
                ..
            }) if !output.task_id.is_empty() => {
                tracing::debug!(task_id = %output.task_id, "dashscope task submitted");
                Ok(output.task_id)
            }
            Ok(reply) => Err(malformed(
                "submit",
                status.as_u16(),
                &format!("no output.task_id (request_id {})", reply.request_id),
            )),
            Err(e) => Err(malformed("submit", status.as_u16(), &e.to_string())),
        }
    }

    /// Polls until the task ends or `task_timeout_secs` pass (then it is cancelled).
    async fn wait(&self, task_id: &str, on_status: &StatusListener<'_>) -> Result<FinishedTask> {
        let started = Instant::now();
        let deadline = Duration::from_secs(self.settings.task_timeout_secs);
        let mut polls = 0u32;
        let mut transient_failures = 0u32;
        loop {
            tokio::time::sleep(self.poll_interval(polls)).await;
            polls += 1;
            if started.elapsed() >= deadline {
                return Err(Error::new(
                    ErrorCode::DeadlineExceeded,
                    format!(
                        "dashscope task {task_id} did not finish within {} s \
                         (providers.dashscope.task_timeout_secs); it was cancelled",
                        deadline.as_secs()
                    ),
                )
                .with_provider(PROVIDER));
            }
            self.polls.acquire().await;
            let output = match self.query(task_id).await {
                Ok(output) => {
                    transient_failures = 0;
                    output
                }
                // A poll that fails for a passing reason is tried again; the task lives on.
                Err(e) if e.retryable && transient_failures < 5 => {
                    transient_failures += 1;
                    tracing::warn!(task_id, error = %e, "dashscope poll failed, polling again");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let state = TaskState::parse(&output.task_status);
            tracing::debug!(task_id, status = %output.task_status, polls, "dashscope task polled");
            on_status(&output.task_status);
            if state.is_terminal() {
                return self.finished(task_id, state, output);
            }
        }
    }

    /// 1 s, doubled every three polls, at most 5 s (the SDK's schedule), ±10% jitter.
    fn poll_interval(&self, polls: u32) -> Duration {
        let base = self.settings.poll_initial_ms.max(1) as f64 * 2f64.powi((polls / 3) as i32);
        let capped = base.min(self.settings.poll_max_ms.max(1) as f64);
        let jitter = 0.9 + 0.2 * fastrand::f64();
        Duration::from_secs_f64(capped * jitter / 1000.0)
    }

    async fn query(&self, task_id: &str) -> Result<TaskOutput> {
        let response = self
            .authorized(self.http.get(self.url(&format!("/tasks/{task_id}"))))
            .send_traced()
            .await
            .map_err(|e| transport_error("task query", e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error("task query", e))?;
        if !status.is_success() {
            return Err(http_error(status.as_u16(), &headers, &body));
        }
        serde_json::from_slice::<TaskReply>(&body)
            .map(|reply| reply.output)
            .map_err(|e| malformed("task query", status.as_u16(), &e.to_string()))
    }

    fn finished(
        &self,
        task_id: &str,
        state: TaskState,
        output: TaskOutput,
    ) -> Result<FinishedTask> {
        match state {
            TaskState::Succeeded => {
                let outputs = output.outputs();
                if outputs.urls.is_empty() {
                    let why = outputs
                        .failures
                        .first()
                        .map(|(code, message)| vendor_error(None, code, message, None))
                        .unwrap_or_else(|| {
                            Error::new(
                                ErrorCode::Internal,
                                format!("dashscope task {task_id} succeeded without an image"),
                            )
                            .with_provider(PROVIDER)
                        });
                    return Err(why);
                }
                let offset = self.settings.utc_offset_hours;
                let time = |t: &Option<String>| t.as_deref().and_then(|t| parse_time(t, offset));
                let metrics = output.task_metrics;
                let succeeded = outputs.urls.len() as u32;
                let failed = outputs.failures.len() as u32;
                Ok(FinishedTask {
                    task: RemoteTask {
                        task_id: task_id.to_owned(),
                        submit_time: time(&output.submit_time),
                        scheduled_time: time(&output.scheduled_time),
                        end_time: time(&output.end_time).or(Some(SystemTime::now())),
                        total: metrics.map_or(succeeded + failed, |m| m.total),
                        succeeded: metrics.map_or(succeeded, |m| m.succeeded),
                        failed: metrics.map_or(failed, |m| m.failed),
                    },
                    outputs,
                })
            }
            TaskState::Failed => {
                let code = output.code.unwrap_or_else(|| "Unknown".to_owned());
                let message = output.message.unwrap_or_default();
                let mut err = vendor_error(None, &code, &message, None);
                err.message = format!("dashscope task {task_id} failed: {}", err.message);
                Err(err)
            }
            TaskState::Canceled => Err(Error::new(
                ErrorCode::Unavailable,
                format!("dashscope task {task_id} was cancelled at dashscope"),
            )
            .retryable(false)
            .with_provider(PROVIDER)),
            TaskState::Unknown => Err(Error::new(
                ErrorCode::Unavailable,
                format!("dashscope no longer knows task {task_id} (expired or never existed)"),
            )
            .retryable(true)
            .with_provider(PROVIDER)),
            TaskState::Pending | TaskState::Running => Err(Error::internal(format!(
                "dashscope task {task_id} is still running"
            ))),
        }
    }

    /// `POST /tasks/{id}/cancel`; only PENDING tasks can be, so failure is logged, not raised.
    /// Asks DashScope to cancel `task_id`; true when it did. Only PENDING tasks can be
    /// cancelled: a RUNNING one goes on (and keeps its place in the model's quota).
    pub async fn cancel(&self, task_id: &str) -> bool {
        let result = self
            .authorized(
                self.http
                    .post(self.url(&format!("/tasks/{task_id}/cancel"))),
            )
            .send_traced()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                tracing::info!(provider = PROVIDER, task_id, "dashscope task cancelled");
                true
            }
            Ok(r) => {
                tracing::info!(
                    provider = PROVIDER,
                    task_id,
                    status = r.status().as_u16(),
                    "dashscope refused to cancel the task (it is running already)"
                );
                false
            }
            Err(e) => {
                tracing::warn!(provider = PROVIDER, task_id, error = %e.without_url(), "cannot cancel dashscope task");
                false
            }
        }
    }

    /// Polls a task nobody waits for any more until it ends, so that the model's concurrency
    /// permit (held by the caller) is released only when DashScope no longer counts the task
    /// against the quota. Bounded by the task timeout counted from `submitted`: a task
    /// DashScope never ends cannot hold a slot for ever.
    async fn follow_orphan(&self, task_id: &str, submitted: Instant) {
        let deadline = submitted + Duration::from_secs(self.settings.task_timeout_secs);
        let mut polls = 0u32;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    provider = PROVIDER,
                    task_id,
                    "abandoned dashscope task still running at its task timeout; releasing its slot"
                );
                return;
            }
            tokio::time::sleep(self.poll_interval(polls).min(left)).await;
            polls += 1;
            self.polls.acquire().await;
            match self.query(task_id).await {
                Ok(output) => {
                    let state = TaskState::parse(&output.task_status);
                    if state.is_terminal() {
                        tracing::info!(provider = PROVIDER, task_id, status = %output.task_status, "abandoned dashscope task ended; its slot is free");
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!(provider = PROVIDER, task_id, error = %e, "polling an abandoned dashscope task failed");
                }
            }
        }
    }
}

/// An HTTP error answer: the documented flat body, or a gateway's non-JSON page.
pub fn http_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let wait = retry_after(headers);
    match serde_json::from_slice::<ErrorReply>(body) {
        Ok(reply) if !reply.code.is_empty() => {
            tracing::debug!(status, code = %reply.code, request_id = %reply.request_id, "dashscope error");
            vendor_error(Some(status), &reply.code, &reply.message, wait)
        }
        _ => {
            let mut err = vendor_error(Some(status), "Unknown", "", wait);
            if status < 500 && status != 429 && !(400..=404).contains(&status) {
                err = err.retryable(false);
            }
            err.message = format!("{} (HTTP {status}, body not DashScope's JSON)", err.message);
            err
        }
    }
}

/// Cancels the task at DashScope unless disarmed, and frees the model's in-flight slot
/// once the task is over.
/// Cancels a task whose caller went away. DashScope cancels PENDING tasks only; a RUNNING
/// one runs on and still counts against the model's concurrency quota, so its permit is kept
/// (and the task polled in the background) until it ends. Releasing it at once would let the
/// next submits exceed the quota and meet `Throttling.RateQuota`.
struct CancelOnDrop {
    client: Arc<TaskClient>,
    task_id: Option<String>,
    submitted: Instant,
    permit: Option<ConcurrencyPermit>,
}

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.task_id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(task_id) = self.task_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let submitted = self.submitted;
        // The slot stays taken until DashScope no longer runs the task.
        let permit = self.permit.take();
        runtime.spawn(async move {
            if !client.cancel(&task_id).await {
                client.follow_orphan(&task_id, submitted).await;
            }
            drop(permit);
        });
    }
}
