//! An emulator of ComfyUI's HTTP + WebSocket API (PROVIDERS.md §4.1) on loopback.
//!
//! A submitted prompt runs a scripted timeline and sends what a real server sends to the
//! submitting client's socket: `status`, `execution_start`, `execution_cached`, `executing`,
//! `progress`, `progress_state`, previews as binary frames (type 4 to clients that announced
//! `supports_preview_metadata`, type 1 otherwise), `executed`, `execution_success`, and
//! `executing {node: null}` once history is written. Scripts also fail (`execution_error`),
//! get interrupted, save fewer images than the batch, hang until cancelled, or kill the whole server mid-run (listener, open
//! HTTP connections and sockets). The server may lack the jobs API or the WebSocket, as
//! older or proxied servers do. Every cancel (`/api/jobs/{id}/cancel`, `/interrupt`, queue
//! delete) is recorded.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

/// What a submitted prompt does.
#[derive(Debug, Clone)]
pub enum RunScript {
    /// Runs `steps` sampler steps, one preview frame after each of the first `previews`.
    Succeed { steps: u32, previews: u32 },
    /// `execution_error` from the sampler after `at_step` steps.
    Fail {
        at_step: u32,
        exception_type: String,
    },
    /// Interrupted at the server (an operator) after `at_step` steps.
    Interrupted { at_step: u32 },
    /// Samples for ever, until cancelled.
    Hang,
    /// The whole server dies after `at_step` steps.
    DieMidRun { at_step: u32 },
    /// `/prompt` answers 400 with a node error (a model the server does not have).
    Refuse,
    /// Succeeds, but saves only `images` of the batch (a node that dropped some).
    Short { images: u32 },
}

/// Which parts of the API the server has.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub jobs_api: bool,
    pub websocket: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            jobs_api: true,
            websocket: true,
        }
    }
}

/// A cancel the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    Job(String),
    Interrupt(Option<String>),
    QueueDelete(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub prompt_id: String,
    pub client_id: String,
    pub graph: Map<String, Value>,
}

enum Out {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Default)]
struct Inner {
    script: Option<RunScript>,
    step_delay: Duration,
    sockets: HashMap<String, mpsc::UnboundedSender<Out>>,
    metadata_clients: HashSet<String>,
    submitted: Vec<Submitted>,
    pending: Vec<(u64, String)>,
    running: Option<(u64, String)>,
    history: BTreeMap<String, Value>,
    cancelled: HashSet<String>,
    cancels: Vec<Cancel>,
    uploads: Vec<(String, usize)>,
    outputs: HashMap<String, (u32, u32)>,
    views: u32,
    number: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    features: Features,
    dead: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct ComfyUiEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl ComfyUiEmulator {
    pub async fn start(features: Features) -> Self {
        let (dead, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                step_delay: Duration::from_millis(5),
                ..Inner::default()
            }),
            features,
            dead,
        });
        let mut app = Router::new()
            .route("/prompt", post(submit))
            .route("/queue", get(queue).post(queue_delete))
            .route("/interrupt", post(interrupt))
            .route("/history/{id}", get(history))
            .route("/view", get(view))
            .route("/upload/image", post(upload))
            .route("/ws", get(ws));
        if features.jobs_api {
            app = app
                .route("/api/jobs/{id}", get(job))
                .route("/api/jobs/{id}/cancel", post(job_cancel));
        }
        let app = app.with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, app, shared.dead.subscribe()));
        ComfyUiEmulator { addr, shared }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The script of every prompt submitted from now on.
    pub fn script(&self, script: RunScript) {
        self.lock().script = Some(script);
    }

    pub fn step_delay(&self, delay: Duration) {
        self.lock().step_delay = delay;
    }

    pub fn submitted(&self) -> Vec<Submitted> {
        self.lock().submitted.clone()
    }

    pub fn cancels(&self) -> Vec<Cancel> {
        self.lock().cancels.clone()
    }

    pub fn uploads(&self) -> Vec<(String, usize)> {
        self.lock().uploads.clone()
    }

    /// Waits until a cancel arrives (or `within` passes).
    pub async fn wait_for_cancel(&self, within: Duration) -> Vec<Cancel> {
        let until = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < until {
            let cancels = self.cancels();
            if !cancels.is_empty() {
                return cancels;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.cancels()
    }

    /// Kills the server: no new connections, open ones dropped, sockets closed.
    pub fn die(&self) {
        self.shared.dead.send_replace(true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap()
    }
}

/// An accept loop (instead of `axum::serve`) so that dying drops live connections too.
async fn serve(listener: tokio::net::TcpListener, app: Router, mut dead: watch::Receiver<bool>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let service = hyper_util::service::TowerToHyperService::new(app);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = died(&mut dead) => return,
        };
        let service = service.clone();
        let mut dead = dead.clone();
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = died(&mut dead) => {}
            }
        });
    }
}

