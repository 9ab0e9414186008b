//! The S3-compatible store (Alibaba OSS, MinIO, AWS S3): `object_store`'s `AmazonS3` built
//! from `[blob_store.s3]`, and its failures turned into errors that say what is wrong.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use crate::config::{Addressing, S3Settings};
use crate::error::{Error, ErrorCode};

/// Builds the bucket client. Nothing is sent yet: a wrong key or a missing bucket shows on
/// the first request, as a [`classify`]ied error.
pub fn build(settings: &S3Settings) -> anyhow::Result<Arc<AmazonS3>> {
    let client = ClientOptions::new()
        .with_allow_http(settings.allows_http())
        .with_timeout(Duration::from_secs(settings.request_timeout_secs))
        .with_connect_timeout(Duration::from_secs(settings.connect_timeout_secs));
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: settings.max_retries,
        retry_timeout: Duration::from_secs(settings.retry_timeout_secs),
    };
    // `new()`, not `from_env()`: the configuration alone decides, so no stray AWS_* variable
    // or instance-metadata lookup changes where blobs go.
    let mut builder = AmazonS3Builder::new()
        .with_region(&settings.region)
        .with_bucket_name(&settings.bucket)
        .with_access_key_id(&settings.access_key_id)
        .with_secret_access_key(settings.secret_access_key.expose())
        .with_virtual_hosted_style_request(settings.addressing == Addressing::VirtualHosted)
        .with_client_options(client)
        .with_retry(retry);
    if let Some(endpoint) = settings.client_endpoint() {
        builder = builder.with_endpoint(endpoint);
    }
    if !settings.session_token.is_empty() {
        builder = builder.with_token(settings.session_token.expose());
    }
    let store = builder.build().map_err(|e| {
        anyhow::anyhow!("blob_store.s3: cannot set up {}: {e}", settings.describe())
    })?;
    Ok(Arc::new(store))
}

/// Deadline of one store operation with its retries: the last retry starts before
/// `retry_timeout` (plus one backoff) and lasts at most one request timeout. A backstop
/// against a bucket that accepts connections and never answers.
pub fn operation_deadline(settings: &S3Settings) -> Duration {
    Duration::from_secs(settings.retry_timeout_secs + settings.request_timeout_secs + 5)
}

/// What went wrong with a request to the bucket.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The object does not exist.
    NotFound,
    /// The bucket itself does not exist.
    NoSuchBucket,
    /// 401/403: keys, signature, clock or bucket policy; `code` is S3's (`AccessDenied`,
    /// `SignatureDoesNotMatch`, `InvalidAccessKeyId`, `RequestTimeTooSkewed`).
    Denied {
        code: Option<String>,
    },
    TimedOut,
    Unreachable,
    /// Anything else (5xx after retries, malformed answers), with the detail.
    Failed,
}

/// Sorts an `object_store` error by cause.
pub fn classify(error: &object_store::Error) -> Failure {
    let code = s3_code(&error.to_string());
    if code.as_deref() == Some("NoSuchBucket") {
        return Failure::NoSuchBucket;
    }
    if matches!(error, object_store::Error::NotFound { .. }) {
        return Failure::NotFound;
    }
    if matches!(
        error,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) {
        return Failure::Denied { code };
    }
    match transport_failure(error) {
        Some(Transport::Timeout) => Failure::TimedOut,
        Some(Transport::Connect) => Failure::Unreachable,
        None => Failure::Failed,
    }
}

/// A transport failure that can be named.
enum Transport {
    Timeout,
    Connect,
}

/// The timeout or connection failure that caused `error`, if one did. `object_store` wraps
/// it transparently, so the chain may show its `HttpError` or only the reqwest error beneath.
fn transport_failure(error: &object_store::Error) -> Option<Transport> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(http) = cause.downcast_ref::<HttpError>() {
            if matches!(http.kind(), HttpErrorKind::Timeout) {
                return Some(Transport::Timeout);
            }
            if matches!(http.kind(), HttpErrorKind::Connect) {
                return Some(Transport::Connect);
            }
        }
        if let Some(reqwest) = cause.downcast_ref::<reqwest::Error>() {
            if reqwest.is_timeout() {
                return Some(Transport::Timeout);
            }
            if reqwest.is_connect() {
                return Some(Transport::Connect);
            }
        }
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return Some(Transport::Timeout);
        }
        source = cause.source();
    }
    None
}

