//! imgforge's resize against libvips, on the same photo, in the same run.
//!
//! Fits `../shared/testdata/large_4000x3000.jpg` within 1024×1024 with Lanczos3 and encodes it
//! as JPEG q90. Decode, resize and encode are timed separately and end to end (median of
//! `IMGFORGE_BENCH_RUNS` runs after `IMGFORGE_BENCH_WARMUP` untimed ones), with the default
//! thread pools and with one thread; then `bench/libvips_resize.py` does the same job with
//! pyvips and the two are printed side by side as ratios, imgforge / libvips (below 1.0
//! imgforge is faster).
//!
//! ```text
//! pip install pyvips pyvips-binary
//! cargo bench --bench resize_vs_libvips          # PYTHON=... picks the interpreter
//! ```
//!
//! Skips, saying why, when the photo or pyvips is missing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use image::DynamicImage;
use imgforge::domain::params::{OutputSpec, ResizeParams};
use imgforge::domain::{ImageFormat, ImageLimits, SourceImage};
use serde_json::{Value, json};

// `providers::local::resize` is private to the library. Until it is exported, the bench
// compiles that very source file against the library's public modules, so what is timed is
// exactly what `LocalProvider` runs. Once exported: `use imgforge::providers::local::resize;`.
#[path = "../src/providers/local/resize.rs"]
mod resize;
mod domain {
    pub use imgforge::domain::*;
}
mod error {
    pub use imgforge::error::*;
}
mod media {
    pub use imgforge::media::*;
}

const PHOTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/large_4000x3000.jpg"
);
const LIBVIPS_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/libvips_resize.py");
const BOX: u32 = 1024;
const QUALITY: u8 = 90;
/// Set in the child process that measures imgforge with one thread.
const SINGLE_THREAD_CHILD: &str = "IMGFORGE_BENCH_SINGLE_THREAD_CHILD";
/// pyvips' exit status when it cannot load libvips.
const PYVIPS_MISSING: i32 = 3;

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
    let runs = env_count("IMGFORGE_BENCH_RUNS", 15);
    let warmup = env_count("IMGFORGE_BENCH_WARMUP", 3);

    if std::env::var_os(SINGLE_THREAD_CHILD).is_some() {
        println!("{}", measure_imgforge(&bytes, runs, warmup));
        return;
    }

    let job = Job::new(&bytes);
    println!(
        "resize_vs_libvips: {}x{} JPEG ({} bytes) -> fit {BOX}x{BOX} = {}x{}, Lanczos3, JPEG q{QUALITY}; \
         median of {runs} runs after {warmup} warm-up",
        job.source.width,
        job.source.height,
        bytes.len(),
        job.target.0,
        job.target.1,
    );
    let default_threads = measure_imgforge(&bytes, runs, warmup);
    let single_thread = measure_imgforge_single_threaded();
    let libvips = measure_libvips(photo, job.shrink, runs, warmup);
    report(&default_threads, single_thread.as_ref(), libvips.as_ref());
}

