//! imgforge's resize against libvips, on the same photo, in the same run.
//!
//! Fits `../shared/testdata/large_4000x3000.jpg` within 1024×1024 with Lanczos3 and encodes it
//! as JPEG q90. Decode, resize and encode are timed separately and end to end, with the
//! default thread pools and with one thread; `bench/libvips_resize.py` has pyvips do the same
//! job, and the two are printed side by side as ratios, imgforge / libvips (below 1.0
//! imgforge is faster).
//!
//! The two sides take turns: `IMGFORGE_BENCH_ROUNDS` rounds (default 3), each timing every
//! stage `IMGFORGE_BENCH_RUNS` times (default 7) after `IMGFORGE_BENCH_WARMUP` untimed runs
//! (default 2), so load from other processes falls on both alike. The tables give the median
//! and the fastest of all samples.
//!
//! ```text
//! pip install pyvips pyvips-binary
//! cargo bench --bench resize_vs_libvips          # PYTHON=... picks the interpreter
//! ```
//!
//! Skips, saying why, when the photo or pyvips is missing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use image::DynamicImage;
use imgforge::domain::params::{OutputSpec, ResizeParams};
use imgforge::domain::{ImageFormat, ImageLimits, SourceImage};
use imgforge::imaging::resize;
use imgforge::media::jpeg_scaled;
use serde_json::{Value, json};

use common::{cell, env_count, load_average, median, ratio, sample_ms};

const PHOTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/large_4000x3000.jpg"
);
const LIBVIPS_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/libvips_resize.py");
const BOX: u32 = 1024;
const QUALITY: u8 = 90;
/// Set in the child process that measures imgforge with one thread.
const SINGLE_THREAD_CHILD: &str = "IMGFORGE_BENCH_SINGLE_THREAD_CHILD";
/// The script's exit status when pyvips cannot load libvips.
const PYVIPS_MISSING: i32 = 3;

/// Table rows: a label, imgforge's stage and libvips' stage.
#[rustfmt::skip]
const ROWS: [(&str, &str, &str); 8] = [
    ("decode, full size", "decode", "decode"),
    ("decode, DCT shrink-on-load", "decode_shrink", "decode_shrink"),
    ("resize, from full size", "resize", "resize"),
    ("resize, from shrunk decode", "resize_shrink", "resize_shrink"),
    ("encode JPEG q90", "encode", "encode"),
    ("end to end, no shrink-on-load", "pipeline", "pipeline"),
    ("end to end, shrink-on-load", "end_to_end", "pipeline_shrink"),
    ("end to end vs vips thumbnail", "end_to_end", "thumbnail"),
];

/// Milliseconds per stage, every sample kept.
type Samples = BTreeMap<String, Vec<f64>>;

/// The samples of one side (imgforge or libvips) with one thread setting.
#[derive(Default)]
struct Side {
    samples: Samples,
    /// What the first round said about the job: sizes, output, quality.
    facts: Option<Value>,
}

impl Side {
    fn add(&mut self, facts: Value, samples: &Value) {
        if let Some(samples) = samples.as_object() {
            for (stage, values) in samples {
                let values = values.as_array().into_iter().flatten();
                self.samples
                    .entry(stage.clone())
                    .or_default()
                    .extend(values.filter_map(Value::as_f64));
            }
        }
        self.facts.get_or_insert(facts);
    }

    fn stage(&self, stage: &str) -> Option<(f64, f64)> {
        let values = self.samples.get(stage)?;
        Some((median(values)?, values.iter().copied().reduce(f64::min)?))
    }
}

