//! One error type and one code table.
//!
//! Every failure in imgforge carries an [`ErrorCode`]; only this module maps a code to a gRPC
//! status, an HTTP status and a stable kebab-case name, so the two transports cannot drift.

use std::fmt;

/// The kind of a failure, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A parameter or an input image is missing or invalid.
    InvalidArgument,
    /// A body, a file or a decoded image exceeds a configured limit.
    PayloadTooLarge,
    /// Missing or bad credentials or request signature.
    Unauthenticated,
    /// An id (upload, task, cover, blob) that does not exist or has expired.
    NotFound,
    /// A rate or quota limit was hit.
    ResourceExhausted,
    /// The request ran out of time.
    DeadlineExceeded,
    /// A backend is temporarily unreachable; retrying later may work.
    Unavailable,
    /// The request is valid but the system is not in a state to run it.
    FailedPrecondition,
    /// A provider's content-safety check refused an input or an output; retrying the same
    /// request will not help.
    ContentRejected,
    /// No configured provider implements the operation.
    Unimplemented,
    /// The caller went away or the work was cancelled.
    Cancelled,
    /// A bug or an unexpected processing failure.
    Internal,
}

/// One row of the code table.
pub struct CodeRow {
    pub grpc: tonic::Code,
    pub http: http::StatusCode,
    pub name: &'static str,
}

impl ErrorCode {
    /// The single table every transport reads.
    pub const fn row(self) -> CodeRow {
        use http::StatusCode as H;
        use tonic::Code as G;
        let (grpc, http, name) = match self {
            ErrorCode::InvalidArgument => (G::InvalidArgument, H::BAD_REQUEST, "invalid-argument"),
            ErrorCode::PayloadTooLarge => (
                G::InvalidArgument,
                H::PAYLOAD_TOO_LARGE,
                "payload-too-large",
            ),
            ErrorCode::Unauthenticated => (G::Unauthenticated, H::UNAUTHORIZED, "unauthenticated"),
            ErrorCode::NotFound => (G::NotFound, H::NOT_FOUND, "not-found"),
            ErrorCode::ResourceExhausted => (
                G::ResourceExhausted,
                H::TOO_MANY_REQUESTS,
                "resource-exhausted",
            ),
            ErrorCode::DeadlineExceeded => {
                (G::DeadlineExceeded, H::GATEWAY_TIMEOUT, "deadline-exceeded")
            }
            ErrorCode::Unavailable => (G::Unavailable, H::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorCode::FailedPrecondition => {
                (G::FailedPrecondition, H::CONFLICT, "failed-precondition")
            }
            ErrorCode::ContentRejected => (
                G::FailedPrecondition,
                H::UNPROCESSABLE_ENTITY,
                "content-rejected",
            ),
            ErrorCode::Unimplemented => (G::Unimplemented, H::NOT_IMPLEMENTED, "unimplemented"),
            // The caller has gone, so nobody reads this status; 400 keeps it a client error.
            ErrorCode::Cancelled => (G::Cancelled, H::BAD_REQUEST, "cancelled"),
            ErrorCode::Internal => (G::Internal, H::INTERNAL_SERVER_ERROR, "internal"),
        };
        CodeRow { grpc, http, name }
    }

    pub fn grpc(self) -> tonic::Code {
        self.row().grpc
    }

    pub fn http(self) -> http::StatusCode {
        self.row().http
    }

    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Whether the caller is at fault (4xx) rather than the service (5xx).
    pub fn is_client_error(self) -> bool {
        self.http().is_client_error()
    }
}

/// An error with its code, a human-readable message and, where known, the field or the
/// provider at fault.
#[derive(Debug, Clone)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault, named as the caller spells it (`image_url`, `min_dim`).
    pub field: Option<String>,
    /// The provider that failed, if a provider did.
    pub provider: Option<String>,
    /// Whether trying again (or trying the next provider) may succeed.
    pub retryable: bool,
    /// How long the backend asked us to wait before trying again (`Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: bounded(message.into()),
            field: None,
            provider: None,
            retryable: matches!(
                code,
                ErrorCode::Unavailable | ErrorCode::DeadlineExceeded | ErrorCode::ResourceExhausted
            ),
            retry_after: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message).with_field(field)
    }

    pub fn too_large(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(ErrorCode::PayloadTooLarge, message).with_field(field)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Internal, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::NotFound, message)
    }

    pub fn unimplemented(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Unimplemented, message)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Names the field at fault unless a deeper layer already did.
    pub fn or_field(mut self, field: &str) -> Self {
        if self.field.is_none() {
            self.field = Some(field.to_owned());
        }
        self
    }

    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub fn with_retry_after(mut self, wait: Option<std::time::Duration>) -> Self {
        self.retry_after = wait;
        self
    }
}

/// A message cut to [`crate::redact::MAX_MESSAGE_CHARS`]: whatever a message quotes, it
/// never grows past what a gRPC status header and a log line can carry.
pub fn bounded(message: String) -> String {
    match crate::redact::truncate(&message, crate::redact::MAX_MESSAGE_CHARS) {
        std::borrow::Cow::Borrowed(_) => message,
        std::borrow::Cow::Owned(cut) => cut,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for tonic::Status {
    fn from(mut err: Error) -> Self {
        use tonic_types::{ErrorDetails, StatusExt};
        // Code that edits `message` after `Error::new` is bounded here, at the way out.
        err.message = bounded(err.message);
        let mut details = ErrorDetails::new();
        if let Some(field) = &err.field {
            details.add_bad_request_violation(
                crate::redact::echo(field).into_owned(),
                err.message.clone(),
            );
        }
        let mut metadata = std::collections::HashMap::new();
        if let Some(provider) = &err.provider {
            metadata.insert("provider".to_owned(), provider.clone());
        }
        details.set_error_info(err.code.name(), "imgforge", metadata);
        if let Some(wait) = err.retry_after {
            details.set_retry_info(Some(wait));
        }
        let mut status = tonic::Status::with_error_details(err.code.grpc(), err.message, details);
        if let Some(wait) = err.retry_after {
            // Plain metadata as well, for clients that do not decode the rich details.
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            status.metadata_mut().insert("retry-after", secs.into());
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_consistently() {
        let all = [
            ErrorCode::InvalidArgument,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Unauthenticated,
            ErrorCode::NotFound,
            ErrorCode::ResourceExhausted,
            ErrorCode::DeadlineExceeded,
            ErrorCode::Unavailable,
            ErrorCode::FailedPrecondition,
            ErrorCode::ContentRejected,
            ErrorCode::Unimplemented,
            ErrorCode::Cancelled,
            ErrorCode::Internal,
        ];
        let mut names = std::collections::HashSet::new();
        for code in all {
            let row = code.row();
            assert!(names.insert(row.name), "duplicate name {}", row.name);
            assert!(row.http.is_client_error() || row.http.is_server_error());
            assert_ne!(row.grpc, tonic::Code::Ok);
        }
    }

    #[test]
    fn long_messages_are_bounded_in_the_status() {
        let huge = format!("bad value {}", "x".repeat(1 << 20));
        let status: tonic::Status = Error::invalid("min_dim", huge).into();
        assert!(status.message().len() < 2 * crate::redact::MAX_MESSAGE_CHARS);
        assert!(status.message().ends_with("more bytes)"));
    }

    #[test]
    fn status_carries_the_field_violation() {
        use tonic_types::StatusExt;
        let status: tonic::Status = Error::invalid("min_dim", "min_dim must be positive").into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        assert_eq!(bad.field_violations[0].field, "min_dim");
    }
}
