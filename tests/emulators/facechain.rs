//! A loopback emulator of DashScope's FaceChain endpoints (PROVIDERS.md §2.7): training jobs
//! under `/fine-tunes`, generation as an async task under `/services/aigc/album/gen_potrait`
//! polled at `/tasks/{id}`, result images under `/images/`. Each submit follows a script:
//! accepted with a scripted course, or refused (429 with Retry-After, 500, unreadable JSON).
#![allow(dead_code)]
// Helpers return the finished refusal as the error, and an emulator is not hot code.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const API_KEY: &str = "sk-facechain-emulator";

/// How a job or task runs once accepted.
#[derive(Debug, Clone)]
pub enum Course {
    /// `running_polls` polls answer RUNNING (the first PENDING), then the end.
    Runs { running_polls: u32, end: End },
    /// Never ends.
    Hangs,
}

#[derive(Debug, Clone)]
pub enum End {
    /// Training: SUCCEEDED with a LoRA resource. Generation: one entry per item.
    Succeeded(Vec<Item>),
    Failed {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub enum Item {
    Image,
    Failed { code: String, message: String },
}

/// How a submit is answered.
#[derive(Debug, Clone)]
pub enum Submit {
    Accept(Course),
    Throttle { retry_after_secs: u32 },
    ServerError,
    Garbage,
}

#[derive(Default)]
struct World {
    submits: VecDeque<Submit>,
    jobs: HashMap<String, (Course, u32)>,
    bodies: Vec<(String, Value)>,
    /// Polls still to fail with 500, then to answer with garbage.
    failing_polls: u32,
    garbled_polls: u32,
    polls: u32,
    next_id: u32,
    /// Download every training photo as DashScope would, refusing the job when one fails.
    fetch_photos: bool,
    /// Sizes of the photos downloaded.
    fetched: Vec<usize>,
}

#[derive(Clone)]
pub struct FaceChainEmulator {
    world: Arc<Mutex<World>>,
    pub addr: SocketAddr,
}

impl FaceChainEmulator {
    pub async fn start() -> FaceChainEmulator {
        let world = Arc::new(Mutex::new(World::default()));
        let app = Router::new()
            .route("/api/v1/fine-tunes", post(submit_training))
            .route("/api/v1/fine-tunes/{id}", get(poll_training))
            .route(
                "/api/v1/services/aigc/album/gen_potrait",
                post(submit_generation),
            )
            .route("/api/v1/tasks/{id}", get(poll_task))
            .route("/images/{name}", get(image))
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FaceChainEmulator { world, addr }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Answers the next submits (training or generation) in this order; then accepts with
    /// a quick success.
    pub fn script(&self, submits: Vec<Submit>) {
        self.world.lock().unwrap().submits.extend(submits);
    }

    pub fn fail_polls(&self, n: u32) {
        self.world.lock().unwrap().failing_polls = n;
    }

    pub fn garble_polls(&self, n: u32) {
        self.world.lock().unwrap().garbled_polls = n;
    }

    /// Every accepted or refused submit: its path and body.
    pub fn bodies(&self) -> Vec<(String, Value)> {
        self.world.lock().unwrap().bodies.clone()
    }

    /// From now on, training submits download their photos (so a test proves the links it
    /// was given resolve) and are refused with 400 when one does not.
    pub fn fetch_photos(&self) {
        self.world.lock().unwrap().fetch_photos = true;
    }

    /// Byte sizes of the training photos downloaded so far.
    pub fn fetched(&self) -> Vec<usize> {
        self.world.lock().unwrap().fetched.clone()
    }

    pub fn polls(&self) -> u32 {
        self.world.lock().unwrap().polls
    }
}

fn authorized(headers: &HeaderMap) -> Result<(), Response> {
    let expected = format!("Bearer {API_KEY}");
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
    {
        return Ok(());
    }
    Err((
        StatusCode::UNAUTHORIZED,
        Json(json!({"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": "r"})),
    )
        .into_response())
}

/// Applies the next submit script; `Ok(id)` when accepted.
fn accept(world: &Arc<Mutex<World>>, path: &str, body: Value) -> Result<String, Response> {
    let mut world = world.lock().unwrap();
    world.bodies.push((path.to_owned(), body));
    let script = world
        .submits
        .pop_front()
        .unwrap_or(Submit::Accept(Course::Runs {
            running_polls: 1,
            end: End::Succeeded(vec![Item::Image]),
        }));
    match script {
        Submit::Accept(course) => {
            world.next_id += 1;
            let id = format!("id-{}", world.next_id);
            world.jobs.insert(id.clone(), (course, 0));
            Ok(id)
        }
        Submit::Throttle { retry_after_secs } => Err((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            Json(json!({"code": "Throttling.RateQuota", "message": "Requests rate limit exceeded", "request_id": "r"})),
        )
            .into_response()),
        Submit::ServerError => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"code": "InternalError", "message": "boom", "request_id": "r"})),
        )
            .into_response()),
        Submit::Garbage => Err((StatusCode::OK, "{\"output\": [unterminated").into_response()),
    }
}

