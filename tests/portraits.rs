//! Seed 003 AI portraits against a real server: the five calls over signed REST and signed
//! gRPC (with the watch stream) produce real stylised portraits from
//! `../shared/testdata/portrait_set/`; photos without the person are dropped naming each;
//! wrong counts, another tenant's paths, users and tasks, and unknown styles are refused. Then
//! the job system alone: two worker pools sharing PostgreSQL run 50 tasks exactly once, and a
//! task whose worker's lease expired is taken over.

mod common;
#[path = "common/portrait_rest.rs"]
mod portrait_rest;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use common::TestServer;
use imgforge::auth::Caller;
use imgforge::config::{ApiKeySettings, BlobStoreSettings, Secret, Settings};
use imgforge::domain::{EncodedImage, ImageFormat};
use imgforge::engine::Engine;
use imgforge::portrait::Portraits;
use imgforge::portrait::backend::{
    GenerationInput, Heartbeat, PortraitBackend, RemoteRef, TrainingInput, UserModelHandle,
};
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::portrait_service_client::PortraitServiceClient;
use imgforge::state::{
    Clock, ManualClock, PortraitTask, StateStore, SystemClock, TaskState, TaskType, UserModel,
    UserModelStatus,
};
use imgforge::webhooks::{CallbackSink, DeliveryOutcome, Verifier, WebhookSecret};
use portrait_rest::{PATIENCE, Receiver, Rest, headers, portrait_set};
use prost::Message;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;

const KEY: &str = "ak_portrait_a";
const SECRET: &str = "sk_portrait_a_0123456789";
const OTHER_KEY: &str = "ak_portrait_b";
const OTHER_SECRET: &str = "sk_portrait_b_0123456789";

fn keys(settings: &mut Settings) {
    settings.auth.keys = [(KEY, SECRET), (OTHER_KEY, OTHER_SECRET)]
        .into_iter()
        .map(|(id, secret)| ApiKeySettings {
            id: id.into(),
            secrets: vec![Secret::new(secret)],
            active: true,
            rate_per_sec: Some(1000.0),
            rate_burst: Some(1000),
        })
        .collect();
}

/// Saves a result where a person can look at it (`target/portraits/<name>`).
fn keep(name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/portraits");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(name), bytes);
}

async fn check_portraits(server: &TestServer, urls: &[Value], label: &str) {
    assert_eq!(urls.len(), 4, "{urls:?}");
    for (i, url) in urls.iter().enumerate() {
        let bytes = common::result_bytes(&server.http, url.as_str().unwrap()).await;
        let image = common::decode(&bytes).to_rgb8();
        assert!(image.width() >= 256 && image.height() >= 256);
        // A stylised portrait: the corners are the painted background, not the photo's.
        let corner = image.get_pixel(2, 2).0;
        assert!(corner.iter().any(|c| *c > 0), "{corner:?}");
        keep(&format!("{label}_{i}.jpg"), &bytes);
    }
}