type St = State<Arc<Shared>>;

/// Resolves once the server is dead (the watch guard is not held across awaits).
async fn died(dead: &mut watch::Receiver<bool>) {
    let _ = dead.wait_for(|d| *d).await;
}

async fn submit(State(shared): St, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    let Some(graph) = body.get("prompt").and_then(Value::as_object).cloned() else {
        let error = json!({"error": {"type": "no_prompt", "message": "No prompt provided"}, "node_errors": {}});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let client_id = body["client_id"].as_str().unwrap_or_default().to_owned();
    let prompt_id = match body.get("prompt_id").and_then(Value::as_str) {
        Some(id) => match uuid::Uuid::parse_str(id) {
            Ok(parsed) if parsed.hyphenated().to_string() == id => id.to_owned(),
            _ => {
                let error = json!({"error": {"type": "invalid_prompt_id", "message": "prompt_id must be a uuid"}, "node_errors": {}});
                return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
            }
        },
        None => uuid::Uuid::new_v4().to_string(),
    };
    let mut inner = shared.inner.lock().unwrap();
    let script = inner.script.clone().unwrap_or(RunScript::Succeed {
        steps: 4,
        previews: 2,
    });
    if matches!(script, RunScript::Refuse) {
        let error = json!({
            "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list", "details": "ckpt_name: 'v1-5-pruned-emaonly.safetensors' not in []"}], "class_type": "CheckpointLoaderSimple"}}
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    inner.number += 1;
    let number = inner.number;
    inner.submitted.push(Submitted {
        prompt_id: prompt_id.clone(),
        client_id: client_id.clone(),
        graph: graph.clone(),
    });
    inner.pending.push((number, prompt_id.clone()));
    drop(inner);
    tokio::spawn(run(
        shared.clone(),
        prompt_id.clone(),
        client_id,
        graph,
        script,
    ));
    axum::Json(json!({"prompt_id": prompt_id, "number": number, "node_errors": {}})).into_response()
}

/// Sends `event` to the run's client, if its socket is open.
fn send(shared: &Shared, client_id: &str, kind: &str, data: Value) {
    let inner = shared.inner.lock().unwrap();
    if let Some(socket) = inner.sockets.get(client_id) {
        let _ = socket.send(Out::Text(json!({"type": kind, "data": data}).to_string()));
    }
}

fn send_preview(shared: &Shared, client_id: &str, prompt_id: &str) {
    let inner = shared.inner.lock().unwrap();
    let Some(socket) = inner.sockets.get(client_id) else {
        return;
    };
    let jpeg = jpeg(32, 32);
    let mut frame = Vec::new();
    if inner.metadata_clients.contains(client_id) {
        let meta = json!({"node_id": "3", "prompt_id": prompt_id, "display_node_id": "3",
            "parent_node_id": null, "real_node_id": "3", "image_type": "image/jpeg"})
        .to_string();
        frame.extend_from_slice(&4u32.to_be_bytes());
        frame.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        frame.extend_from_slice(meta.as_bytes());
    } else {
        frame.extend_from_slice(&1u32.to_be_bytes());
        frame.extend_from_slice(&1u32.to_be_bytes());
    }
    frame.extend_from_slice(&jpeg);
    let _ = socket.send(Out::Binary(frame));
}

