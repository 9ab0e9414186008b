//! An emulator of the OpenAI images API (`/v1/images/generations`, `/v1/images/edits`) on
//! loopback: plain JSON answers (base64 or links), server-sent event streams with partial
//! images, and the failures clients meet: 429 with `retry-after`, 5xx, a body that is not
//! JSON, `moderation_blocked`, an error event mid-stream, and a server too slow to answer.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

pub const API_KEY: &str = "sk-emulator";

#[derive(Debug, Clone)]
pub enum Script {
    /// A plain JSON answer (the server ignores `stream`), images inline or as links.
    Json { links: bool },
    /// An event stream: `partials` partial images, then one completed image per `n`.
    Stream { partials: u32 },
    /// An event stream that breaks with an error event after one partial image.
    StreamError,
    /// 429 `rate_limit_exceeded` with `retry-after: 2`.
    RateLimited,
    /// HTTP 500 `server_error`.
    ServerError,
    /// HTTP 200 whose body is not JSON.
    BadJson,
    /// 400 `moderation_blocked`.
    Moderation,
    /// Answers (JSON) only after this long.
    Slow(Duration),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    /// The JSON body, or the multipart text fields.
    pub fields: BTreeMap<String, String>,
    pub image_bytes: Option<usize>,
}

struct Inner {
    script: Script,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
pub struct OpenAiImagesEmulator {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

type St = State<(Arc<Mutex<Inner>>, SocketAddr)>;

impl OpenAiImagesEmulator {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: Script::Stream { partials: 2 },
            requests: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/v1/images/generations", post(generations))
            .route("/v1/images/edits", post(edits))
            .route("/files/{name}", get(file))
            .with_state((inner.clone(), addr));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        OpenAiImagesEmulator { addr, inner }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn script(&self, script: Script) {
        self.inner.lock().unwrap().script = script;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }
}

async fn generations(State((inner, addr)): St, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            "bad body",
        );
    };
    let fields = body
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    answer(
        &inner,
        addr,
        &headers,
        "/v1/images/generations",
        fields,
        None,
        "image_generation",
    )
    .await
}

async fn edits(State((inner, addr)): St, headers: HeaderMap, mut form: Multipart) -> Response {
    let mut fields = BTreeMap::new();
    let mut image = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "image" || name == "image[]" {
            image = field.bytes().await.ok().map(|b| b.len());
        } else if let Ok(text) = field.text().await {
            fields.insert(name, text);
        }
    }
    if image.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "missing_image",
            "image is required",
        );
    }
    answer(
        &inner,
        addr,
        &headers,
        "/v1/images/edits",
        fields,
        image,
        "image_edit",
    )
    .await
}

async fn answer(
    inner: &Mutex<Inner>,
    addr: SocketAddr,
    headers: &HeaderMap,
    path: &str,
    fields: BTreeMap<String, String>,
    image_bytes: Option<usize>,
    prefix: &'static str,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let n: u32 = fields.get("n").and_then(|n| n.parse().ok()).unwrap_or(1);
    let (width, height) = fields
        .get("size")
        .and_then(|s| s.split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((64, 64));
    let streaming = fields.get("stream").is_some_and(|s| s == "true");
    let script = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(Recorded {
            path: path.to_owned(),
            authorization: authorization.clone(),
            fields,
            image_bytes,
        });
        inner.script.clone()
    };
    if authorization.as_deref() != Some(&format!("Bearer {API_KEY}")) {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided",
        );
    }
    // Results are small stand-ins of the requested aspect (the real size costs time).
    let (w, h) = (width / 16, height / 16);
    match script {
        Script::Json { links } => json_answer(n, w, h, links, addr),
        Script::Slow(wait) => {
            tokio::time::sleep(wait).await;
            json_answer(n, w, h, false, addr)
        }
        Script::Stream { partials } if streaming => stream_answer(prefix, partials, n, w, h, false),
        Script::Stream { .. } => json_answer(n, w, h, false, addr),
        Script::StreamError => stream_answer(prefix, 1, n, w, h, true),
        Script::RateLimited => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached",
            );
            response
                .headers_mut()
                .insert("retry-after", "2".parse().unwrap());
            response
        }
        Script::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "",
            "The server had an error",
        ),
        Script::BadJson => (
            [("content-type", "application/json")],
            "{\"created\": 1, \"data\": [",
        )
            .into_response(),
        Script::Moderation => error(
            StatusCode::BAD_REQUEST,
            "image_generation_user_error",
            "moderation_blocked",
            "Your request was rejected by the safety system.",
        ),
    }
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    let code = if code.is_empty() {
        Value::Null
    } else {
        json!(code)
    };
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        ),
    )
        .into_response()
}

fn b64_png(w: u32, h: u32, shade: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode(png(w, h, shade))
}

fn json_answer(n: u32, w: u32, h: u32, links: bool, addr: SocketAddr) -> Response {
    let data: Vec<Value> = (0..n)
        .map(|i| {
            if links {
                json!({"url": format!("http://{addr}/files/{w}x{h}-{i}.png")})
            } else {
                json!({"b64_json": b64_png(w, h, 200), "revised_prompt": "a revised prompt"})
            }
        })
        .collect();
    axum::Json(json!({"created": 1_700_000_000, "data": data, "usage": {"total_tokens": 10}}))
        .into_response()
}

fn stream_answer(
    prefix: &'static str,
    partials: u32,
    n: u32,
    w: u32,
    h: u32,
    break_off: bool,
) -> Response {
    let mut events = Vec::new();
    for i in 0..partials {
        let data = json!({"type": format!("{prefix}.partial_image"), "b64_json": b64_png(w, h, (i * 60) as u8),
            "partial_image_index": i, "created_at": 1, "size": format!("{}x{}", w * 16, h * 16)});
        events.push(format!("event: {prefix}.partial_image\ndata: {data}\n\n"));
    }
    if break_off {
        let data = json!({"type": "error", "error": {"type": "server_error", "code": "server_error", "message": "generation failed"}});
        events.push(format!("event: error\ndata: {data}\n\n"));
    } else {
        for _ in 0..n {
            let data = json!({"type": format!("{prefix}.completed"), "b64_json": b64_png(w, h, 250), "created_at": 2,
                "usage": {"total_tokens": 10}});
            events.push(format!("event: {prefix}.completed\ndata: {data}\n\n"));
        }
    }
    // One event at a time with a pause, the way a real stream arrives.
    let stream = futures::stream::iter(events).then(|event| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, std::io::Error>(Bytes::from(event))
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn file(Path(name): Path<String>) -> Response {
    let size = name.split('-').next().and_then(|s| s.split_once('x'));
    let Some((w, h)) = size.and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    ([("content-type", "image/png")], png(w, h, 100)).into_response()
}

use futures::StreamExt as _;

pub fn png(width: u32, height: u32, shade: u8) -> Vec<u8> {
    let image =
        image::RgbImage::from_pixel(width.max(1), height.max(1), image::Rgb([shade, 90, 30]));
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
