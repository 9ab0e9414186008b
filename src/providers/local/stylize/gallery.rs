//! A look at the presets on the test photos, for people: renders every preset to /tmp and
//! prints timings. Run with
//! `cargo test --release --lib providers::local::stylize::gallery -- --ignored --nocapture`.

use std::path::Path;
use std::time::Instant;

use image::{DynamicImage, GrayImage, Rgba, RgbaImage, imageops};

use super::{StylePreset, stylize};
use crate::providers::local::resize::resize_to;

const TESTDATA: &str = "/work/shared/testdata";
const MASKS: &str = "/tmp/masks";

fn load(name: &str) -> Option<(image::RgbImage, GrayImage)> {
    let photo = ["png", "jpg"]
        .iter()
        .map(|ext| Path::new(TESTDATA).join(format!("{name}.{ext}")))
        .find(|p| p.exists())
        .unwrap_or_else(|| Path::new(TESTDATA).join(format!("{name}.png")));
    let mask = Path::new(MASKS).join(format!("{name}_mask.png"));
    if !photo.exists() || !mask.exists() {
        println!(
            "skipping {name}: {} or {} is absent",
            photo.display(),
            mask.display()
        );
        return None;
    }
    let photo = image::open(photo).ok()?.to_rgb8();
    let mask = image::open(mask).ok()?.to_luma8();
    Some((photo, mask))
}

/// The cut-out over a light neutral card, as a viewer would see it on a page.
fn on_card(character: &RgbaImage) -> RgbaImage {
    let mut card = RgbaImage::from_pixel(
        character.width(),
        character.height(),
        Rgba([236, 238, 242, 255]),
    );
    imageops::overlay(&mut card, character, 0, 0);
    card
}

fn render(name: &str, photo: &image::RgbImage, mask: &GrayImage) {
    for preset in StylePreset::ALL {
        let started = Instant::now();
        let character = stylize(photo, mask, preset).expect("stylises");
        let elapsed = started.elapsed();
        println!(
            "{name} {}x{} {}: {:.0} ms",
            photo.width(),
            photo.height(),
            preset.name(),
            elapsed.as_secs_f64() * 1000.0
        );
        let stem = format!("/tmp/style_{name}_{}", preset.name());
        character.save(format!("{stem}.png")).expect("writes");
        on_card(&character)
            .save(format!("{stem}_view.png"))
            .expect("writes");
    }
}

#[test]
#[ignore = "renders the gallery to /tmp for a human to look at"]
fn render_gallery() {
    let only = std::env::var("STYLE_ONLY").ok();
    for name in [
        "astronaut",
        "motorcycle_left",
        "coffee",
        "chelsea",
        "rocket",
    ] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == name))
        {
            continue;
        }
        let Some((photo, mask)) = load(name) else {
            continue;
        };
        render(name, &photo, &mask);
        if name == "astronaut" {
            let (w, h) = (photo.width() * 2, photo.height() * 2);
            let big = resize_to(&DynamicImage::ImageRgb8(photo), w, h)
                .unwrap()
                .to_rgb8();
            let big_mask = resize_to(&DynamicImage::ImageLuma8(mask), w, h)
                .unwrap()
                .to_luma8();
            render("astronaut1024", &big, &big_mask);
        }
    }
}

#[test]
#[ignore = "profiles the stages at 1024 px"]
fn profile_stages() {
    use super::materials::{MaterialParams, find_materials, flatten};
    use super::oklab::LabImage;
    use super::silhouette::Silhouette;
    use super::smooth::SmoothParams;
    let Some((photo, mask)) = load("astronaut") else {
        return;
    };
    let big = resize_to(&DynamicImage::ImageRgb8(photo), 1024, 1024)
        .unwrap()
        .to_rgb8();
    let big_mask = resize_to(&DynamicImage::ImageLuma8(mask), 1024, 1024)
        .unwrap()
        .to_luma8();
    let t = Instant::now();
    let lap = |what: &str, t: &mut Instant| {
        println!("{what}: {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
        *t = Instant::now();
    };
    let mut t = t;
    let silhouette = Silhouette::from_alpha(&big_mask).unwrap();
    lap("silhouette", &mut t);
    let source = LabImage::from_rgb(&big);
    lap("to oklab", &mut t);
    let px = |v: f32| silhouette.px(v);
    let flattened = flatten(
        &source,
        &silhouette,
        SmoothParams {
            sigma_space: px(6.0),
            sigma_range: 0.08,
            iterations: 3,
        },
        SmoothParams {
            sigma_space: px(30.0),
            sigma_range: 0.12,
            iterations: 3,
        },
    );
    lap("flatten (2 smooths)", &mut t);
    let materials = find_materials(
        &flattened,
        &silhouette,
        MaterialParams {
            clusters: 12,
            axis_weights: [0.5, 1.0, 1.0],
            hue_step: 0.03,
            lightness_step: 0.3,
        },
    );
    lap("materials", &mut t);
    let _ = super::regions::majority_filter(&materials.labels, 1024, 1024, 4, 24);
    lap("majority r4", &mut t);
    let _ = super::regions::merge_small(&materials.labels, 1024, 1024, 900);
    lap("merge small", &mut t);
    let _ = flattened.detail.lightness().gaussian_blur(3.0);
    lap("blur", &mut t);
    let _ = super::ink::border_lines(&materials.labels, 1024, 1024, 4.0, |p, q| {
        materials.is_material_border(p, q)
    });
    lap("border lines", &mut t);
    let _ = super::noise::fbm_plane(1024, 1024, 30.0, 3, 0.5, 1);
    lap("fbm 3 octaves", &mut t);
    let _ = flattened.flat.to_rgb();
    lap("to rgb", &mut t);
}
