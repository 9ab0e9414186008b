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

use super::blur::{Plane, box_blur};

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
    let (foreground, background) = blur_fusion(image, image, image, alpha, coarse_radius);
    blur_fusion(image, &foreground, &background, alpha, fine_radius).0
}

/// One pass: blurred estimates of `F` and `B`, then the compositing error `I − αF̂ − (1 − α)B̂`
/// handed back to the foreground in proportion to alpha. Returns the new `F` and `B̂`.
fn blur_fusion(
    image: &[Plane; 3],
    foreground: &[Plane; 3],
    background: &[Plane; 3],
    alpha: &Plane,
    radius: usize,
) -> ([Plane; 3], [Plane; 3]) {
    let blurred_alpha = box_blur(alpha, radius);
    let channel = |c: usize| {
        let weighted_fg = box_blur(&foreground[c].zip_map(alpha, |f, a| f * a), radius);
        let weighted_bg = box_blur(&background[c].zip_map(alpha, |b, a| b * (1.0 - a)), radius);
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
