//! ComfyUI failures → imgforge errors: the kind, whether trying again may help, and a
//! message that says whose fault it is (our workflow, the server, the run).

use std::time::Duration;

use serde_json::Value;

use super::wire::{ExecutionError, SubmitError};
use crate::error::{Error, ErrorCode};

pub const PROVIDER: &str = "comfyui";

/// An HTTP error answer of `what` (submit, upload, view, …).
pub fn http_error(what: &str, status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
    let detail = detail_of(body);
    let (kind, retryable, text) = match status {
        // ComfyUI refuses a graph it cannot run (missing node class, model file not in the
        // list, bad input type): the configured workflow is at fault, not the caller.
        400 if what == "submit" => (
            ErrorCode::FailedPrecondition,
            false,
            format!(
                "comfyui refused the workflow ({detail}); check providers.comfyui.workflow and \
                 that the server has its nodes and models"
            ),
        ),
        401 | 403 => (
            ErrorCode::FailedPrecondition,
            false,
            format!(
                "comfyui (or its proxy) refused the request ({detail}); check \
                 providers.comfyui.api_key"
            ),
        ),
        404 if what == "view" => (
            ErrorCode::Unavailable,
            false,
            format!("comfyui no longer has the result image ({detail})"),
        ),
        413 => (
            ErrorCode::PayloadTooLarge,
            false,
            format!("comfyui refused the {what} as too large ({detail})"),
        ),
        429 => (
            ErrorCode::ResourceExhausted,
            true,
            format!("comfyui is throttling requests ({detail})"),
        ),
        s if s >= 500 => (
            ErrorCode::Unavailable,
            true,
            format!("comfyui failed internally ({detail})"),
        ),
        _ => (
            ErrorCode::Internal,
            false,
            format!("comfyui {what} answered HTTP {status} ({detail})"),
        ),
    };
    Error::new(kind, text)
        .retryable(retryable)
        .with_retry_after(retry_after)
        .with_provider(PROVIDER)
}

/// What a refusal says, cut short: `error.message` and the first node error when JSON.
fn detail_of(body: &[u8]) -> String {
    if let Ok(refusal) = serde_json::from_slice::<SubmitError>(body) {
        let message = match &refusal.error {
            Value::String(s) => s.clone(),
            Value::Object(e) => e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => String::new(),
        };
        let node = refusal
            .node_errors
            .as_object()
            .and_then(|errors| errors.iter().next())
            .map(|(id, e)| {
                let why = e
                    .pointer("/errors/0/message")
                    .and_then(Value::as_str)
                    .unwrap_or("invalid");
                let details = e
                    .pointer("/errors/0/details")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                format!("; node {id}: {why} {details}")
            })
            .unwrap_or_default();
        if !message.is_empty() {
            return crate::redact::truncate(&format!("{message}{node}"), 300).into_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    crate::redact::truncate(text.trim(), 200).into_owned()
}

/// A run that failed at the server (`execution_error`).
pub fn execution_error(prompt_id: &str, error: &ExecutionError) -> Error {
    let node = error
        .node_id
        .as_ref()
        .map(|id| id.to_string().trim_matches('"').to_owned())
        .unwrap_or_default();
    let detail = format!(
        "node {node} ({}) raised {}: {}",
        error.node_type,
        error.exception_type,
        crate::redact::truncate(&error.exception_message, 300)
    );
    let out_of_memory = error.exception_type.contains("OutOfMemory")
        || error.exception_message.contains("out of memory");
    let (kind, retryable) = if out_of_memory {
        // The GPU was full with someone else's work; it may not be later.
        (ErrorCode::ResourceExhausted, true)
    } else {
        (ErrorCode::Internal, false)
    };
    Error::new(kind, format!("comfyui run {prompt_id} failed: {detail}"))
        .retryable(retryable)
        .with_provider(PROVIDER)
}

/// A run interrupted by someone else (an operator, another client's `/interrupt`).
pub fn interrupted(prompt_id: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("comfyui run {prompt_id} was interrupted at the server"),
    )
    .retryable(true)
    .with_provider(PROVIDER)
}

/// A transport failure (connection refused, reset, timeout).
pub fn transport_error(what: &str, err: reqwest::Error) -> Error {
    crate::providers::remote::transport_error(PROVIDER, "comfyui", what, err)
}

/// An answer that is not the JSON ComfyUI documents.
pub fn malformed(what: &str, detail: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("comfyui {what} answered with an unreadable body ({detail})"),
    )
    .retryable(true)
    .with_provider(PROVIDER)
}

/// The server stopped answering during a run.
/// A run still going after `providers.comfyui.job_timeout_secs`; the caller cancels it.
pub fn timed_out(prompt_id: &str, deadline: std::time::Duration) -> Error {
    Error::new(
        ErrorCode::DeadlineExceeded,
        format!(
            "comfyui run {prompt_id} did not finish within {} s \
             (providers.comfyui.job_timeout_secs); it was cancelled",
            deadline.as_secs()
        ),
    )
    .with_provider(PROVIDER)
}

pub fn gone(prompt_id: &str, why: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("comfyui went away during run {prompt_id}: {why}"),
    )
    .retryable(true)
    .with_provider(PROVIDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_workflow_is_a_configuration_problem() {
        let body = br#"{"error":{"type":"prompt_outputs_failed_validation","message":"Prompt outputs failed validation"},
            "node_errors":{"4":{"errors":[{"message":"Value not in list","details":"ckpt_name: 'x' not in []"}]}}}"#;
        let e = http_error("submit", 400, body, None);
        assert_eq!(
            (e.code, e.retryable),
            (ErrorCode::FailedPrecondition, false)
        );
        assert!(
            e.message.contains("node 4: Value not in list"),
            "{}",
            e.message
        );
        assert!(e.message.contains("providers.comfyui.workflow"));
    }

    #[test]
    fn maps_statuses_and_run_failures() {
        let kind = |status| {
            let e = http_error("upload", status, b"oops", None);
            (e.code, e.retryable)
        };
        assert_eq!(kind(503), (ErrorCode::Unavailable, true));
        assert_eq!(kind(429), (ErrorCode::ResourceExhausted, true));
        assert_eq!(kind(413), (ErrorCode::PayloadTooLarge, false));
        assert_eq!(kind(401), (ErrorCode::FailedPrecondition, false));
        let oom = ExecutionError {
            node_id: Some(Value::from("3")),
            node_type: "KSampler".into(),
            exception_type: "torch.OutOfMemoryError".into(),
            exception_message: "CUDA out of memory".into(),
        };
        let e = execution_error("p", &oom);
        assert_eq!((e.code, e.retryable), (ErrorCode::ResourceExhausted, true));
        assert!(e.message.contains("node 3 (KSampler)"), "{}", e.message);
        let other = ExecutionError {
            exception_type: "ValueError".into(),
            exception_message: "bad value".into(),
            ..oom
        };
        assert_eq!(execution_error("p", &other).code, ErrorCode::Internal);
    }
}
