//! Alibaba Cloud request signatures: ACS3-HMAC-SHA256 ("V3") and the older RPC HMAC-SHA1
//! (`SignatureVersion=1.0`).
//!
//! Both are pure functions of the request, the credentials, a timestamp and a nonce, so the
//! tests below pin them to Alibaba Cloud's published examples.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// The AccessKey a request is signed with.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
}

impl Credentials {
    fn token(&self) -> Option<&str> {
        self.security_token
            .as_ref()
            .map(Secret::expose)
            .filter(|t| !t.is_empty())
    }
}

/// What goes on the wire once signed: method, encoded query (may be empty), headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: http::Method,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Percent-encoding as Alibaba Cloud signs it (RFC 3986): only `A-Z a-z 0-9 - _ . ~` stay
/// literal; everything else, UTF-8 encoded, becomes `%XX` (space is `%20`, never `+`).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `name=value` pairs, sorted by name, each side percent-encoded, joined with `&`.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The V3 canonical request and its signed-header list. `headers` are the headers to sign;
/// names are lower-cased, values trimmed, entries sorted by name.
pub fn v3_canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(String, String)],
    hashed_payload: &str,
) -> (String, String) {
    let mut entries: Vec<(String, &str)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .collect();
    entries.sort_unstable();
    let canonical_headers: String = entries
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let signed_headers = entries
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let request = format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{hashed_payload}"
    );
    (request, signed_headers)
}

/// `ACS3-HMAC-SHA256\n` + hex SHA-256 of the canonical request.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!(
        "{V3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Hex HMAC-SHA256 of the string to sign, keyed with the AccessKey secret itself.
pub fn v3_signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs an RPC call the V3 way: business parameters in a form body, the action, version,
/// date and nonce in `x-acs-*` headers, all of them (and `host`, `content-type`) signed.
pub fn sign_v3(
    credentials: &Credentials,
    host: &str,
    action: &str,
    version: &str,
    params: &[(&str, String)],
    date: &str,
    nonce: &str,
) -> SignedRequest {
    let body = canonical_query(params).into_bytes();
    let hashed_payload = sha256_hex(&body);
    let mut headers = vec![
        ("host".to_owned(), host.to_owned()),
        ("content-type".to_owned(), FORM_CONTENT_TYPE.to_owned()),
        ("x-acs-action".to_owned(), action.to_owned()),
        ("x-acs-version".to_owned(), version.to_owned()),
        ("x-acs-date".to_owned(), date.to_owned()),
        ("x-acs-signature-nonce".to_owned(), nonce.to_owned()),
        ("x-acs-content-sha256".to_owned(), hashed_payload.clone()),
    ];
    if let Some(token) = credentials.token() {
        headers.push(("x-acs-security-token".to_owned(), token.to_owned()));
    }
    let (canonical_request, signed_headers) =
        v3_canonical_request("POST", "/", "", &headers, &hashed_payload);
    let signature = v3_signature(
        credentials.access_key_secret.expose(),
        &v3_string_to_sign(&canonical_request),
    );
    headers.push((
        "authorization".to_owned(),
        format!(
            "{V3_ALGORITHM} Credential={},SignedHeaders={signed_headers},Signature={signature}",
            credentials.access_key_id
        ),
    ));
    SignedRequest {
        method: http::Method::POST,
        query: String::new(),
        headers,
        body,
    }
}

/// `METHOD&%2F&` + the percent-encoded canonical query of every parameter but `Signature`.
pub fn rpc_string_to_sign<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    let signed: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "Signature")
        .collect();
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical_query(&signed))
    )
}

