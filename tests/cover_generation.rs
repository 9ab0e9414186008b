//! Cover generation end to end against a real server, over both transports, with signed
//! requests: the stream's event order against each backend emulator, seed 001's exact REST
//! envelope, cancel on disconnect reaching the backend, a coverId resolved by a second
//! server sharing PostgreSQL, surviving a restart on SQLite, expiring after 30 minutes on a
//! controllable clock, the answer with no backend, and the open-streams gauge.

#[path = "emulators/comfyui.rs"]
mod comfyui_emulator;
#[path = "emulators/openai_images.rs"]
mod openai_emulator;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comfyui_emulator::{ComfyUiEmulator, Features, RunScript};
use imgforge::auth::canonical::{self, SignedRequest};
use imgforge::config::{
    ApiKeySettings, BlobStoreSettings, Secret, Settings, comfyui::ComfyUiSettings,
    openai_images::OpenAiImagesSettings,
};
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::cover_service_client::CoverServiceClient;
use imgforge::server::RunningServer;
use imgforge::state::{Clock, ManualClock, SystemClock};
use openai_emulator::OpenAiImagesEmulator;
use pb::generate_cover_response::Event;
use prost::Message;
use serde_json::{Value, json};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

const KEY: &str = "ak_cover_test";
const SECRET: &str = "sk_cover_test_0123456789";
const OTHER_KEY: &str = "ak_cover_other";
const OTHER_SECRET: &str = "sk_cover_other_0123456789";
const GENERATE_RPC: &str = "/imgforge.v1.CoverService/GenerateCover";
const GET_RPC: &str = "/imgforge.v1.CoverService/GetCover";

/// Tests that open streams take turns: the open-streams gauge is process-wide.
static STREAMS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Signs as `key` at the time `clock` says (the server checks timestamps on that clock).
struct Signer {
    key: &'static str,
    secret: &'static str,
    clock: Arc<dyn Clock>,
}

impl Signer {
    fn new(clock: Arc<dyn Clock>) -> Self {
        Signer {
            key: KEY,
            secret: SECRET,
            clock,
        }
    }

    fn other(clock: Arc<dyn Clock>) -> Self {
        Signer {
            key: OTHER_KEY,
            secret: OTHER_SECRET,
            clock,
        }
    }

    fn headers(&self, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let millis = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let body_sha256 = canonical::body_sha256(body);
        let text = canonical::canonical_string(&SignedRequest {
            method: "POST",
            path,
            query: "",
            key: self.key,
            user: "user-7",
            timestamp: &millis,
            nonce: &nonce,
            body_sha256: &body_sha256,
        })
        .unwrap();
        vec![
            ("x-imgforge-key", self.key.to_owned()),
            ("x-imgforge-user", "user-7".to_owned()),
            ("x-imgforge-timestamp", millis),
            ("x-imgforge-nonce", nonce),
            ("x-imgforge-content-sha256", body_sha256),
            (
                "x-imgforge-signature",
                canonical::signature(self.secret, &text),
            ),
        ]
    }

    fn grpc<M: Message>(&self, path: &str, message: M) -> tonic::Request<M> {
        let headers = self.headers(path, &message.encode_to_vec());
        let mut request = tonic::Request::new(message);
        for (name, value) in headers {
            request
                .metadata_mut()
                .insert(name, MetadataValue::try_from(value.as_str()).unwrap());
        }
        request
    }
}