fn main() {
    let photo = Path::new(PHOTO);
    if !photo.is_file() {
        println!(
            "skipping resize_vs_libvips: {} is not available",
            photo.display()
        );
        return;
    }
    let bytes = std::fs::read(photo).unwrap_or_else(|e| panic!("reading {PHOTO}: {e}"));
    let rounds = env_count("IMGFORGE_BENCH_ROUNDS", 3);
    let runs = env_count("IMGFORGE_BENCH_RUNS", 7);
    let warmup = env_count("IMGFORGE_BENCH_WARMUP", 2);

    if std::env::var_os(SINGLE_THREAD_CHILD).is_some() {
        println!("{}", measure_imgforge(&bytes, runs, warmup));
        return;
    }

    let job = Job::new(&bytes);
    println!(
        "resize_vs_libvips: {}x{} JPEG ({} bytes) -> fit {BOX}x{BOX} = {}x{}, Lanczos3, \
         JPEG q{QUALITY}; {rounds} rounds of {runs} runs per stage and side, after {warmup} \
         warm-up",
        job.source.width,
        job.source.height,
        bytes.len(),
        job.target.0,
        job.target.1,
    );
    let load_before = load_average();
    let (mut ours, mut ours_single) = (Side::default(), Side::default());
    let (mut vips, mut vips_single) = (Side::default(), Side::default());
    let mut libvips_available = true;
    for _ in 0..rounds {
        let measured = measure_imgforge(&bytes, runs, warmup);
        ours.add(measured.clone(), &measured["samples"]);
        if let Some(measured) = measure_imgforge_single_threaded() {
            ours_single.add(measured.clone(), &measured["samples"]);
        }
        if !libvips_available {
            continue;
        }
        match measure_libvips(photo, job.shrink, runs, warmup) {
            Some(measured) => {
                vips.add(measured.clone(), &measured["timings"]["default"]["samples"]);
                vips_single.add(measured.clone(), &measured["timings"]["single"]["samples"]);
            }
            None => libvips_available = false,
        }
    }
    println!(
        "load average before and after: {load_before} / {}",
        load_average()
    );
    report(&ours, &ours_single, &vips, &vips_single);
}

/// The photo and what the resize makes of it.
struct Job {
    source: SourceImage,
    params: ResizeParams,
    limits: ImageLimits,
    target: (u32, u32),
    /// The DCT scale denominator shrink-on-load picks (2 or 4), or 1 for a full decode.
    shrink: u32,
}

impl Job {
    fn new(bytes: &[u8]) -> Job {
        let limits = ImageLimits::default();
        let (format, width, height) = imgforge::media::probe(bytes, &limits).expect("probe");
        let output = OutputSpec::new(Some(ImageFormat::Jpeg), Some(u32::from(QUALITY)))
            .expect("output spec");
        let params = ResizeParams::new(None, Some(i64::from(BOX)), output).expect("params");
        let target = params.target_size(width, height);
        let reduced = jpeg_scaled::reduced_size_covering((width, height), target);
        let shrink = reduced.map_or(1, |(reduced_width, _)| width.div_ceil(reduced_width));
        let source = SourceImage {
            bytes: bytes::Bytes::copy_from_slice(bytes),
            format,
            width,
            height,
        };
        Job {
            source,
            params,
            limits,
            target,
            shrink,
        }
    }
}

/// imgforge's samples in milliseconds, plus the facts the report needs, as JSON (the
/// single-threaded child prints it for the parent).
fn measure_imgforge(bytes: &[u8], runs: usize, warmup: usize) -> Value {
    let job = Job::new(bytes);
    let (source, limits, (width, height)) = (&job.source, &job.limits, job.target);
    let decode_full = || imgforge::media::decode(bytes, limits).expect("decode").1;
    let decode_reduced = || {
        jpeg_scaled::decode_covering(bytes, limits, width, height)
            .expect("decode at a reduced scale")
            .expect("a photo this large shrinks on load")
    };
    let resize = |image: &DynamicImage| resize::resize_to(image, width, height).expect("resize");
    let encode = |image: &DynamicImage| {
        imgforge::media::encode(image, ImageFormat::Jpeg, QUALITY).expect("encode")
    };
    // What `LocalProvider::resize` runs on its CPU pool.
    let end_to_end = || resize::resize(source, &job.params, limits).expect("resize end to end");

    let full = decode_full();
    let reduced = decode_reduced();
    let resized_full = resize(&full);
    let resized_reduced = resize(&reduced);
    let shipped = end_to_end();
    assert!(
        shipped.bytes == encode(&resized_reduced),
        "the stages timed here are no longer what resize() does"
    );

    let mut samples = Samples::new();
    let mut time = |stage: &str, taken: Vec<f64>| samples.insert(stage.to_owned(), taken);
    time("decode", sample_ms(runs, warmup, decode_full));
    time("decode_shrink", sample_ms(runs, warmup, decode_reduced));
    time("resize", sample_ms(runs, warmup, || resize(&full)));
    time(
        "resize_shrink",
        sample_ms(runs, warmup, || resize(&reduced)),
    );
    time("encode", sample_ms(runs, warmup, || encode(&resized_full)));
    time(
        "pipeline",
        sample_ms(runs, warmup, || encode(&resize(&decode_full()))),
    );
    time("end_to_end", sample_ms(runs, warmup, end_to_end));

    json!({
        "reduced": [reduced.width(), reduced.height()],
        "output": [shipped.width, shipped.height, shipped.bytes.len()],
        "psnr_shrink_vs_full_db": psnr(&resized_reduced, &resized_full),
        "samples": samples,
    })
}

