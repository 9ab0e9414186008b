//! The checks of a signed request, in the order docs/signing.md gives: headers present → key
//! known and active → timestamp fresh → body hash → signature (constant time) → nonce unseen,
//! then the key's rate. A refusal names the header or says what is wrong, never the value the
//! server expected.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::canonical::{self, SignedRequest};
use super::keys::KeyRing;
use super::nonces::NonceLedger;
use super::rate::RateLimiter;
use crate::config::AuthSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::state::{StateStore, from_millis};

pub const HEADER_KEY: &str = "x-imgforge-key";
pub const HEADER_USER: &str = "x-imgforge-user";
pub const HEADER_TIMESTAMP: &str = "x-imgforge-timestamp";
pub const HEADER_NONCE: &str = "x-imgforge-nonce";
pub const HEADER_CONTENT_SHA256: &str = "x-imgforge-content-sha256";
pub const HEADER_SIGNATURE: &str = "x-imgforge-signature";

const HEADERS: [&str; 6] = [
    HEADER_KEY,
    HEADER_USER,
    HEADER_TIMESTAMP,
    HEADER_NONCE,
    HEADER_CONTENT_SHA256,
    HEADER_SIGNATURE,
];

/// Who a request was made by: the API key (the tenant) and the caller's end user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub user: String,
}

impl Caller {
    /// The tenant of unsigned calls, accepted only where no key is configured.
    pub const ANONYMOUS: &'static str = "anonymous";

    pub fn anonymous(user: Option<&str>) -> Caller {
        Caller {
            key_id: Caller::ANONYMOUS.to_owned(),
            user: user.unwrap_or_default().to_owned(),
        }
    }
}

/// What the checks need of a request besides its body.
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
}

#[derive(Debug)]
pub struct Authenticator {
    keys: KeyRing,
    store: Arc<dyn StateStore>,
    nonces: NonceLedger,
    limiter: RateLimiter,
    tolerance: Duration,
}

fn refused(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unauthenticated, message)
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str> {
    let value = headers
        .get(name)
        .ok_or_else(|| refused(format!("missing header {name}")))?;
    let text = value
        .to_str()
        .map_err(|_| refused(format!("header {name} is not visible ASCII")))?;
    if text.is_empty() {
        return Err(refused(format!("missing header {name}")));
    }
    Ok(text)
}

fn is_lower_hex_64(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Authenticator {
    pub fn new(settings: &AuthSettings, store: Arc<dyn StateStore>) -> Self {
        let tolerance = Duration::from_secs(settings.timestamp_tolerance_secs);
        Authenticator {
            keys: KeyRing::from_settings(settings),
            nonces: NonceLedger::new(store.clone(), settings.nonce_memory),
            limiter: RateLimiter::new(store.clock().clone()),
            store,
            tolerance,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Writes the nonces accepted in memory to the store (at shutdown).
    pub async fn flush_nonces(&self) {
        self.nonces.flush().await;
    }

    /// Runs every check on a request whose signed body (REST: the raw body; gRPC: the one
    /// message without its frame header) is `body`.
    pub async fn authenticate(&self, head: &RequestHead<'_>, body: &[u8]) -> Result<Caller> {
        let [key_id, user, timestamp, nonce, body_sha256, signature] =
            HEADERS.map(|name| header(head.headers, name));
        let (key_id, user, timestamp, nonce, body_sha256, signature) =
            (key_id?, user?, timestamp?, nonce?, body_sha256?, signature?);
        let nonce_ok = (16..=64).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !nonce_ok {
            return Err(refused(format!(
                "header {HEADER_NONCE} must be 16 to 64 characters of [A-Za-z0-9_-]"
            )));
        }
        if !is_lower_hex_64(body_sha256) {
            return Err(refused(format!(
                "header {HEADER_CONTENT_SHA256} must be 64 lowercase hex digits"
            )));
        }
        if !is_lower_hex_64(signature) {
            return Err(refused(format!(
                "header {HEADER_SIGNATURE} must be 64 lowercase hex digits"
            )));
        }

        let key = self
            .keys
            .active(key_id)
            .ok_or_else(|| refused("the API key is unknown or inactive"))?;

        let millis = timestamp
            .parse::<i64>()
            .ok()
            .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                refused(format!(
                    "header {HEADER_TIMESTAMP} must be milliseconds since the Unix epoch"
                ))
            })?;
        let now = self.store.clock().now_millis();
        let tolerance = i64::try_from(self.tolerance.as_millis()).unwrap_or(i64::MAX);
        if now.abs_diff(millis) > tolerance.unsigned_abs() {
            return Err(refused(format!(
                "the timestamp is wrong: it must be within {} s of the server clock",
                self.tolerance.as_secs()
            )));
        }

        if canonical::body_sha256(body) != body_sha256 {
            return Err(refused(format!(
                "the body hash is wrong: {HEADER_CONTENT_SHA256} does not match the body received"
            )));
        }

        let canonical = canonical::canonical_string(&SignedRequest {
            method: head.method,
            path: head.path,
            query: head.query,
            key: key_id,
            user,
            timestamp,
            nonce,
            body_sha256,
        })
        .ok_or_else(|| refused("the query string cannot be decoded for signing"))?;
        let sent = hex::decode(signature).unwrap_or_default();
        // Every secret is tried, so the time taken does not say which one matched.
        let mut matched = subtle::Choice::from(0);
        for secret in &key.secrets {
            let expected = canonical::signature_bytes(secret.expose(), &canonical);
            matched |= expected.ct_eq(sent.as_slice());
        }
        if !bool::from(matched) {
            return Err(refused("the signature is wrong"));
        }

        // Kept until the timestamp can no longer pass the freshness check.
        let expires = from_millis(millis.saturating_add(tolerance));
        if !self.nonces.claim(key_id, nonce, expires).await? {
            return Err(refused(
                "the nonce was already used: a request is signed once",
            ));
        }

        self.limiter
            .acquire(key_id, key.rate_per_sec, key.rate_burst)
            .map_err(|wait| {
                Error::new(
                    ErrorCode::ResourceExhausted,
                    format!(
                        "rate limit of API key {key_id} reached ({} requests/s)",
                        key.rate_per_sec
                    ),
                )
                .with_retry_after(Some(wait))
            })?;
        Ok(Caller {
            key_id: key_id.to_owned(),
            user: user.to_owned(),
        })
    }
}