/// Which generation backend a server has.
enum Backend<'a> {
    None,
    ComfyUi(&'a ComfyUiEmulator),
    OpenAi(&'a OpenAiImagesEmulator),
}

/// Where a server keeps its state and blobs, so a second server (or a restart) can share them.
struct Dirs {
    blobs: PathBuf,
    state: PathBuf,
    state_url: String,
}

struct Server {
    running: Option<RunningServer>,
    http: reqwest::Client,
    http_base: String,
    grpc: String,
    clock: Arc<dyn Clock>,
}

fn settings(backend: &Backend<'_>, dirs: &Dirs) -> Settings {
    let mut settings = Settings::embedded();
    settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.shutdown_grace_secs = 2;
    settings.blob_store = BlobStoreSettings::local(&dirs.blobs);
    settings.state.data_dir = dirs.state.clone();
    settings.state.url = dirs.state_url.clone();
    settings.auth.keys = [(KEY, SECRET), (OTHER_KEY, OTHER_SECRET)]
        .into_iter()
        .map(|(id, secret)| ApiKeySettings {
            id: id.into(),
            secrets: vec![Secret::new(secret)],
            active: true,
            rate_per_sec: None,
            rate_burst: None,
        })
        .collect();
    match backend {
        Backend::None => {}
        Backend::ComfyUi(emulator) => {
            settings.providers.comfyui = Some(ComfyUiSettings {
                base_url: emulator.base_url(),
                request_timeout_secs: 5,
                job_timeout_secs: 60,
                ..ComfyUiSettings::default()
            });
        }
        Backend::OpenAi(emulator) => {
            settings.providers.openai_images = Some(OpenAiImagesSettings {
                base_url: emulator.base_url(),
                api_key: Secret::new(openai_emulator::API_KEY),
                job_timeout_secs: 60,
                ..OpenAiImagesSettings::default()
            });
        }
    }
    settings
}

impl Server {
    async fn start(backend: &Backend<'_>, dirs: &Dirs, clock: Arc<dyn Clock>) -> Server {
        let running = imgforge::server::start_with_clock(settings(backend, dirs), clock.clone())
            .await
            .expect("server starts");
        Server {
            http_base: format!("http://{}", running.http_addr),
            grpc: format!("http://{}", running.grpc_addr),
            running: Some(running),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            clock,
        }
    }

    async fn covers(&self) -> CoverServiceClient<Channel> {
        let channel = Channel::from_shared(self.grpc.clone())
            .unwrap()
            .connect()
            .await
            .expect("grpc connects");
        CoverServiceClient::new(channel).max_decoding_message_size(64 << 20)
    }

    fn signer(&self) -> Signer {
        Signer::new(self.clock.clone())
    }

    async fn rest(&self, signer: &Signer, path: &str, body: Value) -> (u16, Value) {
        let body = serde_json::to_vec(&body).unwrap();
        let mut request = self
            .http
            .post(format!("{}{path}", self.http_base))
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in signer.headers(path, &body) {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Every event of one GenerateCover stream, in order.
    async fn generate(&self, request: pb::GenerateCoverRequest) -> Vec<Event> {
        let mut stream = self
            .covers()
            .await
            .generate_cover(self.signer().grpc(GENERATE_RPC, request))
            .await
            .expect("the stream opens")
            .into_inner();
        let mut events = Vec::new();
        while let Some(message) = stream.message().await.expect("the stream goes on") {
            assert!(!message.trace_id.is_empty(), "every event names the trace");
            events.push(message.event.expect("every message has an event"));
        }
        events
    }

    async fn get(
        &self,
        signer: &Signer,
        cover_id: &str,
    ) -> Result<pb::GetCoverResponse, tonic::Status> {
        self.covers()
            .await
            .get_cover(signer.grpc(
                GET_RPC,
                pb::GetCoverRequest {
                    cover_id: cover_id.to_owned(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.http_base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }
}

fn female() -> pb::GenerateCoverRequest {
    pb::GenerateCoverRequest {
        gender: pb::Gender::Female.into(),
        age: "18-25".into(),
        ethnicity: "Asian".into(),
        body_type: "Slim".into(),
        breast_size: "Medium".into(),
        butt_size: "Medium".into(),
        hair_color: "black".into(),
        hair_style: "Long".into(),
        ..Default::default()
    }
}

fn female_json() -> Value {
    json!({
        "gender": "female", "age": "18-25", "ethnicity": "Asian", "bodyType": "Slim",
        "breastSize": "Medium", "buttSize": "Medium", "hairColor": "black", "hairStyle": "Long"
    })
}

fn temp_dirs(tmp: &Path) -> Dirs {
    Dirs {
        blobs: tmp.join("blobs"),
        state: tmp.join("state"),
        state_url: String::new(),
    }
}

/// Checks the order of a successful stream and returns the completed event.
fn assert_well_formed(events: &[Event], want_previews: bool) -> pb::CoverCompleted {
    assert!(
        matches!(events.first(), Some(Event::Queued(_))),
        "a stream opens with queued: {:?}",
        events.first()
    );
    let percents: Vec<f32> = events
        .iter()
        .filter_map(|e| {
            if let Event::Running(r) = e {
                Some(r.percent)
            } else {
                None
            }
        })
        .collect();
    assert!(!percents.is_empty(), "running events");
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "percent went down: {percents:?}"
    );
    let first_running = events
        .iter()
        .position(|e| matches!(e, Event::Running(_)))
        .unwrap();
    assert!(
        events[first_running..]
            .iter()
            .all(|e| !matches!(e, Event::Queued(_))),
        "no queued after running"
    );
    let previews = events
        .iter()
        .filter(|e| matches!(e, Event::Preview(_)))
        .count();
    if want_previews {
        assert!(previews > 0, "previews expected");
    }
    let finals = events
        .iter()
        .filter(|e| matches!(e, Event::Completed(_) | Event::Failed(_)))
        .count();
    assert_eq!(finals, 1, "exactly one final event");
    match events.last() {
        Some(Event::Completed(done)) => {
            assert!(!done.cover_id.is_empty());
            let image = done.image.as_ref().unwrap();
            assert_eq!(image.media_type, "image/png");
            let expires = SystemTime::try_from(done.expires_at.unwrap()).unwrap();
            let left = expires.duration_since(SystemTime::now()).unwrap();
            assert!(left > Duration::from_secs(1700) && left <= Duration::from_secs(1800));
            done.clone()
        }
        other => panic!("the stream ends with completed, got {other:?}"),
    }
}

fn image_bytes(image: &Option<pb::ImageOutput>) -> Vec<u8> {
    match image.as_ref().and_then(|i| i.location.clone()) {
        Some(pb::image_output::Location::Data(bytes)) => bytes,
        other => panic!("inline image expected, got {other:?}"),
    }
}

#[tokio::test]
async fn comfyui_stream_goes_queued_running_previews_completed_and_the_cover_resolves() {
    let _turn = STREAMS.lock().await;
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::Succeed {
        steps: 8,
        previews: 3,
    });
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::ComfyUi(&emulator),
        &temp_dirs(tmp.path()),
        Arc::new(SystemClock),
    )
    .await;
    let events = server.generate(female()).await;
    let done = assert_well_formed(&events, true);
    // The prompt was built from the attributes by the template.
    let submitted = emulator.submitted();
    let graph = serde_json::to_string(&submitted[0].graph).unwrap();
    assert!(graph.contains("18-25 year old asian female"), "{graph}");

    let fetched = server.get(&server.signer(), &done.cover_id).await.unwrap();
    assert_eq!(image_bytes(&fetched.image), image_bytes(&done.image));
    // Another key's cover is as absent as an expired one.
    let err = server
        .get(&Signer::other(server.clock.clone()), &done.cover_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    server.stop().await;
}

#[tokio::test]
async fn openai_images_stream_goes_queued_running_previews_completed() {
    let _turn = STREAMS.lock().await;
    let emulator = OpenAiImagesEmulator::start().await;
    emulator.script(openai_emulator::Script::Stream { partials: 2 });
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::OpenAi(&emulator),
        &temp_dirs(tmp.path()),
        Arc::new(SystemClock),
    )
    .await;
    let events = server.generate(female()).await;
    let done = assert_well_formed(&events, true);
    let png = image_bytes(&done.image);
    assert!(png.starts_with(b"\x89PNG"), "completed carries a PNG");
    // The backend's remarks reach the caller: the API has no negative prompt.
    assert!(
        done.notes.iter().any(|n| n.contains("negative prompt")),
        "{:?}",
        done.notes
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_attribute_is_the_calls_status_and_a_refused_prompt_is_a_failed_event() {
    let _turn = STREAMS.lock().await;
    let emulator = OpenAiImagesEmulator::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::OpenAi(&emulator),
        &temp_dirs(tmp.path()),
        Arc::new(SystemClock),
    )
    .await;
    let mut request = female();
    request.breast_size.clear();
    let err = server
        .covers()
        .await
        .generate_cover(server.signer().grpc(GENERATE_RPC, request))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("breastSize is required for female"),
        "{err:?}"
    );

    emulator.script(openai_emulator::Script::Moderation);
    let events = server.generate(female()).await;
    match events.last() {
        Some(Event::Failed(failed)) => assert_eq!(failed.code, "content-rejected", "{failed:?}"),
        other => panic!("failed expected, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn rest_cover_answers_seed_001s_envelope_exactly() {
    let _turn = STREAMS.lock().await;
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::ComfyUi(&emulator),
        &temp_dirs(tmp.path()),
        Arc::new(SystemClock),
    )
    .await;
    let (status, body) = server
        .rest(&server.signer(), "/v1/agent/cover", female_json())
        .await;
    assert_eq!(status, 200, "{body}");
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "data", "message", "success", "timestamp", "traceId"]
    );
    assert_eq!(body["code"], 10200);
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "OK");
    assert!(
        body["timestamp"].as_str().unwrap().parse::<u64>().is_ok(),
        "{body}"
    );
    let trace_id = body["traceId"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32, "a W3C trace id: {trace_id}");
    let data = body["data"].as_object().unwrap();
    let mut data_keys: Vec<&str> = data.keys().map(String::as_str).collect();
    data_keys.sort_unstable();
    assert_eq!(data_keys, ["coverId", "imageData"]);
    let image_data = data["imageData"].as_str().unwrap();
    let b64 = image_data
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URI");
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    let cover_id = data["coverId"].as_str().unwrap();
    let (status, got) = server
        .rest(
            &server.signer(),
            "/v1/agent/cover/get",
            json!({ "coverId": cover_id }),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["data"]["imageData"], image_data);
    let (status, other) = server
        .rest(
            &Signer::other(server.clock.clone()),
            "/v1/agent/cover/get",
            json!({ "coverId": cover_id }),
        )
        .await;
    assert_eq!(
        (status, &other["code"], &other["success"]),
        (200, &json!(10400), &json!(false))
    );

    // The caller's fault: HTTP 200, success false, 10400 and seed 001's message.
    let mut male_missing = female_json();
    male_missing.as_object_mut().unwrap().remove("buttSize");
    let (status, body) = server
        .rest(&server.signer(), "/v1/agent/cover", male_missing)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["code"], 10400);
    assert_eq!(body["success"], false);
    assert_eq!(body["message"], "buttSize is required for female");
    server.stop().await;
}

#[tokio::test]
async fn a_caller_that_leaves_mid_stream_cancels_the_comfyui_job() {
    let _turn = STREAMS.lock().await;
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::Hang);
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::ComfyUi(&emulator),
        &temp_dirs(tmp.path()),
        Arc::new(SystemClock),
    )
    .await;
    let stream_open = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("imgforge_streams_open{") && l.contains("GenerateCover"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = stream_open(&server.metrics().await);
    let mut stream = server
        .covers()
        .await
        .generate_cover(server.signer().grpc(GENERATE_RPC, female()))
        .await
        .unwrap()
        .into_inner();
    // Wait until the backend runs the job.
    loop {
        let message = stream
            .message()
            .await
            .unwrap()
            .expect("events before the end");
        if matches!(message.event, Some(Event::Running(ref r)) if r.percent > 0.0) {
            break;
        }
    }
    assert_eq!(
        stream_open(&server.metrics().await),
        before + 1.0,
        "the gauge counts the open stream"
    );
    assert!(emulator.cancels().is_empty());
    drop(stream);
    let cancels = emulator.wait_for_cancel(Duration::from_secs(20)).await;
    assert!(!cancels.is_empty(), "the emulator saw the job cancelled");
    // And the gauge comes back down once the server has seen the stream end.
    let mut now = stream_open(&server.metrics().await);
    for _ in 0..200 {
        if now == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        now = stream_open(&server.metrics().await);
    }
    assert_eq!(now, before, "the gauge went back down");
    server.stop().await;
}

