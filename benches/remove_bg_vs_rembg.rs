//! imgforge's remove background against rembg's, with the same u2netp.onnx, in the same run.
//!
//! Per photo, one image at a time, end to end from the encoded file to the encoded PNG
//! cut-out: imgforge through `LocalProvider::remove_background` (what the server runs on its
//! CPU pool: decode, segment, refine the edge, de-contaminate, encode), rembg through
//! `rembg.remove(bytes, session=...)` in `bench/rembg_remove.py`. Three pairs are timed:
//! imgforge's default (guided-filter edge) and imgforge without refinement, both against
//! rembg's default, and alpha matting on both sides. The stages of each side are timed
//! separately too, and imgforge's stages are checked to compose into exactly the provider's
//! bytes, so the numbers describe the shipped path.
//!
//! Under load: the real server is started in this process on port 0 and fed `RemoveBackground`
//! calls over gRPC by 1 and by 4 concurrent clients (tonic, one HTTP/2 connection); rembg gets
//! the same calls from 1 and 4 threads sharing its session. Throughput, p50 and p99 latency
//! (nearest rank over every call of every round) and peak RSS (`VmHWM` of a child process
//! doing only that phase; python's `ru_maxrss`) are reported for each.
//!
//! The sides take turns: `IMGFORGE_BENCH_ROUNDS` rounds (default 3), each running imgforge's
//! and rembg's serial pass and then their loaded pass, so load from other processes falls on
//! both alike. A serial pass times `IMGFORGE_BENCH_RUNS` calls (default 7) per photo and pair
//! after `IMGFORGE_BENCH_WARMUP` untimed ones (default 2), alpha matting
//! `IMGFORGE_BENCH_MATTING_RUNS` (default 3) after one; a loaded pass makes
//! `IMGFORGE_BENCH_REQUESTS` calls (default 24) per concurrency level over the photos in turn.
//! imgforge runs on the embedded defaults; `IMGFORGE__MODELS__CONCURRENCY` and
//! `IMGFORGE__MODELS__INTRA_THREADS` change them as they would the server's (rembg honours
//! `OMP_NUM_THREADS`).
//!
//! ```text
//! pip install rembg onnxruntime                  # or .venv/bin/pip; PYTHON=... picks the interpreter
//! cargo bench --bench remove_bg_vs_rembg
//! ```
//!
//! Skips, saying why, when the shared models or photos are missing or ONNX Runtime cannot be
//! loaded; runs imgforge's side alone, saying why, when rembg is missing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use imgforge::config::{BlobStoreSettings, Settings};
use imgforge::domain::params::{EdgeRefinement, RemoveBackgroundParams};
use imgforge::domain::{ImageFormat, ImageLimits, SourceImage};
use imgforge::media;
use imgforge::proto::v1 as pb;
use imgforge::providers::local::cutout::{self, CutoutOptions};
use imgforge::providers::local::{LocalProvider, Segmenter};
use imgforge::providers::{Call, OpRequest, Provider};
use serde_json::{Value, json};

use common::{cell, env_count, env_number, load_average, median, ratio, sample_ms};

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models");
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata");
const REMBG_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/rembg_remove.py");
const VENV_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
/// A person, a cat, a cup: the photos the local engine's tests use most.
const PHOTOS: [&str; 3] = ["astronaut.png", "chelsea.png", "coffee.png"];
/// Concurrent callers of the loaded pass.
const LEVELS: [usize; 2] = [1, 4];
/// Set in the child process that runs one of imgforge's passes: `serial` or `server`.
const CHILD: &str = "IMGFORGE_BENCH_REMOVE_BG_CHILD";
/// The script's exit status when rembg cannot be imported.
const REMBG_MISSING: i32 = 3;

/// One-at-a-time pairs: a label, imgforge's sample name and rembg's.
#[rustfmt::skip]
const PAIRS: [(&str, &str, &str); 3] = [
    ("default (ours: guided edge)", "guided", "default"),
    ("ours without edge refinement", "none", "default"),
    ("alpha matting", "matting", "matting"),
];

/// Stages of each side, in pipeline order.
const OUR_STAGES: [&str; 5] = [
    "decode",
    "segment",
    "render_guided",
    "render_none",
    "encode",
];
const REMBG_STAGES: [&str; 4] = ["decode", "predict", "cutout", "encode"];

