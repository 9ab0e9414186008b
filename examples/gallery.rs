//! Renders the local engine's image work on the shared test photos for a person to look at,
//! printing how long each step took. A tool, not a test: it asserts nothing.
//!
//! ```sh
//! cargo run --release --example gallery -- [cutout|style|composite|masks|refine|all] [OUT_DIR]
//! ```
//!
//! Photos come from `$IMGFORGE_SHARED_DIR/testdata` (default `../shared/testdata`); the subject
//! mattes are the committed u2netp masks in `tests/fixtures/rembg`, so only `masks` needs the
//! shared models and ONNX Runtime (`ORT_DYLIB_PATH`). Images go to OUT_DIR (default
//! `/tmp/imgforge_gallery`). `STYLE_ONLY=astronaut,coffee` limits `style` to some photos.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{DynamicImage, GrayImage, RgbImage, Rgba, RgbaImage, imageops};
use imgforge::imaging::resize::resize_to;
use imgforge::providers::local::Segmenter;
use imgforge::providers::local::composite::{self, CompositeOptions};
use imgforge::providers::local::cutout::{self, CutoutMode, CutoutOptions, EdgeRefinement};
use imgforge::providers::local::refine::{
    MattingOptions, alpha_matting, estimate_foreground, guided_filter, refine_edges,
};
use imgforge::providers::local::stylize::{StylePreset, stylize};

/// The test photos with a committed u2netp matte: (stem, file).
const SUBJECTS: [(&str, &str); 5] = [
    ("astronaut", "astronaut.png"),
    ("chelsea", "chelsea.png"),
    ("coffee", "coffee.png"),
    ("rocket", "rocket.jpg"),
    ("motorcycle_left", "motorcycle_left.png"),
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "all".into());
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/tmp/imgforge_gallery".into()),
    );
    std::fs::create_dir_all(&out)?;
    let all = what == "all";
    let mut ran = false;
    for (name, tool) in [
        ("cutout", cutouts as fn(&Path) -> anyhow::Result<()>),
        ("style", styles),
        ("composite", composites),
        ("refine", refine_timings),
        ("masks", masks),
    ] {
        if all || what == name {
            println!("== {name}");
            tool(&out)?;
            ran = true;
        }
    }
    anyhow::ensure!(
        ran,
        "unknown tool {what:?}: cutout, style, composite, refine, masks or all"
    );
    println!("images in {}", out.display());
    Ok(())
}

fn shared_dir() -> PathBuf {
    match std::env::var_os("IMGFORGE_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")),
    }
}

fn photo(file: &str) -> anyhow::Result<RgbImage> {
    let path = shared_dir().join("testdata").join(file);
    let image = image::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(image.to_rgb8())
}

/// A test photo and its committed u2netp matte.
fn subject(stem: &str, file: &str) -> anyhow::Result<(RgbImage, GrayImage)> {
    let mask = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rembg")
        .join(format!("{stem}_u2netp_mask.png"));
    let mask = image::open(&mask).map_err(|e| anyhow::anyhow!("{}: {e}", mask.display()))?;
    Ok((photo(file)?, mask.to_luma8()))
}

/// The median of five runs after one warm-up.
fn median_of_5(work: &dyn Fn()) -> Duration {
    work();
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

/// The astronaut with every refinement, kind and crop.
fn cutouts(out: &Path) -> anyhow::Result<()> {
    let (image, mask) = subject("astronaut", "astronaut.png")?;
    let refinements = [
        ("none", EdgeRefinement::None),
        ("guided", EdgeRefinement::GuidedFilter),
        ("matting", EdgeRefinement::AlphaMatting),
    ];
    let kinds = [
        ("cutout", CutoutMode::Cutout),
        ("mask", CutoutMode::Mask),
        ("solid", CutoutMode::Solid([40, 120, 220, 255])),
    ];
    for (refinement_name, refinement) in refinements {
        for (kind_name, kind) in kinds {
            for crop_to_subject in [false, true] {
                let options = CutoutOptions {
                    kind,
                    crop_to_subject,
                    crop_margin: 16,
                    refinement,
                };
                let started = Instant::now();
                let result = cutout::render(&image, &mask, &options)?;
                let elapsed = started.elapsed();
                let crop = if crop_to_subject { "_crop" } else { "" };
                let path = out.join(format!("cutout_{refinement_name}_{kind_name}{crop}.png"));
                result.save(&path)?;
                println!(
                    "{}: {}x{} in {elapsed:?}",
                    path.display(),
                    result.width(),
                    result.height()
                );
            }
        }
    }
    Ok(())
}

/// Every style preset on every subject (and the astronaut at twice her size).
fn styles(out: &Path) -> anyhow::Result<()> {
    let only = std::env::var("STYLE_ONLY").ok();
    for (stem, file) in SUBJECTS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == stem))
        {
            continue;
        }
        let (image, mask) = subject(stem, file)?;
        style_all(out, stem, &image, &mask)?;
        if stem == "astronaut" {
            let (w, h) = (image.width() * 2, image.height() * 2);
            let big = resize_to(&DynamicImage::ImageRgb8(image), w, h)?.to_rgb8();
            let big_mask = resize_to(&DynamicImage::ImageLuma8(mask), w, h)?.to_luma8();
            style_all(out, "astronaut1024", &big, &big_mask)?;
        }
    }
    Ok(())
}