#[tokio::test]
async fn with_no_backend_generation_is_a_failed_precondition_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::None,
        &temp_dirs(tmp.path()),
        Arc::new(SystemClock),
    )
    .await;
    let err = server
        .covers()
        .await
        .generate_cover(server.signer().grpc(GENERATE_RPC, female()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("[providers.comfyui]"), "{err:?}");

    let (status, body) = server
        .rest(&server.signer(), "/v1/agent/cover", female_json())
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], false);
    assert_eq!(
        body["code"], 10500,
        "a missing backend is ours to fix: {body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("providers.openai_images"),
        "{body}"
    );

    // Health says the Cover service cannot serve; the catalogue still answers.
    let channel = Channel::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "imgforge.v1.CoverService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    let (status, options) = server
        .rest(
            &server.signer(),
            "/v1/config/options",
            json!({ "namespace": "custom_agent" }),
        )
        .await;
    assert_eq!(
        (status, &options["code"]),
        (200, &json!(10200)),
        "{options}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_cover_survives_a_restart_on_sqlite() {
    let _turn = STREAMS.lock().await;
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dirs = temp_dirs(tmp.path());
    let backend = Backend::ComfyUi(&emulator);
    let first = Server::start(&backend, &dirs, Arc::new(SystemClock)).await;
    let done = assert_well_formed(&first.generate(female()).await, false);
    first.stop().await;

    let second = Server::start(&backend, &dirs, Arc::new(SystemClock)).await;
    let fetched = second.get(&second.signer(), &done.cover_id).await.unwrap();
    assert_eq!(image_bytes(&fetched.image), image_bytes(&done.image));
    second.stop().await;
}

