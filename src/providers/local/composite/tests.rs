use std::path::Path;
use std::time::Instant;

use image::{GrayImage, Luma, Rgb, RgbImage};

use super::*;

const SIZE: u32 = 96;

/// A textured subject whose solid part is (32..64, 30..78) of a 96 × 96 photo, with a 4 px
/// soft edge where, as in a real photo, its colour is mixed with the photo's own flat teal
/// background; no teal may survive compositing. Alpha ≥ 50% covers (31..65, 29..79).
fn photo() -> (RgbImage, GrayImage) {
    let distance = |x: u32, y: u32| {
        let dx = (32i32 - x as i32).max(x as i32 - 63).max(0);
        let dy = (30i32 - y as i32).max(y as i32 - 77).max(0);
        ((dx * dx + dy * dy) as f32).sqrt()
    };
    let coverage = |x: u32, y: u32| (1.0 - distance(x, y) / 4.0).clamp(0.0, 1.0);
    let alpha = GrayImage::from_fn(SIZE, SIZE, |x, y| Luma([(255.0 * coverage(x, y)) as u8]));
    let base = RgbImage::from_fn(SIZE, SIZE, |x, y| {
        let subject = [
            150.0 + (x % 7 * 10) as f32,
            120.0,
            90.0 + (y % 5 * 12) as f32,
        ];
        let teal = [0.0, 128.0, 128.0];
        let a = coverage(x, y);
        Rgb(std::array::from_fn(|c| {
            (a * subject[c] + (1.0 - a) * teal[c]).round() as u8
        }))
    });
    (base, alpha)
}

/// A 160 × 120 background with structure in both directions, so every window differs.
fn scenery() -> RgbImage {
    RgbImage::from_fn(160, 120, |x, y| {
        let stripe = if (x / 10 + y / 15) % 2 == 0 { 40 } else { 0 };
        Rgb([
            (x * 255 / 159) as u8,
            (y * 3 / 2) as u8 + stripe,
            200 - stripe,
        ])
    })
}

fn flat(width: u32, height: u32, colour: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(width, height, Rgb(colour))
}

fn plain() -> CompositeOptions {
    CompositeOptions {
        harmonize: 0.0,
        ..CompositeOptions::default()
    }
}

fn mean_abs_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / a.as_raw().len() as f64
}

/// The box of pixels `matches` picks out, as (x0, y0, x1, y1) half-open.
fn box_of(image: &RgbImage, matches: impl Fn(&Rgb<u8>) -> bool) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, pixel) in image.enumerate_pixels() {
        if matches(pixel) {
            found = Some(match found {
                None => (x, y, x + 1, y + 1),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)),
            });
        }
    }
    found
}

#[test]
fn identity_placement_keeps_solid_subject_pixels_in_place() {
    let (base, alpha) = photo();
    let out = composite(&base, &alpha, &scenery(), &plain(), 0).unwrap();
    assert_eq!(out.dimensions(), base.dimensions());
    for (x, y, a) in alpha.enumerate_pixels() {
        if a.0[0] == 255 {
            assert_eq!(out.get_pixel(x, y), base.get_pixel(x, y), "at ({x}, {y})");
        }
    }
}

#[test]
fn background_shows_where_alpha_is_zero() {
    let (base, alpha) = photo();
    let background = RgbImage::from_fn(SIZE, SIZE, |x, y| Rgb([x as u8, y as u8, 77]));
    let out = composite(&base, &alpha, &background, &plain(), 0).unwrap();
    // everything further than the soft edge plus the feather's reach is pure background
    for (x, y, pixel) in out.enumerate_pixels() {
        let far = !(24..72).contains(&x) || !(22..86).contains(&y);
        if far {
            assert_eq!(pixel, background.get_pixel(x, y), "at ({x}, {y})");
        }
    }
}

#[test]
fn no_halo_of_the_old_background_on_the_edge() {
    let (base, alpha) = photo();
    let out = composite(&base, &alpha, &flat(SIZE, SIZE, [0, 0, 0]), &plain(), 0).unwrap();
    // the old background is teal (green and blue, no red); on the soft edge the subject's
    // colour over black must stay reddish, never turn teal
    for (x, y, a) in alpha.enumerate_pixels() {
        if a.0[0] > 0 && a.0[0] < 255 {
            let [r, g, _] = out.get_pixel(x, y).0;
            assert!(
                r >= g,
                "teal fringe at ({x}, {y}): {:?}",
                out.get_pixel(x, y)
            );
        }
    }
}

