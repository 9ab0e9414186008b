//! Matching the subject's colour and light to the new background.
//!
//! Two effects, both scaled by the `harmonize` strength:
//!
//! - **Colour statistics** in Oklab, a perceptual space where lightness and the two colour
//!   axes are independent: the subject's mean lightness moves toward that of the background
//!   around it (as an exposure change, a gain on lightness, so blacks stay black), its lightness
//!   contrast toward the background's, and a uniform colour cast is added that moves the
//!   subject's mean `a`/`b` toward the background's. Only part of each gap is closed — a
//!   subject should look lit by the scene, not dyed by it — and every factor is bounded.
//! - **Light wrap**: near its silhouette the subject takes on some of the blurred background
//!   around it, as light scattered around an edge does in a real photo; this is what stops a
//!   cut-out from looking pasted on.

use std::sync::OnceLock;

use super::blur::{Plane, smooth_blur};
use super::subject::{Frame, Layer, PixelRect};
use crate::imaging::oklab;

/// Fraction of the gap in log lightness closed at full strength.
const EXPOSURE_PULL: f32 = 0.5;
/// Bounds of the lightness gain.
const EXPOSURE_RANGE: (f32, f32) = (0.6, 1.4);
/// Fraction of the gap in log lightness contrast closed at full strength.
const CONTRAST_PULL: f32 = 0.3;
const CONTRAST_RANGE: (f32, f32) = (0.8, 1.25);
/// Fraction of the gap between mean `a`/`b` closed at full strength.
const CAST_PULL: f32 = 0.5;
/// Largest share of background light on the very edge, at full strength.
const WRAP_STRENGTH: f32 = 0.6;
/// How far around the subject the background is sampled, as a share of the subject's height.
const SURROUND: f32 = 0.25;

/// About how many pixels the statistics of a region are computed from.
const STATS_SAMPLES: f32 = 16384.0;

/// Mean Oklab colour and lightness spread of a weighted set of pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stats {
    pub mean: [f32; 3],
    pub lightness_spread: f32,
}

/// Moves the subject's colour statistics toward those of the background around `subject`
/// (its placed box). `strength` is 0..=1.
pub(super) fn match_colour(
    layer: &mut Layer,
    backdrop: &[Plane; 3],
    subject: Frame,
    strength: f32,
) {
    if strength <= 0.0 || layer.rect.is_empty() {
        return;
    }
    let (width, height) = (layer.alpha.width, layer.alpha.height);
    let alpha = &layer.alpha;
    let Some(own) = stats(&layer.colour, layer.rect, |i| alpha.data[i]) else {
        return;
    };
    let surround = subject.pixels(SURROUND * subject.height(), width, height);
    let whole = PixelRect {
        x0: 0,
        y0: 0,
        x1: width,
        y1: height,
    };
    let Some(scene) = stats(backdrop, surround, |i| 1.0 - alpha.data[i])
        .or_else(|| stats(backdrop, whole, |_| 1.0))
    else {
        return;
    };

    let ratio = |to: f32, from: f32| (to.max(1e-3) / from.max(1e-3)).ln();
    let gain = (strength * EXPOSURE_PULL * ratio(scene.mean[0], own.mean[0]))
        .exp()
        .clamp(EXPOSURE_RANGE.0, EXPOSURE_RANGE.1);
    let contrast = (strength * CONTRAST_PULL * ratio(scene.lightness_spread, own.lightness_spread))
        .exp()
        .clamp(CONTRAST_RANGE.0, CONTRAST_RANGE.1);
    let cast = [1, 2].map(|axis| strength * CAST_PULL * (scene.mean[axis] - own.mean[axis]));

    let adjust = |rgb: [f32; 3]| {
        let [l, a, b] = oklab_from_srgb(rgb);
        let lightness = (own.mean[0] + (l - own.mean[0]) * contrast) * gain;
        oklab::to_linear([lightness.max(0.0), a + cast[0], b + cast[1]])
    };
    // The adjustment is smooth, so it is tabulated once on a colour cube and interpolated
    // per pixel, like a photo editor's 3D LUT. The cube holds linear light, which varies
    // smoothly even where the sRGB curve bends sharply; encoding follows interpolation.
    let cube = ColourCube::tabulate(adjust);
    let rect = layer.rect;
    for y in rect.y0..rect.y1 {
        for i in y * width + rect.x0..y * width + rect.x1 {
            if layer.alpha.data[i] <= 0.0 {
                continue;
            }
            let rgb = srgb_from_linear(cube.apply(pixel(&layer.colour, i)));
            for (plane, value) in layer.colour.iter_mut().zip(rgb) {
                plane.data[i] = value;
            }
        }
    }
}

