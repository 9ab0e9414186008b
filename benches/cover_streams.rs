//! Holding many open GenerateCover streams (issue 11: 10,000 streams on jobs of 60 s; goal
//! < 1 GB server RSS).
//!
//! `cargo build --bin imgforge && cargo bench --bench cover_streams` runs three processes, so
//! each stays under the open-files limit:
//! - an emulated OpenAI-compatible images API (this binary, re-run as `emulator`): every job
//!   streams `PREVIEWS` partial images over `JOB_SECS`, then the image; each partial image is
//!   a 2×1 PNG whose pixels carry the wall-clock microsecond it was sent;
//! - the server, `target/debug/imgforge serve` (`IMGFORGE_BIN` overrides), configured by
//!   environment with that API as its only cover backend;
//! - the client: `STREAMS` GenerateCover streams over `STREAMS / 100` HTTP/2 connections.
//!
//! Reported: the server's peak RSS (VmHWM), events delivered per second, and the p50/p99
//! delay from a partial image leaving the emulator to its `preview` event reaching the
//! client; then the same client load against the emulator directly (SSE), for the ratio.
//! `STREAMS`, `JOB_SECS` and `PREVIEWS` come from the environment (defaults 10000, 60, 5).

use std::io::{BufRead, BufReader, Cursor};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use base64::Engine as _;
use futures::StreamExt;
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::cover_service_client::CoverServiceClient;
use pb::generate_cover_response::Event;
use tokio::sync::Mutex;
use tonic::transport::Channel;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// A 2×1 RGBA PNG whose 8 bytes of pixels are `stamp`, little-endian.
fn stamped_png(stamp: u64) -> String {
    let pixels = stamp.to_le_bytes().to_vec();
    let image = image::RgbaImage::from_raw(2, 1, pixels).unwrap();
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(out)
}

fn stamp_of(png: &[u8]) -> Option<u64> {
    let image = image::load_from_memory(png).ok()?.to_rgba8();
    let raw = image.as_raw();
    (raw.len() == 8).then(|| u64::from_le_bytes(raw[..8].try_into().unwrap()))
}