fn broadcast_status(shared: &Shared) {
    let inner = shared.inner.lock().unwrap();
    let remaining = inner.pending.len() + usize::from(inner.running.is_some());
    let message = json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": remaining}}}}).to_string();
    for socket in inner.sockets.values() {
        let _ = socket.send(Out::Text(message.clone()));
    }
}

async fn run(
    shared: Arc<Shared>,
    prompt_id: String,
    client_id: String,
    graph: Map<String, Value>,
    script: RunScript,
) {
    let delay = shared.inner.lock().unwrap().step_delay;
    // One run at a time, like ComfyUI's single worker.
    loop {
        {
            let mut inner = shared.inner.lock().unwrap();
            if inner.cancelled.contains(&prompt_id) {
                inner.pending.retain(|(_, id)| *id != prompt_id);
                return;
            }
            if inner.running.is_none()
                && inner
                    .pending
                    .first()
                    .is_some_and(|(_, id)| *id == prompt_id)
            {
                let entry = inner.pending.remove(0);
                inner.running = Some(entry);
                break;
            }
        }
        tokio::time::sleep(delay).await;
    }
    broadcast_status(&shared);
    let pid = prompt_id.as_str();
    let id = json!(pid);
    send(
        &shared,
        &client_id,
        "execution_start",
        json!({"prompt_id": id, "timestamp": 0}),
    );
    send(
        &shared,
        &client_id,
        "execution_cached",
        json!({"nodes": ["4", "6", "7"], "prompt_id": id}),
    );
    send(
        &shared,
        &client_id,
        "executing",
        json!({"node": "5", "display_node": "5", "prompt_id": id}),
    );
    send(
        &shared,
        &client_id,
        "executing",
        json!({"node": "3", "display_node": "3", "prompt_id": id}),
    );
    let (steps, previews) = match &script {
        RunScript::Succeed { steps, previews } => (*steps, *previews),
        RunScript::Short { .. } => (2, 0),
        RunScript::Fail { at_step, .. }
        | RunScript::Interrupted { at_step }
        | RunScript::DieMidRun { at_step } => (*at_step, 0),
        RunScript::Hang => (u32::MAX, 0),
        RunScript::Refuse => unreachable!(),
    };
    let mut step = 0;
    while step < steps {
        tokio::time::sleep(delay).await;
        if shared.inner.lock().unwrap().cancelled.contains(pid) {
            finish(
                &shared,
                &client_id,
                pid,
                "execution_interrupted",
                json!({"prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": []}),
            );
            return;
        }
        step += 1;
        send(
            &shared,
            &client_id,
            "progress",
            json!({"value": step, "max": steps.min(1000), "prompt_id": id, "node": "3"}),
        );
        send(
            &shared,
            &client_id,
            "progress_state",
            json!({"prompt_id": id, "nodes": {"3": {"value": step, "max": steps.min(1000), "state": "running", "node_id": "3", "prompt_id": id}}}),
        );
        if step <= previews {
            send_preview(&shared, &client_id, pid);
        }
        if *shared.dead.borrow() {
            return;
        }
    }
    let saved = if let RunScript::Short { images } = script {
        Some(images)
    } else {
        None
    };
    match script {
        RunScript::Fail { exception_type, .. } => {
            let error = json!({"prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": ["4", "5"],
                "exception_message": "sampling failed", "exception_type": exception_type, "traceback": [],
                "current_inputs": {}, "current_outputs": {}});
            finish(&shared, &client_id, pid, "execution_error", error);
            return;
        }
        RunScript::Interrupted { .. } => {
            finish(
                &shared,
                &client_id,
                pid,
                "execution_interrupted",
                json!({"prompt_id": id, "node_id": "3", "node_type": "KSampler", "executed": []}),
            );
            return;
        }
        RunScript::DieMidRun { .. } => {
            shared.dead.send_replace(true);
            return;
        }
        RunScript::Succeed { .. }
        | RunScript::Short { .. }
        | RunScript::Hang
        | RunScript::Refuse => {}
    }
    send(
        &shared,
        &client_id,
        "progress_state",
        json!({"prompt_id": id, "nodes": {"3": {"value": steps, "max": steps, "state": "finished"}}}),
    );
    send(
        &shared,
        &client_id,
        "executing",
        json!({"node": "8", "display_node": "8", "prompt_id": id}),
    );
    send(
        &shared,
        &client_id,
        "executing",
        json!({"node": "9", "display_node": "9", "prompt_id": id}),
    );
    let (width, height, mut batch) = latent_size(&graph);
    if let Some(images) = saved {
        batch = batch.min(images);
    }
    let images: Vec<Value> = (0..batch)
        .map(|i| json!({"filename": format!("imgforge_{pid}_{i:05}_.png"), "subfolder": "", "type": "output"}))
        .collect();
    {
        let mut inner = shared.inner.lock().unwrap();
        for image in &images {
            inner.outputs.insert(
                image["filename"].as_str().unwrap().to_owned(),
                (width, height),
            );
        }
    }
    send(
        &shared,
        &client_id,
        "executed",
        json!({"node": "9", "display_node": "9", "output": {"images": images}, "prompt_id": id}),
    );
    send(
        &shared,
        &client_id,
        "execution_success",
        json!({"prompt_id": id, "timestamp": 0}),
    );
    {
        let mut inner = shared.inner.lock().unwrap();
        inner.history.insert(pid.to_owned(), json!({
            "prompt": [0, pid, graph, {}, ["9"]],
            "outputs": {"9": {"images": images}},
            "status": {"status_str": "success", "completed": true, "messages": [["execution_start", {"prompt_id": pid}], ["execution_success", {"prompt_id": pid}]]},
            "meta": {}
        }));
        inner.running = None;
    }
    send(
        &shared,
        &client_id,
        "executing",
        json!({"node": null, "prompt_id": id}),
    );
    broadcast_status(&shared);
}