/// Points per axis of the colour cube: every 8th level of 255, enough for interpolated
/// results to stay within about a level of the exact mapping.
const CUBE_POINTS: usize = 33;

/// A colour mapping sampled on a regular grid over the sRGB cube.
struct ColourCube {
    values: Vec<[f32; 3]>,
}

impl ColourCube {
    fn tabulate(mapping: impl Fn([f32; 3]) -> [f32; 3]) -> Self {
        let step = 1.0 / (CUBE_POINTS - 1) as f32;
        let mut values = Vec::with_capacity(CUBE_POINTS.pow(3));
        for r in 0..CUBE_POINTS {
            for g in 0..CUBE_POINTS {
                for b in 0..CUBE_POINTS {
                    values.push(mapping([r as f32 * step, g as f32 * step, b as f32 * step]));
                }
            }
        }
        ColourCube { values }
    }

    /// Trilinear interpolation between the eight grid points around `rgb`.
    fn apply(&self, rgb: [f32; 3]) -> [f32; 3] {
        let scaled = rgb.map(|v| v.clamp(0.0, 1.0) * (CUBE_POINTS - 1) as f32);
        let cell = scaled.map(|v| (v as usize).min(CUBE_POINTS - 2));
        let [tr, tg, tb] = [0, 1, 2].map(|c| scaled[c] - cell[c] as f32);
        let at = |dr: usize, dg: usize, db: usize| {
            self.values[((cell[0] + dr) * CUBE_POINTS + cell[1] + dg) * CUBE_POINTS + cell[2] + db]
        };
        let lerp = |a: [f32; 3], b: [f32; 3], t: f32| [0, 1, 2].map(|c| a[c] + (b[c] - a[c]) * t);
        let front = lerp(
            lerp(at(0, 0, 0), at(0, 0, 1), tb),
            lerp(at(0, 1, 0), at(0, 1, 1), tb),
            tg,
        );
        let back = lerp(
            lerp(at(1, 0, 0), at(1, 0, 1), tb),
            lerp(at(1, 1, 0), at(1, 1, 1), tb),
            tg,
        );
        lerp(front, back, tr)
    }
}

/// Blends the blurred background into the subject near its edge: up to `strength` ×
/// [`WRAP_STRENGTH`] on the silhouette, fading inward over about `radius` pixels.
pub(super) fn wrap_light(layer: &mut Layer, backdrop: &[Plane; 3], radius: f32, strength: f32) {
    if strength <= 0.0 || layer.rect.is_empty() {
        return;
    }
    let uncovered = layer.alpha.map(|a| 1.0 - a);
    let openness = smooth_blur(&uncovered, radius);
    for (colour, scene) in layer.colour.iter_mut().zip(backdrop) {
        let light = smooth_blur(&scene.zip_map(&uncovered, |s, u| s * u), radius);
        for (((value, &lit), &open), &alpha) in colour
            .data
            .iter_mut()
            .zip(&light.data)
            .zip(&openness.data)
            .zip(&layer.alpha.data)
        {
            if alpha <= 0.0 || open <= 1e-4 {
                continue;
            }
            let surrounding = (lit / open).clamp(0.0, 1.0);
            let share = strength * WRAP_STRENGTH * open.min(1.0);
            *value += (surrounding - *value) * share;
        }
    }
}

/// Weighted Oklab statistics of `colour` over `rect`; `None` if the weights are all zero.
pub(super) fn stats(
    colour: &[Plane; 3],
    rect: PixelRect,
    weight: impl Fn(usize) -> f32,
) -> Option<Stats> {
    let width = colour[0].width;
    let (mut total, mut sum, mut sum_sq_l) = (0.0f64, [0.0f64; 3], 0.0f64);
    // A regular sample of about STATS_SAMPLES pixels: means over that many are as good as
    // over all of them, for a fraction of the colour conversions.
    let area = (rect.width() * rect.height()) as f32;
    let stride = ((area / STATS_SAMPLES).sqrt().ceil() as usize).max(1);
    for y in (rect.y0..rect.y1).step_by(stride) {
        for i in (y * width + rect.x0..y * width + rect.x1).step_by(stride) {
            let w = weight(i);
            if w <= 0.0 {
                continue;
            }
            let lab = oklab_from_srgb(pixel(colour, i));
            let w = f64::from(w);
            total += w;
            for (s, v) in sum.iter_mut().zip(lab) {
                *s += w * f64::from(v);
            }
            sum_sq_l += w * f64::from(lab[0]).powi(2);
        }
    }
    if total < 0.5 {
        return None;
    }
    let mean = sum.map(|s| (s / total) as f32);
    let variance = (sum_sq_l / total - (sum[0] / total).powi(2)).max(0.0);
    Some(Stats {
        mean,
        lightness_spread: variance.sqrt() as f32,
    })
}