#[tokio::test]
async fn rest_the_five_calls_in_order_make_stylised_portraits_and_refuse_what_the_readme_says() {
    let Some(photos) = portrait_set() else { return };
    let Some(server) = TestServer::with_models(keys).await else {
        return;
    };
    let rest = Rest::new(&server.http, &server.http_base, KEY, SECRET);
    let other = Rest::new(&server.http, &server.http_base, OTHER_KEY, OTHER_SECRET);

    // Unsigned: refused in seed 003's envelope.
    let unsigned = server
        .http
        .post(server.url("/cloud/aigc_task_query"))
        .body(r#"{"task_id":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let reply: Value = unsigned.json().await.unwrap();
    assert_eq!(reply["ret"], 401, "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().contains("x-imgforge-key"),
        "{reply}"
    );

    let mut paths = Vec::new();
    for (_, photo) in &photos {
        let path = rest.upload(photo).await;
        assert!(
            path.starts_with(&format!("user_upload/{KEY}/")) && path.ends_with(".jpg"),
            "{path}"
        );
        paths.push(path);
    }

    // Counts outside 8..=20, another tenant's paths, a bad callback: refused, naming the field.
    let (status, reply) = rest
        .post(
            "/cloud/aigc_user_model_create",
            json!({ "img_set": paths[..7] }),
        )
        .await;
    assert_eq!((status, reply["ret"].as_i64()), (400, Some(400)), "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().contains("img_set"),
        "{reply}"
    );
    let many: Vec<_> = paths.iter().cycle().take(21).collect();
    let (status, reply) = rest
        .post("/cloud/aigc_user_model_create", json!({ "img_set": many }))
        .await;
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = other
        .post("/cloud/aigc_user_model_create", json!({ "img_set": paths }))
        .await;
    assert_eq!((status, reply["ret"].as_i64()), (404, Some(404)), "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().contains("img_set[0]"),
        "{reply}"
    );
    let (status, reply) = rest
        .post(
            "/cloud/aigc_user_model_create",
            json!({ "img_set": paths, "callback_url": "ftp://x" }),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().contains("callback_url"),
        "{reply}"
    );
    // A private address (the address policy), then a public one while no secret can sign it.
    for (url, says) in [
        ("http://10.0.0.1/", "refused"),
        ("https://hooks.example.com/x", "webhooks.master_secret"),
    ] {
        let (status, reply) = rest
            .post(
                "/cloud/aigc_user_model_create",
                json!({ "img_set": paths, "callback_url": url }),
            )
            .await;
        assert_eq!((status, reply["ret"].as_i64()), (400, Some(400)), "{reply}");
        let msg = reply["msg"].as_str().unwrap();
        assert!(
            msg.contains("callback_url") && msg.contains(says),
            "{reply}"
        );
    }

    // 1-2: create the user model, poll it to state 3.
    let (status, reply) = rest
        .post("/cloud/aigc_user_model_create", json!({ "img_set": paths }))
        .await;
    assert_eq!((status, reply["ret"].as_i64()), (200, Some(0)), "{reply}");
    let training = reply["body"]["task_id"].as_str().unwrap().to_owned();
    let user_id = reply["body"]["user_id"].as_str().unwrap().to_owned();
    let done = rest.until_done(&training).await;
    assert_eq!(done["state"], 3, "{done}");
    assert_eq!(done["tsk_type"], 1);
    assert_eq!(done["id"], training.as_str());
    assert_eq!(done["result_paths"], json!([]));

    // 3: styles.
    let (status, reply) = rest
        .send("GET", "/cloud/aigc_product_brief_query", None, Vec::new())
        .await;
    assert_eq!((status, reply["ret"].as_i64()), (200, Some(0)), "{reply}");
    let styles = reply["body"].as_array().unwrap();
    assert!(styles.len() >= 2);
    for style in styles {
        for field in ["name", "style", "template", "sex"] {
            assert!(style[field].is_string(), "{style}");
        }
    }
    let style = styles[0]["style"].as_str().unwrap();

    // Unknown style, another tenant's user: refused.
    let (status, reply) = rest
        .post(
            "/cloud/aigc_task_create",
            json!({ "user_id": user_id, "style": "no-such-style" }),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["msg"].as_str().unwrap().contains("unknown style"),
        "{reply}"
    );
    let (status, _) = other
        .post(
            "/cloud/aigc_task_create",
            json!({ "user_id": user_id, "style": style }),
        )
        .await;
    assert_eq!(status, 404);

    // 4-5: generate, poll to state 3, fetch the portraits.
    let (status, reply) = rest
        .post(
            "/cloud/aigc_task_create",
            json!({ "user_id": user_id, "style": style }),
        )
        .await;
    assert_eq!((status, reply["ret"].as_i64()), (200, Some(0)), "{reply}");
    assert_eq!(reply["body"]["user_id"], user_id.as_str());
    let generation = reply["body"]["task_id"].as_str().unwrap().to_owned();
    let (status, _) = other
        .post("/cloud/aigc_task_query", json!({ "task_id": generation }))
        .await;
    assert_eq!(status, 404, "another tenant's task is not found");
    let done = rest.until_done(&generation).await;
    assert_eq!(done["state"], 3, "{done}");
    assert_eq!(done["tsk_type"], 2);
    check_portraits(&server, done["result_paths"].as_array().unwrap(), "rest").await;

    // Deleting the user model takes its tasks and results with it.
    let (status, _) = other
        .post(
            "/cloud/aigc_user_model_delete",
            json!({ "user_id": user_id }),
        )
        .await;
    assert_eq!(status, 404);
    let (status, reply) = rest
        .post(
            "/cloud/aigc_user_model_delete",
            json!({ "user_id": user_id }),
        )
        .await;
    assert_eq!(
        (status, reply["body"]["deleted_tasks"].as_i64()),
        (200, Some(2)),
        "{reply}"
    );
    let (status, _) = rest
        .post("/cloud/aigc_task_query", json!({ "task_id": generation }))
        .await;
    assert_eq!(status, 404);
    let gone = server
        .http
        .get(done["result_paths"][0].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "the results' bytes are deleted too");
    server.stop().await;
}

#[tokio::test]
async fn a_set_with_photos_of_no_person_drops_each_of_them_by_name() {
    let Some(photos) = portrait_set() else { return };
    let Some(cat) = common::testdata("chelsea.png") else {
        return;
    };
    let Some(coffee) = common::testdata("coffee.png") else {
        return;
    };
    let Some(server) = TestServer::with_models(keys).await else {
        return;
    };
    let rest = Rest::new(&server.http, &server.http_base, KEY, SECRET);
    let mut paths = Vec::new();
    for (_, photo) in photos.iter().take(8) {
        paths.push(rest.upload(photo).await);
    }
    let cat_path = rest.upload(&cat).await;
    let coffee_path = rest.upload(&coffee).await;
    paths.insert(3, cat_path.clone());
    paths.push(coffee_path.clone());
    let (status, reply) = rest
        .post("/cloud/aigc_user_model_create", json!({ "img_set": paths }))
        .await;
    assert_eq!(status, 200, "{reply}");
    let done = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    let message = done["msg"].as_str().unwrap_or_default();
    eprintln!("training ended in state {}: {message}", done["state"]);
    assert!(
        message.contains(&cat_path) && message.contains(&coffee_path),
        "{done}"
    );
    // Only the odd ones are named.
    for path in &paths {
        if *path != cat_path && *path != coffee_path {
            assert!(
                !message.contains(path.as_str()),
                "{path} was rejected: {message}"
            );
        }
    }
    assert_eq!(done["state"], 3, "eight good photos are enough: {done}");
    server.stop().await;
}

fn signed<T: Message>(key: &str, secret: &str, rpc: &str, message: T) -> tonic::Request<T> {
    let bytes = message.encode_to_vec();
    let mut request = tonic::Request::new(message);
    for (name, value) in headers(
        key,
        secret,
        "POST",
        &format!("/imgforge.v1.PortraitService/{rpc}"),
        &bytes,
    ) {
        request
            .metadata_mut()
            .insert(name, MetadataValue::try_from(value.as_str()).unwrap());
    }
    request
}

/// Watches a task to its end; returns every state seen, in order, and the last snapshot.
async fn watch(
    client: &mut PortraitServiceClient<tonic::transport::Channel>,
    task_id: &str,
) -> (Vec<i32>, pb::PortraitTask) {
    let mut stream = client
        .watch_portrait_task(signed(
            KEY,
            SECRET,
            "WatchPortraitTask",
            pb::WatchPortraitTaskRequest {
                task_id: task_id.into(),
            },
        ))
        .await
        .expect("watch starts")
        .into_inner();
    let mut states = Vec::new();
    let mut last = None;
    while let Some(event) = tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("the task ends in time")
        .expect("stream ok")
    {
        let task = event.task.unwrap();
        states.push(task.state);
        last = Some(task);
    }
    (states, last.expect("at least one snapshot"))
}

#[tokio::test]
async fn grpc_the_same_calls_with_the_watch_stream_make_portraits() {
    let Some(photos) = portrait_set() else { return };
    let Some(server) = TestServer::with_models(keys).await else {
        return;
    };
    let mut client =
        PortraitServiceClient::new(server.channel().await).max_decoding_message_size(64 << 20);
    let mut paths = Vec::new();
    for (_, photo) in &photos {
        let request = pb::UploadBasePhotoRequest {
            image: common::inline(photo.clone()),
            tenant: String::new(),
        };
        let reply = client
            .upload_base_photo(signed(KEY, SECRET, "UploadBasePhoto", request))
            .await
            .unwrap()
            .into_inner();
        paths.push(reply.path);
    }
    let unsigned = client
        .create_user_model(pb::CreateUserModelRequest {
            img_set: paths.clone(),
            callback_url: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unsigned.code(), tonic::Code::Unauthenticated);
    let created = client
        .create_user_model(signed(
            KEY,
            SECRET,
            "CreateUserModel",
            pb::CreateUserModelRequest {
                img_set: paths,
                callback_url: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (states, trained) = watch(&mut client, &created.task_id).await;
    assert_eq!(
        trained.state,
        pb::PortraitTaskState::Succeeded as i32,
        "{trained:?}"
    );
    assert!(
        states.windows(2).all(|w| w[0] < w[1]),
        "states only move forward: {states:?}"
    );

    let styles = client
        .list_portrait_styles(signed(
            KEY,
            SECRET,
            "ListPortraitStyles",
            pb::ListPortraitStylesRequest {},
        ))
        .await
        .unwrap()
        .into_inner()
        .styles;
    let style = styles.last().unwrap().style.clone();
    let unknown = client
        .create_portrait_task(signed(
            KEY,
            SECRET,
            "CreatePortraitTask",
            pb::CreatePortraitTaskRequest {
                user_id: created.user_id.clone(),
                style: "nope".into(),
                callback_url: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    let task = client
        .create_portrait_task(signed(
            KEY,
            SECRET,
            "CreatePortraitTask",
            pb::CreatePortraitTaskRequest {
                user_id: created.user_id.clone(),
                style,
                callback_url: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (_, done) = watch(&mut client, &task.task_id).await;
    assert_eq!(
        done.state,
        pb::PortraitTaskState::Succeeded as i32,
        "{done:?}"
    );
    assert_eq!(done.r#type, pb::PortraitTaskType::Generation as i32);
    let urls: Vec<Value> = done.result_paths.iter().map(|u| json!(u)).collect();
    check_portraits(&server, &urls, "grpc").await;

    let stranger = client
        .get_portrait_task(signed(
            OTHER_KEY,
            OTHER_SECRET,
            "GetPortraitTask",
            pb::GetPortraitTaskRequest {
                task_id: task.task_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), tonic::Code::NotFound);

    let request = pb::DeleteUserModelRequest {
        user_id: created.user_id.clone(),
    };
    let stranger = client
        .delete_user_model(signed(
            OTHER_KEY,
            OTHER_SECRET,
            "DeleteUserModel",
            request.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), tonic::Code::NotFound);
    let deleted = client
        .delete_user_model(signed(KEY, SECRET, "DeleteUserModel", request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted_tasks, 2);
    let gone = client
        .get_portrait_task(signed(
            KEY,
            SECRET,
            "GetPortraitTask",
            pb::GetPortraitTaskRequest {
                task_id: task.task_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
    server.stop().await;
}

/// Counts each task's renders; answers at once with a tiny image.
#[derive(Default)]
struct CountingBackend {
    runs: Mutex<HashMap<String, usize>>,
}

#[async_trait]
impl PortraitBackend for CountingBackend {
    fn name(&self) -> &'static str {
        "counting"
    }
    async fn submit_training(&self, input: &TrainingInput) -> imgforge::error::Result<RemoteRef> {
        Ok(RemoteRef(input.user_id.clone()))
    }
    async fn await_training(
        &self,
        _: &RemoteRef,
        _: &TrainingInput,
        _: &dyn Heartbeat,
    ) -> imgforge::error::Result<UserModelHandle> {
        Ok(UserModelHandle::default())
    }
    async fn submit_generation(
        &self,
        input: &GenerationInput,
    ) -> imgforge::error::Result<RemoteRef> {
        Ok(RemoteRef(format!("fake-{}", input.task_id)))
    }
    async fn await_generation(
        &self,
        job: &RemoteRef,
        input: &GenerationInput,
        _: &dyn Heartbeat,
    ) -> imgforge::error::Result<Vec<imgforge::error::Result<EncodedImage>>> {
        assert_eq!(
            job.0,
            format!("fake-{}", input.task_id),
            "the stored job is the one polled"
        );
        *self
            .runs
            .lock()
            .unwrap()
            .entry(input.task_id.clone())
            .or_default() += 1;
        tokio::task::yield_now().await;
        Ok(vec![Ok(EncodedImage {
            bytes: bytes::Bytes::from(common::photo_png(8, 8)),
            format: ImageFormat::Png,
            width: 8,
            height: 8,
        })])
    }
}

/// Records every callback it is handed.
#[derive(Default)]
struct RecordingSink {
    calls: Mutex<Vec<(String, String, String, String)>>,
}

#[async_trait]
impl CallbackSink for RecordingSink {
    async fn deliver(
        &self,
        tenant: &str,
        webhook_id: &str,
        url: &str,
        body_json: &Value,
    ) -> imgforge::error::Result<DeliveryOutcome> {
        self.calls.lock().unwrap().push((
            tenant.into(),
            webhook_id.into(),
            url.into(),
            body_json.to_string(),
        ));
        Ok(DeliveryOutcome::Delivered { attempts: 1 })
    }
}

struct Pool {
    portraits: Arc<Portraits>,
    backend: Arc<CountingBackend>,
    sink: Arc<RecordingSink>,
    stop: CancellationToken,
}

fn pool_settings(state_url: &str, dir: &std::path::Path) -> Settings {
    let mut settings = Settings::embedded();
    settings.blob_store = BlobStoreSettings::local(dir.join("blobs"));
    settings.state.url = state_url.to_owned();
    settings.state.data_dir = dir.join("state");
    settings.portrait.workers = 3;
    settings.portrait.poll_interval_ms = 20;
    settings.portrait.images_per_task = 1;
    settings
}

async fn pool(settings: &Settings, clock: Arc<dyn Clock>) -> Pool {
    let state = imgforge::state::open(&settings.state, clock)
        .await
        .expect("state opens");
    let engine = Engine::from_settings(settings).unwrap();
    let backend = Arc::new(CountingBackend::default());
    let sink = Arc::new(RecordingSink::default());
    let portraits = Arc::new(Portraits {
        backend: backend.clone(),
        callbacks: sink.clone(),
        ..Portraits::from_settings(settings, engine, state).unwrap()
    });
    Pool {
        portraits,
        backend,
        sink,
        stop: CancellationToken::new(),
    }
}

async fn ready_model(state: &dyn StateStore, now: SystemTime) {
    state
        .insert_user_model(&UserModel {
            user_id: "U1".into(),
            tenant: "ak".into(),
            status: UserModelStatus::Ready,
            photo_keys: vec![],
            remote_handle: None,
            created_at: now,
            expires_at: now + Duration::from_secs(3600),
        })
        .await
        .unwrap();
}

fn generation(now: SystemTime) -> PortraitTask {
    let mut task = PortraitTask::new(
        "ak",
        TaskType::Generation,
        "U1",
        now,
        now + Duration::from_secs(3600),
    );
    task.style = Some("20057d0c-8cef-447e-88d0-a8f3490fd0b0".into());
    task
}

async fn until_final(state: &dyn StateStore, ids: &[String]) -> Vec<PortraitTask> {
    let started = std::time::Instant::now();
    loop {
        let mut done = Vec::new();
        for id in ids {
            let task = state
                .portrait_task("ak", id)
                .await
                .unwrap()
                .expect("task exists");
            if task.state.is_final() {
                done.push(task);
            }
        }
        if done.len() == ids.len() {
            return done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} of {} ended",
            done.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The task's outbox row once its (spawned) delivery is recorded as done.
async fn until_delivered(
    state: &dyn StateStore,
    task_id: &str,
) -> imgforge::state::PortraitCallback {
    let started = std::time::Instant::now();
    loop {
        let row = state
            .portrait_callback(task_id)
            .await
            .unwrap()
            .expect("an outbox row");
        if row.delivered_at.is_some() {
            return row;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "callback not delivered: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_worker_pools_sharing_postgresql_run_fifty_tasks_once_each() {
    sqlx::any::install_default_drivers();
    let url = std::env::var("IMGFORGE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = match sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            common::unavailable(format_args!("PostgreSQL at {url}: {e}"));
            return;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let scoped = format!("{url}?options[search_path]={schema}");
    let dir = tempfile::tempdir().unwrap();
    let settings = pool_settings(&scoped, dir.path());
    let (a, b) = (
        pool(&settings, Arc::new(SystemClock)).await,
        pool(&settings, Arc::new(SystemClock)).await,
    );
    let now = SystemTime::now();
    ready_model(a.portraits.state.as_ref(), now).await;
    let mut ids = Vec::new();
    for _ in 0..50 {
        let task = generation(now);
        ids.push(task.id.clone());
        a.portraits.state.insert_portrait_task(&task).await.unwrap();
    }
    imgforge::portrait::worker::spawn(a.portraits.clone(), a.stop.clone());
    imgforge::portrait::worker::spawn(b.portraits.clone(), b.stop.clone());
    let done = until_final(a.portraits.state.as_ref(), &ids).await;
    a.stop.cancel();
    b.stop.cancel();
    assert!(
        done.iter().all(|t| t.state == TaskState::Succeeded
            && t.attempts == 1
            && t.result_keys.len() == 1),
        "{done:?}"
    );
    let (ran_a, ran_b) = (
        a.backend.runs.lock().unwrap().clone(),
        b.backend.runs.lock().unwrap().clone(),
    );
    eprintln!("pool a ran {}, pool b ran {}", ran_a.len(), ran_b.len());
    for id in &ids {
        let runs = ran_a.get(id).copied().unwrap_or(0) + ran_b.get(id).copied().unwrap_or(0);
        assert_eq!(runs, 1, "task {id} ran {runs} times");
    }
    assert!(
        !ran_a.is_empty() && !ran_b.is_empty(),
        "both pools took work"
    );
    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await;
}

#[tokio::test]
async fn a_task_whose_workers_lease_expired_is_taken_over_and_finished() {
    let dir = tempfile::tempdir().unwrap();
    let settings = pool_settings("", dir.path());
    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let p = pool(&settings, clock.clone()).await;
    let state = p.portraits.state.clone();
    let now = clock.now();
    ready_model(state.as_ref(), now).await;
    let mut task = generation(now);
    task.callback_url = Some("https://hooks.example.com/portraits".into());
    state.insert_portrait_task(&task).await.unwrap();
    // A worker that claimed it, stored its backend job and then died.
    let lease = Duration::from_secs(settings.portrait.lease_secs);
    let dead = state
        .claim_portrait_task("dead-worker", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.id, task.id);
    assert!(
        state
            .set_portrait_remote_task(&task.id, "dead-worker", &format!("fake-{}", task.id))
            .await
            .unwrap()
    );

    imgforge::portrait::worker::spawn(p.portraits.clone(), p.stop.clone());
    // While the lease holds nobody touches it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = state.portrait_task("ak", &task.id).await.unwrap().unwrap();
    assert_eq!(
        (held.state, held.lease_owner.as_deref()),
        (TaskState::Running, Some("dead-worker"))
    );
    assert!(p.backend.runs.lock().unwrap().is_empty());

    clock.advance(lease);
    let done = until_final(state.as_ref(), std::slice::from_ref(&task.id)).await;
    p.stop.cancel();
    assert_eq!(done[0].state, TaskState::Succeeded, "{:?}", done[0]);
    assert_eq!(done[0].attempts, 2);
    assert_eq!(p.backend.runs.lock().unwrap().get(&task.id), Some(&1));

    // One callback, recorded in the outbox with its stable id and the task-query body.
    let outbox = until_delivered(state.as_ref(), &task.id).await;
    assert_eq!((outbox.attempts, outbox.delivered_at.is_some()), (1, true));
    let calls = p.sink.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (tenant, webhook_id, url, body) = &calls[0];
    assert_eq!(
        (tenant.as_str(), url.as_str()),
        ("ak", "https://hooks.example.com/portraits")
    );
    assert_eq!(webhook_id, &outbox.webhook_id);
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (body["state"].as_i64(), body["tsk_type"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(body["id"], task.id.as_str());
    assert_eq!(body["result_paths"].as_array().unwrap().len(), 1);
}

fn caller() -> Caller {
    Caller {
        key_id: "ak".into(),
        user: "user-1".into(),
    }
}

const STYLE: &str = "20057d0c-8cef-447e-88d0-a8f3490fd0b0";

#[tokio::test]
async fn a_callback_answered_500_then_200_is_sent_twice_signed_with_one_webhook_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = pool_settings("", dir.path());
    let secret = WebhookSecret::generate().unwrap();
    settings.fetch.allow = vec!["127.0.0.1/32".into()];
    settings
        .webhooks
        .secrets
        .insert("ak".into(), vec![Secret::new(secret.to_whsec())]);
    settings.webhooks.retry_schedule_secs = vec![0, 1];
    settings.webhooks.jitter = 0.0;
    let receiver = Receiver::failing(1);
    let url = receiver.start().await;

    let state = imgforge::state::open(&settings.state, Arc::new(SystemClock))
        .await
        .unwrap();
    let engine = Engine::from_settings(&settings).unwrap();
    // The real deliverer from the settings; only the renderer is a stand-in.
    let portraits = Arc::new(Portraits {
        backend: Arc::new(CountingBackend::default()),
        ..Portraits::from_settings(&settings, engine, state).unwrap()
    });
    ready_model(portraits.state.as_ref(), SystemTime::now()).await;
    let created = portraits
        .create_task(&caller(), "U1", STYLE, Some(&url))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    imgforge::portrait::worker::spawn(portraits.clone(), stop.clone());
    let done = until_final(
        portraits.state.as_ref(),
        std::slice::from_ref(&created.task_id),
    )
    .await;
    assert_eq!(done[0].state, TaskState::Succeeded, "{:?}", done[0]);
    let outbox = until_delivered(portraits.state.as_ref(), &created.task_id).await;
    stop.cancel();
    assert_eq!(
        outbox.attempts, 1,
        "one delivery, recorded once: {outbox:?}"
    );

    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "500 then 200: two attempts");
    // Each attempt is in the state store's history.
    let history = portraits
        .state
        .callback_attempts(&outbox.webhook_id)
        .await
        .unwrap();
    let seen: Vec<(i64, &str, Option<i64>)> = history
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str(), a.status))
        .collect();
    assert_eq!(
        seen,
        [(1, "retrying", Some(500)), (2, "delivered", Some(200))],
        "{history:?}"
    );
    let verifier = Verifier::new(vec![secret], Duration::from_secs(300));
    for (headers, body) in &got {
        assert_eq!(headers["webhook-id"], outbox.webhook_id.as_str());
        verifier
            .verify(headers, body, SystemTime::now())
            .expect("the signature verifies");
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["id"], created.task_id.as_str());
        assert_eq!(
            (body["state"].as_i64(), body["tsk_type"].as_i64()),
            (Some(3), Some(2))
        );
        assert_eq!(body["result_paths"].as_array().unwrap().len(), 1);
    }
    // A stranger's secret does not verify it.
    let stranger = Verifier::new(
        vec![WebhookSecret::generate().unwrap()],
        Duration::from_secs(300),
    );
    assert!(
        stranger
            .verify(&got[0].0, &got[0].1, SystemTime::now())
            .is_err()
    );
}

#[tokio::test]
async fn unsafe_callback_urls_and_tenants_without_a_secret_are_refused_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let settings = pool_settings("", dir.path());
    let p = pool(&settings, Arc::new(SystemClock)).await;
    ready_model(p.portraits.state.as_ref(), SystemTime::now()).await;
    let refused = |url: &'static str| {
        let portraits = p.portraits.clone();
        async move {
            portraits
                .create_task(&caller(), "U1", STYLE, Some(url))
                .await
                .unwrap_err()
        }
    };
    // Private and loopback addresses: the image-fetch address policy.
    for url in ["http://10.0.0.1/", "http://127.0.0.1:9/hook"] {
        let err = refused(url).await;
        assert_eq!(
            err.code,
            imgforge::error::ErrorCode::InvalidArgument,
            "{err}"
        );
        assert_eq!(err.field.as_deref(), Some("callback_url"), "{err}");
        assert!(err.message.contains("refused"), "{err}");
    }
    // A public address, but this tenant has no secret to sign with: the setting is named.
    let err = refused("https://hooks.example.com/portraits").await;
    assert_eq!(
        err.code,
        imgforge::error::ErrorCode::InvalidArgument,
        "{err}"
    );
    assert_eq!(err.field.as_deref(), Some("callback_url"), "{err}");
    assert!(
        err.message.contains("webhooks.master_secret")
            && err.message.contains("webhooks.secrets.<tenant>"),
        "{err}"
    );
    // With a master secret the same URL is accepted.
    let mut settings = settings;
    settings.webhooks.master_secret = Secret::new("m".repeat(32));
    let q = pool(&settings, Arc::new(SystemClock)).await;
    q.portraits
        .create_task(
            &caller(),
            "U1",
            STYLE,
            Some("https://hooks.example.com/portraits"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_callback_left_undelivered_by_a_dead_process_is_sent_at_start_up_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let settings = pool_settings("", dir.path());
    let p = pool(&settings, Arc::new(SystemClock)).await;
    let state = p.portraits.state.clone();
    let now = SystemTime::now();
    ready_model(state.as_ref(), now).await;
    let task = generation(now);
    state.insert_portrait_task(&task).await.unwrap();
    // A process ended the task with its outbox row, then died before delivering it.
    let claimed = state
        .claim_portrait_task("dead-worker", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, task.id);
    let callback = imgforge::state::PortraitCallback {
        webhook_id: "msg_left_behind".into(),
        task_id: task.id.clone(),
        tenant: "ak".into(),
        url: "https://hooks.example.com/portraits".into(),
        body: json!({ "state": 3, "id": task.id, "tsk_type": 2, "result_paths": [] }).to_string(),
        attempts: 0,
        delivered_at: None,
        created_at: now,
        expires_at: now + Duration::from_secs(3600),
    };
    let end = imgforge::state::TaskEnd {
        state: TaskState::Succeeded,
        result_keys: vec![],
        error: None,
    };
    assert!(
        state
            .finish_portrait_task(&task.id, "dead-worker", &end, Some(&callback))
            .await
            .unwrap()
    );
    assert!(p.sink.calls.lock().unwrap().is_empty());

    imgforge::portrait::worker::spawn(p.portraits.clone(), p.stop.clone());
    let row = until_delivered(state.as_ref(), &task.id).await;
    p.stop.cancel();
    assert_eq!(row.attempts, 1);
    let calls = p.sink.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].1, "msg_left_behind");
    let body: Value = serde_json::from_str(&calls[0].3).unwrap();
    assert_eq!(body["id"], task.id.as_str());
}