/// Milliseconds, every sample kept, by photo then by name.
type Samples = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

/// Everything one side measured over all rounds.
#[derive(Default)]
struct Side {
    serial: Samples,
    /// Latencies (ms) by concurrency level, and the wall time and call count of each round.
    latencies: BTreeMap<usize, Vec<f64>>,
    walls: BTreeMap<usize, (f64, usize)>,
    peak_serial_kib: Vec<f64>,
    peak_loaded_kib: Vec<f64>,
    /// What the first pass said about the job: versions, sizes, outputs.
    facts: Option<Value>,
}

impl Side {
    fn add_serial(&mut self, pass: &Value) {
        for (photo, measured) in pass["photos"].as_object().into_iter().flatten() {
            let photo_samples = self.serial.entry(photo.clone()).or_default();
            for (name, values) in measured["samples"].as_object().into_iter().flatten() {
                photo_samples.entry(name.clone()).or_default().extend(
                    values
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_f64),
                );
            }
        }
        self.peak_serial_kib.extend(pass["peak_rss_kib"].as_f64());
        self.facts.get_or_insert_with(|| pass.clone());
    }

    fn add_loaded(&mut self, pass: &Value) {
        for level in LEVELS {
            let measured = &pass["levels"][level.to_string()];
            let latencies = measured["latencies_ms"].as_array().into_iter().flatten();
            self.latencies
                .entry(level)
                .or_default()
                .extend(latencies.filter_map(Value::as_f64));
            let wall = self.walls.entry(level).or_default();
            wall.0 += measured["wall_ms"].as_f64().unwrap_or(f64::NAN);
            wall.1 += measured["requests"].as_u64().unwrap_or(0) as usize;
        }
        self.peak_loaded_kib.extend(pass["peak_rss_kib"].as_f64());
    }

    /// Median and fastest of one photo's samples.
    fn serial_stat(&self, photo: &str, name: &str) -> Option<(f64, f64)> {
        let values = self.serial.get(photo)?.get(name)?;
        Some((median(values)?, values.iter().copied().reduce(f64::min)?))
    }

    /// Images per second, p50 and p99 latency at `level` concurrent calls.
    fn loaded_stat(&self, level: usize) -> Option<(f64, f64, f64)> {
        let (wall_ms, requests) = *self.walls.get(&level)?;
        let latencies = self.latencies.get(&level)?;
        Some((
            requests as f64 / (wall_ms / 1e3),
            percentile(latencies, 50.0)?,
            percentile(latencies, 99.0)?,
        ))
    }
}

