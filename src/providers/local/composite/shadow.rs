//! A soft shadow cast by the subject onto the background.
//!
//! Two layers darken (multiply) the background before the subject is laid over it, both
//! made from the subject's own alpha so they follow its silhouette:
//!
//! - a drop shadow, offset down and a little to the right (light from the upper left, the
//!   usual studio and daylight convention) and blurred; the lower part of the subject casts it
//!   fully and the top only faintly, as a subject standing in front of a wall would;
//! - a contact shadow, cast only by the lowest part of the subject, tight and wider than tall
//!   like a shadow on the ground, which grounds the subject where it meets the floor.
//!
//! Sizes scale with the subject's height on the canvas.

use super::blur::{Plane, gaussian_blur_xy, smooth_blur};
use super::subject::Frame;

/// Offset of the drop shadow (right, down) as a share of the subject's height.
const DROP_OFFSET: (f32, f32) = (0.015, 0.035);
/// Blur of the drop shadow (Gaussian sigma) as a share of the subject's height.
const DROP_SOFTNESS: f32 = 0.025;
const DROP_OPACITY: f32 = 0.5;
/// Share of the drop shadow's opacity cast by the top of the subject; it grows linearly to
/// all of it at the bottom.
const DROP_TOP_SHARE: f32 = 0.3;
const CONTACT_OFFSET: f32 = 0.012;
/// Blur of the contact shadow (horizontal, vertical sigma) as a share of the subject's height.
const CONTACT_SOFTNESS: (f32, f32) = (0.04, 0.012);
const CONTACT_OPACITY: f32 = 0.7;
/// The contact shadow comes from this lowest share of the subject.
const CONTACT_BAND: f32 = 0.1;

/// Darkens `backdrop` under and beside the subject whose placed alpha is `alpha` and whose
/// placed box is `subject`.
pub(super) fn cast(backdrop: &mut [Plane; 3], alpha: &Plane, subject: Frame) {
    let size = subject.height().max(1.0);
    let band = (CONTACT_BAND * size).max(1.0);
    let mut casting_drop = alpha.clone();
    let mut casting_contact = alpha.clone();
    for (y, (drop_row, contact_row)) in casting_drop
        .data
        .chunks_mut(alpha.width)
        .zip(casting_contact.data.chunks_mut(alpha.width))
        .enumerate()
    {
        let y = y as f32 + 0.5;
        let depth = ((y - subject.y0) / size).clamp(0.0, 1.0);
        let drop_share = DROP_TOP_SHARE + (1.0 - DROP_TOP_SHARE) * depth;
        let nearness = (1.0 - (subject.y1 - y) / band).clamp(0.0, 1.0);
        drop_row.iter_mut().for_each(|a| *a *= drop_share);
        contact_row.iter_mut().for_each(|a| *a *= nearness);
    }
    let drop = smooth_blur(
        &shifted(&casting_drop, DROP_OFFSET.0 * size, DROP_OFFSET.1 * size),
        DROP_SOFTNESS * size,
    );
    let contact = gaussian_blur_xy(
        &shifted(&casting_contact, 0.0, CONTACT_OFFSET * size),
        (CONTACT_SOFTNESS.0 * size).max(0.5),
        (CONTACT_SOFTNESS.1 * size).max(0.5),
    );
    let light: Vec<f32> = drop
        .data
        .iter()
        .zip(&contact.data)
        .map(|(d, c)| (1.0 - DROP_OPACITY * d) * (1.0 - CONTACT_OPACITY * c))
        .collect();
    for plane in backdrop.iter_mut() {
        for (value, l) in plane.data.iter_mut().zip(&light) {
            *value *= l;
        }
    }
}

/// `plane` moved by (`dx`, `dy`) rounded to whole pixels, zero where nothing moved in.
fn shifted(plane: &Plane, dx: f32, dy: f32) -> Plane {
    let (dx, dy) = (dx.round() as isize, dy.round() as isize);
    let (width, height) = (plane.width as isize, plane.height as isize);
    let mut out = Plane::zeros(plane.width, plane.height);
    for y in 0..height {
        let sy = y - dy;
        if !(0..height).contains(&sy) {
            continue;
        }
        for x in 0..width {
            let sx = x - dx;
            if (0..width).contains(&sx) {
                out.data[(y * width + x) as usize] = plane.data[(sy * width + sx) as usize];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_darkens_below_the_subject_and_leaves_far_pixels_alone() {
        let (w, h) = (60, 60);
        let mut alpha = Plane::zeros(w, h);
        for y in 10..40 {
            alpha.data[y * w + 20..y * w + 40].fill(1.0);
        }
        let mut backdrop: [Plane; 3] = std::array::from_fn(|_| Plane::filled(w, h, 0.8));
        let frame = Frame {
            x0: 20.0,
            y0: 10.0,
            x1: 40.0,
            y1: 40.0,
        };
        cast(&mut backdrop, &alpha, frame);
        let under = backdrop[0].at(30, 40);
        assert!(under < 0.6, "under the feet: {under}");
        assert!(backdrop[0].at(30, 41) < 0.78, "fading below");
        assert!((backdrop[0].at(2, 2) - 0.8).abs() < 1e-4);
    }
}
