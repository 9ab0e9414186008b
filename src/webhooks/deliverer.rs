//! Sends one callback until it is delivered, refused for good, or the schedule is spent.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use url::Url;

use crate::config::{FetchSettings, WebhookSettings};
use crate::error::{Error, ErrorCode, Result};
use crate::media::address_policy::AddressPolicy;
use crate::media::fetch::{check_url_target, guarded_client_builder, resolver_refusal};
use crate::redact;
use crate::state::{Clock, SystemClock};
use crate::webhooks::attempt_log::{AttemptLog, AttemptOutcome, AttemptRecord};
use crate::webhooks::schedule::RetrySchedule;
use crate::webhooks::signature::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header};
use crate::webhooks::tenant_secrets::TenantSecrets;
use crate::webhooks::{retry_after, sink::CallbackSink};

/// The wait between attempts. Tests substitute one that records the waits and returns at
/// once, so a 5-hour schedule is checked exactly without sleeping.
#[async_trait]
pub trait Pause: Send + Sync {
    async fn pause(&self, wait: Duration);
}

#[derive(Debug, Default, Clone, Copy)]
pub struct TokioPause;

#[async_trait]
impl Pause for TokioPause {
    async fn pause(&self, wait: Duration) {
        tokio::time::sleep(wait).await;
    }
}

/// How a delivery ended; a refused URL or a missing secret is an `Err` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered {
        attempts: u32,
    },
    /// Every attempt of the schedule failed.
    GaveUp {
        attempts: u32,
    },
    /// The receiver answered 410 now (`attempts` > 0) or earlier (`attempts` == 0).
    Disabled {
        attempts: u32,
    },
}

pub struct Deliverer {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    schedule: RetrySchedule,
    attempt_timeout: Duration,
    max_response_bytes: usize,
    secrets: TenantSecrets,
    log: Arc<dyn AttemptLog>,
    clock: Arc<dyn Clock>,
    pause: Arc<dyn Pause>,
}

/// What one attempt came to, before the schedule decides what follows.
struct Answer {
    status: Option<u16>,
    retry_after: Option<Duration>,
    detail: String,
    verdict: Verdict,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Gone,
    Failed,
    Refused,
}

impl Deliverer {
    /// Callbacks connect under the same address policy as image fetches (`fetch.allow`,
    /// `fetch.resolve`): a callback URL is caller input just like an image URL.
    pub fn new(
        fetch: &FetchSettings,
        settings: &WebhookSettings,
        log: Arc<dyn AttemptLog>,
    ) -> anyhow::Result<Self> {
        settings.validate()?;
        let attempt_timeout = Duration::from_secs(settings.attempt_timeout_secs);
        let (builder, policy) = guarded_client_builder(fetch)?;
        let client = builder
            .connect_timeout(attempt_timeout)
            .user_agent(settings.user_agent.as_str())
            .build()
            .context("building the HTTP client for webhooks")?;
        let delays = settings
            .retry_schedule_secs
            .iter()
            .copied()
            .map(Duration::from_secs)
            .collect();
        let schedule = RetrySchedule::new(
            delays,
            settings.jitter,
            Duration::from_secs(settings.max_retry_after_secs),
        )
        .map_err(|why| anyhow::anyhow!("webhooks: {why}"))?;
        Ok(Deliverer {
            client,
            policy,
            schedule,
            attempt_timeout,
            max_response_bytes: settings.max_response_bytes,
            secrets: TenantSecrets::from_settings(settings)?,
            log,
            clock: Arc::new(SystemClock),
            pause: Arc::new(TokioPause),
        })
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Self {
        self.pause = pause;
        self
    }

    /// Checks a callback URL when a task is created, so a bad one is refused at once naming
    /// `callback_url`. Host names are judged again when they resolve, at delivery.
    pub fn check_url(&self, url: &str) -> Result<Url> {
        let parsed = Url::parse(url).map_err(|e| {
            invalid(format!(
                "callback_url {:?} is not a URL: {e}",
                redact::url(url)
            ))
        })?;
        check_url_target(&self.policy, &parsed).map_err(|why| {
            invalid(format!(
                "callback_url {} is refused: {why}",
                redact::url_parsed(&parsed)
            ))
        })?;
        Ok(parsed)
    }

    /// Refuses a callback for a tenant that has no signing secret, at task creation, naming
    /// the setting to add: an unsigned callback is never sent.
    pub fn check_tenant(&self, tenant: &str) -> Result<()> {
        self.secrets
            .secrets_for(tenant)
            .map(drop)
            .map_err(|e| invalid(format!("callback_url cannot be signed: {}", e.message)))
    }

    #[tracing::instrument(skip(self, body), fields(url = %redact::url(url)))]
    pub async fn deliver_bytes(
        &self,
        tenant: &str,
        webhook_id: &str,
        url: &str,
        body: Bytes,
    ) -> Result<DeliveryOutcome> {
        if webhook_id.is_empty() || webhook_id.contains('.') {
            return Err(Error::invalid(
                "webhook_id",
                format!(
                    "webhook_id {:?} must be non-empty and hold no '.'",
                    redact::echo(webhook_id)
                ),
            ));
        }
        let record =
            |attempt: u32, timestamp: i64, answer: &Answer, outcome, next_in| AttemptRecord {
                tenant: tenant.to_owned(),
                webhook_id: webhook_id.to_owned(),
                url: redact::url(url),
                attempt,
                timestamp,
                outcome,
                status: answer.status,
                detail: answer.detail.clone(),
                next_in,
                at: self.clock.now(),
            };
        let target = match self.check_url(url) {
            Ok(target) => target,
            Err(err) => {
                let answer = Answer::refused(err.to_string());
                self.keep(record(0, 0, &answer, AttemptOutcome::Refused, None))
                    .await;
                return Err(err);
            }
        };
        let secrets = self.secrets.secrets_for(tenant)?;
        if self.log.endpoint_disabled(tenant, target.as_str()).await? {
            return Ok(DeliveryOutcome::Disabled { attempts: 0 });
        }
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let timestamp = unix_seconds(self.clock.now());
            let signature = signature_header(&secrets, webhook_id, timestamp, &body);
            let answer = self
                .attempt(&target, webhook_id, timestamp, &signature, body.clone())
                .await;
            let (outcome, next_in) = match answer.verdict {
                Verdict::Delivered => (AttemptOutcome::Delivered, None),
                Verdict::Gone => (AttemptOutcome::Disabled, None),
                Verdict::Refused => (AttemptOutcome::Refused, None),
                Verdict::Failed => {
                    match self.schedule.delay_after(
                        attempt as usize,
                        answer.retry_after,
                        fastrand::f64(),
                    ) {
                        Some(wait) => (AttemptOutcome::Retrying, Some(wait)),
                        None => (AttemptOutcome::GaveUp, None),
                    }
                }
            };
            tracing::info!(
                attempt,
                outcome = outcome.as_str(),
                status = answer.status,
                "webhook attempt"
            );
            self.keep(record(attempt, timestamp, &answer, outcome, next_in))
                .await;
            match (outcome, next_in) {
                (AttemptOutcome::Retrying, Some(wait)) => self.pause.pause(wait).await,
                (AttemptOutcome::Delivered, _) => {
                    return Ok(DeliveryOutcome::Delivered { attempts: attempt });
                }
                (AttemptOutcome::Disabled, _) => {
                    self.log.disable_endpoint(tenant, target.as_str()).await?;
                    return Ok(DeliveryOutcome::Disabled { attempts: attempt });
                }
                (AttemptOutcome::Refused, _) => {
                    return Err(invalid(format!(
                        "callback_url is refused: {}",
                        answer.detail
                    )));
                }
                (AttemptOutcome::GaveUp | AttemptOutcome::Retrying, _) => {
                    return Ok(DeliveryOutcome::GaveUp { attempts: attempt });
                }
            }
        }
    }

