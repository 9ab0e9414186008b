//! Alibaba Cloud (POP) errors → imgforge's [`ErrorCode`] and a retryable flag.
//!
//! Errors come as HTTP 4xx/5xx with `{RequestId, HostId, Code, Message, Recommend}`; failed
//! async jobs carry `ErrorCode`/`ErrorMessage` with HTTP 200. Both go through [`classify`].

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, ErrorCode};

pub const PROVIDER: &str = "aliyun-vision";

/// The POP error body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PopError {
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub recommend: String,
}

/// How a vendor code is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The image or a parameter is wrong: the same request fails everywhere.
    BadInput,
    /// The vendor's content-safety check refused the image.
    Content,
    /// The setting to check (AccessKey, signature, permissions, clock).
    Config(&'static str),
    /// Rate limited: wait and try again.
    Throttled,
    /// The vendor is in trouble; trying again may work.
    Transient,
    /// Anything else.
    Other,
}

/// Classifies a vendor `code` (and the HTTP status, when there was one).
pub fn classify(code: &str, status: Option<u16>) -> Kind {
    let lower = code.to_ascii_lowercase();
    // Content-safety codes first: some of them start with `InvalidImage.` too.
    if [
        "datainspection",
        "risk",
        "imagecontent",
        "sensitive",
        "prohibited",
        "porn",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
    {
        return Kind::Content;
    }
    if lower.starts_with("throttling") || lower.contains("flowlimit") || status == Some(429) {
        return Kind::Throttled;
    }
    if lower.starts_with("invalidaccesskeyid") || lower == "missingaccesskeyid" {
        return Kind::Config("providers.aliyun_vision.access_key_id");
    }
    if lower.starts_with("signaturedoesnotmatch")
        || lower.starts_with("incompletesignature")
        || lower.starts_with("invalidsignature")
    {
        return Kind::Config("providers.aliyun_vision.access_key_secret");
    }
    if lower.starts_with("invalidsecuritytoken") {
        return Kind::Config("providers.aliyun_vision.security_token");
    }
    if lower.starts_with("invalidtimestamp") {
        return Kind::Config("the system clock (requests must be signed within 15 minutes)");
    }
    if lower.starts_with("forbidden")
        || lower.starts_with("nopermission")
        || lower.starts_with("unauthorized")
        || lower.contains("notopen")
        || lower.contains("notpurchase")
        || lower.contains("arrearage")
    {
        return Kind::Config(
            "the account: viapi imageseg activated, RAM policy AliyunVIAPIFullAccess, no overdue payment",
        );
    }
    if lower.starts_with("invalidaction") || lower.starts_with("invalidversion") {
        return Kind::Config("providers.aliyun_vision.action and providers.aliyun_vision.version");
    }
    if lower == "signaturenonceused"
        || lower.starts_with("internalerror")
        || lower.starts_with("serviceunavailable")
        || lower.contains("timeout")
        || lower.starts_with("unknownerror")
        || status.is_some_and(|s| s >= 500)
    {
        return Kind::Transient;
    }
    if lower.starts_with("invalidparameter")
        || lower.starts_with("invalidimage")
        || lower.starts_with("invalidfile")
        || lower.starts_with("missing")
        || lower.starts_with("invalidurl")
    {
        return Kind::BadInput;
    }
    Kind::Other
}

/// The error of a POP answer with HTTP `status`.
pub fn from_pop(status: u16, pop: &PopError, retry_after: Option<Duration>) -> Error {
    let detail = describe(&pop.code, &pop.message, &pop.recommend, &pop.request_id);
    let mut kind = classify(&pop.code, Some(status));
    if kind == Kind::Other && status >= 500 {
        kind = Kind::Transient;
    }
    if kind == Kind::Throttled {
        let wait = retry_after.map_or_else(String::new, |w| {
            format!("; retry after {} s", w.as_secs_f64().ceil() as u64)
        });
        return Error::new(
            ErrorCode::ResourceExhausted,
            format!("{PROVIDER} is throttling requests ({detail}){wait}"),
        )
        .retryable(true)
        .with_retry_after(retry_after)
        .with_provider(PROVIDER);
    }
    error_of(kind, &detail).with_retry_after(retry_after)
}

/// The error of a failed async job (`PROCESS_FAILED` and friends).
pub fn from_job(status: &str, code: &str, message: &str, job_id: &str) -> Error {
    let detail = format!(
        "job {job_id} {status}{}",
        if code.is_empty() && message.is_empty() {
            String::new()
        } else {
            format!(": {}", describe(code, message, "", ""))
        }
    );
    match (status, classify(code, None)) {
        (_, kind @ (Kind::BadInput | Kind::Content | Kind::Config(_) | Kind::Throttled)) => {
            error_of(kind, &detail)
        }
        // The vendor gave up on the job in time; a new job may well make it.
        ("TIMEOUT_FAILED", Kind::Transient | Kind::Other) | (_, Kind::Transient) => {
            error_of(Kind::Transient, &detail)
        }
        // It already retried; doing so again is unlikely to help.
        (_, Kind::Other) => Error::new(
            ErrorCode::Unavailable,
            format!("{PROVIDER} could not remove the background: {detail}"),
        )
        .retryable(false)
        .with_provider(PROVIDER),
    }
}

fn error_of(kind: Kind, detail: &str) -> Error {
    let error = match kind {
        Kind::BadInput => {
            Error::invalid("image", format!("{PROVIDER} refused the image: {detail}"))
        }
        Kind::Content => Error::new(
            ErrorCode::ContentRejected,
            format!("{PROVIDER} content check refused the image: {detail}"),
        )
        .retryable(false),
        Kind::Config(check) => Error::new(
            ErrorCode::FailedPrecondition,
            format!("{PROVIDER} rejected the request: {detail}; check {check}"),
        )
        .retryable(false),
        Kind::Throttled => Error::new(
            ErrorCode::ResourceExhausted,
            format!("{PROVIDER} is throttling requests ({detail})"),
        ),
        Kind::Transient => Error::new(
            ErrorCode::Unavailable,
            format!("{PROVIDER} is unavailable: {detail}"),
        )
        .retryable(true),
        Kind::Other => Error::new(
            ErrorCode::FailedPrecondition,
            format!("{PROVIDER} rejected the request: {detail}"),
        )
        .retryable(false),
    };
    error.with_provider(PROVIDER)
}

/// `Code: Message (recommend: ...; request id ...)`, with what is known.
fn describe(code: &str, message: &str, recommend: &str, request_id: &str) -> String {
    let mut text = match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{code}: {}", message.trim_end_matches('.')),
        (false, true) => code.to_owned(),
        (true, false) => message.trim_end_matches('.').to_owned(),
        (true, true) => "no error code".to_owned(),
    };
    let mut extra = Vec::new();
    if !recommend.is_empty() {
        extra.push(format!("see {recommend}"));
    }
    if !request_id.is_empty() {
        extra.push(format!("request id {request_id}"));
    }
    if !extra.is_empty() {
        text.push_str(&format!(" ({})", extra.join("; ")));
    }
    text
}