#[tokio::test]
async fn a_cover_expires_after_30_minutes() {
    let _turn = STREAMS.lock().await;
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let server = Server::start(
        &Backend::ComfyUi(&emulator),
        &temp_dirs(tmp.path()),
        clock.clone(),
    )
    .await;
    let done = assert_well_formed(&server.generate(female()).await, false);
    clock.advance(Duration::from_secs(29 * 60));
    server
        .get(&server.signer(), &done.cover_id)
        .await
        .expect("alive after 29 minutes");
    clock.advance(Duration::from_secs(61));
    let err = server
        .get(&server.signer(), &done.cover_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    server.stop().await;
}

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

#[tokio::test]
async fn a_cover_made_by_one_server_is_resolved_by_another_sharing_postgres() {
    let _turn = STREAMS.lock().await;
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let url = std::env::var("IMGFORGE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES.to_owned());
    let admin = match sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            let what = format!("PostgreSQL at {url}: {e}");
            if std::env::var("IMGFORGE_REQUIRE_ALL").is_ok_and(|v| v == "1" || v == "true") {
                panic!("required here (IMGFORGE_REQUIRE_ALL=1) but unavailable: {what}");
            }
            eprintln!("skipping: {what}");
            return;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let tmp = tempfile::tempdir().unwrap();
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let backend = Backend::ComfyUi(&emulator);
    // Two replicas: the same database schema and the same blob store, separate processes'
    // worth of everything else.
    let dirs = |state: &str| Dirs {
        blobs: tmp.path().join("blobs"),
        state: tmp.path().join(state),
        state_url: format!("{url}{separator}options[search_path]={schema}"),
    };
    let one = Server::start(&backend, &dirs("one"), Arc::new(SystemClock)).await;
    let two = Server::start(&Backend::None, &dirs("two"), Arc::new(SystemClock)).await;
    let done = assert_well_formed(&one.generate(female()).await, false);
    let fetched = two.get(&two.signer(), &done.cover_id).await.unwrap();
    assert_eq!(image_bytes(&fetched.image), image_bytes(&done.image));
    let err = two
        .get(&Signer::other(two.clock.clone()), &done.cover_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    one.stop().await;
    two.stop().await;
    let _ = admin
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await;
}

#[tokio::test]
async fn a_reference_image_goes_to_the_comfyui_image_to_image_workflow() {
    let _turn = STREAMS.lock().await;
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &Backend::ComfyUi(&emulator),
        &temp_dirs(tmp.path()),
        Arc::new(SystemClock),
    )
    .await;
    // An unknown reference is the call's status, naming the field.
    let mut request = female();
    request.ref_image_id = "no-such-reference".into();
    let err = server
        .covers()
        .await
        .generate_cover(server.signer().grpc(GENERATE_RPC, request.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(
        err.message().contains("refImageId") || err.message().contains("reference"),
        "{err:?}"
    );

    let upload = pb::UploadReferenceImageRequest {
        image: Some(pb::ImageInput {
            source: Some(pb::image_input::Source::Data(comfyui_emulator::png(
                96, 128,
            ))),
        }),
    };
    let uploaded = server
        .covers()
        .await
        .upload_reference_image(
            server
                .signer()
                .grpc("/imgforge.v1.CoverService/UploadReferenceImage", upload),
        )
        .await
        .unwrap()
        .into_inner();
    request.ref_image_id = uploaded.ref_image_id;
    let events = server.generate(request).await;
    assert_well_formed(&events, false);
    assert_eq!(
        emulator.uploads().len(),
        1,
        "the reference was sent to ComfyUI"
    );
    server.stop().await;
}
