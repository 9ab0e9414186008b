//! Statuses tonic answers before a handler runs, brought onto imgforge's error table.
//!
//! When a unary request cannot be read, tonic answers on its own, with codes that blame the
//! server: `INTERNAL` for a body that is not a valid protobuf message (tonic-prost follows
//! the grpc core libraries there) and `OUT_OF_RANGE` for a message over
//! `server.max_message_bytes`. Both are the caller's fault and retrying cannot help, so they
//! become `invalid-argument` and `payload-too-large` — `INVALID_ARGUMENT`, as for every other
//! request the server refuses to read (Google APIs answer an oversize payload the same way),
//! and unlike `RESOURCE_EXHAUSTED`, which imgforge keeps for "busy, retry later".
//!
//! A tower layer rather than a codec: the size check happens in tonic's framing, before any
//! codec sees the bytes, and a codec is shared with the generated clients, for which a
//! malformed response really is an internal error.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::Code;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::error::{Error, ErrorCode};

/// prost's wording for a body that does not parse as the request message.
const PROTOBUF_DECODE_FAILURE: &str = "failed to decode Protobuf message";

/// Every status imgforge itself produces carries `google.rpc` details; tonic's own do not.
const DETAILS_HEADER: &str = "grpc-status-details-bin";

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestStatusLayer;

impl<S> Layer<S> for RequestStatusLayer {
    type Service = RequestStatus<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestStatus { inner }
    }
}

#[derive(Clone, Debug)]
pub struct RequestStatus<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for RequestStatus<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move { Ok(remap(response.await?)) })
    }
}

/// A trailers-only answer from tonic's request decoding, re-issued with our code and details;
/// any other response unchanged.
fn remap(response: http::Response<Body>) -> http::Response<Body> {
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    if response.headers().contains_key(DETAILS_HEADER) {
        return response;
    }
    let error = match status.code() {
        // No ErrorCode maps to OUT_OF_RANGE, so only tonic's message-size check answers it.
        Code::OutOfRange => Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the request message is larger than the server accepts \
                 (server.max_message_bytes): {}",
                status.message()
            ),
        ),
        Code::Internal if status.message().starts_with(PROTOBUF_DECODE_FAILURE) => Error::new(
            ErrorCode::InvalidArgument,
            format!(
                "the request body is not a valid protobuf message of this method's request \
                 type: {}",
                status.message()
            ),
        ),
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::InvalidArgument
        | Code::DeadlineExceeded
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::ResourceExhausted
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::Internal
        | Code::Unimplemented
        | Code::Unavailable
        | Code::DataLoss
        | Code::Unauthenticated => return response,
    };
    tonic::Status::from(error).into_http()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(response: &http::Response<Body>) -> Code {
        tonic::Status::from_header_map(response.headers())
            .expect("a status")
            .code()
    }

    #[test]
    fn malformed_protobuf_becomes_invalid_argument() {
        let tonic_answer = tonic::Status::internal(
            "failed to decode Protobuf message: invalid wire type value: 7",
        )
        .into_http::<Body>();
        let remapped = remap(tonic_answer);
        assert_eq!(code_of(&remapped), Code::InvalidArgument);
        assert!(remapped.headers().contains_key(DETAILS_HEADER));
    }

    #[test]
    fn oversize_message_becomes_invalid_argument() {
        let tonic_answer =
            tonic::Status::out_of_range("Error, decoded message length too large").into_http();
        assert_eq!(code_of(&remap(tonic_answer)), Code::InvalidArgument);
    }

    #[test]
    fn our_own_internal_errors_pass_unchanged() {
        let ours: tonic::Status =
            Error::internal("failed to decode Protobuf message from a provider").into();
        assert_eq!(code_of(&remap(ours.into_http())), Code::Internal);
    }
}