/// An HTTP error whose body is not a POP error (a gateway page, an empty body).
pub fn from_status(status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
    let snippet = snippet(body);
    let pop = PopError {
        code: if status == 429 {
            "Throttling".to_owned()
        } else {
            format!("HTTP {status}")
        },
        message: snippet,
        ..PopError::default()
    };
    from_pop(status, &pop, retry_after)
}

/// A 2xx answer that is not the JSON it should be (`body` may be empty when not at hand).
pub fn malformed(action: &str, what: &str, body: &[u8]) -> Error {
    let quoted = if body.is_empty() {
        String::new()
    } else {
        format!(": {}", snippet(body))
    };
    Error::new(
        ErrorCode::Unavailable,
        format!("{PROVIDER} answered {action} with a malformed body ({what}){quoted}"),
    )
    .retryable(true)
    .with_provider(PROVIDER)
}

/// The first 200 characters of a body, on one line.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if flat.trim().is_empty() {
        "empty body".to_owned()
    } else if text.chars().count() > 200 {
        format!("{}…", flat.trim())
    } else {
        flat.trim().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop(code: &str) -> PopError {
        PopError {
            request_id: "RID-1".to_owned(),
            code: code.to_owned(),
            message: "something happened.".to_owned(),
            recommend: String::new(),
        }
    }

    #[test]
    fn bad_images_are_invalid_arguments_on_the_image_field() {
        for code in [
            "InvalidParameter",
            "InvalidImage.Format",
            "InvalidImage.Resolution",
            "InvalidFile.Download",
            "MissingImageURL",
        ] {
            let err = from_pop(400, &pop(code), None);
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{code}");
            assert_eq!(err.field.as_deref(), Some("image"), "{code}");
            assert!(!err.retryable, "{code}");
            assert!(
                err.message.contains(code) && err.message.contains("RID-1"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn credential_problems_name_the_setting_to_check() {
        let err = from_pop(404, &pop("InvalidAccessKeyId.NotFound"), None);
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(!err.retryable);
        assert!(
            err.message
                .contains("providers.aliyun_vision.access_key_id"),
            "{}",
            err.message
        );
        let err = from_pop(400, &pop("SignatureDoesNotMatch"), None);
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(
            err.message
                .contains("providers.aliyun_vision.access_key_secret"),
            "{}",
            err.message
        );
        let err = from_pop(403, &pop("Forbidden.RAM"), None);
        assert!(
            err.message.contains("AliyunVIAPIFullAccess"),
            "{}",
            err.message
        );
        let err = from_pop(400, &pop("InvalidTimeStamp.Expired"), None);
        assert!(err.message.contains("clock"), "{}", err.message);
    }

    #[test]
    fn throttling_is_retryable_and_keeps_the_retry_after() {
        let wait = Some(Duration::from_secs(7));
        let err = from_pop(429, &pop("Throttling.User"), wait);
        assert_eq!(err.code, ErrorCode::ResourceExhausted);
        assert!(err.retryable);
        assert_eq!(err.retry_after, wait);
        assert!(err.message.contains("retry after 7 s"), "{}", err.message);
        let err = from_status(429, b"", None);
        assert_eq!(err.code, ErrorCode::ResourceExhausted);
    }

    #[test]
    fn server_errors_are_retryable_unavailable() {
        for (status, code) in [
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
            (502, ""),
        ] {
            let err = from_pop(status, &pop(code), None);
            assert_eq!(err.code, ErrorCode::Unavailable, "{code}");
            assert!(err.retryable, "{code}");
        }
        let err = from_status(502, b"<html>bad gateway</html>", None);
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.message.contains("bad gateway"), "{}", err.message);
        let err = from_pop(400, &pop("SignatureNonceUsed"), None);
        assert!(err.retryable, "a new nonce fixes a replayed one");
    }

    #[test]
    fn content_risk_is_content_rejected() {
        for code in [
            "DataInspectionFailed",
            "InvalidImage.Risk",
            "InvalidParameter.ImageContent",
        ] {
            let err = from_pop(400, &pop(code), None);
            assert_eq!(err.code, ErrorCode::ContentRejected, "{code}");
            assert!(!err.retryable);
        }
    }

    #[test]
    fn failed_jobs_map_their_error_code() {
        let err = from_job(
            "PROCESS_FAILED",
            "InvalidImage.Resolution",
            "too large",
            "J1",
        );
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.message.contains("J1") && err.message.contains("PROCESS_FAILED"));
        let err = from_job("TIMEOUT_FAILED", "", "", "J2");
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.retryable);
        let err = from_job("LIMIT_RETRY_FAILED", "AlgoError", "x", "J3");
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(!err.retryable);
    }

    #[test]
    fn snippets_are_short_and_single_line() {
        assert_eq!(snippet(b""), "empty body");
        assert_eq!(snippet(b"a\nb"), "a b");
        assert!(snippet(&[b'x'; 500]).ends_with('…'));
    }
}