/// Base64 HMAC-SHA1 of the string to sign, keyed with the secret followed by `&`.
pub fn rpc_signature(secret: &str, string_to_sign: &str) -> String {
    let key = format!("{secret}&");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Signs an RPC call the V1 way: every parameter, common and business, in the query string
/// of a GET, with `Signature` last.
pub fn sign_v1(
    credentials: &Credentials,
    region_id: &str,
    action: &str,
    version: &str,
    params: &[(&str, String)],
    timestamp: &str,
    nonce: &str,
) -> SignedRequest {
    let mut all: Vec<(&str, String)> = vec![
        ("Action", action.to_owned()),
        ("Version", version.to_owned()),
        ("Format", "JSON".to_owned()),
        ("AccessKeyId", credentials.access_key_id.clone()),
        ("SignatureMethod", "HMAC-SHA1".to_owned()),
        ("SignatureVersion", "1.0".to_owned()),
        ("SignatureNonce", nonce.to_owned()),
        ("Timestamp", timestamp.to_owned()),
    ];
    if !region_id.is_empty() {
        all.push(("RegionId", region_id.to_owned()));
    }
    if let Some(token) = credentials.token() {
        all.push(("SecurityToken", token.to_owned()));
    }
    all.extend(params.iter().cloned());
    let method = http::Method::GET;
    let signature = rpc_signature(
        credentials.access_key_secret.expose(),
        &rpc_string_to_sign(method.as_str(), &all),
    );
    let query = format!(
        "{}&Signature={}",
        canonical_query(&all),
        percent_encode(&signature)
    );
    SignedRequest {
        method,
        query,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// `yyyy-MM-ddTHH:mm:ssZ` in UTC, the timestamp both signatures use.
pub fn timestamp(now: time::OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .expect("a UTC date always formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(id: &str, secret: &str) -> Credentials {
        Credentials {
            access_key_id: id.to_owned(),
            access_key_secret: Secret::new(secret),
            security_token: None,
        }
    }

    #[test]
    fn percent_encoding_keeps_only_the_unreserved_set() {
        assert_eq!(percent_encode("ABCabc012-_.~"), "ABCabc012-_.~");
        assert_eq!(percent_encode("a b*c+d/e:f"), "a%20b%2Ac%2Bd%2Fe%3Af");
        assert_eq!(
            percent_encode("2016-02-23T12:46:24Z"),
            "2016-02-23T12%3A46%3A24Z"
        );
        assert_eq!(percent_encode("图"), "%E5%9B%BE");
        // The same example as the official SDK's own test (darabonba-openapi-util,
        // python/tests/test_client.py `test_get_canonical_query_string`).
        assert_eq!(
            canonical_query(&[("test", " ~/*-+")]),
            "test=%20~%2F%2A-%2B"
        );
    }

    /// Alibaba Cloud "V3 request body & signature mechanism", section "Signature examples /
    /// Fixed parameter values": RunInstances on ecs.cn-shanghai.aliyuncs.com with AccessKey
    /// `YourAccessKeyId` / `YourAccessKeySecret`, nonce `3156853299f313e23d1673dc12e1703d`,
    /// date `2023-10-26T10:22:32Z`, query `ImageId=...&RegionId=cn-shanghai`, empty body.
    /// The document prints the canonical request, the string to sign and the signature.
    #[test]
    fn v3_reproduces_the_published_example() {
        let query = canonical_query(&[
            ("RegionId", "cn-shanghai"),
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
        ]);
        assert_eq!(
            query,
            "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
        );
        let payload = sha256_hex(b"");
        assert_eq!(
            payload,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let headers: Vec<(String, String)> = [
            ("x-acs-version", "2014-05-26"),
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-content-sha256", payload.as_str()),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (canonical, signed_headers) =
            v3_canonical_request("POST", "/", &query, &headers, &payload);
        assert_eq!(
            canonical,
            "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n\
             host:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\n\
             x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-acs-date:2023-10-26T10:22:32Z\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n\
             x-acs-version:2014-05-26\n\n\
             host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let string_to_sign = v3_string_to_sign(&canonical);
        assert_eq!(
            string_to_sign,
            "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            v3_signature("YourAccessKeySecret", &string_to_sign),
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
        assert_eq!(
            signed_headers,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
    }

    /// Alibaba Cloud "Request signature" (RPC), section "Example": DescribeRegions with
    /// AccessKeyId `testid`, secret `testsecret` (signed with `testsecret&`), nonce
    /// `3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf`, timestamp `2016-02-23T12:46:24Z`, GET.
    #[test]
    fn v1_reproduces_the_published_example() {
        let params = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ];
        let string_to_sign = rpc_string_to_sign("GET", &params);
        assert_eq!(
            string_to_sign,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            rpc_signature("testsecret", &string_to_sign),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    /// The official SDK's own known answers (aliyun/darabonba-openapi-util):
    /// python `test_get_rpc_signature` and golang `Test_GetRPCSignature` (empty method).
    #[test]
    fn v1_matches_the_official_sdk_tests() {
        let python = rpc_string_to_sign("GET", &[("query", "test"), ("body", "test")]);
        assert_eq!(
            rpc_signature("secret", &python),
            "XlUyV4sXjOuX5FnjUz9IF9tm5rU="
        );
        let go = rpc_string_to_sign("", &[("test", "ok")]);
        assert_eq!(
            rpc_signature("accessKeySecret", &go),
            "jHx/oHoHNrbVfhncHEvPdHXZwHU="
        );
    }

    #[test]
    fn v1_request_carries_every_common_parameter_and_a_verifiable_signature() {
        let mut creds = credentials("testid", "testsecret");
        creds.security_token = Some(Secret::new("sts-token"));
        let signed = sign_v1(
            &creds,
            "cn-shanghai",
            "SegmentCommonImage",
            "2019-12-30",
            &[("ImageURL", "http://127.0.0.1:1/a.png?x=1&y=2".to_owned())],
            "2024-01-02T03:04:05Z",
            "nonce-1",
        );
        assert_eq!(signed.method, http::Method::GET);
        assert!(signed.body.is_empty());
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(signed.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Action"), Some("SegmentCommonImage"));
        assert_eq!(get("Format"), Some("JSON"));
        assert_eq!(get("SignatureVersion"), Some("1.0"));
        assert_eq!(get("SecurityToken"), Some("sts-token"));
        assert_eq!(get("ImageURL"), Some("http://127.0.0.1:1/a.png?x=1&y=2"));
        let expected = rpc_signature("testsecret", &rpc_string_to_sign("GET", &pairs));
        assert_eq!(get("Signature"), Some(expected.as_str()));
        assert!(!signed.query.contains("testsecret"));
    }

    #[test]
    fn v3_request_signs_the_form_body_and_the_content_type() {
        let signed = sign_v3(
            &credentials("YourAccessKeyId", "YourAccessKeySecret"),
            "imageseg.cn-shanghai.aliyuncs.com",
            "SegmentCommonImage",
            "2019-12-30",
            &[
                ("ReturnForm", "mask".to_owned()),
                ("ImageURL", "http://h/x.png?a=1 2".to_owned()),
            ],
            "2024-01-02T03:04:05Z",
            "3156853299f313e23d1673dc12e1703d",
        );
        assert_eq!(signed.method, http::Method::POST);
        assert_eq!(
            String::from_utf8(signed.body.clone()).unwrap(),
            "ImageURL=http%3A%2F%2Fh%2Fx.png%3Fa%3D1%202&ReturnForm=mask"
        );
        let header = |name: &str| {
            signed
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(header("x-acs-content-sha256"), sha256_hex(&signed.body));
        let unsigned: Vec<(String, String)> = signed
            .headers
            .iter()
            .filter(|(k, _)| k != "authorization")
            .cloned()
            .collect();
        let (canonical, signed_headers) =
            v3_canonical_request("POST", "/", "", &unsigned, &sha256_hex(&signed.body));
        assert_eq!(
            signed_headers,
            "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;\
             x-acs-signature-nonce;x-acs-version"
        );
        let signature = v3_signature("YourAccessKeySecret", &v3_string_to_sign(&canonical));
        assert_eq!(
            header("authorization"),
            format!(
                "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders={signed_headers},\
                 Signature={signature}"
            )
        );
    }

    #[test]
    fn v3_signs_the_security_token_when_there_is_one() {
        let mut creds = credentials("id", "secret");
        creds.security_token = Some(Secret::new("tok"));
        let signed = sign_v3(&creds, "h", "A", "V", &[], "d", "n");
        let auth = &signed.headers.last().unwrap().1;
        assert!(auth.contains("x-acs-security-token"), "{auth}");
        creds.security_token = Some(Secret::new(""));
        let signed = sign_v3(&creds, "h", "A", "V", &[], "d", "n");
        assert!(
            !signed
                .headers
                .iter()
                .any(|(k, _)| k == "x-acs-security-token")
        );
    }

    #[test]
    fn timestamps_are_utc_seconds() {
        let at = time::macros::datetime!(2016-02-23 20:46:24 +8);
        assert_eq!(timestamp(at), "2016-02-23T12:46:24Z");
    }
}
