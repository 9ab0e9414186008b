//! An emulator of Alibaba Cloud Vision Intelligence's `imageseg` RPC endpoint (version
//! 2019-12-30), on 127.0.0.1:0, for the adapter's tests.
//!
//! It checks what a client sends the way the real gateway does, with its own independent
//! implementation of both signatures: ACS3-HMAC-SHA256 (`Authorization` header, signed
//! `x-acs-*` headers, body hash) and RPC HMAC-SHA1 (`Signature` parameter); the AccessKey,
//! the timestamp window, nonce reuse (`SignatureNonceUsed`), Action and Version. It really
//! downloads the input image from the URL it is given and checks it decodes and fits the
//! sync actions' limits, then "segments" it by thresholding against the border colour and
//! serves the PNG result from its own `/results/...` route, like viapi's OSS links.
//!
//! Tests script it: faults for the next calls or for every call, and the statuses an async
//! job goes through on successive polls.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use imgforge::config::{Secret, Settings};
use serde_json::json;
use sha2::{Digest, Sha256};

pub const VERSION: &str = "2019-12-30";
const SYNC_MAX_BYTES: usize = 3 * 1024 * 1024;
const SYNC_MAX_SIDE: u32 = 1999;

/// A failure the emulator answers with instead of doing the work.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 `Throttling.User` with `Retry-After`.
    Throttle { retry_after_secs: u64 },
    /// 500 `InternalError` or 503 `ServiceUnavailable`.
    Status(u16),
    /// Any POP error.
    Pop {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
    /// HTTP 200 with a truncated JSON body.
    MalformedJson,
    /// Answers normally, after this long.
    Slow(Duration),
}

/// One state of an async job, as successive `GetAsyncJobResult` polls report them.
#[derive(Debug, Clone)]
pub enum JobStep {
    Queuing,
    Processing,
    Success,
    /// `PROCESS_FAILED`, `TIMEOUT_FAILED` or `LIMIT_RETRY_FAILED` with an error code.
    Failed {
        status: &'static str,
        code: &'static str,
        message: &'static str,
    },
}

/// A call the emulator verified and served (faulted calls are only in the raw requests).
#[derive(Debug, Clone)]
pub struct Call {
    pub action: String,
    /// "v3" or "v1".
    pub signature: &'static str,
    pub nonce: String,
    /// Business parameters (V3) or every parameter (V1).
    pub params: BTreeMap<String, String>,
    /// Width, height and bytes of the input image it downloaded.
    pub input: Option<(u32, u32, usize)>,
}

/// A request as it arrived, for replaying.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: Method,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

struct Job {
    steps: Vec<JobStep>,
    polls: usize,
    result_url: String,
}

struct Inner {
    addr: SocketAddr,
    access_key_id: String,
    access_key_secret: String,
    nonces: HashSet<String>,
    faults: VecDeque<Fault>,
    always: Option<Fault>,
    job_steps: Vec<JobStep>,
    jobs: HashMap<String, Job>,
    blobs: HashMap<String, Vec<u8>>,
    calls: Vec<Call>,
    raw: Vec<RawRequest>,
    next_id: u64,
}

type Shared = Arc<Mutex<Inner>>;

pub struct Emulator {
    pub addr: SocketAddr,
    inner: Shared,
}

