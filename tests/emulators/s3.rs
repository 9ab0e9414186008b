//! An emulator of the S3 REST API (path-style) on loopback, as Alibaba OSS, MinIO and AWS S3
//! serve it to `object_store`: PUT, GET, HEAD and DELETE of objects.
//!
//! It checks what the client sends: every request must carry a well-formed SigV4
//! `Authorization` header (or, for GET/HEAD, presigned-URL query parameters) whose signature
//! it recomputes with the configured secret, with the payload hash matching the body and the
//! date within S3's 15-minute skew; presigned URLs must not have expired. Failures are
//! answered as S3 does (403 `SignatureDoesNotMatch`, `InvalidAccessKeyId`, `AccessDenied`;
//! 404 `NoSuchBucket`, `NoSuchKey`) and counted. Scripted faults: every request answered
//! with a status (500, 403, 503...), or held without an answer.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const ACCESS_KEY_ID: &str = "AKIAEMULATOR";
pub const SECRET_ACCESS_KEY: &str = "emulator/secret+key";
pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "imgforge";

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// How a request was authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// SigV4 in the `Authorization` header.
    Header,
    /// A presigned URL (`X-Amz-Signature` in the query).
    Presigned,
}

/// One request the emulator answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub bucket: String,
    pub key: String,
    pub auth: Option<Auth>,
    pub status: u16,
}

/// A scripted answer to every request until [`S3Emulator::heal`].
#[derive(Debug, Clone)]
pub enum Fault {
    /// This HTTP status with an S3 error body of this code.
    Status(u16, &'static str),
    /// Accept the request and never answer.
    Stall,
}

#[derive(Default)]
struct Inner {
    buckets: HashMap<String, BTreeMap<String, Object>>,
    fault: Option<Fault>,
    seen: Vec<Seen>,
    /// Why requests were refused (signature checks and the like).
    refusals: Vec<String>,
}

#[derive(Clone)]
struct Object {
    bytes: Bytes,
    content_type: Option<String>,
    /// As S3 reports it (`Last-Modified`): the store's blob expiry counts from it.
    last_modified: String,
}

/// An HTTP date (RFC 7231 IMF-fixdate) for now.
fn http_date_now() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .expect("formattable date")
}

#[derive(Clone)]
pub struct S3Emulator {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl S3Emulator {
    /// An emulator holding the empty bucket [`BUCKET`].
    pub async fn start() -> S3Emulator {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let emulator = S3Emulator { addr, inner };
        emulator.create_bucket(BUCKET);
        let app = Router::new().fallback(handle).with_state(emulator.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        emulator
    }

    /// The endpoint to configure (`blob_store.s3.endpoint`), path-style.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.lock().buckets.entry(bucket.to_owned()).or_default();
    }

    /// Every request is answered by `fault` from now on.
    pub fn fail_with(&self, fault: Fault) {
        self.lock().fault = Some(fault);
    }

    pub fn heal(&self) {
        self.lock().fault = None;
    }

    pub fn object(&self, bucket: &str, key: &str) -> Option<Bytes> {
        self.lock()
            .buckets
            .get(bucket)?
            .get(key)
            .map(|o| o.bytes.clone())
    }

    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.lock()
            .buckets
            .get(bucket)
            .map(|objects| objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.lock().refusals.clone()
    }
}

fn s3_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>{}</RequestId></Error>",
        uuid::Uuid::new_v4().simple()
    );
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

async fn handle(
    State(emulator): State<S3Emulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let key = percent_decode(key);
    let bucket = bucket.to_owned();
    let auth = authorise(&method, &uri, &headers, &body);
    let seen_auth = auth.as_ref().ok().copied();
    let fault = emulator.lock().fault.clone();
    let response = match (fault, auth) {
        (Some(Fault::Stall), _) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        (Some(Fault::Status(status, code)), _) => s3_error(status, code, "scripted fault"),
        (None, Err(refusal)) => {
            emulator.lock().refusals.push(refusal.message.clone());
            s3_error(403, refusal.code, &refusal.message)
        }
        (None, Ok(auth)) => serve(&emulator, &method, &bucket, &key, auth, &headers, body),
    };
    emulator.lock().seen.push(Seen {
        method: method.to_string(),
        bucket,
        key,
        auth: seen_auth,
        status: response.status().as_u16(),
    });
    response
}