/// The emulated images API: one SSE answer per request, spread over the job's duration.
async fn emulator(job: Duration, previews: u32) {
    let app = Router::new().route(
        "/v1/images/generations",
        post(move || async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
            tokio::spawn(async move {
                let step = job / (previews + 1);
                for i in 0..previews {
                    tokio::time::sleep(step).await;
                    let data = serde_json::json!({"type": "image_generation.partial_image",
                        "b64_json": stamped_png(now_micros()), "partial_image_index": i});
                    let event = format!("event: image_generation.partial_image\ndata: {data}\n\n");
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(step).await;
                let data = serde_json::json!({"type": "image_generation.completed",
                    "b64_json": stamped_png(now_micros())});
                let _ = tx
                    .send(Ok(format!(
                        "event: image_generation.completed\ndata: {data}\n\n"
                    )))
                    .await;
            });
            let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(body)
                .unwrap()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

/// What one run measured.
#[derive(Default)]
struct Tally {
    events: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    delays_us: Mutex<Vec<u64>>,
}

impl Tally {
    async fn preview(&self, png: &[u8]) {
        if let Some(sent) = stamp_of(png) {
            self.delays_us
                .lock()
                .await
                .push(now_micros().saturating_sub(sent));
        }
    }

    async fn report(&self, name: &str, took: Duration) -> f64 {
        let mut delays = self.delays_us.lock().await.clone();
        delays.sort_unstable();
        let pct = |p: f64| {
            delays
                .get(((delays.len().max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(0) as f64
                / 1000.0
        };
        let events = self.events.load(Ordering::Relaxed);
        println!(
            "{name:<8} events={events} ({:.0}/s over {:.1} s) completed={} failed={} \
             preview delay p50={:.2} ms p99={:.2} ms max={:.2} ms (n={})",
            events as f64 / took.as_secs_f64(),
            took.as_secs_f64(),
            self.completed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            pct(0.5),
            pct(0.99),
            pct(1.0),
            delays.len()
        );
        pct(0.99)
    }
}

fn request() -> pb::GenerateCoverRequest {
    pb::GenerateCoverRequest {
        gender: pb::Gender::Male.into(),
        age: "26-35".into(),
        ethnicity: "Latino".into(),
        body_type: "Athletic".into(),
        hair_color: "brown".into(),
        hair_style: "Short".into(),
        ..Default::default()
    }
}

async fn through_server(grpc: String, streams: u64, tally: Arc<Tally>) -> Duration {
    let mut channels = Vec::new();
    for _ in 0..streams.div_ceil(100) {
        channels.push(
            Channel::from_shared(grpc.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..streams {
        let channel = channels[(i % channels.len() as u64) as usize].clone();
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = CoverServiceClient::new(channel);
            let mut stream = match client.generate_cover(request()).await {
                Ok(r) => r.into_inner(),
                Err(e) => {
                    eprintln!("stream refused: {e}");
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            while let Ok(Some(message)) = stream.message().await {
                tally.events.fetch_add(1, Ordering::Relaxed);
                match message.event {
                    Some(Event::Preview(p)) => {
                        if let Some(pb::image_output::Location::Data(png)) =
                            p.image.and_then(|i| i.location)
                        {
                            tally.preview(&png).await;
                        }
                    }
                    Some(Event::Completed(_)) => {
                        tally.completed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Event::Failed(f)) => {
                        eprintln!("failed: {} {}", f.code, f.message);
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Event::Queued(_) | Event::Running(_)) | None => {}
                }
            }
        }));
        // Spread the opening over a few seconds, as real callers arrive.
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    started.elapsed()
}

async fn direct(base: String, streams: u64, tally: Arc<Tally>) -> Duration {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..streams {
        let http = http.clone();
        let url = format!("{base}/v1/images/generations");
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            let response = match http
                .post(url)
                .json(&serde_json::json!({"prompt": "x", "stream": true}))
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("direct request failed: {e}");
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                        continue;
                    };
                    let value: serde_json::Value = serde_json::from_str(data).unwrap();
                    tally.events.fetch_add(1, Ordering::Relaxed);
                    let png = base64::engine::general_purpose::STANDARD
                        .decode(value["b64_json"].as_str().unwrap_or_default())
                        .unwrap_or_default();
                    if value["type"] == "image_generation.partial_image" {
                        tally.preview(&png).await;
                    } else {
                        tally.completed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    started.elapsed()
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Starts this binary as the emulator; its address is its first line.
fn spawn_emulator(job: u64, previews: u64) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["emulator", &job.to_string(), &previews.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, format!("http://{}", line.trim()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if args.get(1).map(String::as_str) == Some("emulator") {
        let job: u64 = args[2].parse().unwrap();
        let previews: u32 = args[3].parse().unwrap();
        runtime.block_on(emulator(Duration::from_secs(job), previews));
        return;
    }
    let streams = env_or("STREAMS", 10_000);
    let job = env_or("JOB_SECS", 60);
    let previews = env_or("PREVIEWS", 5);
    println!("cover_streams: {streams} streams, jobs of {job} s with {previews} previews each");

    // Through imgforge.
    let (mut emulator, base) = spawn_emulator(job, previews);
    let data = tempfile::tempdir().unwrap();
    let bin = std::env::var("IMGFORGE_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/imgforge").to_owned()
    });
    let grpc_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new(&bin)
        .arg("serve")
        .env(
            "IMGFORGE__SERVER__GRPC_ADDR",
            format!("127.0.0.1:{grpc_port}"),
        )
        .env("IMGFORGE__SERVER__HTTP_ADDR", "127.0.0.1:0")
        .env("IMGFORGE__BLOB_STORE__PATH", data.path().join("blobs"))
        .env("IMGFORGE__STATE__DATA_DIR", data.path().join("state"))
        .env("IMGFORGE__TELEMETRY__LOG_FILTER", "warn")
        .env(
            "IMGFORGE__PROVIDERS__OPENAI_IMAGES__BASE_URL",
            format!("{base}/v1"),
        )
        .env("IMGFORGE__PROVIDERS__OPENAI_IMAGES__API_KEY", "sk-bench")
        .env(
            "IMGFORGE__PROVIDERS__OPENAI_IMAGES__MAX_CONCURRENT_JOBS",
            "1000000",
        )
        .env(
            "IMGFORGE__PROVIDERS__OPENAI_IMAGES__MAX_PREVIEW_FRAMES",
            "50",
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} (cargo build --bin imgforge): {e}"));
    let grpc = format!("http://127.0.0.1:{grpc_port}");
    runtime.block_on(async {
        for _ in 0..200 {
            if Channel::from_shared(grpc.clone())
                .unwrap()
                .connect()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let baseline_rss = peak_rss_mb(server.id());
    let tally = Arc::new(Tally::default());
    let took = runtime.block_on(through_server(grpc, streams, tally.clone()));
    let rss = peak_rss_mb(server.id());
    let server_p99 = runtime.block_on(tally.report("imgforge", took));
    println!("imgforge server peak RSS: {rss:.0} MB (idle before the run: {baseline_rss:.0} MB)");
    let _ = server.kill();
    let _ = emulator.kill();
    let _ = server.wait();
    let _ = emulator.wait();

    // The same load against the emulator directly.
    let (mut emulator, base) = spawn_emulator(job, previews);
    let tally = Arc::new(Tally::default());
    let took = runtime.block_on(direct(base, streams, tally.clone()));
    let direct_p99 = runtime.block_on(tally.report("direct", took));
    let _ = emulator.kill();
    let _ = emulator.wait();
    if direct_p99 > 0.0 {
        println!(
            "p99 delay ratio imgforge/direct: {:.2}",
            server_p99 / direct_p99
        );
    }
}