impl Emulator {
    /// Starts an emulator that accepts only this AccessKey.
    pub async fn start(access_key_id: &str, access_key_secret: &str) -> Emulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            addr,
            access_key_id: access_key_id.to_owned(),
            access_key_secret: access_key_secret.to_owned(),
            nonces: HashSet::new(),
            faults: VecDeque::new(),
            always: None,
            job_steps: vec![JobStep::Queuing, JobStep::Processing, JobStep::Success],
            jobs: HashMap::new(),
            blobs: HashMap::new(),
            calls: Vec::new(),
            raw: Vec::new(),
            next_id: 1,
        }));
        let app = Router::new()
            .route("/", get(rpc).post(rpc))
            .route("/results/{name}", get(blob))
            .route("/fixtures/{name}", get(blob))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Emulator { addr, inner }
    }

    /// The endpoint to configure (`providers.aliyun_vision.endpoint`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points `settings` at this emulator with its AccessKey: remove_background runs on
    /// `aliyun-vision` alone, unpaced, polling fast, one attempt per call (faults are seen as
    /// they are).
    pub fn configure(&self, s: &mut Settings) {
        s.providers
            .chains
            .insert("remove_background".into(), vec!["aliyun-vision".into()]);
        s.providers.resilience.max_attempts = 1;
        s.providers.resilience.circuit_failures = 0;
        s.fetch.allow = vec!["127.0.0.1/32".into()];
        let inner = self.inner.lock().unwrap();
        let v = &mut s.providers.aliyun_vision;
        v.endpoint = self.endpoint();
        v.access_key_id = inner.access_key_id.clone();
        v.access_key_secret = Secret::new(&inner.access_key_secret);
        v.qps = 0.0;
        v.poll_initial_ms = 20;
        v.poll_max_ms = 40;
        v.request_timeout_secs = 5;
    }

    /// The next call answers with `fault` (faults queue up in order).
    pub fn push_fault(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// Every call answers with `fault`.
    pub fn fail_always(&self, fault: Fault) {
        self.inner.lock().unwrap().always = Some(fault);
    }

    /// The states jobs submitted from now on go through, one per poll (the last repeats).
    pub fn script_jobs(&self, steps: Vec<JobStep>) {
        self.inner.lock().unwrap().job_steps = steps;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn raw_requests(&self) -> Vec<RawRequest> {
        self.inner.lock().unwrap().raw.clone()
    }

    /// Serves `bytes` at `/fixtures/<name>` and returns its URL.
    pub fn host_fixture(&self, name: &str, bytes: Vec<u8>) -> String {
        self.inner
            .lock()
            .unwrap()
            .blobs
            .insert(format!("fixtures/{name}"), bytes);
        format!("http://{}/fixtures/{name}", self.addr)
    }

    /// Sends `request` again, byte for byte; returns the status and the POP code.
    pub async fn replay(&self, request: &RawRequest) -> (u16, String) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut builder = client.request(
            request.method.clone(),
            format!("http://{}{}", self.addr, request.path_and_query),
        );
        for (name, value) in &request.headers {
            if name != "content-length" {
                builder = builder.header(name, value);
            }
        }
        let response = builder.body(request.body.clone()).send().await.unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        (status, body["Code"].as_str().unwrap_or_default().to_owned())
    }
}

