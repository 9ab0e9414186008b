//! An emulator of DashScope's async-task protocol (PROVIDERS.md §1–2) on loopback.
//!
//! It checks what the adapter sends (bearer key, `X-DashScope-Async`, body shape per model,
//! input URLs it really downloads and decodes), enforces per-model submit rates and
//! concurrency as DashScope does (429 when exceeded, counted), and plays a scripted
//! behaviour per model: tasks that go PENDING → RUNNING → SUCCEEDED over polls, fail, succeed
//! partly, vanish (UNKNOWN), never end, or submits answered by 429/5xx/garbage/slowness.
//!
//! Results are real images derived from the inputs the way each model would change them
//! (upscaled, outpainted, posterised, composited), so callers' checks on them mean something.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use image::{DynamicImage, RgbaImage};
use imgforge::config::{Secret, Settings};
use serde_json::{Value, json};

pub const API_KEY: &str = "sk-emulator";

/// What a task of a model does once submitted.
#[derive(Debug, Clone)]
pub enum TaskScript {
    /// RUNNING for `polls` queries, then SUCCEEDED with `images` results.
    Succeed { polls: u32, images: u32 },
    /// SUCCEEDED with `ok` images and `failed` per-image errors.
    Partial { ok: u32, failed: u32 },
    /// FAILED with this code and message.
    Fail { code: String, message: String },
    /// The task is UNKNOWN (expired) at the first query.
    Vanish,
    /// RUNNING forever (until cancelled).
    NeverEnds,
    /// Runs for this long after submit, then succeeds with one image; like DashScope, it
    /// refuses to be cancelled once RUNNING (after its first poll) and counts against the
    /// model's concurrency quota until it ends, whether anyone polls it or not.
    RunsFor(Duration),
}

/// How a submit is answered before the task script applies.
#[derive(Debug, Clone)]
pub enum SubmitScript {
    /// HTTP `status` with a DashScope error body (and `Retry-After` if set).
    Error {
        status: u16,
        code: String,
        retry_after: Option<u32>,
    },
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// Answer only after this long.
    Slow(Duration),
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub model: String,
    pub path: String,
    pub body: Value,
    pub headers: HashMap<String, String>,
    pub at: Instant,
}

struct Task {
    model: String,
    body: Value,
    /// The decoded input images, in the order the model takes them.
    inputs: Vec<DynamicImage>,
    script: TaskScript,
    polls: u32,
    /// Sizes of the result images.
    size: (u32, u32),
    cancelled: bool,
    done: bool,
    submitted: Instant,
}

impl Task {
    /// Whether DashScope still counts the task against the model's quota.
    fn occupies_quota(&self) -> bool {
        if self.done || self.cancelled {
            return false;
        }
        match self.script {
            TaskScript::RunsFor(length) => self.submitted.elapsed() < length,
            TaskScript::Succeed { .. }
            | TaskScript::Partial { .. }
            | TaskScript::Fail { .. }
            | TaskScript::Vanish
            | TaskScript::NeverEnds => true,
        }
    }
}

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, Task>,
    scripts: HashMap<String, TaskScript>,
    submit_scripts: HashMap<String, VecDeque<SubmitScript>>,
    limits: HashMap<String, (f64, u32)>,
    submit_times: HashMap<String, Vec<Instant>>,
    submitted: Vec<Submitted>,
    cancels: Vec<String>,
    polls: u32,
    throttled: u32,
    max_running: HashMap<String, u32>,
    uploads: HashMap<String, Vec<u8>>,
    poll_garbage: u32,
}

