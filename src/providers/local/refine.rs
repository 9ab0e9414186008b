//! Mask refinement: guided filter, alpha matting, foreground colour estimation.
//!
//! A segmentation model gives a soft but coarse mask (U^2-Net predicts at 320×320). These
//! functions make its edge follow the image: [`guided_filter`] cheaply snaps the mask to the
//! image's colour edges, [`alpha_matting`] solves for fractional coverage in the band where the
//! mask is unsure, and [`estimate_foreground`] recovers the subject's own colour where it is
//! mixed with the background, so a cut-out has no halo of the old background.
//!
//! All of them work on `f32` planes in [0, 1] and take `u8` images in and out.

mod foreground;
mod guided;
mod matting;
mod planes;

pub use foreground::estimate_foreground;
pub use guided::{guided_filter, refine_edges};
pub use matting::{MattingOptions, alpha_matting};

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use super::*;

    /// Times each refinement on the test photos and the rembg masks made from them.
    /// `cargo test --release --lib refine::tests::timings -- --ignored --nocapture`
    #[test]
    #[ignore = "timings, for a human to read"]
    fn timings_on_the_test_photos() {
        let photos = [
            "astronaut.png",
            "chelsea.png",
            "coffee.png",
            "rocket.jpg",
            "motorcycle_left.png",
        ];
        for photo in photos {
            let stem = photo.split('.').next().unwrap_or(photo);
            let image_path = format!("/work/shared/testdata/{photo}");
            let mask_path = format!("/tmp/masks/{stem}_mask.png");
            if !Path::new(&image_path).exists() || !Path::new(&mask_path).exists() {
                println!("skipping {stem}: {image_path} or {mask_path} is absent");
                continue;
            }
            let image = image::open(&image_path).expect("photo").to_rgb8();
            let mask = image::open(&mask_path).expect("mask").to_luma8();
            let time = |f: &dyn Fn()| {
                f();
                let started = Instant::now();
                for _ in 0..5 {
                    f();
                }
                started.elapsed() / 5
            };
            let guided = time(&|| drop(guided_filter(&image, &mask, 8, 1e-3)));
            let edges = time(&|| drop(refine_edges(&image, &mask)));
            let matting = time(&|| drop(alpha_matting(&image, &mask, &MattingOptions::default())));
            let foreground = time(&|| drop(estimate_foreground(&image, &mask)));
            println!(
                "{stem} {}x{}: guided_filter r8 {guided:?}, refine_edges {edges:?}, \
                 alpha_matting {matting:?}, estimate_foreground {foreground:?}",
                image.width(),
                image.height()
            );
        }
    }
}