/// A POP error answer.
fn pop(status: u16, code: &str, message: &str) -> Response {
    let body = json!({
        "RequestId": uuid::Uuid::new_v4().to_string().to_uppercase(),
        "HostId": "imageseg.cn-shanghai.aliyuncs.com",
        "Code": code,
        "Message": message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={code}"),
    });
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn reject(status: u16, code: &str, message: &str) -> Box<Response> {
    Box::new(pop(status, code, message))
}

fn ok(body: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

async fn blob(State(inner): State<Shared>, uri: Uri) -> Response {
    let key = uri.path().trim_start_matches('/').to_owned();
    match inner.lock().unwrap().blobs.get(&key) {
        Some(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---- signatures, implemented here independently of the adapter ----

fn percent_encode(text: &str) -> String {
    const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    text.bytes()
        .map(|b| {
            if UNRESERVED.contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn canonical(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = pairs.to_vec();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_pairs(text: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Seconds since the epoch of `yyyy-MM-ddTHH:mm:ssZ`.
fn parse_utc(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u32>().ok();
    let month = time::Month::try_from(num(5..7)? as u8).ok()?;
    let date = time::Date::from_calendar_date(num(0..4)? as i32, month, num(8..10)? as u8).ok()?;
    let clock =
        time::Time::from_hms(num(11..13)? as u8, num(14..16)? as u8, num(17..19)? as u8).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

fn fresh(timestamp: &str) -> bool {
    parse_utc(timestamp)
        .is_some_and(|t| (time::OffsetDateTime::now_utc().unix_timestamp() - t).abs() <= 15 * 60)
}

struct Verified {
    action: String,
    version: String,
    signature: &'static str,
    nonce: String,
    params: Vec<(String, String)>,
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn verify_v3(
    inner: &Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Verified, Box<Response>> {
    let authorization = header_value(headers, "authorization").unwrap_or_default();
    let Some(fields) = authorization.strip_prefix("ACS3-HMAC-SHA256 ") else {
        return Err(reject(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        ));
    };
    let mut credential = "";
    let mut signed_headers = "";
    let mut signature = "";
    for field in fields.split(',') {
        if let Some((key, value)) = field.trim().split_once('=') {
            match key {
                "Credential" => credential = value,
                "SignedHeaders" => signed_headers = value,
                "Signature" => signature = value,
                _ => {}
            }
        }
    }
    if credential != inner.access_key_id {
        return Err(reject(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    let mut required = vec![
        "host",
        "x-acs-action",
        "x-acs-content-sha256",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-version",
    ];
    if headers.contains_key(header::CONTENT_TYPE) {
        required.push("content-type");
    }
    for name in required {
        if header_value(headers, name).is_none() {
            return Err(reject(
                400,
                "MissingParameter",
                &format!("header {name} is missing"),
            ));
        }
        if !signed.contains(&name) {
            return Err(reject(
                400,
                "IncompleteSignature",
                &format!("header {name} is not signed"),
            ));
        }
    }
    let mut sorted = signed.clone();
    sorted.sort_unstable();
    if sorted != signed {
        return Err(reject(
            400,
            "IncompleteSignature",
            "SignedHeaders are not sorted",
        ));
    }
    let payload = hex::encode(Sha256::digest(body));
    if header_value(headers, "x-acs-content-sha256").as_deref() != Some(payload.as_str()) {
        return Err(reject(
            400,
            "SignatureDoesNotMatch",
            "x-acs-content-sha256 is not the hash of the body",
        ));
    }
    let mut canonical_headers = String::new();
    for name in &signed {
        let value = header_value(headers, name).unwrap_or_default();
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload}",
        uri.path(),
        canonical(query)
    );
    let string_to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(inner.access_key_secret.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    if hex::encode(mac.finalize().into_bytes()) != signature {
        return Err(reject(
            400,
            "SignatureDoesNotMatch",
            &format!(
                "Specified signature does not match our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    let date = header_value(headers, "x-acs-date").unwrap_or_default();
    if !fresh(&date) {
        return Err(reject(
            400,
            "InvalidTimeStamp.Expired",
            &format!("Specified time stamp or date value is expired: {date}"),
        ));
    }
    let mut params = query.to_vec();
    let form = header_value(headers, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        params.extend(form_pairs(body));
    }
    Ok(Verified {
        action: header_value(headers, "x-acs-action").unwrap_or_default(),
        version: header_value(headers, "x-acs-version").unwrap_or_default(),
        signature: "v3",
        nonce: header_value(headers, "x-acs-signature-nonce").unwrap_or_default(),
        params,
    })
}

fn verify_v1(
    inner: &Inner,
    method: &Method,
    params: Vec<(String, String)>,
) -> Result<Verified, Box<Response>> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    for name in [
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
    ] {
        if get(name).is_none() {
            return Err(reject(
                400,
                &format!("Missing{name}"),
                &format!("{name} is mandatory for this action."),
            ));
        }
    }
    if get("SignatureMethod").as_deref() != Some("HMAC-SHA1")
        || get("SignatureVersion").as_deref() != Some("1.0")
    {
        return Err(reject(
            400,
            "InvalidSignatureMethod",
            "Specified signature method is not supported.",
        ));
    }
    if get("Format").as_deref() != Some("JSON") {
        return Err(reject(
            400,
            "InvalidParameter",
            "this emulator answers Format=JSON only",
        ));
    }
    if get("AccessKeyId").as_deref() != Some(inner.access_key_id.as_str()) {
        return Err(reject(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    }
    let signed: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .cloned()
        .collect();
    let string_to_sign = format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical(&signed))
    );
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(format!("{}&", inner.access_key_secret).as_bytes())
            .unwrap();
    mac.update(string_to_sign.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if get("Signature").as_deref() != Some(expected.as_str()) {
        return Err(reject(
            400,
            "SignatureDoesNotMatch",
            &format!(
                "Specified signature does not match our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    let timestamp = get("Timestamp").unwrap_or_default();
    if !fresh(&timestamp) {
        return Err(reject(
            400,
            "InvalidTimeStamp.Expired",
            &format!("Specified time stamp or date value is expired: {timestamp}"),
        ));
    }
    Ok(Verified {
        action: get("Action").unwrap_or_default(),
        version: get("Version").unwrap_or_default(),
        signature: "v1",
        nonce: get("SignatureNonce").unwrap_or_default(),
        params,
    })
}

// ---- the RPC endpoint ----

async fn rpc(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = form_pairs(uri.query().unwrap_or_default().as_bytes());
    let verified = {
        let mut inner = shared.lock().unwrap();
        inner.raw.push(RawRequest {
            method: method.clone(),
            path_and_query: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: body.to_vec(),
        });
        if uri.path() != "/" {
            return pop(404, "InvalidAction.NotFound", "RPC calls go to /");
        }
        let verified = if headers.contains_key(header::AUTHORIZATION) {
            verify_v3(&inner, &method, &uri, &headers, &query, &body)
        } else if query.iter().any(|(k, _)| k == "Signature") {
            let mut params = query.clone();
            if header_value(&headers, "content-type")
                .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
            {
                params.extend(form_pairs(&body));
            }
            verify_v1(&inner, &method, params)
        } else {
            Err(reject(
                400,
                "MissingSignature",
                "The request is not signed.",
            ))
        };
        let verified = match verified {
            Ok(v) => v,
            Err(response) => return *response,
        };
        if !inner.nonces.insert(verified.nonce.clone()) {
            return pop(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            );
        }
        if verified.version != VERSION {
            return pop(
                400,
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            );
        }
        verified
    };
    let fault = {
        let mut inner = shared.lock().unwrap();
        inner.faults.pop_front().or_else(|| inner.always.clone())
    };
    match fault {
        None => {}
        Some(Fault::Slow(wait)) => tokio::time::sleep(wait).await,
        Some(Fault::Throttle { retry_after_secs }) => {
            let mut response = pop(
                429,
                "Throttling.User",
                "Request was denied due to user flow control.",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                retry_after_secs.to_string().parse().unwrap(),
            );
            return response;
        }
        Some(Fault::Status(500)) => {
            return pop(
                500,
                "InternalError",
                "The request processing has failed due to some unknown error.",
            );
        }
        Some(Fault::Status(status)) => {
            return pop(
                status,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            );
        }
        Some(Fault::Pop {
            status,
            code,
            message,
        }) => return pop(status, code, message),
        Some(Fault::MalformedJson) => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"RequestId":"5F1","Data":{"ImageURL":"http://"#,
            )
                .into_response();
        }
    }
    let params: BTreeMap<String, String> = verified.params.iter().cloned().collect();
    let mut call = Call {
        action: verified.action.clone(),
        signature: verified.signature,
        nonce: verified.nonce,
        params: params.clone(),
        input: None,
    };
    let response = match verified.action.as_str() {
        "SegmentCommonImage" | "SegmentBody" => segment(&shared, &params, false, &mut call).await,
        "SegmentHDCommonImage" => segment(&shared, &params, true, &mut call).await,
        "GetAsyncJobResult" => job_result(&shared, &params),
        other => pop(
            404,
            "InvalidAction.NotFound",
            &format!("Specified api {other} is not found"),
        ),
    };
    shared.lock().unwrap().calls.push(call);
    response
}

async fn segment(
    shared: &Shared,
    params: &BTreeMap<String, String>,
    hd: bool,
    call: &mut Call,
) -> Response {
    let name = if hd { "ImageUrl" } else { "ImageURL" };
    let Some(url) = params.get(name) else {
        return pop(
            400,
            &format!("Missing{name}"),
            &format!("{name} is mandatory for this action."),
        );
    };
    let form = params.get("ReturnForm").map(String::as_str);
    if hd && form.is_some() {
        return pop(
            400,
            "InvalidParameter",
            "ReturnForm is not a parameter of SegmentHDCommonImage",
        );
    }
    if !matches!(form, None | Some("crop" | "mask" | "whiteBK")) {
        return pop(
            400,
            "InvalidParameter.ReturnForm",
            "ReturnForm must be crop, mask or whiteBK",
        );
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let bytes = match client.get(url).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.unwrap_or_default().to_vec(),
        Ok(r) => {
            return pop(
                400,
                "InvalidFile.Download",
                &format!("Failed to download the image: HTTP {}", r.status()),
            );
        }
        Err(e) => {
            return pop(
                400,
                "InvalidFile.Download",
                &format!("Failed to download the image: {e}"),
            );
        }
    };
    let Ok(input) = image::load_from_memory(&bytes) else {
        return pop(
            400,
            "InvalidImage.Format",
            "The image format is not supported.",
        );
    };
    call.input = Some((input.width(), input.height(), bytes.len()));
    if !hd && bytes.len() > SYNC_MAX_BYTES {
        return pop(400, "InvalidFile.Size", "The image is larger than 3 MB.");
    }
    if !hd && input.width().max(input.height()) > SYNC_MAX_SIDE {
        return pop(
            400,
            "InvalidImage.Resolution",
            "The image must be smaller than 2000x2000.",
        );
    }
    let png = render(&input, form);
    let mut inner = shared.lock().unwrap();
    let id = inner.next_id;
    inner.next_id += 1;
    let key = format!("results/{id}.png");
    inner.blobs.insert(key.clone(), png);
    // Shaped like viapi's temporary OSS links.
    let result_url = format!(
        "http://{}/{key}?Expires=1999999999&OSSAccessKeyId=LTAI4FoLmvQ9urWXgSRpDvh1&Signature=emulated%3D",
        inner.addr
    );
    let request_id = format!("{:08X}-EMUL-4000-8000-{id:012}", id);
    if !hd {
        return ok(json!({"RequestId": request_id, "Data": {"ImageURL": result_url}}));
    }
    let steps = inner.job_steps.clone();
    inner.jobs.insert(
        request_id.clone(),
        Job {
            steps,
            polls: 0,
            result_url,
        },
    );
    ok(json!({
        "RequestId": request_id,
        "Message": "该调用为异步调用，任务已提交成功，请以requestId的值作为jobId参数调用同类目下GetAsyncJobResult接口查询任务执行状态和结果。"
    }))
}

fn job_result(shared: &Shared, params: &BTreeMap<String, String>) -> Response {
    let Some(job_id) = params.get("JobId") else {
        return pop(400, "MissingJobId", "JobId is mandatory for this action.");
    };
    let mut inner = shared.lock().unwrap();
    let Some(job) = inner.jobs.get_mut(job_id) else {
        return pop(400, "InvalidParameter", "The job does not exist.");
    };
    let step = job.steps[job.polls.min(job.steps.len() - 1)].clone();
    job.polls += 1;
    let mut data = json!({"JobId": job_id});
    match step {
        JobStep::Queuing => data["Status"] = json!("QUEUING"),
        JobStep::Processing => data["Status"] = json!("PROCESSING"),
        JobStep::Success => {
            data["Status"] = json!("PROCESS_SUCCESS");
            data["Result"] = json!(json!({"ImageUrl": job.result_url}).to_string());
        }
        JobStep::Failed {
            status,
            code,
            message,
        } => {
            data["Status"] = json!(status);
            data["ErrorCode"] = json!(code);
            data["ErrorMessage"] = json!(message);
        }
    }
    ok(json!({"RequestId": uuid::Uuid::new_v4().to_string(), "Data": data}))
}

/// The emulator's "segmentation": pixels far from the mean border colour are the subject.
pub fn subject_mask(image: &RgbImage) -> GrayImage {
    let (w, h) = image.dimensions();
    let mut sum = [0u64; 3];
    let mut n = 0u64;
    for (x, y, p) in image.enumerate_pixels() {
        if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
            for k in 0..3 {
                sum[k] += u64::from(p[k]);
            }
            n += 1;
        }
    }
    let border = sum.map(|s| (s / n.max(1)) as i32);
    GrayImage::from_fn(w, h, |x, y| {
        let p = image.get_pixel(x, y);
        let distance: i32 = (0..3).map(|k| (i32::from(p[k]) - border[k]).abs()).sum();
        Luma([if distance > 90 { 255 } else { 0 }])
    })
}

fn render(input: &DynamicImage, form: Option<&str>) -> Vec<u8> {
    let rgb = input.to_rgb8();
    let mask = subject_mask(&rgb);
    let cutout = RgbaImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let a = mask.get_pixel(x, y)[0];
        let Rgb([r, g, b]) = *rgb.get_pixel(x, y);
        if a == 0 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([r, g, b, a])
        }
    });
    let out = match form {
        // A 3-channel black and white mask.
        Some("mask") => {
            DynamicImage::ImageRgb8(RgbImage::from_fn(rgb.width(), rgb.height(), |x, y| {
                let v = mask.get_pixel(x, y)[0];
                Rgb([v, v, v])
            }))
        }
        Some("whiteBK") => {
            DynamicImage::ImageRgb8(RgbImage::from_fn(rgb.width(), rgb.height(), |x, y| {
                if mask.get_pixel(x, y)[0] == 0 {
                    Rgb([255, 255, 255])
                } else {
                    *rgb.get_pixel(x, y)
                }
            }))
        }
        Some("crop") => {
            let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
            for (x, y, p) in mask.enumerate_pixels() {
                if p[0] > 0 {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                }
            }
            if x0 > x1 {
                DynamicImage::ImageRgba8(cutout)
            } else {
                DynamicImage::ImageRgba8(
                    image::imageops::crop_imm(&cutout, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image(),
                )
            }
        }
        Some(_) | None => DynamicImage::ImageRgba8(cutout),
    };
    let mut png = Vec::new();
    out.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

/// A test input: a red disc on a light grey background, `width`×`height`, as PNG.
pub fn disc_png(width: u32, height: u32) -> Vec<u8> {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let radius = width.min(height) as f32 / 4.0;
    let image = RgbImage::from_fn(width, height, |x, y| {
        let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        if d <= radius {
            Rgb([210, 30, 40])
        } else {
            Rgb([235, 235, 235])
        }
    });
    let mut png = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}
