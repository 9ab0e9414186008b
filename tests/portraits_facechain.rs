//! Seed 003 with `portrait.backend = "facechain"` against the FaceChain emulator: the five calls
//! over signed REST (the emulator downloads the training photos from the links the server
//! publishes), the photos FaceChain's choice left out named in the task's message, a partly
//! failed generation in state 4; then the durability promise with a real process: kill -9
//! the server while DashScope trains, start it again, and the task completes without a
//! second submit and its callback arrives signed, under one webhook-id.

mod common;
#[path = "emulators/facechain.rs"]
mod emulator;
#[path = "common/portrait_rest.rs"]
mod portrait_rest;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::TestServer;
use emulator::{API_KEY, Course, End, FaceChainEmulator, Item, Submit};
use imgforge::config::{ApiKeySettings, PortraitBackendKind, Secret, Settings};
use imgforge::webhooks::{Verifier, WebhookSecret};
use portrait_rest::{PATIENCE, Receiver, Rest};
use serde_json::{Value, json};

const KEY: &str = "ak_facechain";
const SECRET: &str = "sk_facechain_0123456789";

fn runs(running_polls: u32, end: End) -> Submit {
    Submit::Accept(Course::Runs { running_polls, end })
}

/// `count` distinct, textured photos of `side` px (FaceChain's choice scores sharpness: each
/// photo is a little blurrier than the one before).
fn photos(count: usize, side: u32) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let step = 3 + i as u32;
            let image = image::RgbImage::from_fn(side, side, |x, y| {
                let v = ((x / step + y / step + i as u32) % 2) as u8 * 180 + 40;
                image::Rgb([v, v / 2 + (i as u8) * 7, 255 - v])
            });
            common::encode(
                &image::DynamicImage::ImageRgb8(image),
                image::ImageFormat::Jpeg,
            )
        })
        .collect()
}

fn facechain(settings: &mut Settings, emulator: &FaceChainEmulator) {
    settings.auth.keys = vec![ApiKeySettings {
        id: KEY.into(),
        secrets: vec![Secret::new(SECRET)],
        active: true,
        rate_per_sec: Some(1000.0),
        rate_burst: Some(1000),
    }];
    settings.portrait.backend = PortraitBackendKind::FaceChain;
    settings.providers.dashscope.base_url = emulator.base_url();
    settings.providers.dashscope.api_key = Secret::new(API_KEY);
    settings.providers.dashscope.poll_initial_ms = 1;
    settings.providers.dashscope.poll_max_ms = 5;
    settings.providers.facechain.training_poll_initial_ms = 1;
    settings.providers.facechain.training_poll_max_ms = 5;
    // The emulator's result images are on loopback.
    settings.fetch.allow = vec!["127.0.0.1/32".into()];
}

#[tokio::test]
async fn the_five_calls_run_on_facechain_and_name_the_photos_it_left_out() {
    let emulator = FaceChainEmulator::start().await;
    emulator.fetch_photos();
    emulator.script(vec![
        runs(2, End::Succeeded(Vec::new())),
        runs(2, End::Succeeded(vec![Item::Image; 4])),
        runs(
            1,
            End::Succeeded(vec![
                Item::Image,
                Item::Failed {
                    code: "InternalError".into(),
                    message: "face not found".into(),
                },
                Item::Image,
            ]),
        ),
    ]);
    // The published photo links point at this server's bridge, where the emulator fetches
    // them: the public address is only known once the server listens, so the links follow
    // the server's own address (results.public_base_url left empty).
    let emu = emulator.clone();
    let server = TestServer::start_with(move |s| facechain(s, &emu)).await;
    let rest = Rest::new(&server.http, &server.http_base, KEY, SECRET);

    // Nine good photos and one too small for FaceChain.
    let mut set = photos(9, 384);
    set.push(photos(1, 200).remove(0));
    let mut paths = Vec::new();
    for photo in &set {
        paths.push(rest.upload(photo).await);
    }
    let small = paths[9].clone();
    let (status, reply) = rest
        .post("/cloud/aigc_user_model_create", json!({ "img_set": paths }))
        .await;
    assert_eq!((status, reply["ret"].as_i64()), (200, Some(0)), "{reply}");
    let user_id = reply["body"]["user_id"].as_str().unwrap().to_owned();
    let training = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    assert_eq!(training["state"], 3, "{training}");
    assert_eq!(training["tsk_type"], 1, "{training}");
    let message = training["msg"].as_str().unwrap_or_default();
    assert!(
        message.contains(&small) && message.contains("too small"),
        "{training}"
    );
    for path in &paths[..9] {
        assert!(!message.contains(path.as_str()), "{path}: {message}");
    }
    // DashScope got the nine usable photos, each downloaded from the server's links.
    let bodies = emulator.bodies();
    assert_eq!(bodies[0].0, "fine-tunes");
    assert_eq!(
        bodies[0].1["training_file_ids"].as_array().unwrap().len(),
        9
    );
    assert_eq!(emulator.fetched().len(), 9);
    assert!(emulator.fetched().iter().all(|size| *size > 1000));

    let style = rest.first_style().await;
    let generate = || {
        rest.post(
            "/cloud/aigc_task_create",
            json!({ "user_id": user_id, "style": style }),
        )
    };
    let (status, reply) = generate().await;
    assert_eq!(status, 200, "{reply}");
    let done = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (done["state"].as_i64(), done["tsk_type"].as_i64()),
        (Some(3), Some(2)),
        "{done}"
    );
    let urls = done["result_paths"].as_array().unwrap();
    assert_eq!(urls.len(), 4, "{done}");
    for url in urls {
        let bytes = common::result_bytes(&server.http, url.as_str().unwrap()).await;
        common::decode(&bytes);
    }
    let sent = &emulator.bodies()[1].1;
    assert_eq!(sent["parameters"]["n"], 4, "portrait.images_per_task");
    assert!(
        sent["resources"][0]["resource_id"]
            .as_str()
            .unwrap()
            .starts_with("facechain-finetune-"),
        "the LoRA of the user's training: {sent}"
    );

    // One image failed, and FaceChain returned three of four: state 4, the rest kept.
    let (_, reply) = generate().await;
    let partial = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    assert_eq!(partial["state"], 4, "{partial}");
    assert_eq!(
        partial["result_paths"].as_array().unwrap().len(),
        2,
        "{partial}"
    );
    server.stop().await;
}

