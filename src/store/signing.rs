//! Expiring HMAC signatures for result URLs served by the bridge.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, ErrorCode, Result};

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

impl UrlSigner {
    /// An empty key draws a random one, so URLs stay unforgeable but die with the process.
    pub fn new(key: &str) -> Self {
        let key = if key.is_empty() {
            let mut random = Vec::with_capacity(32);
            random.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            random.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            random
        } else {
            key.as_bytes().to_vec()
        };
        UrlSigner { key }
    }

    fn mac(&self, blob_key: &str, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("hmac accepts any key length");
        mac.update(blob_key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The signature and the unix expiry of a link to `blob_key` living `ttl`.
    pub fn sign(&self, blob_key: &str, ttl: Duration) -> (String, u64) {
        let expires = unix_now() + ttl.as_secs();
        let signature = hex::encode(self.mac(blob_key, expires).finalize().into_bytes());
        (signature, expires)
    }

    /// Checks a link in constant time; an expired or forged link is NotFound, so a prober
    /// learns nothing about which keys exist.
    pub fn verify(&self, blob_key: &str, expires: u64, signature: &str) -> Result<()> {
        let forged = || Error::new(ErrorCode::NotFound, "link is invalid or has expired");
        let bytes = hex::decode(signature).map_err(|_| forged())?;
        self.mac(blob_key, expires)
            .verify_slice(&bytes)
            .map_err(|_| forged())?;
        if expires < unix_now() {
            return Err(forged());
        }
        Ok(())
    }
}

pub fn unix_now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_own_signature_and_rejects_tampering() {
        let signer = UrlSigner::new("k");
        let (sig, expires) = signer.sign("results/a.png", Duration::from_secs(60));
        signer.verify("results/a.png", expires, &sig).unwrap();
        assert!(signer.verify("results/b.png", expires, &sig).is_err());
        assert!(signer.verify("results/a.png", expires + 1, &sig).is_err());
        assert!(signer.verify("results/a.png", expires, "zz").is_err());
        assert!(
            UrlSigner::new("other")
                .verify("results/a.png", expires, &sig)
                .is_err()
        );
    }

    #[test]
    fn rejects_expired_links() {
        let signer = UrlSigner::new("k");
        let expired = unix_now() - 10;
        let sig = hex::encode(signer.mac("x", expired).finalize().into_bytes());
        assert!(signer.verify("x", expired, &sig).is_err());
    }
}
