//! A backend that could not be reached: the same error for every remote adapter.

use crate::error::{Error, ErrorCode};

/// A transport failure (connection refused, reset, timeout) of `what` at `provider`, told as
/// `"{label} {what} failed: …"`. Retryable; a timeout is `DeadlineExceeded`. The URL is left
/// out of the message because it may carry signed query strings.
pub fn transport_error(provider: &str, label: &str, what: &str, err: reqwest::Error) -> Error {
    let kind = if err.is_timeout() {
        ErrorCode::DeadlineExceeded
    } else {
        ErrorCode::Unavailable
    };
    Error::new(
        kind,
        format!("{label} {what} failed: {}", err.without_url()),
    )
    .retryable(true)
    .with_provider(provider)
}