    /// A lost attempt record must not stop the delivery: it is logged instead.
    async fn keep(&self, record: AttemptRecord) {
        if let Err(err) = self.log.record(record).await {
            tracing::warn!(error = %err, "recording a webhook attempt failed");
        }
    }

    async fn attempt(
        &self,
        target: &Url,
        webhook_id: &str,
        timestamp: i64,
        signature: &str,
        body: Bytes,
    ) -> Answer {
        let request = self
            .client
            .post(target.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ID_HEADER, webhook_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body);
        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after::parse(v, self.clock.now()));
            let head = self.read_head(response).await;
            Ok::<_, reqwest::Error>((status, retry_after, head))
        };
        match tokio::time::timeout(self.attempt_timeout, exchange).await {
            Err(_) => Answer::failed(format!(
                "no answer within {} s",
                self.attempt_timeout.as_secs()
            )),
            Ok(Err(err)) => match resolver_refusal(&err) {
                Some(refusal) => Answer::refused(refusal),
                None => Answer::failed(redact::truncate(&short_cause(&err), 500).into_owned()),
            },
            Ok(Ok((status, retry_after, head))) => {
                let verdict = if status.is_success() {
                    Verdict::Delivered
                } else if status == StatusCode::GONE {
                    Verdict::Gone
                } else {
                    // 3xx included: the spec counts a redirect as a failure, never follows it.
                    Verdict::Failed
                };
                Answer {
                    status: Some(status.as_u16()),
                    retry_after,
                    detail: head,
                    verdict,
                }
            }
        }
    }

    /// The start of the receiver's answer, for the attempt log; the rest is never read.
    async fn read_head(&self, mut response: reqwest::Response) -> String {
        let mut head = Vec::new();
        while head.len() < self.max_response_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.max_response_bytes - head.len();
                    head.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    }
}

impl Answer {
    fn failed(detail: String) -> Self {
        Answer {
            status: None,
            retry_after: None,
            detail,
            verdict: Verdict::Failed,
        }
    }

    fn refused(detail: String) -> Self {
        Answer {
            status: None,
            retry_after: None,
            detail,
            verdict: Verdict::Refused,
        }
    }
}

#[async_trait]
impl CallbackSink for Deliverer {
    async fn deliver(
        &self,
        tenant: &str,
        webhook_id: &str,
        url: &str,
        body_json: &serde_json::Value,
    ) -> Result<DeliveryOutcome> {
        let body = serde_json::to_vec(body_json).map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("serialising the callback body: {e}"),
            )
        })?;
        self.deliver_bytes(tenant, webhook_id, url, Bytes::from(body))
            .await
    }
}

fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// The innermost cause ("connection refused"), which is what an operator can act on.
fn short_cause(err: &reqwest::Error) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = err;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

fn invalid(message: String) -> Error {
    Error::invalid("callback_url", message)
}