#[derive(Clone)]
pub struct DashScopeEmulator {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl DashScopeEmulator {
    pub async fn start() -> DashScopeEmulator {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let emulator = DashScopeEmulator { addr, inner };
        let app = Router::new()
            .route("/api/v1/services/aigc/{*path}", post(submit))
            .route("/api/v1/tasks/{id}", get(query))
            .route("/api/v1/tasks/{id}/cancel", post(cancel))
            .route("/api/v1/uploads", get(policy))
            .route("/oss", post(oss_upload))
            .route("/results/{id}/{index}", get(result))
            .with_state(emulator.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        emulator
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Points `settings` at this emulator: every operation DashScope runs is routed to it
    /// (then to `fallback`), polling fast, no local cut-out, a small retry budget.
    pub fn configure(&self, s: &mut Settings, fallback: &[&str]) {
        let mut chain = vec!["dashscope".to_owned()];
        chain.extend(fallback.iter().map(|p| p.to_string()));
        for op in [
            "change_background",
            "change_clothes",
            "expand",
            "fix",
            "remove_watermark",
            "create_character",
        ] {
            s.providers.chains.insert(op.to_owned(), chain.clone());
        }
        let d = &mut s.providers.dashscope;
        d.base_url = self.base_url();
        d.api_key = Secret::new(API_KEY);
        d.poll_initial_ms = 20;
        d.poll_max_ms = 60;
        d.request_timeout_secs = 2;
        d.task_timeout_secs = 5;
        d.cutout_subject = false;
        let r = &mut s.providers.resilience;
        r.max_attempts = 3;
        r.backoff_initial_ms = 50;
        r.backoff_max_ms = 200;
        r.circuit_failures = 0;
        s.fetch.allow = vec!["127.0.0.1/32".into()];
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Every task of `model` follows `script` (default: succeed after 2 polls, 1 image).
    pub fn script(&self, model: &str, script: TaskScript) {
        self.lock().scripts.insert(model.to_owned(), script);
    }

    /// The next submits of `model` are answered by these, in order.
    pub fn script_submits(&self, model: &str, scripts: Vec<SubmitScript>) {
        self.lock()
            .submit_scripts
            .insert(model.to_owned(), scripts.into());
    }

    /// Enforce DashScope's limits for `model`: answered 429 beyond them.
    pub fn limit(&self, model: &str, rps: f64, concurrency: u32) {
        self.lock()
            .limits
            .insert(model.to_owned(), (rps, concurrency));
    }

    /// The next `n` task queries get a body that is not JSON.
    pub fn garble_polls(&self, n: u32) {
        self.lock().poll_garbage = n;
    }

    pub fn submitted(&self) -> Vec<Submitted> {
        self.lock().submitted.clone()
    }

    pub fn cancels(&self) -> Vec<String> {
        self.lock().cancels.clone()
    }

    pub fn polls(&self) -> u32 {
        self.lock().polls
    }

    pub fn throttled(&self) -> u32 {
        self.lock().throttled
    }

    pub fn max_running(&self, model: &str) -> u32 {
        self.lock().max_running.get(model).copied().unwrap_or(0)
    }

    /// Tasks neither finished nor cancelled: what a caller would have leaked.
    pub fn unfinished(&self) -> Vec<String> {
        self.lock()
            .tasks
            .iter()
            .filter(|(_, t)| t.occupies_quota())
            .map(|(id, _)| id.clone())
            .collect()
    }
}

fn error(status: u16, code: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "code": code, "message": message, "request_id": uuid::Uuid::new_v4().to_string() })),
    )
        .into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {API_KEY}"))
}

/// The input image fields each model must receive.
fn required_inputs(model: &str, body: &Value) -> Result<Vec<String>, String> {
    let input = &body["input"];
    let field = |name: &str| input[name].as_str().map(str::to_owned);
    let need = |name: &str| field(name).ok_or_else(|| format!("input.{name} is required"));
    if model.starts_with("wanx-background-generation") {
        if body["parameters"]["n"].as_u64().is_none() {
            return Err("parameters.n is required".into());
        }
        Ok(vec![need("base_image_url")?, need("ref_image_url")?])
    } else if model.starts_with("aitryon") {
        let mut urls = vec![need("person_image_url")?];
        urls.extend(field("top_garment_url"));
        urls.extend(field("bottom_garment_url"));
        if urls.len() < 2 {
            return Err("a garment is required".into());
        }
        Ok(urls)
    } else if model == "wanx2.1-imageedit" {
        let function = input["function"].as_str().unwrap_or_default();
        if !["expand", "super_resolution", "remove_watermark"].contains(&function) {
            return Err(format!("unexpected function {function:?}"));
        }
        need("prompt")?;
        if function == "expand" {
            for side in ["top_scale", "bottom_scale", "left_scale", "right_scale"] {
                let scale = body["parameters"][side].as_f64().unwrap_or(1.0);
                if !(1.0..=2.0).contains(&scale) {
                    return Err(format!("parameters.{side} must be within [1.0, 2.0]"));
                }
            }
        }
        Ok(vec![need("base_image_url")?])
    } else if model == "wanx-style-repaint-v1" {
        if input["style_index"].as_i64().is_none() {
            return Err("input.style_index is required".into());
        }
        Ok(vec![need("image_url")?])
    } else if model.contains("t2i") {
        Ok(Vec::new())
    } else {
        Err(format!("model {model} is not emulated"))
    }
}

