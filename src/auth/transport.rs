//! What differs between REST and gRPC for the signature check: which paths are guarded, which
//! bytes are signed, and how a refusal is said.

use bytes::Bytes;

use crate::error::{Error, ErrorCode};
use crate::http::Envelope;

pub trait Transport: Clone + Send + Sync + 'static {
    type Body: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static;
    type ResponseBody: Send + 'static;

    fn guards(&self, path: &str) -> bool;

    fn max_body_bytes(&self) -> usize;

    /// The bytes whose SHA-256 the caller signed.
    fn signed_payload(&self, body: &Bytes) -> Result<Bytes, Error>;

    fn rebuild(body: Bytes) -> Self::Body;

    /// The refusal of a call to `path` in the transport's (and the path's) own terms.
    fn refuse(&self, path: &str, error: Error) -> http::Response<Self::ResponseBody>;
}

/// The REST bridge: `/v1/*` and `/cloud/*` paths, the raw body, the seed's envelope (401, or
/// 429).
#[derive(Debug, Clone)]
pub struct Rest {
    pub max_body_bytes: usize,
    /// Path prefixes that need a signature.
    pub prefixes: Vec<&'static str>,
}

impl Transport for Rest {
    type Body = axum::body::Body;
    type ResponseBody = axum::body::Body;

    fn guards(&self, path: &str) -> bool {
        self.prefixes.iter().any(|prefix| path.starts_with(prefix))
    }

    fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    fn signed_payload(&self, body: &Bytes) -> Result<Bytes, Error> {
        Ok(body.clone())
    }

    fn rebuild(body: Bytes) -> Self::Body {
        axum::body::Body::from(body)
    }

    fn refuse(&self, path: &str, error: Error) -> http::Response<Self::ResponseBody> {
        // Seed 003's paths answer in their own `{ret, msg}` envelope (HTTP 401 / 429 alike).
        let envelope = if path.starts_with("/cloud/") {
            Envelope::Seed003
        } else {
            Envelope::Seed001
        };
        axum::response::IntoResponse::into_response(envelope.error(error))
    }
}

/// The gRPC server: whole services by name, the one request message without its 5-byte frame
/// header, a trailers-only status.
#[derive(Debug, Clone)]
pub struct Grpc {
    pub max_message_bytes: usize,
    /// Full service names (`imgforge.v1.CoverService`) that need a signature.
    pub services: Vec<&'static str>,
}

impl Transport for Grpc {
    type Body = tonic::body::Body;
    type ResponseBody = tonic::body::Body;

    fn guards(&self, path: &str) -> bool {
        let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
        self.services.contains(&service)
    }

    fn max_body_bytes(&self) -> usize {
        // One message and its frame header.
        self.max_message_bytes.saturating_add(5)
    }

    fn signed_payload(&self, body: &Bytes) -> Result<Bytes, Error> {
        let refused = |message: &str| Error::new(ErrorCode::Unauthenticated, message);
        if body.len() < 5 {
            return Err(refused("a signed call carries exactly one request message"));
        }
        if body[0] != 0 {
            return Err(refused(
                "signed calls must not use per-message compression (the hash is over the \
                 uncompressed message)",
            ));
        }
        let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        if body.len() != 5 + length {
            return Err(refused("a signed call carries exactly one request message"));
        }
        Ok(body.slice(5..))
    }

    fn rebuild(body: Bytes) -> Self::Body {
        tonic::body::Body::new(http_body_util::Full::new(body))
    }

    fn refuse(&self, _path: &str, error: Error) -> http::Response<Self::ResponseBody> {
        let mut response = tonic::Status::from(error).into_http::<tonic::body::Body>();
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc() -> Grpc {
        Grpc {
            max_message_bytes: 1024,
            services: vec!["imgforge.v1.CoverService"],
        }
    }

    #[test]
    fn grpc_guards_whole_services_and_signs_the_unframed_message() {
        let grpc = grpc();
        assert!(grpc.guards("/imgforge.v1.CoverService/ListCoverOptions"));
        assert!(!grpc.guards("/imgforge.v1.UtilityService/Resize"));
        assert!(!grpc.guards("/grpc.health.v1.Health/Check"));
        let framed = Bytes::from_static(&[0, 0, 0, 0, 2, 0x0a, 0x00]);
        assert_eq!(grpc.signed_payload(&framed).unwrap(), &[0x0a, 0x00][..]);
        let compressed = Bytes::from_static(&[1, 0, 0, 0, 0]);
        assert!(grpc.signed_payload(&compressed).is_err());
        let two = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(grpc.signed_payload(&two).is_err());
    }
}