fn style_all(out: &Path, stem: &str, image: &RgbImage, mask: &GrayImage) -> anyhow::Result<()> {
    for preset in StylePreset::ALL {
        let started = Instant::now();
        let character = stylize(image, mask, preset)?;
        let elapsed = started.elapsed();
        println!(
            "{stem} {}x{} {}: {:.0} ms",
            image.width(),
            image.height(),
            preset.name(),
            elapsed.as_secs_f64() * 1000.0
        );
        let path = out.join(format!("style_{stem}_{}", preset.name()));
        character.save(path.with_extension("png"))?;
        // The cut-out over a light card, as a viewer would see it on a page.
        let mut card = RgbaImage::from_pixel(
            character.width(),
            character.height(),
            Rgba([236, 238, 242, 255]),
        );
        imageops::overlay(&mut card, &character, 0, 0);
        card.save(format!("{}_view.png", path.display()))?;
    }
    Ok(())
}

/// Two subjects on two backgrounds, with and without a shadow, in three variants.
fn composites(out: &Path) -> anyhow::Result<()> {
    let backgrounds = [
        ("hubble", "hubble_deep_field.jpg"),
        ("coffee", "coffee.png"),
    ];
    for (stem, file) in [SUBJECTS[0], SUBJECTS[4]] {
        let (image, mask) = subject(stem, file)?;
        for (bg_name, bg_file) in backgrounds {
            let background = photo(bg_file)?;
            for shadow in [false, true] {
                for variant in 0..3 {
                    let options = CompositeOptions {
                        shadow,
                        ..CompositeOptions::default()
                    };
                    let started = Instant::now();
                    let result =
                        composite::composite(&image, &mask, &background, &options, variant)?;
                    let elapsed = started.elapsed();
                    let shadow_tag = if shadow { "shadow" } else { "plain" };
                    let path = out.join(format!(
                        "composite_{stem}_{bg_name}_{shadow_tag}_{variant}.png"
                    ));
                    result.save(&path)?;
                    println!(
                        "{}: {elapsed:?} ({})",
                        path.display(),
                        composite::describe_variant(variant)
                    );
                }
            }
        }
    }
    Ok(())
}

/// Each mask refinement on each subject, median of five.
fn refine_timings(_out: &Path) -> anyhow::Result<()> {
    for (stem, file) in SUBJECTS {
        let (image, mask) = subject(stem, file)?;
        let guided = median_of_5(&|| drop(guided_filter(&image, &mask, 8, 1e-3)));
        let edges = median_of_5(&|| drop(refine_edges(&image, &mask)));
        let matting =
            median_of_5(&|| drop(alpha_matting(&image, &mask, &MattingOptions::default())));
        let foreground = median_of_5(&|| drop(estimate_foreground(&image, &mask)));
        println!(
            "{stem} {}x{}: guided_filter r8 {guided:?}, refine_edges {edges:?}, \
             alpha_matting {matting:?}, estimate_foreground {foreground:?}",
            image.width(),
            image.height()
        );
    }
    Ok(())
}

/// The shared u2netp's masks of every subject, timed (needs ONNX Runtime).
fn masks(out: &Path) -> anyhow::Result<()> {
    let mut settings = imgforge::config::Settings::embedded().models;
    settings.dir = shared_dir().join("models");
    let segmenter = Segmenter::new(&settings);
    for (stem, file) in SUBJECTS {
        let image = photo(file)?;
        let started = Instant::now();
        let mask = segmenter.mask(&image, None)?;
        let elapsed = started.elapsed();
        let path = out.join(format!("mask_{stem}.png"));
        mask.save(&path)?;
        println!("{}: {elapsed:?}", path.display());
    }
    Ok(())
}