fn serve(
    emulator: &S3Emulator,
    method: &Method,
    bucket: &str,
    key: &str,
    auth: Auth,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if auth == Auth::Presigned && !matches!(*method, Method::GET | Method::HEAD) {
        return s3_error(
            403,
            "AccessDenied",
            "this emulator's presigned URLs are for GET only",
        );
    }
    let mut inner = emulator.lock();
    let Some(objects) = inner.buckets.get_mut(bucket) else {
        return s3_error(404, "NoSuchBucket", "The specified bucket does not exist");
    };
    if key.is_empty() {
        return s3_error(501, "NotImplemented", "bucket operations are not emulated");
    }
    match *method {
        Method::PUT => {
            let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
            objects.insert(
                key.to_owned(),
                Object {
                    last_modified: http_date_now(),
                    bytes: body,
                    content_type: headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                },
            );
            (StatusCode::OK, [(header::ETAG, etag)]).into_response()
        }
        Method::GET | Method::HEAD => {
            let Some(object) = objects.get(key) else {
                return s3_error(404, "NoSuchKey", "The specified key does not exist.");
            };
            let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&object.bytes))[..32]);
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header(header::ETAG, etag)
                .header(header::LAST_MODIFIED, object.last_modified.as_str())
                .header(header::CONTENT_LENGTH, object.bytes.len())
                .header(
                    header::CONTENT_TYPE,
                    object
                        .content_type
                        .as_deref()
                        .unwrap_or("application/octet-stream"),
                );
            response = response.header(header::ACCEPT_RANGES, "bytes");
            let body = if *method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(object.bytes.clone())
            };
            response.body(body).unwrap()
        }
        Method::DELETE => {
            objects.remove(key);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => s3_error(405, "MethodNotAllowed", "not emulated"),
    }
}

struct Refusal {
    code: &'static str,
    message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Checks SigV4: the header form for every method, the presigned form for GET/HEAD.
fn authorise(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Auth, Refusal> {
    let query = query_pairs(uri);
    if query.iter().any(|(k, _)| k == "X-Amz-Signature") {
        return check_presigned(method, uri, headers, &query).map(|()| Auth::Presigned);
    }
    check_header(method, uri, headers, &query, body).map(|()| Auth::Header)
}

fn check_header(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Result<(), Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization").ok_or_else(|| {
        refuse(
            "AccessDenied",
            "no Authorization header and no presigned query",
        )
    })?;
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| refuse("AccessDenied", format!("not SigV4: {authorization}")))?;
    let mut parts = HashMap::new();
    for part in fields.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| refuse("AccessDenied", format!("malformed Authorization: {fields}")))?;
        parts.insert(name, value);
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (
        parts.get("Credential"),
        parts.get("SignedHeaders"),
        parts.get("Signature"),
    ) else {
        return Err(refuse(
            "AccessDenied",
            format!("Authorization lacks Credential, SignedHeaders or Signature: {fields}"),
        ));
    };
    let signed: Vec<&str> = signed_headers.split(';').collect();
    for required in ["host", "x-amz-date", "x-amz-content-sha256"] {
        if !signed.contains(&required) {
            return Err(refuse(
                "AccessDenied",
                format!("{required} is not among the signed headers {signed_headers}"),
            ));
        }
    }
    let amz_date = header("x-amz-date").ok_or_else(|| refuse("AccessDenied", "no x-amz-date"))?;
    let date = parse_amz_date(amz_date)?;
    let skew = (time::OffsetDateTime::now_utc() - date)
        .whole_seconds()
        .abs();
    if skew > 15 * 60 {
        return Err(refuse(
            "RequestTimeTooSkewed",
            format!("x-amz-date {amz_date} is {skew}s away"),
        ));
    }
    let payload_hash = header("x-amz-content-sha256")
        .ok_or_else(|| refuse("AccessDenied", "no x-amz-content-sha256"))?;
    if payload_hash != UNSIGNED_PAYLOAD && payload_hash != hex::encode(Sha256::digest(body)) {
        return Err(refuse(
            "XAmzContentSHA256Mismatch",
            "x-amz-content-sha256 does not match the body",
        ));
    }
    let scope = check_credential(credential, amz_date)?;
    let mut canonical_headers = String::new();
    for name in &signed {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        if values.is_empty() {
            return Err(refuse(
                "AccessDenied",
                format!("signed header {name} is missing"),
            ));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        uri.path(),
        canonical_query(query, None)
    );
    verify(&canonical_request, amz_date, &scope, signature)
}