#[test]
fn placement_scales_and_moves_the_subject_box_where_asked() {
    let (base, alpha) = photo();
    let options = CompositeOptions {
        placement: Placement {
            scale: Some(0.25),
            x: Some(0.7),
            y: Some(0.6),
        },
        ..plain()
    };
    let out = composite(&base, &alpha, &flat(80, 80, [0, 0, 255]), &options, 0).unwrap();
    let subject = box_of(&out, |p| p.0[0] > 100 && p.0[2] < 200).expect("subject visible");
    // 50 px tall → 24 px (0.25 × 96), 34 px wide → 16.3, bottom centre at (67.2, 57.6)
    let expected = (59.04, 33.6, 75.36, 57.6);
    let (x0, y0, x1, y1) = subject;
    for (got, want) in [
        (x0, expected.0),
        (y0, expected.1),
        (x1, expected.2),
        (y1, expected.3),
    ] {
        assert!(
            (got as f32 - want).abs() <= 1.5,
            "box {subject:?}, expected {expected:?}"
        );
    }
}

#[test]
fn placement_x_alone_moves_the_subject_without_resizing_it() {
    let (base, alpha) = photo();
    let background = flat(80, 80, [0, 0, 255]);
    let reddish = |p: &Rgb<u8>| p.0[0] > 100 && p.0[2] < 200;
    let options = CompositeOptions {
        placement: Placement {
            x: Some(0.25),
            ..Placement::default()
        },
        ..plain()
    };
    let moved = composite(&base, &alpha, &background, &options, 0).unwrap();
    let still = composite(&base, &alpha, &background, &plain(), 0).unwrap();
    let (x0, y0, x1, y1) = box_of(&still, reddish).unwrap();
    // the subject's centre is at 48; x = 0.25 puts it at 24
    assert_eq!(box_of(&moved, reddish), Some((x0 - 24, y0, x1 - 24, y1)));
}

#[test]
fn variants_differ_from_each_other() {
    let (base, alpha) = photo();
    let options = CompositeOptions::default();
    let results: Vec<RgbImage> = (0..4)
        .map(|k| composite(&base, &alpha, &scenery(), &options, k).unwrap())
        .collect();
    for i in 0..results.len() {
        for j in i + 1..results.len() {
            let difference = mean_abs_difference(&results[i], &results[j]);
            assert!(
                difference > 5.0,
                "variants {i} and {j} differ by {difference:.2}"
            );
        }
    }
    let descriptions: std::collections::HashSet<String> = (0..4).map(describe_variant).collect();
    assert_eq!(descriptions.len(), 4);
}

#[test]
fn variant_zero_is_the_default_composite() {
    assert!(describe_variant(0).contains("default"));
}

/// Mean of the subject's solid pixels in the result.
fn subject_mean(out: &RgbImage, alpha: &GrayImage) -> [f32; 3] {
    let mut sum = [0.0f32; 3];
    let mut count = 0.0;
    for (x, y, a) in alpha.enumerate_pixels() {
        if a.0[0] == 255 {
            for (s, v) in sum.iter_mut().zip(out.get_pixel(x, y).0) {
                *s += f32::from(v);
            }
            count += 1.0;
        }
    }
    sum.map(|s| s / count)
}

#[test]
fn harmonisation_moves_the_subject_colour_toward_the_background() {
    let grey = RgbImage::from_pixel(SIZE, SIZE, Rgb([170, 170, 170]));
    let (_, alpha) = photo();
    let dark_red = flat(SIZE, SIZE, [110, 20, 25]);
    let untouched = composite(&grey, &alpha, &dark_red, &plain(), 0).unwrap();
    let options = CompositeOptions {
        harmonize: 1.0,
        ..CompositeOptions::default()
    };
    let harmonised = composite(&grey, &alpha, &dark_red, &options, 0).unwrap();
    let before = subject_mean(&untouched, &alpha);
    let after = subject_mean(&harmonised, &alpha);
    let distance = |m: [f32; 3]| {
        m.iter()
            .zip([110.0, 20.0, 25.0])
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            .sqrt()
    };
    assert!(
        distance(after) < distance(before) - 20.0,
        "{before:?} → {after:?}"
    );
    assert!(after[0] - after[1] > 10.0, "a red cast: {after:?}");
    assert!(
        after.iter().sum::<f32>() < before.iter().sum::<f32>(),
        "darker: {after:?}"
    );
    // bounded: the subject is adjusted toward the scene, not replaced by it
    assert!(after[1] > 60.0, "{after:?}");
}