/// Runs this bench again with one thread for every pool imgforge's decoders may use; rayon
/// reads its thread count once per process, so this cannot happen in-process.
fn measure_imgforge_single_threaded() -> Option<Value> {
    let exe = std::env::current_exe().expect("the bench's own path");
    let output = Command::new(exe)
        .env(SINGLE_THREAD_CHILD, "1")
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("running the single-threaded pass");
    if !output.status.success() {
        println!(
            "the single-threaded pass failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

/// libvips' samples from `bench/libvips_resize.py`, or `None` (with the reason printed) when
/// python or pyvips is missing.
fn measure_libvips(photo: &Path, shrink: u32, runs: usize, warmup: usize) -> Option<Value> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = Command::new(&python)
        .arg(LIBVIPS_SCRIPT)
        .arg(photo)
        .args(["--box", &BOX.to_string()])
        .args(["--quality", &QUALITY.to_string()])
        .args(["--shrink", &shrink.to_string()])
        .args(["--runs", &runs.to_string()])
        .args(["--warmup", &warmup.to_string()])
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            println!("skipping libvips: cannot run {python}: {err}");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(PYVIPS_MISSING) {
        println!(
            "skipping libvips: {} (pip install pyvips pyvips-binary)",
            stderr.trim()
        );
        return None;
    }
    if !output.status.success() {
        println!(
            "skipping libvips: {python} {LIBVIPS_SCRIPT} failed: {}",
            stderr.trim()
        );
        return None;
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(value) => Some(value),
        Err(err) => {
            println!("skipping libvips: unreadable output from {LIBVIPS_SCRIPT}: {err}");
            None
        }
    }
}

fn report(ours: &Side, ours_single: &Side, vips: &Side, vips_single: &Side) {
    if let Some(facts) = &ours.facts {
        let (reduced, output) = (&facts["reduced"], &facts["output"]);
        println!(
            "imgforge: shrink-on-load decodes {}x{}; output {}x{}, {} bytes; PSNR of the \
             shrink-on-load result against resizing the full decode: {:.1} dB",
            reduced[0],
            reduced[1],
            output[0],
            output[1],
            output[2],
            facts["psnr_shrink_vs_full_db"].as_f64().unwrap_or(f64::NAN)
        );
    }
    if let Some(facts) = &vips.facts {
        let output = &facts["output"]["resize"];
        println!(
            "libvips {}: output {}x{}, {} bytes; threads by default: {}",
            facts["libvips"].as_str().unwrap_or("?"),
            output[0],
            output[1],
            output[2],
            facts["timings"]["default"]["threads"],
        );
    }
    for (title, pick) in [
        ("median", (|(median, _)| median) as fn((f64, f64)) -> f64),
        ("fastest", |(_, min)| min),
    ] {
        println!();
        println!(
            "{:<31} | {:>29} | {:>29}",
            format!("stage (ms, {title})"),
            "default threads",
            "1 thread"
        );
        println!(
            "{:<31} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
            "", "imgforge", "libvips", "ratio", "imgforge", "libvips", "ratio"
        );
        println!("{}", "-".repeat(95));
        for (label, our_stage, vips_stage) in ROWS {
            let pair = |ours: &Side, vips: &Side| {
                (
                    ours.stage(our_stage).map(pick),
                    vips.stage(vips_stage).map(pick),
                )
            };
            let (a, b) = pair(ours, vips);
            let (c, d) = pair(ours_single, vips_single);
            println!(
                "{label:<31} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
                cell(a),
                cell(b),
                ratio(a, b),
                cell(c),
                cell(d),
                ratio(c, d),
            );
        }
    }
    println!();
    println!("ratio = imgforge / libvips; below 1.00 imgforge is faster");
}

/// Peak signal-to-noise ratio of `a` against `b` over 8-bit RGB, in dB.
fn psnr(a: &DynamicImage, b: &DynamicImage) -> f64 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let squared: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let mse = squared / a.as_raw().len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}
