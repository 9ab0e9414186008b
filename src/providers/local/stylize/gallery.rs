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
    let photo = Path::new(TESTDATA).join(format!("{name}.png"));
    let mask = Path::new(MASKS).join(format!("{name}_mask.png"));
    if !photo.exists() || !mask.exists() {
        println!("skipping {name}: {} or {} is absent", photo.display(), mask.display());
        return None;
    }
    let photo = image::open(photo).ok()?.to_rgb8();
    let mask = image::open(mask).ok()?.to_luma8();
    Some((photo, mask))
}

/// The cut-out over a light neutral card, as a viewer would see it on a page.
fn on_card(character: &RgbaImage) -> RgbaImage {
    let mut card = RgbaImage::from_pixel(character.width(), character.height(), Rgba([236, 238, 242, 255]));
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
        on_card(&character).save(format!("{stem}_view.png")).expect("writes");
    }
}

#[test]
#[ignore = "renders the gallery to /tmp for a human to look at"]
fn render_gallery() {
    let only = std::env::var("STYLE_ONLY").ok();
    for name in ["astronaut", "motorcycle_left", "coffee", "chelsea", "rocket"] {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|n| n == name)) {
            continue;
        }
        let Some((photo, mask)) = load(name) else { continue };
        render(name, &photo, &mask);
        if name == "astronaut" {
            let (w, h) = (photo.width() * 2, photo.height() * 2);
            let big = resize_to(&DynamicImage::ImageRgb8(photo), w, h).unwrap().to_rgb8();
            let big_mask = resize_to(&DynamicImage::ImageLuma8(mask), w, h).unwrap().to_luma8();
            render("astronaut1024", &big, &big_mask);
        }
    }
}