#[test]
fn shadow_darkens_the_background_beside_the_subject_only() {
    let (base, alpha) = photo();
    let background = flat(SIZE, SIZE, [200, 200, 200]);
    let without = composite(&base, &alpha, &background, &plain(), 0).unwrap();
    let with = composite(
        &base,
        &alpha,
        &background,
        &CompositeOptions {
            shadow: true,
            ..plain()
        },
        0,
    )
    .unwrap();
    // the soft edge ends at row 80; row 81 is background just under the subject
    let (dark, light) = (with.get_pixel(50, 81).0[0], without.get_pixel(50, 81).0[0]);
    assert!(
        dark + 15 < light,
        "under the feet: {dark} with, {light} without"
    );
    assert_eq!(with.get_pixel(2, 2), without.get_pixel(2, 2), "far corner");
    assert_eq!(
        with.get_pixel(48, 50),
        without.get_pixel(48, 50),
        "the subject itself"
    );
}

#[test]
fn rejects_out_of_range_options_naming_the_field() {
    let cases: [(&str, CompositeOptions); 8] = [
        ("placement.scale", placement(Some(0.0), None, None)),
        ("placement.scale", placement(Some(1.5), None, None)),
        ("placement.scale", placement(Some(f32::NAN), None, None)),
        ("placement.x", placement(None, Some(-0.1), None)),
        ("placement.y", placement(None, None, Some(1.01))),
        (
            "feather_px",
            CompositeOptions {
                feather_px: Some(-1.0),
                ..CompositeOptions::default()
            },
        ),
        (
            "harmonize",
            CompositeOptions {
                harmonize: 2.0,
                ..CompositeOptions::default()
            },
        ),
        (
            "harmonize",
            CompositeOptions {
                harmonize: f32::NAN,
                ..CompositeOptions::default()
            },
        ),
    ];
    for (field, options) in cases {
        let error = validate(&options).expect_err(field);
        assert_eq!(error.code, ErrorCode::InvalidArgument);
        assert_eq!(error.field.as_deref(), Some(field), "{}", error.message);
        assert!(error.message.contains(field));
        let (base, alpha) = photo();
        assert!(composite(&base, &alpha, &scenery(), &options, 0).is_err());
    }
    assert!(validate(&CompositeOptions::default()).is_ok());
    assert!(validate(&placement(Some(1.0), Some(0.0), Some(1.0))).is_ok());
}

fn placement(scale: Option<f32>, x: Option<f32>, y: Option<f32>) -> CompositeOptions {
    CompositeOptions {
        placement: Placement { scale, x, y },
        ..CompositeOptions::default()
    }
}

#[test]
fn an_empty_alpha_is_no_subject_found() {
    let (base, _) = photo();
    let empty = GrayImage::new(SIZE, SIZE);
    let error = composite(&base, &empty, &scenery(), &CompositeOptions::default(), 0).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidArgument);
    assert!(error.message.starts_with("no subject found in base_image"));
    let faint = GrayImage::from_pixel(SIZE, SIZE, Luma([40]));
    assert!(composite(&base, &faint, &scenery(), &CompositeOptions::default(), 0).is_err());
}

#[test]
fn mismatched_or_empty_inputs_are_errors_not_panics() {
    let (base, alpha) = photo();
    let options = CompositeOptions::default();
    let small_alpha = GrayImage::new(10, 10);
    assert_eq!(
        composite(&base, &small_alpha, &scenery(), &options, 0)
            .unwrap_err()
            .code,
        ErrorCode::Internal
    );
    let nothing = RgbImage::new(0, 0);
    let error = composite(&base, &alpha, &nothing, &options, 0).unwrap_err();
    assert_eq!(error.field.as_deref(), Some("ref_image"));
    assert!(composite(&nothing, &GrayImage::new(0, 0), &scenery(), &options, 0).is_err());
}

#[test]
fn extreme_placements_and_tiny_backgrounds_still_composite() {
    let (base, alpha) = photo();
    let one_pixel = flat(1, 1, [10, 200, 30]);
    for placement_options in [
        placement(Some(1.0), Some(0.0), Some(1.0)),
        placement(Some(0.01), Some(1.0), Some(0.0)),
        placement(Some(1.0), Some(0.5), Some(0.0)),
    ] {
        for variant in [0, 7, 1000] {
            let options = CompositeOptions {
                shadow: true,
                ..placement_options
            };
            let out = composite(&base, &alpha, &one_pixel, &options, variant).unwrap();
            assert_eq!(out.dimensions(), (SIZE, SIZE));
        }
    }
}

