//! The error envelopes of the seeds: each REST path answers failures in its own seed's shape.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Error, ErrorCode};

/// Which seed's conventions a path follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// Seeds 002/004: `{"error": "..."}`, 400 for bad input, 500 for processing failures
    /// (the precise kind is in the gRPC code and the logs).
    Seed002,
    /// Seed 000: `{code: 1, desc: "error", message}` (4xx) or
    /// `{code: -1, desc: "Internal Server Error", message}` (5xx).
    Seed000,
    /// Seed 001: HTTP 200 with `{code: 10400|10500, success: false, message, ...}`; 401 for
    /// authentication failures.
    Seed001,
    /// Seed 003: `{ret: <status>, msg}` with the HTTP status of the error.
    Seed003,
    /// imgforge's own paths (`/blobs`): `{"error": "..."}` with the table's HTTP status.
    Native,
}

/// An error bound to the envelope of the path it happened on.
pub struct ApiError {
    pub envelope: Envelope,
    pub error: Error,
}

impl Envelope {
    pub fn error(self, error: Error) -> ApiError {
        ApiError {
            envelope: self,
            error,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // An overloaded server answers 429 with Retry-After on every path, whatever the seed
        // says about statuses: clients and proxies must see backpressure as backpressure.
        let retry_after = (self.error.code == ErrorCode::ResourceExhausted).then(|| {
            self.error
                .retry_after
                .map_or(1, |wait| wait.as_secs_f64().ceil().max(1.0) as u64)
        });
        let mut response = self.body_response();
        if let Some(secs) = retry_after {
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

impl ApiError {
    fn body_response(self) -> Response {
        let ApiError {
            envelope,
            mut error,
        } = self;
        error.message = crate::error::bounded(error.message);
        let status = error.code.http();
        if status.is_server_error() {
            tracing::error!(code = error.code.name(), error = %error.message, "request failed");
        } else {
            tracing::info!(code = error.code.name(), error = %error.message, "request rejected");
        }
        let message = error.message;
        // Seeds 000 and 002 document two statuses only: 400 for anything the caller got
        // wrong (including a file over the size limit) and 500 for everything else.
        let seed_status = if status.is_client_error() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        match envelope {
            Envelope::Seed002 => (seed_status, Json(json!({ "error": message }))).into_response(),
            Envelope::Seed000 => {
                let status = seed_status;
                let body = if status.is_server_error() {
                    json!({ "code": -1, "desc": "Internal Server Error", "message": message })
                } else {
                    json!({ "code": 1, "desc": "error", "message": message })
                };
                (status, Json(body)).into_response()
            }
            Envelope::Seed001 => {
                // Seed 001 answers business errors with HTTP 200; only authentication
                // failures change the status.
                let (status, code) = if error.code == ErrorCode::Unauthenticated {
                    (StatusCode::UNAUTHORIZED, 10401)
                } else if status.is_server_error() {
                    (StatusCode::OK, 10500)
                } else {
                    (StatusCode::OK, 10400)
                };
                let body = json!({
                    "code": code,
                    "success": false,
                    "message": message,
                    "data": null,
                    // The call's trace id, as in the x-trace-id header and the exported trace.
                    "traceId": crate::telemetry::current_trace_id(),
                    "timestamp": crate::store::signing::unix_now_millis().to_string(),
                });
                (status, Json(body)).into_response()
            }
            Envelope::Native => (status, Json(json!({ "error": message }))).into_response(),
            Envelope::Seed003 => (
                status,
                Json(json!({ "ret": status.as_u16(), "msg": message })),
            )
                .into_response(),
        }
    }
}
