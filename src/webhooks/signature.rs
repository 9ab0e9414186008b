//! The `webhook-signature` header, and the check a receiver makes.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use crate::webhooks::secret::WebhookSecret;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// One `v1,…` signature per secret, space-separated: during a rotation the receiver may hold
/// either the old or the new secret, and each accepts the delivery.
pub fn signature_header(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    MissingHeader(&'static str),
    /// The id or timestamp holds a `.`, which would make the signed content ambiguous.
    Malformed(&'static str),
    TooOld,
    TooNew,
    NoMatchingSignature,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::MissingHeader(name) => write!(f, "header {name} is missing"),
            VerifyError::Malformed(name) => write!(f, "header {name} is malformed"),
            VerifyError::TooOld => f.write_str("webhook-timestamp is too old"),
            VerifyError::TooNew => f.write_str("webhook-timestamp is in the future"),
            VerifyError::NoMatchingSignature => f.write_str("no signature matches"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The receiver's side: headers and raw body in, accepted or not. The service itself uses it
/// in tests; it documents, as code, what a receiver must do.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl Verifier {
    /// `tolerance` bounds the timestamp both ways; the reference libraries use 5 minutes.
    pub fn new(secrets: Vec<WebhookSecret>, tolerance: Duration) -> Self {
        Verifier { secrets, tolerance }
    }

    pub fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(VerifyError::MissingHeader(name))
        };
        let id = header(ID_HEADER)?;
        let timestamp_text = header(TIMESTAMP_HEADER)?;
        let signatures = header(SIGNATURE_HEADER)?;
        if id.contains('.') {
            return Err(VerifyError::Malformed(ID_HEADER));
        }
        let timestamp: i64 = timestamp_text
            .parse()
            .map_err(|_| VerifyError::Malformed(TIMESTAMP_HEADER))?;
        let now_secs = match now.duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if timestamp < now_secs.saturating_sub(tolerance) {
            return Err(VerifyError::TooOld);
        }
        if timestamp > now_secs.saturating_add(tolerance) {
            return Err(VerifyError::TooNew);
        }
        let expected: Vec<Vec<u8>> = self
            .secrets
            .iter()
            .map(|secret| secret.mac(id, timestamp, body))
            .collect();
        let matches = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .any(|given| {
                expected
                    .iter()
                    .any(|mac| bool::from(mac.as_slice().ct_eq(&given)))
            });
        if matches {
            Ok(())
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn at(secs: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    }

    fn headers(signature: &str, timestamp: i64) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(ID_HEADER, ID.parse().unwrap());
        headers.insert(TIMESTAMP_HEADER, timestamp.to_string().parse().unwrap());
        headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        headers
    }

    fn verifier(secrets: &[&str]) -> Verifier {
        let secrets = secrets
            .iter()
            .map(|s| WebhookSecret::parse(s).unwrap())
            .collect();
        Verifier::new(secrets, Duration::from_secs(300))
    }

    #[test]
    fn accepts_the_test_vector_within_tolerance_only() {
        let verifier = verifier(&[SECRET]);
        let headers = headers(SIGNATURE, TIMESTAMP);
        assert_eq!(verifier.verify(&headers, BODY, at(TIMESTAMP + 299)), Ok(()));
        assert_eq!(verifier.verify(&headers, BODY, at(TIMESTAMP - 299)), Ok(()));
        assert_eq!(
            verifier.verify(&headers, BODY, at(TIMESTAMP + 301)),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            verifier.verify(&headers, BODY, at(TIMESTAMP - 301)),
            Err(VerifyError::TooNew)
        );
    }

    #[test]
    fn refuses_a_changed_body_timestamp_or_wrong_secret() {
        let verifier = verifier(&[SECRET]);
        let now = at(TIMESTAMP);
        let tampered = br#"{"email":"test@example.com","username":"test_userX"}"#;
        assert_eq!(
            verifier.verify(&headers(SIGNATURE, TIMESTAMP), tampered, now),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            verifier.verify(&headers(SIGNATURE, TIMESTAMP + 1), BODY, now),
            Err(VerifyError::NoMatchingSignature)
        );
        let other = WebhookSecret::generate().unwrap().to_whsec();
        assert_eq!(
            self::verifier(&[&other]).verify(&headers(SIGNATURE, TIMESTAMP), BODY, now),
            Err(VerifyError::NoMatchingSignature)
        );
        let mut missing = headers(SIGNATURE, TIMESTAMP);
        missing.remove(SIGNATURE_HEADER);
        assert_eq!(
            verifier.verify(&missing, BODY, now),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn rotation_sends_one_signature_per_secret_and_either_secret_verifies() {
        let old = WebhookSecret::parse(SECRET).unwrap();
        let new = WebhookSecret::generate().unwrap();
        let header = signature_header(&[new.clone(), old.clone()], ID, TIMESTAMP, BODY);
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.ends_with(SIGNATURE), "{header}");
        let now = at(TIMESTAMP);
        for secret in [old, new] {
            let verifier = Verifier::new(vec![secret], Duration::from_secs(300));
            assert_eq!(
                verifier.verify(&headers(&header, TIMESTAMP), BODY, now),
                Ok(())
            );
        }
    }
}
