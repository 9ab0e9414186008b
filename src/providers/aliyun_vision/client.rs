//! The `imageseg` RPC endpoint: signed calls, their wire DTOs (private to this adapter) and
//! client-side pacing.

use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::aliyun_vision::{AliyunVisionSettings, SignatureVersion};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::aliyun_vision::error::{self as vendor, PROVIDER, PopError};
use crate::providers::aliyun_vision::signing::{self, Credentials};
use crate::providers::layers::RateLimiter;
use crate::telemetry::outgoing::TracedSend;

/// Largest answer read from the endpoint; its answers are small JSON documents.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// `SegmentCommonImage`, `SegmentBody` and `SegmentHDCommonImage` answers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SegmentResponse {
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub data: Option<SegmentData>,
}

#[derive(Debug, Deserialize)]
pub struct SegmentData {
    /// `ImageURL` for the sync actions, `ImageUrl` for the HD one.
    #[serde(default, rename = "ImageURL", alias = "ImageUrl")]
    pub image_url: Option<String>,
}

/// `GetAsyncJobResult` answers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsyncJobResponse {
    #[serde(default)]
    pub data: Option<AsyncJob>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsyncJob {
    #[serde(default)]
    pub job_id: String,
    #[serde(default)]
    pub status: String,
    /// A JSON document in a string (`{"ImageUrl": "..."}`), parsed again.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// The document inside [`AsyncJob::result`].
#[derive(Debug, Deserialize)]
pub struct JobResult {
    #[serde(default, rename = "ImageUrl", alias = "ImageURL")]
    pub image_url: Option<String>,
}

/// Paces calls to `qps` across every request of this process (viapi allows about 2 QPS
/// per API); 0 or less means unpaced. A caller dropped while waiting takes no slot.
pub struct Pacer(Option<RateLimiter>);

impl Pacer {
    pub fn new(qps: f64) -> Self {
        Pacer((qps.is_finite() && qps > 0.0).then(|| RateLimiter::new(qps, 1)))
    }

    /// Waits for this call's slot.
    pub async fn wait(&self) {
        if let Some(limiter) = &self.0 {
            limiter.acquire().await;
        }
    }
}

pub struct VisionClient {
    http: reqwest::Client,
    endpoint: url::Url,
    /// `host[:port]` exactly as the `Host` header carries it, for V3 signing.
    host: String,
    version: String,
    region_id: String,
    credentials: Credentials,
    signature: SignatureVersion,
    timeout: Duration,
    pacer: Pacer,
}

impl VisionClient {
    pub fn new(settings: &AliyunVisionSettings) -> anyhow::Result<Self> {
        let endpoint = url::Url::parse(settings.endpoint.trim()).map_err(|e| {
            anyhow::anyhow!(
                "providers.aliyun_vision.endpoint {:?} is not a URL: {e}",
                settings.endpoint
            )
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            anyhow::bail!("providers.aliyun_vision.endpoint must be http(s)");
        }
        if endpoint.path() != "/" || endpoint.query().is_some() {
            anyhow::bail!(
                "providers.aliyun_vision.endpoint must be a bare origin such as \
                 https://imageseg.cn-shanghai.aliyuncs.com (RPC calls go to /)"
            );
        }
        let host = match (endpoint.host_str(), endpoint.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => anyhow::bail!("providers.aliyun_vision.endpoint has no host"),
        };
        let timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirected RPC call would no longer match its signature.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("imgforge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(VisionClient {
            http,
            endpoint,
            host,
            version: settings.version.clone(),
            region_id: settings.region_id.clone(),
            credentials: Credentials {
                access_key_id: settings.access_key_id.trim().to_owned(),
                access_key_secret: settings.access_key_secret.clone(),
                security_token: settings.security_token.clone(),
            },
            signature: settings.signature,
            timeout,
            pacer: Pacer::new(settings.qps),
        })
    }

    /// Calls `action` with `params` and decodes its JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        params: &[(&str, String)],
    ) -> Result<T> {
        let body = self.send(action, params).await?;
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| vendor::malformed(action, &format!("not JSON: {e}"), &body))?;
        // Some gateways answer an error with 200; a POP error has a Code and no Data.
        if value.get("Data").is_none()
            && let Some(code) = value.get("Code").and_then(|c| c.as_str())
            && !code.is_empty()
        {
            let pop: PopError = serde_json::from_value(value).unwrap_or_default();
            return Err(vendor::from_pop(200, &pop, None));
        }
        serde_json::from_value(value)
            .map_err(|e| vendor::malformed(action, &format!("unexpected shape: {e}"), &body))
    }

    /// One signed call; the body of a 2xx answer, or the mapped error.
    #[tracing::instrument(skip(self, params), fields(signature = ?self.signature))]
    async fn send(&self, action: &str, params: &[(&str, String)]) -> Result<Vec<u8>> {
        self.pacer.wait().await;
        let timestamp = signing::timestamp(time::OffsetDateTime::now_utc());
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let signed = match self.signature {
            SignatureVersion::V3 => signing::sign_v3(
                &self.credentials,
                &self.host,
                action,
                &self.version,
                params,
                &timestamp,
                &nonce,
            ),
            SignatureVersion::V1 => signing::sign_v1(
                &self.credentials,
                &self.region_id,
                action,
                &self.version,
                params,
                &timestamp,
                &nonce,
            ),
        };
        let mut url = self.endpoint.clone();
        url.set_query((!signed.query.is_empty()).then_some(signed.query.as_str()));
        let mut request = self
            .http
            .request(signed.method.clone(), url)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &signed.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if signed.method == http::Method::POST {
            request = request.body(signed.body);
        }
        // Errors never show the URL: a V1 query carries the AccessKeyId and any STS token.
        let response = request
            .send_traced()
            .await
            .map_err(|e| self.transport_error(action, e))?;
        let status = response.status();
        let retry_after = crate::providers::remote::retry_after(response.headers());
        let body = read_capped(response)
            .await
            .map_err(|e| self.transport_error(action, e))?;
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "aliyun-vision answered"
        );
        if status.is_success() {
            return Ok(body);
        }
        Err(match serde_json::from_slice::<PopError>(&body) {
            Ok(pop) if !pop.code.is_empty() => {
                tracing::info!(status = status.as_u16(), code = %pop.code, request_id = %pop.request_id, "aliyun-vision refused a call");
                vendor::from_pop(status.as_u16(), &pop, retry_after)
            }
            Ok(_) | Err(_) => vendor::from_status(status.as_u16(), &body, retry_after),
        })
    }

    fn transport_error(&self, action: &str, e: reqwest::Error) -> Error {
        let message = if e.is_timeout() {
            format!(
                "{PROVIDER} did not answer {action} within {} s \
                 (providers.aliyun_vision.request_timeout_secs)",
                self.timeout.as_secs()
            )
        } else if e.is_connect() {
            format!(
                "{PROVIDER} endpoint {} cannot be reached: {}",
                self.endpoint,
                e.without_url()
            )
        } else {
            format!("{PROVIDER} call {action} failed: {}", e.without_url())
        };
        Error::new(ErrorCode::Unavailable, message)
            .retryable(true)
            .with_provider(PROVIDER)
    }
}