/// Downloads (or decodes) an input the way DashScope would.
async fn fetch_input(
    emulator: &DashScopeEmulator,
    url: &str,
    headers: &HeaderMap,
) -> Result<DynamicImage, String> {
    let bytes = if let Some(data) = url.strip_prefix("data:") {
        let (_, b64) = data.split_once(";base64,").ok_or("bad data URI")?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| e.to_string())?
    } else if let Some(key) = url.strip_prefix("oss://") {
        if headers
            .get("X-DashScope-OssResourceResolve")
            .and_then(|v| v.to_str().ok())
            != Some("enable")
        {
            return Err("oss:// input without X-DashScope-OssResourceResolve".into());
        }
        emulator
            .lock()
            .uploads
            .get(key)
            .cloned()
            .ok_or("oss:// key was never uploaded")?
    } else {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = client.get(url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        response.bytes().await.map_err(|e| e.to_string())?.to_vec()
    };
    image::load_from_memory(&bytes).map_err(|e| format!("not an image: {e}"))
}

/// The size a model's result would have.
fn result_size(model: &str, body: &Value, input: (u32, u32)) -> (u32, u32) {
    let p = &body["parameters"];
    if body["input"]["function"] == "expand" {
        let s = |k: &str| p[k].as_f64().unwrap_or(1.0);
        let w = input.0 as f64 * (s("left_scale") + s("right_scale") - 1.0);
        let h = input.1 as f64 * (s("top_scale") + s("bottom_scale") - 1.0);
        return (w.round() as u32, h.round() as u32);
    }
    if body["input"]["function"] == "super_resolution" {
        let f = p["upscale_factor"].as_u64().unwrap_or(1) as u32;
        return (input.0 * f, input.1 * f);
    }
    if model.contains("t2i") {
        if let Some((w, h)) = p["size"].as_str().and_then(|s| s.split_once('*')) {
            return (w.parse().unwrap_or(64), h.parse().unwrap_or(64));
        }
    }
    input
}

