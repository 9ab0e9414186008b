//! The subject's own colours under its soft edge.
//!
//! A pixel of the base photo where alpha is between 0 and 1 mixes the subject with the old
//! background: `I = αF + (1 − α)B`. Pasting `I` onto a new background keeps a fringe of the
//! old one — the halo of naive cut-outs. This module recovers `F` with Blur-Fusion
//! (Forte & Pitié, "Approximate Fast Foreground Colour Estimation", ICIP 2021): two passes of
//! alpha-weighted box blurs, coarse then fine, that extrapolate the subject's colours into its
//! edge and beyond it. Where alpha is 1 the estimate is exactly the photo, so solid pixels are
//! untouched; where alpha is 0 near the subject it is the subject's nearby colour, so a
//! feathered edge that grows outward shows the subject, not the old background.

use super::blur::{Plane, at_half_size, box_blur};

/// Keeps the alpha-weighted means finite where no subject (or no background) is in reach.
const EPSILON: f32 = 1e-5;

/// `F` for an image given as three planes (sRGB, 0..=1) and its alpha. `coarse_radius`
/// bounds how far colours are extrapolated; the fine pass sharpens the result near the edge.
pub(super) fn estimate(
    image: &[Plane; 3],
    alpha: &Plane,
    coarse_radius: usize,
    fine_radius: usize,
) -> [Plane; 3] {
    // The coarse pass only needs smooth local means, so a wide one runs at half size.
    let coarse = |plane: &Plane| {
        if coarse_radius < 6 {
            return box_blur(plane, coarse_radius);
        }
        at_half_size(plane, |half| box_blur(half, coarse_radius / 2))
    };
    let (foreground, background) = blur_fusion(image, image, image, alpha, coarse);
    refine_soft_edge(image, &foreground, &background, alpha, fine_radius)
}

/// Side of the square tiles the fine pass works in.
const TILE: usize = 32;

/// The fine pass, run only on tiles that hold part of the soft edge (0 < α < 1). Elsewhere
/// the coarse result is already final: the photo itself where α = 1, and where α = 0 a colour
/// extrapolated from the subject, which only a feather will ever show faintly. On a typical
/// cut-out this skips most of the image.
fn refine_soft_edge(
    image: &[Plane; 3],
    coarse: &[Plane; 3],
    background: &[Plane; 3],
    alpha: &Plane,
    radius: usize,
) -> [Plane; 3] {
    let (width, height) = (alpha.width, alpha.height);
    let mut refined = coarse.clone();
    for y0 in (0..height).step_by(TILE) {
        for x0 in (0..width).step_by(TILE) {
            let (x1, y1) = ((x0 + TILE).min(width), (y0 + TILE).min(height));
            let soft = (y0..y1).any(|y| {
                alpha.data[y * width + x0..y * width + x1]
                    .iter()
                    .any(|&a| a > 0.0 && a < 1.0)
            });
            if !soft {
                continue;
            }
            // the tile and the margin its blurs read
            let (wx0, wy0) = (x0.saturating_sub(radius), y0.saturating_sub(radius));
            let (wx1, wy1) = ((x1 + radius).min(width), (y1 + radius).min(height));
            let crop = |plane: &Plane| plane.crop(wx0, wy0, wx1 - wx0, wy1 - wy0);
            let (window_fg, _) = blur_fusion(
                &image.each_ref().map(crop),
                &coarse.each_ref().map(crop),
                &background.each_ref().map(crop),
                &crop(alpha),
                |plane| box_blur(plane, radius),
            );
            for (target, source) in refined.iter_mut().zip(&window_fg) {
                for y in y0..y1 {
                    let from = (y - wy0) * source.width + (x0 - wx0);
                    target.data[y * width + x0..y * width + x1]
                        .copy_from_slice(&source.data[from..from + (x1 - x0)]);
                }
            }
        }
    }
    refined
}

/// One pass: blurred estimates of `F` and `B`, then the compositing error `I − αF̂ − (1 − α)B̂`
/// handed back to the foreground in proportion to alpha. Returns the new `F` and `B̂`.
fn blur_fusion(
    image: &[Plane; 3],
    foreground: &[Plane; 3],
    background: &[Plane; 3],
    alpha: &Plane,
    blur: impl Fn(&Plane) -> Plane,
) -> ([Plane; 3], [Plane; 3]) {
    let blurred_alpha = blur(alpha);
    let channel = |c: usize| {
        let weighted_fg = blur(&foreground[c].zip_map(alpha, |f, a| f * a));
        let weighted_bg = blur(&background[c].zip_map(alpha, |b, a| b * (1.0 - a)));
        let mean_bg = weighted_bg.zip_map(&blurred_alpha, |wb, ba| {
            wb / (1.0 - ba.clamp(0.0, 1.0) + EPSILON)
        });
        let mut estimate =
            weighted_fg.zip_map(&blurred_alpha, |wf, ba| wf / (ba.clamp(0.0, 1.0) + EPSILON));
        for (((f, &i), &a), &b) in estimate
            .data
            .iter_mut()
            .zip(&image[c].data)
            .zip(&alpha.data)
            .zip(&mean_bg.data)
        {
            *f = (*f + a * (i - a * *f - (1.0 - a) * b)).clamp(0.0, 1.0);
        }
        (estimate, mean_bg)
    };
    let [(f0, b0), (f1, b1), (f2, b2)] = [channel(0), channel(1), channel(2)];
    ([f0, f1, f2], [b0, b1, b2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A red disc on green with a soft ramp, composited the way a camera would see it.
    fn red_disc_on_green() -> ([Plane; 3], Plane) {
        let size = 64;
        let mut alpha = Plane::zeros(size, size);
        for y in 0..size {
            for x in 0..size {
                let d = ((x as f32 - 32.0).powi(2) + (y as f32 - 32.0).powi(2)).sqrt();
                alpha.data[y * size + x] = ((20.0 - d) / 4.0 + 0.5).clamp(0.0, 1.0);
            }
        }
        let red = alpha.map(|a| a * 0.9 + (1.0 - a) * 0.1);
        let green = alpha.map(|a| a * 0.1 + (1.0 - a) * 0.8);
        let blue = alpha.map(|_| 0.1);
        ([red, green, blue], alpha)
    }

    #[test]
    fn solid_pixels_keep_the_photo_and_the_edge_loses_the_old_background() {
        let (image, alpha) = red_disc_on_green();
        let fg = estimate(&image, &alpha, 8, 2);
        for i in 0..alpha.data.len() {
            let a = alpha.data[i];
            if a == 1.0 {
                assert!((fg[0].data[i] - image[0].data[i]).abs() < 1e-5);
            } else if a > 0.05 {
                // the naive colour is mixed with green; the estimate should be close to red
                assert!(fg[0].data[i] > 0.8, "red {} at alpha {a}", fg[0].data[i]);
                assert!(fg[1].data[i] < 0.2, "green {} at alpha {a}", fg[1].data[i]);
            }
        }
    }
}