fn pixel(colour: &[Plane; 3], i: usize) -> [f32; 3] {
    [colour[0].data[i], colour[1].data[i], colour[2].data[i]]
}

/// Steps in the transfer-function tables; linear interpolation between them is accurate to
/// about 1e-5, far below an 8-bit step, and much cheaper than `powf` per pixel.
const TABLE_STEPS: usize = 4096;

struct TransferTables {
    to_linear: Vec<f32>,
    to_srgb: Vec<f32>,
}

fn tables() -> &'static TransferTables {
    static TABLES: OnceLock<TransferTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let build = |f: fn(f32) -> f32| {
            (0..=TABLE_STEPS)
                .map(|i| f(i as f32 / TABLE_STEPS as f32))
                .collect()
        };
        TransferTables {
            to_linear: build(|v| {
                if v <= 0.04045 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            }),
            to_srgb: build(|v| {
                if v <= 0.003_130_8 {
                    v * 12.92
                } else {
                    1.055 * v.powf(1.0 / 2.4) - 0.055
                }
            }),
        }
    })
}

fn lookup(table: &[f32], v: f32) -> f32 {
    let position = v.clamp(0.0, 1.0) * TABLE_STEPS as f32;
    let index = (position as usize).min(TABLE_STEPS - 1);
    let t = position - index as f32;
    table[index] + (table[index + 1] - table[index]) * t
}

/// The sRGB encoding extended past 0..=1 (mirrored below 0), so that colours just outside
/// the gamut keep their order until they are clipped.
fn encode_extended(v: f32) -> f32 {
    if v < 0.0 {
        -encode_extended(-v)
    } else if v > 1.0 {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    } else {
        lookup(&tables().to_srgb, v)
    }
}

/// Oklab of an sRGB colour in 0..=1 (the float table keeps sub-level precision).
pub(super) fn oklab_from_srgb(rgb: [f32; 3]) -> [f32; 3] {
    let to_linear = &tables().to_linear;
    oklab::from_linear(rgb.map(|v| lookup(to_linear, v)))
}

/// sRGB in 0..=1 of a linear-light colour, clipped to the gamut.
fn srgb_from_linear(rgb: [f32; 3]) -> [f32; 3] {
    rgb.map(|v| encode_extended(v).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_cube_stays_close_to_the_exact_mapping() {
        let mapping = |rgb: [f32; 3]| {
            let [l, a, b] = oklab_from_srgb(rgb);
            oklab::to_linear([l * 0.8, a + 0.02, b - 0.03])
        };
        let cube = ColourCube::tabulate(mapping);
        let (mut total, mut count) = (0.0f64, 0.0f64);
        for r in (0..=255).step_by(5) {
            for g in (0..=255).step_by(7) {
                for b in (0..=255).step_by(11) {
                    let rgb = [r, g, b].map(|v| v as f32 / 255.0);
                    let exact = srgb_from_linear(mapping(rgb));
                    let fast = srgb_from_linear(cube.apply(rgb));
                    for (x, y) in exact.iter().zip(fast) {
                        let levels = (x - y).abs() * 255.0;
                        assert!(levels < 1.0, "{rgb:?}: {exact:?} vs {fast:?}");
                        total += f64::from(levels);
                        count += 1.0;
                    }
                }
            }
        }
        assert!(total / count < 0.1, "mean error {} levels", total / count);
    }

    #[test]
    fn oklab_round_trips_and_white_is_neutral() {
        let white = oklab_from_srgb([1.0, 1.0, 1.0]);
        assert!((white[0] - 1.0).abs() < 1e-3 && white[1].abs() < 1e-3 && white[2].abs() < 1e-3);
        for rgb in [[0.2, 0.5, 0.9], [0.9, 0.3, 0.1], [0.05, 0.05, 0.05]] {
            let back = srgb_from_linear(oklab::to_linear(oklab_from_srgb(rgb)));
            for (x, y) in rgb.iter().zip(back) {
                assert!((x - y).abs() < 1e-3, "{rgb:?} came back as {back:?}");
            }
        }
    }
}
