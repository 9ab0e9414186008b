//! Images API errors → imgforge errors, the way the OpenAI SDK decides what to retry
//! (408, 409, 429, ≥500) and with content refusals (`moderation_blocked`) kept apart: the
//! same prompt is refused again, so they are never retried.

use std::time::Duration;

use super::wire::{ApiError, ErrorReply};
use crate::error::{Error, ErrorCode};

pub const PROVIDER: &str = "openai-images";

/// An error the API reported, in an HTTP answer (`status`) or inside a stream (`None`).
pub fn api_error(status: Option<u16>, error: &ApiError, retry_after: Option<Duration>) -> Error {
    let code = error.code.as_deref().unwrap_or_default();
    let kind = error.kind.as_deref().unwrap_or_default();
    let detail = match (code.is_empty(), error.message.is_empty()) {
        (false, false) => format!("{code}: {}", crate::redact::truncate(&error.message, 300)),
        (false, true) => code.to_owned(),
        (true, _) => crate::redact::truncate(&error.message, 300).into_owned(),
    };
    let (code, retryable, text) = classify(status, code, kind, &detail);
    Error::new(code, text)
        .retryable(retryable)
        .with_retry_after(retry_after)
        .with_provider(PROVIDER)
}

fn classify(
    status: Option<u16>,
    code: &str,
    kind: &str,
    detail: &str,
) -> (ErrorCode, bool, String) {
    use ErrorCode as E;
    if code == "moderation_blocked" || code == "content_policy_violation" {
        return (
            E::ContentRejected,
            false,
            format!("the images API's safety system refused the request ({detail})"),
        );
    }
    if code == "invalid_api_key" || status == Some(401) {
        return (
            E::FailedPrecondition,
            false,
            format!(
                "the images API refused the key ({detail}); check providers.openai_images.api_key"
            ),
        );
    }
    if status == Some(403) {
        return (
            E::FailedPrecondition,
            false,
            format!(
                "the images API denied access ({detail}); the organisation may need \
                 verification for this model"
            ),
        );
    }
    if code == "model_not_found" || status == Some(404) {
        return (
            E::FailedPrecondition,
            false,
            format!(
                "the images API does not know the model ({detail}); check providers.openai_images.model"
            ),
        );
    }
    if code == "insufficient_quota" || code == "billing_hard_limit_reached" {
        return (
            E::ResourceExhausted,
            false,
            format!("the images API account is out of quota ({detail})"),
        );
    }
    if status == Some(429) || code == "rate_limit_exceeded" {
        return (
            E::ResourceExhausted,
            true,
            format!("the images API is throttling requests ({detail})"),
        );
    }
    if matches!(status, Some(408 | 409))
        || status.is_some_and(|s| s >= 500)
        || kind == "server_error"
        || code == "server_error"
    {
        return (
            E::Unavailable,
            true,
            format!("the images API failed ({detail})"),
        );
    }
    if matches!(status, Some(400 | 413 | 422)) || kind == "invalid_request_error" {
        return (
            E::InvalidArgument,
            false,
            format!("the images API rejected the request ({detail})"),
        );
    }
    if status.is_none() {
        // An error event in a stream with nothing to tell it apart: the run broke there.
        return (
            E::Unavailable,
            true,
            format!("the images API stream failed ({detail})"),
        );
    }
    (
        E::Internal,
        false,
        format!("the images API failed ({detail})"),
    )
}

/// An HTTP error answer: the documented JSON, or a proxy's page.
pub fn http_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
    let error = match serde_json::from_slice::<ErrorReply>(body) {
        Ok(reply) => reply.error,
        Err(_) => ApiError {
            message: format!(
                "HTTP {status}: {}",
                crate::redact::truncate(String::from_utf8_lossy(body).trim(), 200)
            ),
            ..ApiError::default()
        },
    };
    api_error(Some(status), &error, retry_after)
}

/// `retry-after-ms` (OpenAI's own) or `Retry-After` seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let millis = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms.min(3_600_000.0) / 1000.0));
    millis.or_else(|| crate::providers::remote::retry_after(headers))
}

/// A transport failure (connection refused, reset, timeout).
pub fn transport_error(what: &str, err: reqwest::Error) -> Error {
    crate::providers::remote::transport_error(PROVIDER, "images API", what, err)
}

/// An answer that is not the documented JSON.
pub fn malformed(what: &str, detail: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("images API {what} answered with an unreadable body ({detail})"),
    )
    .retryable(true)
    .with_provider(PROVIDER)
}

pub fn too_large(what: &str, max: u64) -> Error {
    Error::new(
        ErrorCode::PayloadTooLarge,
        format!("images API {what} is larger than {max} bytes"),
    )
    .retryable(false)
    .with_provider(PROVIDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: Option<u16>, code: &str) -> (ErrorCode, bool) {
        let error = ApiError {
            message: "m".into(),
            kind: None,
            code: (!code.is_empty()).then(|| code.to_owned()),
        };
        let e = api_error(status, &error, None);
        (e.code, e.retryable)
    }

    #[test]
    fn maps_the_documented_errors() {
        use ErrorCode as E;
        assert_eq!(
            kind(Some(400), "moderation_blocked"),
            (E::ContentRejected, false)
        );
        assert_eq!(
            kind(None, "moderation_blocked"),
            (E::ContentRejected, false)
        );
        assert_eq!(
            kind(Some(401), "invalid_api_key"),
            (E::FailedPrecondition, false)
        );
        assert_eq!(
            kind(Some(404), "model_not_found"),
            (E::FailedPrecondition, false)
        );
        assert_eq!(
            kind(Some(429), "rate_limit_exceeded"),
            (E::ResourceExhausted, true)
        );
        assert_eq!(
            kind(Some(429), "insufficient_quota"),
            (E::ResourceExhausted, false)
        );
        assert_eq!(kind(Some(500), ""), (E::Unavailable, true));
        assert_eq!(kind(Some(503), ""), (E::Unavailable, true));
        assert_eq!(kind(Some(409), ""), (E::Unavailable, true));
        assert_eq!(kind(Some(400), "invalid_size"), (E::InvalidArgument, false));
        assert_eq!(kind(None, ""), (E::Unavailable, true));
    }

    #[test]
    fn reads_retry_after_ms_first_and_proxy_pages() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let e = http_error(502, b"<html>bad gateway</html>", None);
        assert_eq!((e.code, e.retryable), (ErrorCode::Unavailable, true));
        assert!(e.message.contains("HTTP 502"), "{}", e.message);
    }
}
