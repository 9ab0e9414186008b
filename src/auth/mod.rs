//! API keys and request signatures (scheme `IMGFORGE-HMAC-SHA256-V1`, docs/signing.md) for
//! `/v1/*` REST paths and the Cover and Portrait gRPC services, as one tower layer both
//! transports mount.

pub mod canonical;
mod keys;
mod layer;
mod nonces;
pub mod policy;
mod rate;
mod transport;
mod verify;

pub use keys::{ApiKey, KeyRing};
pub use layer::{Admission, SignatureCheck, SignatureLayer};
pub use rate::RateLimiter;
pub use transport::{Grpc, Rest, Transport};
pub use verify::{
    Authenticator, Caller, HEADER_CONTENT_SHA256, HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, HEADER_USER, RequestHead,
};
