//! Bringing a provider's result images home at once: their links expire (DashScope after
//! 24 h, Alibaba Cloud vision after about 30 min), so results are never passed on as-is.
//!
//! Result links come from the configured provider's own answers, not from callers, so they
//! are not put through the caller-facing SSRF guard; they are still bounded in size, time
//! and redirects, and must be http(s).

use std::time::Duration;

use futures::StreamExt;

use crate::domain::{EncodedImage, ImageLimits};
use crate::error::{Error, ErrorCode, Result};
use crate::telemetry::outgoing::TracedSend;

#[derive(Clone)]
pub struct ResultDownloader {
    client: reqwest::Client,
    max_bytes: u64,
    limits: ImageLimits,
}

impl ResultDownloader {
    pub fn new(timeout: Duration, max_bytes: u64, limits: ImageLimits) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(3))
            .no_proxy()
            .build()
            .map_err(|e| Error::internal(format!("cannot build the result downloader: {e}")))?;
        Ok(ResultDownloader {
            client,
            max_bytes,
            limits,
        })
    }

    /// Downloads the image at `url`, which `provider` returned, and checks it decodes.
    pub async fn fetch(&self, provider: &str, url: &str) -> Result<EncodedImage> {
        let failed = |what: String| {
            Error::new(
                ErrorCode::Unavailable,
                format!(
                    "{provider}: cannot download its result {}: {what}",
                    redact(url)
                ),
            )
            .with_provider(provider)
        };
        let parsed = url::Url::parse(url).map_err(|e| failed(format!("bad url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(failed(format!("scheme {} is not http(s)", parsed.scheme())));
        }
        let response = self
            .client
            .get(parsed)
            .send_traced()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            // An expired or missing result does not come back by retrying.
            return Err(failed(format!("HTTP {status}")).retryable(status.is_server_error()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(failed(format!("larger than {} bytes", self.max_bytes)).retryable(false));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failed(e.to_string()))?;
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(
                    failed(format!("larger than {} bytes", self.max_bytes)).retryable(false)
                );
            }
            body.extend_from_slice(&chunk);
        }
        let body = bytes::Bytes::from(body);
        let limits = self.limits;
        let probed = body.clone();
        let probe = crate::media::cancel::run_blocking(limits.job_budget(), move || {
            crate::media::probe(&probed, &limits)
        });
        let (format, width, height) = probe.await.map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("{provider} returned a result that is not a usable image: {e}"),
            )
            .with_provider(provider)
        })?;
        Ok(EncodedImage {
            bytes: body,
            format,
            width,
            height,
        })
    }
}

/// A URL without its query, which for signed links holds the signature.
pub fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}
