//! imgforge's local fix (Real-ESRGAN through ONNX Runtime) against Tencent's ncnn running the
//! same `.param`/`.bin` files, in the same run.
//!
//! For `realesr-animevideov3` x2 and x4, on `chelsea.png` (451×300) and a 1024×768 photo (the
//! 4000×3000 test JPEG resized with Lanczos3): the network's work on both sides (8-bit RGB in,
//! 8-bit RGB out; imgforge with its default tiling, ncnn on the whole image, CPU only, the same
//! thread count), median of `IMGFORGE_BENCH_RUNS` runs (default 3) after one warm-up, the
//! sides taking turns over `IMGFORGE_BENCH_ROUNDS` rounds (default 2) so outside load falls on
//! both alike. Quality: PSNR of imgforge's output against ncnn's.
//!
//! Peak memory: a child process upscales a 2048×1536 photo x2 with the default tiling and
//! reports its `VmHWM`; ncnn's `ru_maxrss` on the same image (whole, untiled) is given next to
//! it. `IMGFORGE_BENCH_X4PLUS=1` also times `realesrgan-x4plus` on chelsea.
//!
//! ```text
//! python3 -m venv /path/venv && /path/venv/bin/pip install ncnn numpy pillow
//! PYTHON=/path/venv/bin/python cargo bench --bench fix_vs_ncnn
//! ```
//!
//! `PYTHON` picks the interpreter (default: `.venv/bin/python`, then `python3`). Outputs are
//! written to `target/bench-fix/`. Skips, saying why, when the shared models or photos are
//! missing or ONNX Runtime cannot be loaded; runs imgforge's side alone when ncnn is missing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use image::{DynamicImage, RgbImage};
use imgforge::config::Settings;
use imgforge::imaging::resize::resize_to;
use imgforge::providers::local::Upscaler;
use imgforge::providers::local::models::Runtime;
use serde_json::Value;

use common::{cell, env_count, load_average, median, ratio, sample_ms};

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/models");
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/realesrgan_ncnn.py");
const VENV_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
const OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-fix");
const CHILD: &str = "IMGFORGE_BENCH_FIX_CHILD";
const NCNN_MISSING: i32 = 3;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !Path::new(MODELS).join("realesrgan-ncnn").is_dir() || !Path::new(TESTDATA).is_dir() {
        eprintln!("skipping: {MODELS}/realesrgan-ncnn or {TESTDATA} is missing");
        return;
    }
    let mut settings = Settings::embedded();
    settings.models.dir = PathBuf::from(MODELS);
    let threads = match settings.models.intra_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    if let Err(e) = Runtime::new(&settings.models).library() {
        eprintln!("skipping: {e}");
        return;
    }
    if let Ok(image) = std::env::var(CHILD) {
        child_peak(&settings, Path::new(&image));
        return;
    }
    std::fs::create_dir_all(OUT).expect("output folder");
    let images = prepare_images();
    let rounds = env_count("IMGFORGE_BENCH_ROUNDS", 2);
    let runs = env_count("IMGFORGE_BENCH_RUNS", 3);
    let mut models = vec![
        ("realesr-animevideov3", 2u32, "realesr-animevideov3-x2"),
        ("realesr-animevideov3", 4, "realesr-animevideov3-x4"),
    ];
    if std::env::var("IMGFORGE_BENCH_X4PLUS").is_ok_and(|v| v == "1") {
        models.push(("realesrgan-x4plus", 4, "realesrgan-x4plus"));
    }
    println!("load average before: {}", load_average());
    println!("threads: {threads} (ONNX Runtime intra-op and ncnn num_threads)");

    let mut ours: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut theirs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut quality: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut ncnn_available = true;
    for round in 0..rounds {
        for (family, factor, file) in &models {
            let mut s = settings.clone();
            s.models.super_resolution.model = (*family).to_owned();
            let upscaler = Upscaler::new(Runtime::new(&s.models));
            let network = upscaler.network(*factor).expect("model installed");
            let small: Vec<&(String, PathBuf)> = images
                .iter()
                .filter(|(name, _)| *family != "realesrgan-x4plus" || name == "chelsea")
                .collect();
            for (name, path) in &small {
                let rgb = image::open(path).expect("bench image").to_rgb8();
                let mut last = None;
                let samples = sample_ms(runs, 1, || {
                    last = Some(upscaler.upscale(&rgb, network).expect("upscale"));
                });
                let out = last.expect("one run");
                let target = Path::new(OUT).join(format!("ours__{file}__{name}.png"));
                out.save(&target).expect("write output");
                ours.entry((file.to_string(), name.clone()))
                    .or_default()
                    .extend(samples);
                if ncnn_available {
                    let paths: Vec<&Path> = vec![path.as_path()];
                    match run_ncnn(&[file], &paths, threads, runs) {
                        Some(report) => {
                            for result in report["results"].as_array().into_iter().flatten() {
                                let samples = result["samples_ms"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .filter_map(Value::as_f64);
                                theirs
                                    .entry((file.to_string(), name.clone()))
                                    .or_default()
                                    .extend(samples);
                                let reference = image::open(result["output"].as_str().unwrap())
                                    .expect("ncnn output")
                                    .to_rgb8();
                                quality.insert(
                                    (file.to_string(), name.clone()),
                                    psnr(&out, &reference),
                                );
                            }
                        }
                        None => ncnn_available = false,
                    }
                }
            }
        }
        println!("round {} of {rounds} done", round + 1);
    }

    println!();
    println!("| model | image | imgforge (ms) | ncnn (ms) | imgforge / ncnn | PSNR vs ncnn (dB) |");
    println!("|---|---|---|---|---|---|");
    for (key, samples) in &ours {
        let mine = median(samples);
        let other = theirs.get(key).and_then(|s| median(s));
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            key.0,
            key.1,
            cell(mine),
            cell(other),
            ratio(mine, other),
            quality
                .get(key)
                .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}"))
        );
    }

    // Peak memory, each side in a process of its own.
    let big = Path::new(OUT).join("photo2048.png");
    let output = Command::new(std::env::current_exe().expect("bench binary"))
        .env(CHILD, &big)
        .output()
        .expect("child runs");
    let ours_peak = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let theirs_peak = if ncnn_available {
        run_ncnn(&["realesr-animevideov3-x2"], &[big.as_path()], threads, 1)
            .and_then(|r| r["peak_rss_kib"].as_f64())
            .map_or_else(|| "-".to_owned(), |kib| format!("{:.0}", kib / 1024.0))
    } else {
        "-".to_owned()
    };
    println!();
    println!(
        "2048x1536 photo, x2: peak RSS imgforge {ours_peak} MiB (tiled), ncnn {theirs_peak} MiB (whole image)"
    );
    println!("load average after: {}", load_average());
}

