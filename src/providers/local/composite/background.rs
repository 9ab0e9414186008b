//! The new background, cover-fitted to the canvas through a per-variant window.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use super::blur::Plane;
use crate::error::{Error, Result};

/// How one variant looks at the background: which window of it fills the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct View {
    /// 1 is a plain cover fit; above 1 the window shrinks, so the background is enlarged.
    pub zoom: f32,
    /// Where the window sits in the slack the cover fit leaves: 0 left, 1 right.
    pub anchor_x: f32,
    /// 0 top, 1 bottom.
    pub anchor_y: f32,
    /// The window is mirrored left to right after it is cut.
    pub mirrored: bool,
}

/// Eight distinct views; later variants repeat them a little more zoomed in each round.
/// Zoomed windows keep to the middle or the bottom of the background, where the ground a
/// subject stands on usually is.
const VIEWS: [(f32, f32, f32, bool, &str); 8] = [
    (
        1.0,
        0.5,
        0.5,
        false,
        "the background cover-fitted and centred",
    ),
    (1.0, 0.5, 0.5, true, "the background mirrored left to right"),
    (
        1.25,
        0.0,
        0.5,
        false,
        "the background enlarged 1.25x, showing its left side",
    ),
    (
        1.25,
        1.0,
        0.5,
        false,
        "the background enlarged 1.25x, showing its right side",
    ),
    (
        1.25,
        0.0,
        0.5,
        true,
        "the background's left side, enlarged 1.25x and mirrored",
    ),
    (
        1.25,
        1.0,
        0.5,
        true,
        "the background's right side, enlarged 1.25x and mirrored",
    ),
    (
        1.5,
        0.5,
        1.0,
        false,
        "the background enlarged 1.5x, showing its lower middle",
    ),
    (
        1.5,
        0.5,
        1.0,
        true,
        "the background's lower middle, enlarged 1.5x and mirrored",
    ),
];

/// How much each round past the first eight variants zooms in further.
const ZOOM_PER_ROUND: f32 = 0.1;
/// No window is enlarged beyond this; very late variants repeat.
const MAX_ZOOM: f32 = 2.0;

pub(super) fn view(variant: u32) -> View {
    let (zoom, anchor_x, anchor_y, mirrored, _) = VIEWS[variant as usize % VIEWS.len()];
    View {
        zoom: (zoom + extra_zoom(variant)).min(MAX_ZOOM),
        anchor_x,
        anchor_y,
        mirrored,
    }
}

pub(super) fn describe(variant: u32) -> String {
    let (zoom, _, _, _, text) = VIEWS[variant as usize % VIEWS.len()];
    let mut description = text.to_owned();
    if variant == 0 {
        description.push_str(" (the default composite)");
    }
    let total = view(variant).zoom;
    if total > zoom {
        description.push_str(&format!(", zoomed in to {total:.2}x overall"));
    }
    description
}

fn extra_zoom(variant: u32) -> f32 {
    (variant as usize / VIEWS.len()) as f32 * ZOOM_PER_ROUND
}

/// The background resized to fill `width` × `height` without distortion — scaled to cover
/// and the rest cut away, as remove.bg does with `bg_image_url` — through `view`'s window.
/// Returned as three sRGB planes in 0..=1.
pub(super) fn fit(
    background: &RgbImage,
    width: u32,
    height: u32,
    view: View,
) -> Result<[Plane; 3]> {
    let failed =
        |e: &dyn std::fmt::Display| Error::internal(format!("fitting the background: {e}"));
    let (bw, bh) = (
        f64::from(background.width()),
        f64::from(background.height()),
    );
    let canvas_aspect = f64::from(width) / f64::from(height);
    let (cover_w, cover_h) = if bw / bh > canvas_aspect {
        (bh * canvas_aspect, bh)
    } else {
        (bw, bw / canvas_aspect)
    };
    let zoom = f64::from(view.zoom.max(1.0));
    let (window_w, window_h) = (cover_w / zoom, cover_h / zoom);
    let left = (bw - window_w) * f64::from(view.anchor_x.clamp(0.0, 1.0));
    let top = (bh - window_h) * f64::from(view.anchor_y.clamp(0.0, 1.0));
    // rounding must not push the window past the image, which the resizer would refuse
    let (window_w, window_h) = (window_w.min(bw - left), window_h.min(bh - top));

    let source = ImageRef::new(
        background.width(),
        background.height(),
        background.as_raw(),
        PixelType::U8x3,
    )
    .map_err(|e| failed(&e))?;
    let mut fitted = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(left, top, window_w, window_h);
    Resizer::new()
        .resize(&source, &mut fitted, &options)
        .map_err(|e| failed(&e))?;

    let (w, h) = (width as usize, height as usize);
    let mut planes: [Plane; 3] = std::array::from_fn(|_| Plane::zeros(w, h));
    for (y, row) in fitted.buffer().chunks(w * 3).enumerate() {
        for (x, pixel) in row.chunks(3).enumerate() {
            let column = if view.mirrored { w - 1 - x } else { x };
            for (plane, &value) in planes.iter_mut().zip(pixel) {
                plane.data[y * w + column] = f32::from(value) / 255.0;
            }
        }
    }
    Ok(planes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// Left half black, right half white, 200 × 100.
    fn split_background() -> RgbImage {
        RgbImage::from_fn(200, 100, |x, _| {
            if x < 100 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255; 3])
            }
        })
    }

    fn mean(plane: &Plane) -> f32 {
        plane.data.iter().sum::<f32>() / plane.data.len() as f32
    }

    #[test]
    fn cover_fit_fills_the_canvas_from_the_centre() {
        // a 50 × 50 canvas takes the middle 100 × 100 of the background: half black, half white
        let planes = fit(&split_background(), 50, 50, view(0)).unwrap();
        assert!((mean(&planes[0]) - 0.5).abs() < 0.02);
        assert!(planes[0].at(5, 25) < 0.01 && planes[0].at(45, 25) > 0.99);
    }

    #[test]
    fn views_choose_different_windows() {
        let left = fit(&split_background(), 50, 50, view(2)).unwrap();
        let right = fit(&split_background(), 50, 50, view(3)).unwrap();
        let mirrored = fit(&split_background(), 50, 50, view(1)).unwrap();
        assert!(mean(&left[0]) < 0.01, "the left window is black");
        assert!(mean(&right[0]) > 0.99, "the right window is white");
        assert!(mirrored[0].at(5, 25) > 0.99 && mirrored[0].at(45, 25) < 0.01);
    }

    #[test]
    fn every_variant_has_its_own_description() {
        let all: std::collections::HashSet<String> = (0..40).map(describe).collect();
        assert_eq!(all.len(), 40);
        assert!(describe(9).contains("1.10x overall"), "{}", describe(9));
    }
}