fn main() {
    let models = Path::new(MODELS);
    if !models.join("u2netp.onnx").is_file() {
        println!(
            "skipping remove_bg_vs_rembg: {} has no u2netp.onnx",
            models.display()
        );
        return;
    }
    let photos: Vec<PathBuf> = PHOTOS.iter().map(|p| Path::new(TESTDATA).join(p)).collect();
    if let Some(missing) = photos.iter().find(|p| !p.is_file()) {
        println!(
            "skipping remove_bg_vs_rembg: test photo {} is not available",
            missing.display()
        );
        return;
    }
    let runs = env_count("IMGFORGE_BENCH_RUNS", 7);
    let warmup = env_count("IMGFORGE_BENCH_WARMUP", 2);
    let matting_runs = env_count("IMGFORGE_BENCH_MATTING_RUNS", 3);
    let requests = env_count("IMGFORGE_BENCH_REQUESTS", 24);
    let rounds = env_count("IMGFORGE_BENCH_ROUNDS", 3);

    match std::env::var(CHILD).as_deref() {
        Ok("serial") => {
            println!("{}", serial_pass(&photos, runs, warmup, matting_runs));
            return;
        }
        Ok("server") => {
            println!("{}", loaded_pass(&photos, requests));
            return;
        }
        _ => {}
    }

    let segmenter = Segmenter::new(&settings().models);
    if !segmenter.is_ready(None) {
        println!(
            "skipping remove_bg_vs_rembg: ONNX Runtime cannot be loaded (set ORT_DYLIB_PATH, \
             or pip install onnxruntime into .venv)"
        );
        return;
    }
    println!(
        "remove_bg_vs_rembg: {} with u2netp ({}); {rounds} rounds; per round and side {runs} \
         runs per photo and pair after {warmup} warm-up ({matting_runs} for matting), and \
         {requests} calls per concurrency level {LEVELS:?}",
        PHOTOS.join(", "),
        models.join("u2netp.onnx").display(),
    );
    let load_before = load_average();
    let (mut ours, mut rembg) = (Side::default(), Side::default());
    let mut rembg_available = true;
    let rembg_args = [
        "--runs".to_owned(),
        runs.to_string(),
        "--warmup".to_owned(),
        warmup.to_string(),
        "--matting-runs".to_owned(),
        matting_runs.to_string(),
        "--requests".to_owned(),
        requests.to_string(),
        "--concurrency".to_owned(),
        LEVELS.map(|l| l.to_string()).join(","),
    ];
    for round in 1..=rounds {
        println!("round {round}/{rounds}: imgforge serial");
        ours.add_serial(&imgforge_pass("serial"));
        if rembg_available {
            println!("round {round}/{rounds}: rembg serial");
            match rembg_pass("serial", &photos, &rembg_args) {
                Some(pass) => rembg.add_serial(&pass),
                None => rembg_available = false,
            }
        }
        println!("round {round}/{rounds}: imgforge server, {LEVELS:?} concurrent gRPC calls");
        ours.add_loaded(&imgforge_pass("server"));
        if rembg_available {
            println!("round {round}/{rounds}: rembg, {LEVELS:?} concurrent threads");
            match rembg_pass("concurrent", &photos, &rembg_args) {
                Some(pass) => rembg.add_loaded(&pass),
                None => rembg_available = false,
            }
        }
    }
    println!(
        "load average before and after: {load_before} / {}",
        load_average()
    );
    report(&ours, &rembg);
}

/// The embedded defaults over the shared models, as `imgforge serve` would run; the two knobs
/// that decide how inference shares the cores can be changed under the names the server reads.
fn settings() -> Settings {
    let mut settings = Settings::embedded();
    settings.models.dir = PathBuf::from(MODELS);
    if let Some(n) = env_number("IMGFORGE__MODELS__CONCURRENCY") {
        settings.models.concurrency = n;
    }
    if let Some(n) = env_number("IMGFORGE__MODELS__INTRA_THREADS") {
        settings.models.intra_threads = n;
    }
    settings
}

fn params(refine: EdgeRefinement) -> RemoveBackgroundParams {
    RemoveBackgroundParams {
        refine,
        ..RemoveBackgroundParams::default()
    }
}

fn source(bytes: &[u8], limits: &ImageLimits) -> SourceImage {
    let (format, width, height) = media::probe(bytes, limits).expect("probe");
    SourceImage {
        bytes: bytes::Bytes::copy_from_slice(bytes),
        format,
        width,
        height,
    }
}

/// imgforge one image at a time, as JSON for the parent.
fn serial_pass(photos: &[PathBuf], runs: usize, warmup: usize, matting_runs: usize) -> Value {
    let settings = settings();
    let limits = settings.limits;
    let provider = LocalProvider::new(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let remove = |source: &SourceImage, refine: EdgeRefinement| {
        runtime
            .block_on(provider.run(
                OpRequest::RemoveBackground {
                    image: source.clone(),
                    params: params(refine),
                },
                &Call::default(),
            ))
            .expect("remove background")
            .images
            .remove(0)
    };
    let inputs: Vec<(String, SourceImage)> = photos
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).expect("reading a photo");
            (file_name(path), source(&bytes, &limits))
        })
        .collect();

    let mut results = serde_json::Map::new();
    for (name, source) in &inputs {
        let shipped = remove(source, EdgeRefinement::GuidedFilter);
        let mut samples = BTreeMap::new();
        for (label, refine) in [
            ("guided", EdgeRefinement::GuidedFilter),
            ("none", EdgeRefinement::None),
        ] {
            samples.insert(label, sample_ms(runs, warmup, || remove(source, refine)));
        }
        results.insert(
            name.clone(),
            json!({
                "size": [source.width, source.height],
                "output_bytes": shipped.bytes.len(),
                "samples": samples,
            }),
        );
    }
    // Before matting and the stage timings, which load a second set of sessions.
    let peak_default = peak_rss_kib();

    let segmenter = Segmenter::new(&settings.models);
    for (name, source) in &inputs {
        let matting = sample_ms(matting_runs, 1, || {
            remove(source, EdgeRefinement::AlphaMatting)
        });
        let stages = stage_samples(&segmenter, source, &limits, runs, warmup, |refine| {
            remove(source, refine).bytes
        });
        let entry = &mut results[name.as_str()]["samples"];
        entry["matting"] = json!(matting);
        for (stage, values) in stages {
            entry[stage] = json!(values);
        }
    }
    json!({
        "photos": results,
        "peak_rss_kib": peak_default,
        "peak_rss_kib_matting": peak_rss_kib(),
        "onnxruntime": segmenter_library(&settings),
        "models": {
            "concurrency": settings.models.concurrency,
            "intra_threads": settings.models.intra_threads,
        },
    })
}

