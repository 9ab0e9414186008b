//! A webhook signing secret: `whsec_` followed by the base64 of 24–64 random bytes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of a symmetric secret in its text form.
pub const PREFIX: &str = "whsec_";
/// The spec asks for 24 to 64 random bytes.
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
    /// Keyed once: every signature starts from a clone of this state.
    keyed: Hmac<Sha256>,
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for WebhookSecret {}

impl WebhookSecret {
    /// Reads `whsec_<base64>`; the error says what is wrong without echoing the secret.
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("a webhook secret must start with {PREFIX}"))?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| format!("the part after {PREFIX} is not standard base64"))?;
        Self::from_bytes(key)
    }

    pub fn from_bytes(key: Vec<u8>) -> Result<Self, String> {
        if !(MIN_BYTES..=MAX_BYTES).contains(&key.len()) {
            return Err(format!(
                "a webhook secret must decode to {MIN_BYTES}–{MAX_BYTES} bytes, got {}",
                key.len()
            ));
        }
        let keyed = Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|_| "the webhook secret cannot key HMAC-SHA256".to_owned())?;
        Ok(WebhookSecret { key, keyed })
    }

    /// A fresh 32-byte secret from the operating system's generator (two uuid v4 give 244
    /// random bits, more than the spec's 24-byte minimum carries).
    pub fn generate() -> Result<Self, String> {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self::from_bytes(key)
    }

    /// The text form, for showing to the receiver once.
    pub fn to_whsec(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// One signature: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    pub(crate) fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official test vector of the Standard Webhooks libraries
    /// (`libraries/rust/src/lib.rs`, `test_sign`).
    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn refuses_malformed_secrets_without_echoing_them() {
        for (text, expected) in [
            ("C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "must start with whsec_"),
            ("whsec_not base64!", "not standard base64"),
            ("whsec_dG9vLXNob3J0", "24–64 bytes, got 9"),
        ] {
            let err = WebhookSecret::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(!err.contains(text), "{err}");
        }
    }

    #[test]
    fn generated_secrets_round_trip_and_differ() {
        let a = WebhookSecret::generate().unwrap();
        let b = WebhookSecret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(WebhookSecret::parse(&a.to_whsec()).unwrap(), a);
        assert_eq!(format!("{a:?}"), "WebhookSecret(***)");
    }
}