async fn submit(
    State(emulator): State<DashScopeEmulator>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&headers) {
        return error(401, "InvalidApiKey", "Invalid API-key provided.");
    }
    if headers
        .get("X-DashScope-Async")
        .and_then(|v| v.to_str().ok())
        != Some("enable")
    {
        return error(
            403,
            "AccessDenied",
            "current user api does not support synchronous calls",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "InvalidParameter.JsonPhrase", "body is not JSON");
    };
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let expected_path = match model.as_str() {
        m if m.starts_with("wanx-background-generation") => "background-generation/generation/",
        m if m.starts_with("aitryon") || m == "wanx2.1-imageedit" => "image2image/image-synthesis",
        "wanx-style-repaint-v1" => "image-generation/generation",
        m if m.starts_with("wan2.6") => "image-generation/generation",
        _ => "text2image/image-synthesis",
    };
    if path != expected_path {
        return error(404, "NotFound", &format!("{model} is not served at {path}"));
    }
    let scripted = emulator
        .lock()
        .submit_scripts
        .get_mut(&model)
        .and_then(VecDeque::pop_front);
    match scripted {
        Some(SubmitScript::Error {
            status,
            code,
            retry_after,
        }) => {
            let mut response = error(status, &code, "scripted");
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.to_string().parse().unwrap());
            }
            return response;
        }
        Some(SubmitScript::Garbage) => {
            return (StatusCode::OK, "<html>gateway</html>").into_response();
        }
        Some(SubmitScript::Slow(wait)) => tokio::time::sleep(wait).await,
        None => {}
    }
    // DashScope's own limits: a breach is what the adapter must never cause.
    {
        let mut inner = emulator.lock();
        if let Some(&(rps, concurrency)) = inner.limits.get(&model) {
            let now = Instant::now();
            let window = Duration::from_secs_f64(0.95);
            let recent = inner.submit_times.entry(model.clone()).or_default();
            recent.retain(|t| now.duration_since(*t) < window);
            let running = inner
                .tasks
                .values()
                .filter(|t| t.model == model && t.occupies_quota())
                .count() as u32;
            let recent = inner.submit_times.get(&model).map_or(0, Vec::len);
            if recent as f64 >= rps || running >= concurrency {
                inner.throttled += 1;
                drop(inner);
                return error(429, "Throttling.RateQuota", "Requests rate limit exceeded");
            }
            inner
                .submit_times
                .entry(model.clone())
                .or_default()
                .push(now);
        }
    }
    let urls = match required_inputs(&model, &body) {
        Ok(urls) => urls,
        Err(message) => return error(400, "InvalidParameter", &message),
    };
    let mut inputs = Vec::with_capacity(urls.len());
    for url in &urls {
        match fetch_input(&emulator, url, &headers).await {
            Ok(image) => inputs.push(image),
            Err(message) => {
                return error(
                    400,
                    "InvalidParameter.FileDownload",
                    &format!("{url}: {message}"),
                );
            }
        }
    }
    let size = inputs.first().map_or((64, 64), |i| (i.width(), i.height()));
    let size = result_size(&model, &body, size);
    let task_id = uuid::Uuid::new_v4().to_string();
    let mut inner = emulator.lock();
    let script = inner
        .scripts
        .get(&model)
        .cloned()
        .unwrap_or(TaskScript::Succeed {
            polls: 2,
            images: 1,
        });
    // n images, as asked, unless the script says otherwise.
    let script = if let TaskScript::Succeed { polls, images: 1 } = script {
        TaskScript::Succeed {
            polls,
            images: body["parameters"]["n"].as_u64().unwrap_or(1) as u32,
        }
    } else {
        script
    };
    inner.tasks.insert(
        task_id.clone(),
        Task {
            model: model.clone(),
            body: body.clone(),
            inputs,
            script,
            polls: 0,
            size,
            cancelled: false,
            done: false,
            submitted: Instant::now(),
        },
    );
    let running = inner
        .tasks
        .values()
        .filter(|t| t.model == model && t.occupies_quota())
        .count() as u32;
    let max = inner.max_running.entry(model.clone()).or_default();
    *max = (*max).max(running);
    inner.submitted.push(Submitted {
        model,
        path,
        body,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        at: Instant::now(),
    });
    axum::Json(json!({
        "output": { "task_id": task_id, "task_status": "PENDING" },
        "request_id": uuid::Uuid::new_v4().to_string(),
    }))
    .into_response()
}

const TIME: &str = "2025-07-08 09:45:07.614";