/// The photo and what the resize makes of it.
struct Job {
    source: SourceImage,
    params: ResizeParams,
    limits: ImageLimits,
    target: (u32, u32),
    /// The DCT scale denominator shrink-on-load picks (2, 4, 8), or 1 for a full decode.
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
        let reduced = imgforge::media::jpeg_scaled::reduced_size_covering((width, height), target);
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

/// imgforge's timings in milliseconds, plus the facts the report needs, as JSON (the
/// single-threaded child prints it for the parent).
fn measure_imgforge(bytes: &[u8], runs: usize, warmup: usize) -> Value {
    let job = Job::new(bytes);
    let (source, limits, (width, height)) = (&job.source, &job.limits, job.target);
    let decode_full = || imgforge::media::decode(bytes, limits).expect("decode").1;
    let decode_shipped =
        || resize::decode_covering(source, limits, width, height).expect("decode covering");
    let resize = |image: &DynamicImage| resize::resize_to(image, width, height).expect("resize");
    let encode = |image: &DynamicImage| {
        imgforge::media::encode(image, ImageFormat::Jpeg, QUALITY).expect("encode")
    };

    let full = decode_full();
    let reduced = decode_shipped();
    let resized_full = resize(&full);
    let resized_reduced = resize(&reduced);
    let shipped = resize::resize(source, &job.params, limits).expect("resize end to end");

    let mut ms = BTreeMap::new();
    let mut time = |stage: &str, ms_taken: f64| ms.insert(stage.to_owned(), ms_taken);
    time("decode", median_ms(runs, warmup, decode_full));
    time("decode_shrink", median_ms(runs, warmup, decode_shipped));
    time("resize", median_ms(runs, warmup, || resize(&full)));
    time(
        "resize_shrink",
        median_ms(runs, warmup, || resize(&reduced)),
    );
    time("encode", median_ms(runs, warmup, || encode(&resized_full)));
    time(
        "pipeline",
        median_ms(runs, warmup, || encode(&resize(&decode_full()))),
    );
    time(
        "end_to_end",
        median_ms(runs, warmup, || {
            resize::resize(source, &job.params, limits).expect("resize end to end")
        }),
    );

    json!({
        "source": [job.source.width, job.source.height],
        "reduced": [reduced.width(), reduced.height()],
        "output": [shipped.width, shipped.height, shipped.bytes.len()],
        "psnr_shrink_vs_full_db": psnr(&resized_reduced, &resized_full),
        "rayon_threads": std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into()),
        "ms": ms,
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
        eprintln!(
            "the single-threaded pass failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

/// libvips' timings from `bench/libvips_resize.py`, or `None` (with the reason printed) when
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
    if output.status.code() == Some(PYVIPS_MISSING) {
        println!(
            "skipping libvips: {} (pip install pyvips pyvips-binary)",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    if !output.status.success() {
        println!(
            "skipping libvips: {python} {LIBVIPS_SCRIPT} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
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

/// One table row: a label, imgforge's stage and libvips' stage.
const ROWS: [(&str, &str, &str); 8] = [
    ("decode, full size", "decode", "decode"),
    (
        "decode, DCT shrink-on-load",
        "decode_shrink",
        "decode_shrink",
    ),
    ("resize, from full size", "resize", "resize"),
    (
        "resize, from shrunk decode",
        "resize_shrink",
        "resize_shrink",
    ),
    ("encode JPEG q90", "encode", "encode"),
    ("end to end, no shrink-on-load", "pipeline", "pipeline"),
    (
        "end to end, shrink-on-load",
        "end_to_end",
        "pipeline_shrink",
    ),
    ("end to end vs vips thumbnail", "end_to_end", "thumbnail"),
];

fn report(default_threads: &Value, single_thread: Option<&Value>, libvips: Option<&Value>) {
    let reduced = &default_threads["reduced"];
    let output = &default_threads["output"];
    println!(
        "imgforge: shrink-on-load decodes {}x{}; output {}x{}, {} bytes; \
         PSNR of the shrink-on-load result against the full decode: {:.1} dB",
        reduced[0],
        reduced[1],
        output[0],
        output[1],
        output[2],
        default_threads["psnr_shrink_vs_full_db"]
            .as_f64()
            .unwrap_or(f64::NAN)
    );
    if let Some(libvips) = libvips {
        let vips_output = &libvips["output"]["resize"];
        println!(
            "libvips {}: output {}x{}, {} bytes",
            libvips["libvips"].as_str().unwrap_or("?"),
            vips_output[0],
            vips_output[1],
            vips_output[2],
        );
    }
    let vips = |threads: &str, stage: &str| {
        libvips.and_then(|v| v["timings"][threads]["ms"][stage].as_f64())
    };
    let ours = |value: Option<&Value>, stage: &str| value.and_then(|v| v["ms"][stage].as_f64());
    let cell = |ms: Option<f64>| ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    };

    println!();
    println!(
        "{:<31} | {:>29} | {:>29}",
        "stage (ms, median)", "default threads", "1 thread"
    );
    println!(
        "{:<31} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
        "", "imgforge", "libvips", "ratio", "imgforge", "libvips", "ratio"
    );
    println!("{}", "-".repeat(95));
    for (label, our_stage, vips_stage) in ROWS {
        let (ours_default, vips_default) = (
            ours(Some(default_threads), our_stage),
            vips("default", vips_stage),
        );
        let (ours_single, vips_single) =
            (ours(single_thread, our_stage), vips("single", vips_stage));
        println!(
            "{label:<31} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9}",
            cell(ours_default),
            cell(vips_default),
            ratio(ours_default, vips_default),
            cell(ours_single),
            cell(vips_single),
            ratio(ours_single, vips_single),
        );
    }
    println!();
    println!("ratio = imgforge / libvips; below 1.00 imgforge is faster");
}

/// Median wall time of `job` in milliseconds over `runs` runs, after `warmup` untimed ones.
fn median_ms<T>(runs: usize, warmup: usize, mut job: impl FnMut() -> T) -> f64 {
    for _ in 0..warmup {
        black_box(job());
    }
    let mut samples: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            black_box(job());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 0 {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    }
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

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