async fn read_capped(response: reqwest::Response) -> reqwest::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room < chunk.len() {
            break;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn answers_decode_both_spellings_of_the_image_url() {
        let sync: SegmentResponse = serde_json::from_str(
            r#"{"RequestId":"R","Data":{"ImageURL":"http://x/a.png?Expires=1"}}"#,
        )
        .unwrap();
        assert_eq!(
            sync.data.unwrap().image_url.as_deref(),
            Some("http://x/a.png?Expires=1")
        );
        let hd: SegmentResponse =
            serde_json::from_str(r#"{"RequestId":"J","Message":"submitted"}"#).unwrap();
        assert_eq!(hd.request_id, "J");
        assert!(hd.data.is_none());
        let job: AsyncJobResponse = serde_json::from_str(
            r#"{"RequestId":"R","Data":{"JobId":"J","Status":"PROCESS_SUCCESS",
                "Result":"{\"ImageUrl\":\"http://x/b.png\"}"}}"#,
        )
        .unwrap();
        let job = job.data.unwrap();
        assert_eq!(job.status, "PROCESS_SUCCESS");
        let inner: JobResult = serde_json::from_str(job.result.unwrap().as_str().unwrap()).unwrap();
        assert_eq!(inner.image_url.as_deref(), Some("http://x/b.png"));
    }

    #[tokio::test]
    async fn pacer_spaces_calls_by_the_interval() {
        let pacer = Pacer::new(20.0);
        let start = Instant::now();
        for _ in 0..3 {
            pacer.wait().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        let unpaced = Pacer::new(0.0);
        let start = Instant::now();
        for _ in 0..100 {
            unpaced.wait().await;
        }
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn endpoint_must_be_a_bare_http_origin() {
        let mut settings = AliyunVisionSettings {
            access_key_id: "id".into(),
            ..AliyunVisionSettings::default()
        };
        let client = VisionClient::new(&settings).unwrap();
        assert_eq!(client.host, "imageseg.cn-shanghai.aliyuncs.com");
        settings.endpoint = "http://127.0.0.1:8123".into();
        assert_eq!(VisionClient::new(&settings).unwrap().host, "127.0.0.1:8123");
        for bad in ["ftp://x", "http://x/api", "not a url"] {
            settings.endpoint = bad.into();
            assert!(VisionClient::new(&settings).is_err(), "{bad}");
        }
    }
}