/// chelsea.png, and the 4000×3000 test photo resized to 1024×768 and 2048×1536.
fn prepare_images() -> Vec<(String, PathBuf)> {
    let chelsea = Path::new(TESTDATA).join("chelsea.png");
    let large = image::open(Path::new(TESTDATA).join("large_4000x3000.jpg")).expect("large photo");
    let large = DynamicImage::ImageRgb8(large.to_rgb8());
    let mut out = vec![("chelsea".to_owned(), chelsea)];
    for (name, w, h) in [("photo1024", 1024, 768), ("photo2048", 2048, 1536)] {
        let path = Path::new(OUT).join(format!("{name}.png"));
        resize_to(&large, w, h)
            .expect("resize")
            .save(&path)
            .expect("write photo");
        if name == "photo1024" {
            out.push((name.to_owned(), path));
        }
    }
    out
}

/// The child process: upscale the 2048-px photo once, print peak RSS in MiB.
fn child_peak(settings: &Settings, image: &Path) {
    let upscaler = Upscaler::new(Runtime::new(&settings.models));
    let network = upscaler.network(2).expect("model installed");
    let rgb = image::open(image).expect("photo").to_rgb8();
    let out = upscaler.upscale(&rgb, network).expect("upscale");
    std::hint::black_box(out);
    println!("{:.0}", peak_rss_kib() / 1024.0);
}

fn run_ncnn(models: &[&str], images: &[&Path], threads: usize, runs: usize) -> Option<Value> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| {
        if Path::new(VENV_PYTHON).is_file() {
            VENV_PYTHON.to_owned()
        } else {
            "python3".to_owned()
        }
    });
    let mut command = Command::new(&python);
    command
        .arg(SCRIPT)
        .args(["--models-dir", MODELS, "--out-dir"])
        .arg(Path::new(OUT).join("ncnn"))
        .args([
            "--threads",
            &threads.to_string(),
            "--runs",
            &runs.to_string(),
        ]);
    for model in models {
        command.args(["--model", model]);
    }
    for image in images {
        command.arg("--image").arg(image);
    }
    let output = command.output().expect("python runs");
    if output.status.code() == Some(NCNN_MISSING) {
        eprintln!(
            "ncnn is missing for {python} (pip install ncnn numpy pillow); imgforge's side only"
        );
        return None;
    }
    assert!(
        output.status.success(),
        "ncnn script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("ncnn script prints JSON"))
}

/// PSNR of two 8-bit RGB images of the same size, in dB.
fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "outputs differ in size");
    let sum: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = sum / a.as_raw().len() as f64;
    if mse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
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
