//! Inking and cutting out: ink coverage darkens the paint toward an ink colour, a stroke
//! follows the silhouette, and the alpha channel is the silhouette's anti-aliased coverage.

use image::RgbaImage;

use super::oklab::{Lab, LabImage, to_srgb8};
use super::parallel::rows_from_fn;
use super::plane::Plane;
use super::silhouette::{Silhouette, coverage_at};

/// Coverage of a stroke along the silhouette, from `inner` pixels inside the outline to
/// `outer` pixels outside it.
pub fn silhouette_stroke(silhouette: &Silhouette, inner: f32, outer: f32) -> Plane {
    silhouette
        .distance
        .map(|d| coverage_at(d - outer).min(1.0 - coverage_at(d + inner)))
}

/// The paint, inked where `ink` covers it, cut out to the silhouette grown by `grow` pixels.
pub fn cut_out(
    paint: &LabImage,
    ink: &Plane,
    ink_colour: impl Fn(Lab) -> Lab + Sync,
    silhouette: &Silhouette,
    grow: f32,
) -> RgbaImage {
    let width = paint.width;
    let raw = rows_from_fn(width * 4, paint.height, |y, row| {
        for (x, rgba) in row.chunks_exact_mut(4).enumerate() {
            let i = y * width + x;
            let colour = paint.data[i];
            let inked = super::oklab::mix(colour, ink_colour(colour), ink.data[i].clamp(0.0, 1.0));
            rgba[..3].copy_from_slice(&to_srgb8(inked));
            rgba[3] = (silhouette.coverage(x, y, grow) * 255.0).round() as u8;
        }
    });
    RgbaImage::from_raw(paint.width as u32, paint.height as u32, raw)
        .expect("buffer sized to the image")
}

/// The element-wise maximum of ink layers.
pub fn combine(layers: &[&Plane]) -> Plane {
    let first = layers[0];
    Plane {
        width: first.width,
        height: first.height,
        data: (0..first.len())
            .map(|i| layers.iter().map(|l| l.data[i]).fold(0.0, f32::max))
            .collect(),
    }
}