async fn query(
    State(emulator): State<DashScopeEmulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return error(401, "InvalidApiKey", "Invalid API-key provided.");
    }
    let base = format!("http://{}", emulator.addr);
    let mut inner = emulator.lock();
    inner.polls += 1;
    if inner.poll_garbage > 0 {
        inner.poll_garbage -= 1;
        return (StatusCode::OK, "{\"output\": ").into_response();
    }
    let Some(task) = inner.tasks.get_mut(&id) else {
        return axum::Json(json!({ "output": { "task_id": id, "task_status": "UNKNOWN" } }))
            .into_response();
    };
    task.polls += 1;
    let running = json!({ "output": { "task_id": id, "task_status": if task.polls == 1 { "PENDING" } else { "RUNNING" }, "submit_time": TIME } });
    if task.cancelled {
        return axum::Json(json!({ "output": { "task_id": id, "task_status": "CANCELED" } }))
            .into_response();
    }
    let url = |i: u32| json!({ "url": format!("{base}/results/{id}/{i}?Expires=1&Signature=x") });
    let reply = match task.script.clone() {
        TaskScript::Succeed { polls, .. } if task.polls <= polls => {
            return axum::Json(running).into_response();
        }
        TaskScript::NeverEnds => return axum::Json(running).into_response(),
        TaskScript::RunsFor(length) if task.submitted.elapsed() < length => {
            return axum::Json(running).into_response();
        }
        TaskScript::RunsFor(_) => json!({ "output": {
            "task_id": id, "task_status": "SUCCEEDED", "submit_time": TIME,
            "results": [url(0)],
            "task_metrics": { "TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0 },
        }}),
        TaskScript::Succeed { images, .. } => {
            let mut output = json!({
                "task_id": id, "task_status": "SUCCEEDED",
                "submit_time": TIME, "scheduled_time": "2025-07-08 09:45:07.665",
                "end_time": "2025-07-08 09:45:19.598",
                "task_metrics": { "TOTAL": images, "SUCCEEDED": images, "FAILED": 0 },
            });
            if task.model.starts_with("aitryon") {
                output["image_url"] = url(0)["url"].clone();
            } else if task.model.starts_with("wan2.6") {
                output["choices"] = json!([{ "message": { "role": "assistant", "content": [{ "type": "image", "image": url(0)["url"] }] } }]);
            } else {
                output["results"] = (0..images).map(url).collect();
            }
            json!({ "output": output, "usage": { "image_count": images } })
        }
        TaskScript::Partial { ok, failed } => {
            let mut results: Vec<Value> = (0..ok).map(url).collect();
            results.extend(
                (0..failed).map(
                    |_| json!({ "code": "InternalError.Timeout", "message": "image timed out" }),
                ),
            );
            json!({ "output": {
                "task_id": id, "task_status": "SUCCEEDED", "submit_time": TIME,
                "results": results,
                "task_metrics": { "TOTAL": ok + failed, "SUCCEEDED": ok, "FAILED": failed },
            }})
        }
        TaskScript::Fail { code, message } => json!({ "output": {
            "task_id": id, "task_status": "FAILED", "code": code, "message": message,
        }}),
        TaskScript::Vanish => json!({ "output": { "task_id": id, "task_status": "UNKNOWN" } }),
    };
    task.done = true;
    axum::Json(reply).into_response()
}

async fn cancel(
    State(emulator): State<DashScopeEmulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return error(401, "InvalidApiKey", "Invalid API-key provided.");
    }
    let mut inner = emulator.lock();
    inner.cancels.push(id.clone());
    match inner.tasks.get_mut(&id) {
        // DashScope cancels PENDING tasks only.
        Some(task) if matches!(task.script, TaskScript::RunsFor(_)) && task.polls >= 1 => error(
            400,
            "UnsupportedOperation",
            "task is RUNNING; only PENDING tasks can be cancelled",
        ),
        Some(task) if !task.done => {
            task.cancelled = true;
            axum::Json(json!({ "request_id": "r" })).into_response()
        }
        _ => error(400, "UnsupportedOperation", "task is not PENDING"),
    }
}

async fn policy(
    State(emulator): State<DashScopeEmulator>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return error(401, "InvalidApiKey", "Invalid API-key provided.");
    }
    if query.get("action").map(String::as_str) != Some("getPolicy") || !query.contains_key("model")
    {
        return error(400, "InvalidParameter", "action=getPolicy&model= required");
    }
    axum::Json(json!({ "request_id": "r", "data": {
        "policy": "cG9saWN5", "signature": "c2ln", "upload_dir": format!("dashscope-instant/{}", query["model"]),
        "upload_host": format!("http://{}/oss", emulator.addr), "expire_in_seconds": 300,
        "max_file_size_mb": 100, "capacity_limit_mb": 999999999, "oss_access_key_id": "LTAI-emulator",
        "x_oss_object_acl": "private", "x_oss_forbid_overwrite": "true",
    }}))
    .into_response()
}

