//! The canonical string of scheme `IMGFORGE-HMAC-SHA256-V1` and its signature, byte for byte
//! as docs/signing.md defines them (the Python and Go clients sign the same text).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const SCHEME: &str = "IMGFORGE-HMAC-SHA256-V1";

/// What the signature covers, besides the secret.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string (without `?`); empty for gRPC.
    pub query: &'a str,
    pub key: &'a str,
    pub user: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    /// Lowercase hex SHA-256 of the body.
    pub body_sha256: &'a str,
}

/// The query string decoded, re-encoded with RFC 3986 and sorted by name, then value; `None`
/// when an escape is malformed or a part is not UTF-8.
pub fn canonical_query(query: &str) -> Option<String> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((encode(&decode(name)?), encode(&decode(value)?)));
    }
    pairs.sort_unstable();
    let joined: Vec<String> = pairs.into_iter().map(|(n, v)| format!("{n}={v}")).collect();
    Some(joined.join("&"))
}

/// `application/x-www-form-urlencoded` decoding: `%XX` escapes and `+` as a space.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The nine lines that are signed; `None` when the query cannot be decoded.
pub fn canonical_string(request: &SignedRequest<'_>) -> Option<String> {
    let query = canonical_query(request.query)?;
    Some(
        [
            SCHEME,
            &request.method.to_ascii_uppercase(),
            request.path,
            &query,
            request.key,
            request.user,
            request.timestamp,
            request.nonce,
            request.body_sha256,
        ]
        .join("\n"),
    )
}

/// The raw HMAC-SHA256 of the canonical string under `secret`.
pub fn signature_bytes(secret: &str, canonical: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(canonical.as_bytes());
    mac.finalize().into_bytes().into()
}

/// `x-imgforge-signature`: the signature in lowercase hex.
pub fn signature(secret: &str, canonical: &str) -> String {
    hex::encode(signature_bytes(secret, canonical))
}

pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk_test_9f8e7d6c5b4a";

    fn example(path: &str, query: &str, body_sha256: &str) -> String {
        canonical_string(&SignedRequest {
            method: "post",
            path,
            query,
            key: "ak_test_2026",
            user: "user-42",
            timestamp: "1767225600000",
            nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            body_sha256,
        })
        .unwrap()
    }

    #[test]
    fn the_rest_test_vector_of_docs_signing_md() {
        let body = br#"{"gender":"female","age":"25"}"#;
        assert_eq!(body.len(), 30);
        let hash = body_sha256(body);
        assert_eq!(
            hash,
            "d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856"
        );
        let canonical = example("/v1/agent/cover", "b=2&a=x%20y&a=1&c", &hash);
        assert_eq!(
            canonical,
            "IMGFORGE-HMAC-SHA256-V1\nPOST\n/v1/agent/cover\na=1&a=x%20y&b=2&c=\nak_test_2026\n\
             user-42\n1767225600000\n0f1e2d3c4b5a69788796a5b4c3d2e1f0\n\
             d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856"
        );
        assert_eq!(
            signature(SECRET, &canonical),
            "0703ca08d075b0f444957050734e485f2dfc3ae4cb7d0caaeb6d32194b204b46"
        );
    }

    #[test]
    fn the_grpc_test_vector_of_docs_signing_md() {
        let message =
            hex::decode("0a1f121d68747470733a2f2f6578616d706c652e636f6d2f70686f746f2e6a7067188004")
                .unwrap();
        let hash = body_sha256(&message);
        assert_eq!(
            hash,
            "05f4fdec777d2d4317c5cc6d4ef7e23bb65266bd0dffdc1689d6f3831fc2411e"
        );
        let canonical = example("/imgforge.v1.UtilityService/Resize", "", &hash);
        assert_eq!(
            signature(SECRET, &canonical),
            "6c6fdc9542a726d3354623889f404ac408dbd8a98004028dbfd384e0ba638072"
        );
    }

    #[test]
    fn the_query_is_decoded_re_encoded_and_sorted() {
        assert_eq!(canonical_query("").unwrap(), "");
        assert_eq!(canonical_query("b=a+b&a=%7e&&z").unwrap(), "a=~&b=a%20b&z=");
        assert_eq!(canonical_query("q=%E4%B8%AD").unwrap(), "q=%E4%B8%AD");
        assert_eq!(canonical_query("k=v=w").unwrap(), "k=v%3Dw");
        assert!(canonical_query("bad=%zz").is_none());
        assert!(canonical_query("bad=%ff").is_none(), "not UTF-8");
        assert!(canonical_query("cut=%4").is_none());
    }
}