/// The provider's pipeline one stage at a time, after checking the stages compose into exactly
/// the bytes `shipped` returns.
fn stage_samples(
    segmenter: &Segmenter,
    source: &SourceImage,
    limits: &ImageLimits,
    runs: usize,
    warmup: usize,
    shipped: impl Fn(EdgeRefinement) -> bytes::Bytes,
) -> Vec<(&'static str, Vec<f64>)> {
    let decode = || {
        media::decode(&source.bytes, limits)
            .expect("decode")
            .1
            .to_rgb8()
    };
    let rgb = decode();
    let mask = segmenter.mask(&rgb, None).expect("mask");
    let options = |refinement| CutoutOptions {
        refinement,
        ..CutoutOptions::default()
    };
    let render = |refinement| cutout::render(&rgb, &mask, &options(refinement)).expect("render");
    let encode =
        |image: &image::DynamicImage| media::encode(image, ImageFormat::Png, 90).expect("encode");
    for refine in [EdgeRefinement::GuidedFilter, EdgeRefinement::None] {
        assert!(
            encode(&render(refine)) == shipped(refine),
            "the stages timed here are no longer what remove_background does"
        );
    }
    let rendered = render(EdgeRefinement::GuidedFilter);
    let [d, s, rg, rn, e] = OUR_STAGES;
    vec![
        (d, sample_ms(runs, warmup, decode)),
        (
            s,
            sample_ms(runs, warmup, || segmenter.mask(&rgb, None).expect("mask")),
        ),
        (
            rg,
            sample_ms(runs, warmup, || render(EdgeRefinement::GuidedFilter)),
        ),
        (rn, sample_ms(runs, warmup, || render(EdgeRefinement::None))),
        (e, sample_ms(runs, warmup, || encode(&rendered))),
    ]
}

fn segmenter_library(settings: &Settings) -> String {
    let runtime = imgforge::providers::local::models::runtime::Runtime::new(&settings.models);
    runtime
        .library()
        .map_or_else(|e| e.message, |library| library.path.display().to_string())
}

/// imgforge's real server, in this process on port 0, under 1 and 4 concurrent gRPC calls.
fn loaded_pass(photos: &[PathBuf], requests: usize) -> Value {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let photos: Arc<Vec<Vec<u8>>> = Arc::new(
        photos
            .iter()
            .map(|path| std::fs::read(path).expect("reading a photo"))
            .collect(),
    );
    runtime.block_on(async move {
        let mut settings = settings();
        settings.server.grpc_addr = "127.0.0.1:0".parse().expect("address");
        settings.server.http_addr = "127.0.0.1:0".parse().expect("address");
        settings.blob_store = BlobStoreSettings::memory();
        let server = imgforge::server::start(settings)
            .await
            .expect("server starts");
        let channel =
            tonic::transport::Channel::from_shared(format!("http://{}", server.grpc_addr))
                .expect("endpoint")
                .connect()
                .await
                .expect("grpc connects");
        let client = pb::editing_service_client::EditingServiceClient::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let mut levels = serde_json::Map::new();
        for level in LEVELS {
            // Warm-up: every photo once, from as many callers as will run, so every session
            // the level needs exists.
            call_concurrently(&client, &photos, level.max(photos.len()), level).await;
            let (wall_ms, latencies) = call_concurrently(&client, &photos, requests, level).await;
            levels.insert(
                level.to_string(),
                json!({"requests": requests, "wall_ms": wall_ms, "latencies_ms": latencies}),
            );
        }
        server.shutdown().await.expect("clean shutdown");
        json!({"levels": levels, "peak_rss_kib": peak_rss_kib()})
    })
}