/// Ends a run that did not succeed: history with the event, then `executing null`.
fn finish(shared: &Shared, client_id: &str, prompt_id: &str, event: &str, data: Value) {
    send(shared, client_id, event, data.clone());
    {
        let mut inner = shared.inner.lock().unwrap();
        inner.history.insert(
            prompt_id.to_owned(),
            json!({
                "prompt": [0, prompt_id, {}, {}, []],
                "outputs": {},
                "status": {"status_str": "error", "completed": false, "messages": [[event, data]]},
                "meta": {}
            }),
        );
        inner.running = None;
    }
    send(
        shared,
        client_id,
        "executing",
        json!({"node": null, "prompt_id": prompt_id}),
    );
}

fn latent_size(graph: &Map<String, Value>) -> (u32, u32, u32) {
    for node in graph.values() {
        let inputs = &node["inputs"];
        if let (Some(w), Some(h)) = (inputs["width"].as_u64(), inputs["height"].as_u64()) {
            let batch = inputs["batch_size"]
                .as_u64()
                .or(inputs["amount"].as_u64())
                .unwrap_or(1);
            return (w as u32, h as u32, batch.max(1) as u32);
        }
    }
    (64, 64, 1)
}

async fn queue(State(shared): St) -> Response {
    let inner = shared.inner.lock().unwrap();
    let item = |(number, id): &(u64, String)| json!([number, id, {}, {}, []]);
    axum::Json(json!({
        "queue_running": inner.running.iter().map(item).collect::<Vec<_>>(),
        "queue_pending": inner.pending.iter().map(item).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn queue_delete(State(shared): St, axum::Json(body): axum::Json<Value>) -> Response {
    let ids: Vec<String> = body["delete"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut inner = shared.inner.lock().unwrap();
    for id in &ids {
        if inner.pending.iter().any(|(_, p)| p == id) {
            inner.cancelled.insert(id.clone());
        }
    }
    inner.cancels.push(Cancel::QueueDelete(ids));
    StatusCode::OK.into_response()
}

async fn interrupt(State(shared): St, body: Bytes) -> Response {
    let prompt_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["prompt_id"].as_str().map(str::to_owned));
    let mut inner = shared.inner.lock().unwrap();
    let running = inner.running.as_ref().map(|(_, id)| id.clone());
    if let Some(running) = running
        && prompt_id.as_ref().is_none_or(|id| *id == running)
    {
        inner.cancelled.insert(running);
    }
    inner.cancels.push(Cancel::Interrupt(prompt_id));
    StatusCode::OK.into_response()
}

async fn job(State(shared): St, Path(id): Path<String>) -> Response {
    let inner = shared.inner.lock().unwrap();
    let status = if inner.pending.iter().any(|(_, p)| *p == id) {
        "pending"
    } else if inner.running.as_ref().is_some_and(|(_, p)| *p == id) {
        "in_progress"
    } else if let Some(entry) = inner.history.get(&id) {
        if entry["status"]["status_str"] == "success" {
            "completed"
        } else {
            "failed"
        }
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    axum::Json(json!({"id": id, "status": status})).into_response()
}

async fn job_cancel(State(shared): St, Path(id): Path<String>) -> Response {
    let mut inner = shared.inner.lock().unwrap();
    inner.cancelled.insert(id.clone());
    inner.cancels.push(Cancel::Job(id));
    axum::Json(json!({"cancelled": true})).into_response()
}

async fn history(State(shared): St, Path(id): Path<String>) -> Response {
    let inner = shared.inner.lock().unwrap();
    match inner.history.get(&id) {
        Some(entry) => axum::Json(json!({ id: entry })).into_response(),
        None => axum::Json(json!({})).into_response(),
    }
}

async fn view(State(shared): St, Query(query): Query<HashMap<String, String>>) -> Response {
    let filename = query.get("filename").cloned().unwrap_or_default();
    let size = {
        let mut inner = shared.inner.lock().unwrap();
        inner.views += 1;
        inner.outputs.get(&filename).copied()
    };
    match size {
        Some((w, h)) if query.get("type").map(String::as_str) == Some("output") => {
            ([("content-type", "image/png")], png(w, h)).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn upload(State(shared): St, mut form: Multipart) -> Response {
    let mut name = String::new();
    let mut size = 0;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("image") {
            name = field.file_name().unwrap_or("upload.png").to_owned();
            size = field.bytes().await.map(|b| b.len()).unwrap_or(0);
        }
    }
    if size == 0 {
        return StatusCode::BAD_REQUEST.into_response();
    }
    shared
        .inner
        .lock()
        .unwrap()
        .uploads
        .push((name.clone(), size));
    axum::Json(json!({"name": name, "subfolder": "", "type": "input"})).into_response()
}

async fn ws(
    State(shared): St,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !shared.features.websocket {
        return StatusCode::NOT_FOUND.into_response();
    }
    let client_id = query.get("clientId").cloned().unwrap_or_default();
    upgrade.on_upgrade(move |socket| session(shared, client_id, socket))
}

async fn session(shared: Arc<Shared>, client_id: String, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    shared
        .inner
        .lock()
        .unwrap()
        .sockets
        .insert(client_id.clone(), tx);
    let hello = json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id}});
    let _ = socket.send(Message::Text(hello.to_string().into())).await;
    let mut dead = shared.dead.subscribe();
    loop {
        tokio::select! {
            out = rx.recv() => {
                let message = match out {
                    Some(Out::Text(text)) => Message::Text(text.into()),
                    Some(Out::Binary(bytes)) => Message::Binary(bytes.into()),
                    None => break,
                };
                if socket.send(message).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let Ok(message) = serde_json::from_str::<Value>(&text) else { continue };
                    if message["type"] == "feature_flags" && message["data"]["supports_preview_metadata"] == true {
                        shared.inner.lock().unwrap().metadata_clients.insert(client_id.clone());
                        let reply = json!({"type": "feature_flags", "data": {"supports_preview_metadata": true, "max_upload_size": 104857600}});
                        let _ = socket.send(Message::Text(reply.to_string().into())).await;
                    }
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
            _ = died(&mut dead) => break,
        }
    }
    shared.inner.lock().unwrap().sockets.remove(&client_id);
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 8) as u8, 64])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}