/// Advances a job by one poll: its status and, once ended, how.
fn advance(world: &Arc<Mutex<World>>, id: &str) -> Result<(&'static str, Option<End>), Response> {
    let mut world = world.lock().unwrap();
    world.polls += 1;
    if world.failing_polls > 0 {
        world.failing_polls -= 1;
        return Err((StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response());
    }
    if world.garbled_polls > 0 {
        world.garbled_polls -= 1;
        return Err((StatusCode::OK, "not json").into_response());
    }
    let Some((course, polls)) = world.jobs.get_mut(id) else {
        return Err((
            StatusCode::NOT_FOUND,
            Json(json!({"code": "NotFound", "message": "no such job", "request_id": "r"})),
        )
            .into_response());
    };
    *polls += 1;
    match course {
        Course::Hangs => Ok(("RUNNING", None)),
        Course::Runs { running_polls, end } => {
            if *polls == 1 && *running_polls > 0 {
                Ok(("PENDING", None))
            } else if *polls <= *running_polls {
                Ok(("RUNNING", None))
            } else {
                let status = match end {
                    End::Succeeded(_) => "SUCCEEDED",
                    End::Failed { .. } => "FAILED",
                };
                Ok((status, Some(end.clone())))
            }
        }
    }
}

async fn submit_training(
    State(world): State<Arc<Mutex<World>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    let files = body["training_file_ids"].as_array().map_or(0, Vec::len);
    if body["model"] != "facechain-finetune" || !(1..=10).contains(&files) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": "InvalidParameter", "message": "training_file_ids must hold 1-10 items", "request_id": "r"})),
        )
            .into_response();
    }
    let fetch = world.lock().unwrap().fetch_photos;
    if fetch {
        let urls: Vec<String> = body["training_file_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for url in urls {
            let photo = match http.get(&url).send().await {
                Ok(answer) if answer.status().is_success() => answer.bytes().await.ok(),
                _ => None,
            };
            match photo {
                Some(bytes) => world.lock().unwrap().fetched.push(bytes.len()),
                None => {
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"code": "InvalidURL", "message": format!("cannot download {url}"), "request_id": "r"})),
                    )
                        .into_response();
                }
            }
        }
    }
    match accept(&world, "fine-tunes", body) {
        Ok(id) => Json(json!({"output": {"job_id": id, "status": "PENDING",
            "finetuned_output": format!("facechain-finetune-{id}"), "model": "facechain-finetune"},
            "request_id": "r"}))
        .into_response(),
        Err(refused) => refused,
    }
}

async fn poll_training(
    State(world): State<Arc<Mutex<World>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    match advance(&world, &id) {
        Err(answer) => answer,
        Ok((status, end)) => {
            let mut output = json!({"job_id": id, "status": status, "finetuned_output": format!("facechain-finetune-{id}")});
            if let Some(End::Failed { code, message }) = end {
                output["code"] = json!(code);
                output["message"] = json!(message);
            }
            Json(json!({"output": output, "request_id": "r"})).into_response()
        }
    }
}

async fn submit_generation(
    State(world): State<Arc<Mutex<World>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    if headers
        .get("x-dashscope-async")
        .and_then(|v| v.to_str().ok())
        != Some("enable")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": "InvalidParameter", "message": "current user api does not support synchronous calls", "request_id": "r"})),
        )
            .into_response();
    }
    match accept(&world, "gen_potrait", body) {
        Ok(id) => {
            Json(json!({"output": {"task_id": id, "task_status": "PENDING"}, "request_id": "r"}))
                .into_response()
        }
        Err(refused) => refused,
    }
}

async fn poll_task(
    State(world): State<Arc<Mutex<World>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    let base = format!(
        "http://{}",
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1")
    );
    match advance(&world, &id) {
        Err(answer) => answer,
        Ok((status, end)) => {
            let mut output = json!({"task_id": id, "task_status": status});
            match end {
                None => {}
                Some(End::Succeeded(items)) => {
                    let results: Vec<Value> = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| match item {
                            Item::Image => json!({"url": format!("{base}/images/{id}-{i}.png")}),
                            Item::Failed { code, message } => {
                                json!({"code": code, "message": message})
                            }
                        })
                        .collect();
                    output["results"] = json!(results);
                }
                Some(End::Failed { code, message }) => {
                    output["code"] = json!(code);
                    output["message"] = json!(message);
                }
            }
            Json(json!({"output": output, "request_id": "r"})).into_response()
        }
    }
}

/// A small portrait-shaped PNG, different per name.
async fn image(Path(name): Path<String>) -> Response {
    let shade = name.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    let img = image::RgbImage::from_fn(48, 64, |x, y| {
        image::Rgb([shade, (x * 5) as u8, (y * 4) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    ([(header::CONTENT_TYPE, "image/png")], out.into_inner()).into_response()
}