/// A config file for `imgforge serve` with the FaceChain backend, a short lease and a signed
/// callback secret.
fn config(emulator: &FaceChainEmulator, dir: &std::path::Path, whsec: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[server]
shutdown_grace_secs = 1

[state]
data_dir = "{data}"

[[auth.keys]]
id = "{KEY}"
secrets = ["{SECRET}"]
active = true

[fetch]
allow = ["127.0.0.1/32"]

[webhooks]
retry_schedule_secs = [0, 1, 1]
jitter = 0.0

[webhooks.secrets]
{KEY} = ["{whsec}"]

[portrait]
backend = "facechain"
lease_secs = 2
heartbeat_secs = 1
poll_interval_ms = 100

[providers.dashscope]
base_url = "{base}"
api_key = "{API_KEY}"
poll_initial_ms = 50
poll_max_ms = 100

[providers.facechain]
training_poll_initial_ms = 100
training_poll_max_ms = 150
"#,
        data = dir.join("state").display(),
        base = emulator.base_url(),
    );
    let path = dir.join("imgforge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `imgforge serve --config <file>` on free loopback ports; the process and its HTTP base.
fn serve(config: &std::path::Path, blobs: &std::path::Path) -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgforge"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .env("IMGFORGE__BLOB_STORE__PATH", blobs)
        .env("IMGFORGE__TELEMETRY__LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let http = loop {
        let line = lines
            .next()
            .expect("the server logs its addresses")
            .unwrap();
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(addr) = entry["fields"]["http_addr"].as_str() {
            break format!("http://{addr}");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Process(child), http)
}

#[tokio::test]
async fn killed_during_training_the_task_completes_after_restart_and_calls_back_once_signed() {
    let emulator = FaceChainEmulator::start().await;
    // Long enough for the kill to land while DashScope trains; the polls go on counting
    // across the restart, as a real job's clock would.
    emulator.script(vec![runs(25, End::Succeeded(Vec::new()))]);
    let dir = tempfile::tempdir().unwrap();
    let blobs = tempfile::tempdir().unwrap();
    let secret = WebhookSecret::generate().unwrap();
    let config = config(&emulator, dir.path(), &secret.to_whsec());
    let receiver = Receiver::failing(0);
    let hook = receiver.start().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let (mut first, base) = serve(&config, blobs.path());
    let rest = Rest::new(&http, &base, KEY, SECRET);
    let mut paths = Vec::new();
    for photo in photos(8, 320) {
        paths.push(rest.upload(&photo).await);
    }
    let (status, reply) = rest
        .post(
            "/cloud/aigc_user_model_create",
            json!({ "img_set": paths, "callback_url": hook }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let task_id = reply["body"]["task_id"].as_str().unwrap().to_owned();

    // Kill -9 once the job is at DashScope and being polled.
    let started = Instant::now();
    while emulator.polls() < 3 {
        assert!(started.elapsed() < PATIENCE, "training never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let polls_at_kill = emulator.polls();

    // Started again on the same state: the task's lease runs out, a new worker takes it over
    // and polls the stored job id instead of submitting again.
    let second = serve(&config, blobs.path());
    let rest = Rest::new(&http, &second.1, KEY, SECRET);
    let done = rest.until_done(&task_id).await;
    assert_eq!(
        (done["state"].as_i64(), done["tsk_type"].as_i64()),
        (Some(3), Some(1)),
        "{done}"
    );
    assert!(
        emulator.polls() > polls_at_kill,
        "the job was polled after the restart"
    );
    let submits: Vec<String> = emulator
        .bodies()
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    assert_eq!(
        submits,
        ["fine-tunes"],
        "one training job, never submitted twice"
    );

    let started = Instant::now();
    while receiver.deliveries().is_empty() {
        assert!(started.elapsed() < PATIENCE, "no callback arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for a duplicate to show up if one were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deliveries = receiver.deliveries();
    let ids: BTreeSet<&str> = deliveries
        .iter()
        .map(|(headers, _)| headers["webhook-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one webhook-id: {ids:?}");
    let verifier = Verifier::new(vec![secret], Duration::from_secs(300));
    for (headers, body) in &deliveries {
        verifier
            .verify(headers, body, SystemTime::now())
            .expect("the receiver verifies the signature");
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["id"], task_id.as_str());
        assert_eq!(
            (body["state"].as_i64(), body["tsk_type"].as_i64()),
            (Some(3), Some(1))
        );
    }
    drop(second);
}

/// A server process, killed with SIGKILL when dropped (also when a test fails).
struct Process(Child);

impl Process {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