/// `<Code>...</Code>` of an S3 error body quoted in `text`.
fn s3_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].to_owned())
}

/// An error naming the store (`store`), the action and the key, and what to check.
pub fn to_error(store: &str, action: &str, key: &str, error: &object_store::Error) -> Error {
    let failure = classify(error);
    let detail = error.to_string();
    let (code, message) = match &failure {
        Failure::NotFound => (ErrorCode::NotFound, format!("{key} does not exist")),
        Failure::NoSuchBucket => (
            ErrorCode::FailedPrecondition,
            format!(
                "{store}: cannot {action} {key}: the bucket does not exist (create it, or fix \
                 blob_store.s3.bucket and blob_store.s3.endpoint)"
            ),
        ),
        Failure::Denied { code } => (
            ErrorCode::FailedPrecondition,
            format!(
                "{store}: cannot {action} {key}: access denied ({}); check \
                 blob_store.s3.access_key_id, secret_access_key and region, the server clock, \
                 and the bucket's policy",
                code.as_deref().unwrap_or("HTTP 403")
            ),
        ),
        Failure::TimedOut => (
            ErrorCode::Unavailable,
            format!("{store}: cannot {action} {key}: the bucket did not answer in time ({detail})"),
        ),
        Failure::Unreachable => (
            ErrorCode::Unavailable,
            format!("{store}: cannot {action} {key}: cannot connect ({detail})"),
        ),
        Failure::Failed => (
            ErrorCode::Unavailable,
            format!("{store}: cannot {action} {key}: {detail}"),
        ),
    };
    // object_store has already retried what retrying could mend.
    Error::new(code, message).retryable(false)
}

/// The error of an operation that outlived [`operation_deadline`].
pub fn deadline_error(store: &str, action: &str, key: &str, deadline: Duration) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!(
            "{store}: cannot {action} {key}: no answer within {}s",
            deadline.as_secs()
        ),
    )
    .retryable(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_error(status: &str, body: &str) -> Box<dyn std::error::Error + Send + Sync> {
        format!("Server returned non-2xx status code: {status}: {body}").into()
    }

    #[test]
    fn a_missing_bucket_is_told_apart_from_a_missing_object() {
        let missing_key = object_store::Error::NotFound {
            path: "results/a.png".into(),
            source: status_error("404 Not Found", "<Error><Code>NoSuchKey</Code></Error>"),
        };
        assert_eq!(classify(&missing_key), Failure::NotFound);
        let missing_bucket = object_store::Error::NotFound {
            path: "results/a.png".into(),
            source: status_error("404 Not Found", "<Error><Code>NoSuchBucket</Code></Error>"),
        };
        assert_eq!(classify(&missing_bucket), Failure::NoSuchBucket);
        let err = to_error("s3 bucket `b`", "store", "results/a.png", &missing_bucket);
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(err.message.contains("the bucket does not exist"), "{err}");
        assert!(!err.retryable);
    }

    #[test]
    fn refusals_name_s3s_code_and_what_to_check() {
        let denied = object_store::Error::PermissionDenied {
            path: "results/a.png".into(),
            source: status_error(
                "403 Forbidden",
                "<Error><Code>SignatureDoesNotMatch</Code></Error>",
            ),
        };
        assert_eq!(
            classify(&denied),
            Failure::Denied {
                code: Some("SignatureDoesNotMatch".into())
            }
        );
        let err = to_error("s3 bucket `b`", "store", "results/a.png", &denied);
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(err.message.contains("SignatureDoesNotMatch"), "{err}");
        assert!(err.message.contains("secret_access_key"), "{err}");
    }

    #[test]
    fn transport_timeouts_are_recognised_through_the_error_chain() {
        let timeout = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                HttpErrorKind::Timeout,
                std::io::Error::new(std::io::ErrorKind::TimedOut, "operation timed out"),
            )),
        };
        assert_eq!(classify(&timeout), Failure::TimedOut);
        let err = to_error("s3 bucket `b`", "read", "results/a.png", &timeout);
        assert_eq!(err.code, ErrorCode::Unavailable);
        assert!(err.message.contains("did not answer in time"), "{err}");
    }
}
