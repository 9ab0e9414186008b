//! Times the crate-private stages of the presets on the astronaut at 1024 px, for people
//! (the rendered presets themselves: `cargo run --release --example gallery -- style`). Run with
//! `cargo test --release --lib providers::local::stylize::gallery -- --ignored --nocapture`.

use std::time::Instant;

use image::{DynamicImage, GrayImage};

use crate::imaging::resize::resize_to;

/// A test photo and its committed u2netp matte.
fn load(name: &str) -> Option<(image::RgbImage, GrayImage)> {
    let photo = crate::test_support::testdata(&format!("{name}.png"))?;
    let mask = format!(
        "{}/tests/fixtures/rembg/{name}_u2netp_mask.png",
        env!("CARGO_MANIFEST_DIR")
    );
    let photo = image::open(&photo).expect("test photo").to_rgb8();
    let mask = image::open(&mask).expect("committed matte").to_luma8();
    Some((photo, mask))
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