async fn oss_upload(State(emulator): State<DashScopeEmulator>, mut form: Multipart) -> Response {
    let mut fields = BTreeMap::new();
    let mut file = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            file = Some(field.bytes().await.unwrap().to_vec());
        } else {
            if file.is_some() {
                return (
                    StatusCode::BAD_REQUEST,
                    "fields after the file are ignored by OSS",
                )
                    .into_response();
            }
            fields.insert(name, field.text().await.unwrap_or_default());
        }
    }
    for required in [
        "OSSAccessKeyId",
        "Signature",
        "policy",
        "key",
        "success_action_status",
    ] {
        if !fields.contains_key(required) {
            return (StatusCode::BAD_REQUEST, format!("missing {required}")).into_response();
        }
    }
    let Some(file) = file else {
        return (StatusCode::BAD_REQUEST, "no file").into_response();
    };
    emulator.lock().uploads.insert(fields["key"].clone(), file);
    StatusCode::OK.into_response()
}

/// The result image `index` of a task, as a PNG.
async fn result(
    State(emulator): State<DashScopeEmulator>,
    Path((id, index)): Path<(String, u32)>,
) -> Response {
    let image = {
        let inner = emulator.lock();
        let Some(task) = inner.tasks.get(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        render_result(task, index)
    };
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    ([(header::CONTENT_TYPE, "image/png")], png).into_response()
}

/// What the task's model would make of its inputs, at the task's result size.
fn render_result(task: &Task, index: u32) -> DynamicImage {
    let (w, h) = (task.size.0.max(1), task.size.1.max(1));
    let Some(first) = task.inputs.first() else {
        // Text-to-image: a gradient.
        return DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
        }));
    };
    let input = first.to_rgba8();
    let model = task.model.as_str();
    let function = task.body["input"]["function"].as_str().unwrap_or_default();
    if model.starts_with("wanx-background-generation") {
        // The subject's opaque pixels over the reference, a little lighter per variant.
        let background = task.inputs[1].resize_exact(w, h, image::imageops::FilterType::Triangle);
        let mut canvas = background.to_rgba8();
        for p in canvas.pixels_mut() {
            for c in &mut p.0[..3] {
                *c = c.saturating_add((index * 24) as u8);
            }
        }
        image::imageops::overlay(&mut canvas, &input, 0, 0);
        return DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(canvas).to_rgb8());
    }
    if model.starts_with("aitryon") {
        // The person, half-tinted by the first garment's average colour.
        let garment = task.inputs[1].resize_exact(1, 1, image::imageops::FilterType::Triangle);
        let tint = garment.to_rgb8().get_pixel(0, 0).0;
        let mut person = first.to_rgb8();
        for p in person.pixels_mut() {
            for (c, t) in p.0.iter_mut().zip(tint) {
                *c = ((u16::from(*c) + u16::from(t)) / 2) as u8;
            }
        }
        return DynamicImage::ImageRgb8(person);
    }
    if function == "expand" {
        // The input where it was, its edges stretched over the new margins.
        let scale = |k: &str| task.body["parameters"][k].as_f64().unwrap_or(1.0);
        let left = (f64::from(input.width()) * (scale("left_scale") - 1.0)).round() as i64;
        let top = (f64::from(input.height()) * (scale("top_scale") - 1.0)).round() as i64;
        let (iw, ih) = (i64::from(input.width()), i64::from(input.height()));
        return DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
            let sx = (i64::from(x) - left).clamp(0, iw - 1) as u32;
            let sy = (i64::from(y) - top).clamp(0, ih - 1) as u32;
            *input.get_pixel(sx, sy)
        }));
    }
    if model == "wanx-style-repaint-v1" {
        // Flat colour areas, like an illustration; no transparency, as DashScope's own.
        let mut painted = first
            .resize_exact(w, h, image::imageops::FilterType::Triangle)
            .to_rgb8();
        for p in painted.pixels_mut() {
            for c in &mut p.0 {
                *c = (*c / 64) * 64 + 32;
            }
        }
        return DynamicImage::ImageRgb8(painted);
    }
    // Super-resolution and watermark removal: the input at the result size.
    first.resize_exact(w, h, image::imageops::FilterType::Triangle)
}