// Real photographs (../shared/testdata) with the u2netp mattes committed as rembg fixtures;
// skipped without the photos on a user's clone, a failure in CI.

const MASKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rembg");

fn real_subject(name: &str, file: &str) -> Option<(RgbImage, GrayImage)> {
    let photo = crate::test_support::testdata(file)?;
    let mask = Path::new(MASKS).join(format!("{name}_u2netp_mask.png"));
    let photo = image::open(&photo)
        .unwrap_or_else(|e| panic!("{}: {e}", photo.display()))
        .to_rgb8();
    let mask = image::open(&mask)
        .unwrap_or_else(|e| panic!("{}: {e}", mask.display()))
        .to_luma8();
    Some((photo, mask))
}

fn real_background(file: &str) -> Option<RgbImage> {
    let path = crate::test_support::testdata(file)?;
    Some(
        image::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8(),
    )
}

#[test]
fn astronaut_on_the_deep_field_keeps_her_solid_pixels() {
    let Some((photo, mask)) = real_subject("astronaut", "astronaut.png") else {
        return;
    };
    let Some(space) = real_background("hubble_deep_field.jpg") else {
        return;
    };
    let started = Instant::now();
    let out = composite(&photo, &mask, &space, &plain(), 0).unwrap();
    println!(
        "astronaut 512x512 on the deep field: {:?}",
        started.elapsed()
    );
    let kept = mask
        .enumerate_pixels()
        .filter(|(_, _, a)| a.0[0] == 255)
        .all(|(x, y, _)| out.get_pixel(x, y) == photo.get_pixel(x, y));
    assert!(kept);
}

/// Times each stage on the astronaut (thread CPU time, best of ten). A profiler of the
/// crate-private stages, so it stays here rather than in examples/gallery.rs:
/// `cargo test --release --lib composite::tests::profile -- --ignored --nocapture`
#[test]
#[ignore = "profiles the private stages, for a human to read"]
fn profile() {
    let Some((photo, mask)) = real_subject("astronaut", "astronaut.png") else {
        return;
    };
    let Some(space) = real_background("hubble_deep_field.jpg") else {
        return;
    };
    let (width, height) = photo.dimensions();
    let options = CompositeOptions {
        shadow: true,
        ..CompositeOptions::default()
    };
    // CPU time of this thread, not wall time: the machine may be busy with other work
    let now = || thread_cpu_ms().unwrap_or(0.0);
    let mut best = [f64::MAX; 8];
    for _ in 0..10 {
        let mut stamps = vec![now()];
        let solid = subject::bounds(&mask, subject::SOLID).unwrap();
        let transform = subject::Transform::new(&options.placement, solid, width, height);
        stamps.push(now());
        let feather = default_feather(width, height);
        let mut layer = subject::place(&photo, &mask, &transform, 3.0 * feather + 2.0).unwrap();
        stamps.push(now());
        subject::feather(&mut layer.alpha, feather);
        stamps.push(now());
        let mut backdrop = background::fit(&space, width, height, background::view(0)).unwrap();
        stamps.push(now());
        let placed = transform.apply(solid);
        harmonize::match_colour(&mut layer, &backdrop, placed, options.harmonize);
        stamps.push(now());
        harmonize::wrap_light(&mut layer, &backdrop, light_wrap_radius(width, height), 0.6);
        stamps.push(now());
        shadow::cast(&mut backdrop, &layer.alpha, placed);
        stamps.push(now());
        let out = blend(&layer.colour, &layer.alpha, &backdrop, width, height);
        stamps.push(now());
        assert_eq!(out.dimensions(), (width, height));
        for (slot, pair) in best.iter_mut().zip(stamps.windows(2)) {
            *slot = slot.min(pair[1] - pair[0]);
        }
    }
    let names = [
        "bounds",
        "place",
        "feather",
        "background",
        "match",
        "wrap",
        "shadow",
        "blend",
    ];
    for (name, ms) in names.iter().zip(best) {
        println!("{name:>10}: {ms:7.2} ms");
    }
    println!("{:>10}: {:7.2} ms", "total", best.iter().sum::<f64>());
    let mut fastest = f64::MAX;
    for _ in 0..10 {
        let started = now();
        let _ = composite(&photo, &mask, &space, &options, 0).unwrap();
        fastest = fastest.min(now() - started);
    }
    println!("composite(), best of 10: {fastest:.2} ms of cpu");
}

/// CPU time of this thread so far (Linux), immune to other processes on a busy machine.
fn thread_cpu_ms() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e6)
}