/// `requests` RemoveBackground calls over the photos in turn, `level` at a time; the wall time
/// and every call's latency, in milliseconds.
async fn call_concurrently(
    client: &pb::editing_service_client::EditingServiceClient<tonic::transport::Channel>,
    photos: &Arc<Vec<Vec<u8>>>,
    requests: usize,
    level: usize,
) -> (f64, Vec<f64>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let callers: Vec<_> = (0..level)
        .map(|_| {
            let (mut client, photos, next) = (client.clone(), photos.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= requests {
                        return latencies;
                    }
                    let request = pb::RemoveBackgroundRequest {
                        image: Some(pb::ImageInput {
                            source: Some(pb::image_input::Source::Data(
                                photos[index % photos.len()].clone(),
                            )),
                        }),
                        ..Default::default()
                    };
                    let called = Instant::now();
                    let reply = client
                        .remove_background(request)
                        .await
                        .expect("remove background over grpc")
                        .into_inner();
                    latencies.push(called.elapsed().as_secs_f64() * 1e3);
                    let png = reply.image.and_then(|image| image.location);
                    assert!(
                        matches!(png, Some(pb::image_output::Location::Data(data)) if !data.is_empty()),
                        "an inline PNG"
                    );
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for caller in callers {
        latencies.extend(caller.await.expect("caller task"));
    }
    (started.elapsed().as_secs_f64() * 1e3, latencies)
}

/// Runs one of imgforge's passes in a child process of its own, so its peak RSS is that
/// pass's alone.
fn imgforge_pass(pass: &str) -> Value {
    let exe = std::env::current_exe().expect("the bench's own path");
    let output = Command::new(exe)
        .env(CHILD, pass)
        .output()
        .expect("running imgforge's pass");
    assert!(
        output.status.success(),
        "imgforge's {pass} pass failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json_line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(json_line)
        .unwrap_or_else(|e| panic!("unreadable output of imgforge's {pass} pass: {e}"))
}

/// rembg's pass from `bench/rembg_remove.py`, or `None` (with the reason printed) when python
/// or rembg is missing.
fn rembg_pass(mode: &str, photos: &[PathBuf], args: &[String]) -> Option<Value> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| {
        if Path::new(VENV_PYTHON).is_file() {
            VENV_PYTHON.to_owned()
        } else {
            "python3".to_owned()
        }
    });
    let output = Command::new(&python)
        .arg(REMBG_SCRIPT)
        .arg(mode)
        .args(photos)
        .args(["--models-dir", MODELS])
        .args(args)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            println!("skipping rembg: cannot run {python}: {err}");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(REMBG_MISSING) {
        println!(
            "skipping rembg: {} (pip install rembg onnxruntime)",
            stderr.trim()
        );
        return None;
    }
    if !output.status.success() {
        println!(
            "skipping rembg: {python} {REMBG_SCRIPT} {mode} failed: {}",
            stderr.trim()
        );
        return None;
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(value) => Some(value),
        Err(err) => {
            println!("skipping rembg: unreadable output from {REMBG_SCRIPT}: {err}");
            None
        }
    }
}

fn report(ours: &Side, rembg: &Side) {
    if let Some(facts) = &ours.facts {
        println!(
            "imgforge: ONNX Runtime {}; models.concurrency {}, models.intra_threads {} (0: one \
             per core)",
            facts["onnxruntime"].as_str().unwrap_or("?"),
            facts["models"]["concurrency"],
            facts["models"]["intra_threads"],
        );
    }
    if let Some(facts) = &rembg.facts {
        let facts = &facts["facts"];
        println!(
            "rembg {} on onnxruntime {} (python {}), model {}; import {:.0} ms, session {:.0} ms",
            facts["rembg"].as_str().unwrap_or("?"),
            facts["onnxruntime"].as_str().unwrap_or("?"),
            facts["python"].as_str().unwrap_or("?"),
            facts["model_path"].as_str().unwrap_or("?"),
            facts["import_ms"].as_f64().unwrap_or(f64::NAN),
            facts["session_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }

    println!();
    println!("one image at a time, end to end (encoded file -> PNG cut-out), ms");
    println!(
        "{:<16} {:<29} | {:>9} {:>9} | {:>9} {:>9} | {:>7} {:>7}",
        "photo", "pair", "ours min", "ours med", "rembg min", "rembg med", "r(min)", "r(med)"
    );
    println!("{}", "-".repeat(110));
    for photo in PHOTOS {
        for (label, our_name, rembg_name) in PAIRS {
            let a = ours.serial_stat(photo, our_name);
            let b = rembg.serial_stat(photo, rembg_name);
            println!(
                "{photo:<16} {label:<29} | {:>9} {:>9} | {:>9} {:>9} | {:>7} {:>7}",
                cell(a.map(|s| s.1)),
                cell(a.map(|s| s.0)),
                cell(b.map(|s| s.1)),
                cell(b.map(|s| s.0)),
                ratio(a.map(|s| s.1), b.map(|s| s.1)),
                ratio(a.map(|s| s.0), b.map(|s| s.0)),
            );
        }
    }
    let outputs = |side: &Side, facts_key: &str| -> String {
        let Some(facts) = &side.facts else {
            return "-".to_owned();
        };
        PHOTOS
            .iter()
            .map(|photo| {
                let bytes = facts["photos"][*photo][facts_key].as_u64().unwrap_or(0);
                format!("{photo} {} KB", bytes / 1000)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("PNG sizes: imgforge {}", outputs(ours, "output_bytes"));
    println!("PNG sizes: rembg    {}", outputs(rembg, "output_bytes"));

    println!();
    println!("stages, median ms");
    for photo in PHOTOS {
        let stages = |side: &Side, names: &[&str]| {
            names
                .iter()
                .map(|name| {
                    format!(
                        "{name} {}",
                        cell(side.serial_stat(photo, name).map(|s| s.0))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("{photo:<16} imgforge: {}", stages(ours, &OUR_STAGES));
        println!("{photo:<16} rembg:    {}", stages(rembg, &REMBG_STAGES));
    }

    println!();
    println!(
        "under load: imgforge through its gRPC server (in-process, models settings above), rembg \
         from threads sharing one session"
    );
    println!(
        "{:<12} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7}",
        "concurrent",
        "ours/s",
        "rembg/s",
        "r(1/x)",
        "ours p50",
        "rembg p50",
        "ratio",
        "ours p99",
        "rembg p99",
        "ratio"
    );
    println!("{}", "-".repeat(104));
    for level in LEVELS {
        let a = ours.loaded_stat(level);
        let b = rembg.loaded_stat(level);
        println!(
            "{level:<12} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7}",
            cell2(a.map(|s| s.0)),
            cell2(b.map(|s| s.0)),
            // Throughput inverted, so below 1.00 is still "imgforge better".
            ratio(b.map(|s| s.0), a.map(|s| s.0)),
            cell(a.map(|s| s.1)),
            cell(b.map(|s| s.1)),
            ratio(a.map(|s| s.1), b.map(|s| s.1)),
            cell(a.map(|s| s.2)),
            cell(b.map(|s| s.2)),
            ratio(a.map(|s| s.2), b.map(|s| s.2)),
        );
    }
    let peak = |values: &[f64]| {
        values
            .iter()
            .copied()
            .reduce(f64::max)
            .map(|kib| kib / 1024.0)
    };
    println!();
    println!(
        "peak RSS, MiB (largest over rounds): one at a time (before matting) ours {} rembg {} \
         ratio {}; under load ours {} rembg {} ratio {}",
        cell(peak(&ours.peak_serial_kib)),
        cell(peak(&rembg.peak_serial_kib)),
        ratio(peak(&ours.peak_serial_kib), peak(&rembg.peak_serial_kib)),
        cell(peak(&ours.peak_loaded_kib)),
        cell(peak(&rembg.peak_loaded_kib)),
        ratio(peak(&ours.peak_loaded_kib), peak(&rembg.peak_loaded_kib)),
    );
    println!();
    println!(
        "ratio = imgforge / rembg (throughput: rembg / imgforge); below 1.00 imgforge is better"
    );
}

fn cell2(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

/// The nearest-rank percentile: the smallest sample at or above `p` percent of them.
fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// This process's peak resident set size (`VmHWM`), in KiB.
fn peak_rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(f64::NAN)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}