fn check_presigned(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<(), Refusal> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| refuse("AccessDenied", format!("presigned URL lacks {name}")))
    };
    if param("X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(refuse(
            "AccessDenied",
            "X-Amz-Algorithm is not AWS4-HMAC-SHA256",
        ));
    }
    let amz_date = param("X-Amz-Date")?;
    let expires: i64 = param("X-Amz-Expires")?.parse().map_err(|_| {
        refuse(
            "AuthorizationQueryParametersError",
            "X-Amz-Expires is not a number",
        )
    })?;
    if !(1..=604_800).contains(&expires) {
        return Err(refuse(
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be within 1..=604800",
        ));
    }
    if time::OffsetDateTime::now_utc()
        > parse_amz_date(amz_date)? + time::Duration::seconds(expires)
    {
        return Err(refuse("AccessDenied", "Request has expired"));
    }
    let signed_headers = param("X-Amz-SignedHeaders")?;
    if signed_headers != "host" {
        return Err(refuse(
            "AccessDenied",
            format!("presigned URL signs {signed_headers}, expected host"),
        ));
    }
    let scope = check_credential(param("X-Amz-Credential")?, amz_date)?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse("AccessDenied", "no Host header"))?;
    // A presigned GET is answered to HEAD too, as S3 does.
    let signed_method = if *method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let canonical_request = format!(
        "{signed_method}\n{}\n{}\nhost:{host}\n\nhost\n{UNSIGNED_PAYLOAD}",
        uri.path(),
        canonical_query(query, Some("X-Amz-Signature"))
    );
    verify(
        &canonical_request,
        amz_date,
        &scope,
        param("X-Amz-Signature")?,
    )
}

/// Checks `AKID/yyyymmdd/region/s3/aws4_request`; returns the scope after the key id.
fn check_credential(credential: &str, amz_date: &str) -> Result<String, Refusal> {
    let (key_id, scope) = credential
        .split_once('/')
        .ok_or_else(|| refuse("AccessDenied", format!("malformed credential {credential}")))?;
    if key_id != ACCESS_KEY_ID {
        return Err(refuse(
            "InvalidAccessKeyId",
            format!("The AWS Access Key Id {key_id} does not exist in our records."),
        ));
    }
    let expected = format!(
        "{}/{REGION}/s3/aws4_request",
        &amz_date[..8.min(amz_date.len())]
    );
    if scope != expected {
        return Err(refuse(
            "AuthorizationHeaderMalformed",
            format!("credential scope {scope}, expected {expected}"),
        ));
    }
    Ok(scope.to_owned())
}

fn verify(
    canonical_request: &str,
    amz_date: &str,
    scope: &str,
    signature: &str,
) -> Result<(), Refusal> {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let day = &amz_date[..8];
    let mut key = hmac(
        format!("AWS4{SECRET_ACCESS_KEY}").as_bytes(),
        day.as_bytes(),
    );
    for part in [REGION, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if expected != signature {
        return Err(refuse(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(())
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn parse_amz_date(value: &str) -> Result<time::OffsetDateTime, Refusal> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value, format)
        .map(time::PrimitiveDateTime::assume_utc)
        .map_err(|_| refuse("AccessDenied", format!("malformed date {value}")))
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The query as SigV4 canonicalises it: sorted by name, every byte but `A-Za-z0-9-._~`
/// percent-encoded.
fn canonical_query(query: &[(String, String)], without: Option<&str>) -> String {
    let mut pairs: Vec<_> = query
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != without)
        .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
        .collect();
    pairs.sort();
    pairs.join("&")
}

fn uri_encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("k={}", value.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
