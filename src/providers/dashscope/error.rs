//! DashScope error codes → imgforge errors (PROVIDERS.md §1.9): the kind, whether trying
//! again may help, and a message that says whose fault it is.

use std::time::Duration;

use crate::error::{Error, ErrorCode};

pub(crate) const PROVIDER: &str = "dashscope";

/// An error DashScope reported, from a failed HTTP call (`status`) or a failed task (`None`).
pub(crate) fn vendor_error(
    status: Option<u16>,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> Error {
    let detail = if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    };
    let (kind, retryable, text) = classify(status, code, &detail);
    Error::new(kind, text)
        .retryable(retryable)
        .with_retry_after(retry_after)
        .with_provider(PROVIDER)
}

fn classify(status: Option<u16>, code: &str, detail: &str) -> (ErrorCode, bool, String) {
    use ErrorCode as E;
    let has = |prefix: &str| code.starts_with(prefix);
    if has("DataInspection") || code.ends_with(".ImageContent") || code.ends_with(".DataInspection")
    {
        return (
            E::ContentRejected,
            false,
            format!("dashscope's content check rejected the image ({detail})"),
        );
    }
    if code == "InvalidApiKey" || status == Some(401) {
        return (
            E::FailedPrecondition,
            false,
            format!(
                "dashscope refused the API key ({detail}); check providers.dashscope.api_key and \
                 that base_url is the key's region"
            ),
        );
    }
    if has("AccessDenied") || status == Some(403) {
        return (
            E::FailedPrecondition,
            false,
            format!(
                "dashscope denied access ({detail}); the model may not be activated for this \
                 account or region"
            ),
        );
    }
    if has("ModelNotFound") || code == "NotFound" || status == Some(404) {
        return (
            E::FailedPrecondition,
            false,
            format!(
                "dashscope does not know the model ({detail}); check providers.dashscope.models"
            ),
        );
    }
    if code == "InvalidParameter.FileDownload"
        || code == "BadRequest.InputDownloadFailed"
        || code == "InvalidURL"
    {
        return (
            E::FailedPrecondition,
            false,
            format!(
                "dashscope could not download an input image ({detail}); results.public_base_url \
                 must be reachable from dashscope, or set providers.dashscope.inputs = \
                 \"temporary_upload\""
            ),
        );
    }
    if code == "Arrearage" || code == "insufficient_quota" {
        return (
            E::ResourceExhausted,
            false,
            format!("dashscope account quota or balance exhausted ({detail})"),
        );
    }
    // `Throttling.AllocationQuota` (the account's quota of the moment) included: like a rate
    // limit it passes, so it is backpressure, retried after `Retry-After`.
    if has("Throttling") || status == Some(429) {
        return (
            E::ResourceExhausted,
            true,
            format!("dashscope is throttling requests ({detail})"),
        );
    }
    if has("InternalError") || status.is_some_and(|s| s >= 500) {
        return (
            E::Unavailable,
            true,
            format!("dashscope failed internally ({detail})"),
        );
    }
    if code == "InvalidPerson" {
        return (
            E::InvalidArgument,
            false,
            format!("person_image must show exactly one whole person ({detail})"),
        );
    }
    if code == "InvalidGarment" {
        return (
            E::InvalidArgument,
            false,
            format!("the garment images were not recognised as garments ({detail})"),
        );
    }
    if has("Invalid") || has("BadRequest") || code == "UnsupportedOperation" || status == Some(400)
    {
        return (
            E::InvalidArgument,
            false,
            format!("dashscope rejected the request ({detail})"),
        );
    }
    (E::Internal, false, format!("dashscope failed ({detail})"))
}

/// A transport failure talking to DashScope (connection refused, timeout, reset).
pub(crate) fn transport_error(what: &str, err: reqwest::Error) -> Error {
    crate::providers::remote::transport_error(PROVIDER, "dashscope", what, err)
}

/// An answer that is not the JSON DashScope documents.
pub(crate) fn malformed(what: &str, status: u16, detail: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("dashscope {what} answered HTTP {status} with an unreadable body ({detail})"),
    )
    .retryable(true)
    .with_provider(PROVIDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: Option<u16>, code: &str) -> (ErrorCode, bool) {
        let e = vendor_error(status, code, "x", None);
        (e.code, e.retryable)
    }

    #[test]
    fn maps_the_documented_codes() {
        use ErrorCode as E;
        assert_eq!(
            kind(Some(400), "InvalidParameter"),
            (E::InvalidArgument, false)
        );
        assert_eq!(
            kind(Some(400), "DataInspectionFailed"),
            (E::ContentRejected, false)
        );
        assert_eq!(
            kind(None, "InvalidParameter.ImageContent"),
            (E::ContentRejected, false)
        );
        assert_eq!(
            kind(Some(401), "InvalidApiKey"),
            (E::FailedPrecondition, false)
        );
        assert_eq!(
            kind(Some(403), "AccessDenied"),
            (E::FailedPrecondition, false)
        );
        assert_eq!(
            kind(Some(404), "ModelNotFound"),
            (E::FailedPrecondition, false)
        );
        assert_eq!(
            kind(Some(429), "Throttling.RateQuota"),
            (E::ResourceExhausted, true)
        );
        assert_eq!(
            kind(Some(429), "Throttling.AllocationQuota"),
            (E::ResourceExhausted, true)
        );
        assert_eq!(kind(Some(400), "Arrearage"), (E::ResourceExhausted, false));
        assert_eq!(kind(Some(500), "InternalError"), (E::Unavailable, true));
        assert_eq!(kind(None, "InternalError.Algo"), (E::Unavailable, true));
        assert_eq!(kind(Some(503), "Unknown"), (E::Unavailable, true));
        assert_eq!(
            kind(None, "InvalidParameter.FileDownload"),
            (E::FailedPrecondition, false)
        );
        assert_eq!(kind(None, "InvalidPerson"), (E::InvalidArgument, false));
        assert_eq!(kind(None, "SomethingNew"), (E::Internal, false));
    }

    #[test]
    fn carries_provider_and_retry_after() {
        let e = vendor_error(
            Some(429),
            "Throttling",
            "slow down",
            Some(Duration::from_secs(2)),
        );
        assert_eq!(e.provider.as_deref(), Some("dashscope"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        assert!(e.message.contains("Throttling: slow down"), "{}", e.message);
    }
}
