//! Mattes: where a subject is in an alpha mask, and a subject composited over a colour.
//! Used by the local cut-out and by adapters that finish a remote model's mask locally.

use image::{DynamicImage, GrayImage, Rgb, RgbImage, Rgba, RgbaImage};

/// Alpha above which a pixel belongs to the subject, for cropping and for deciding that the
/// image has a subject at all (about 6 %: fainter pixels are invisible on any background).
pub const SUBJECT_THRESHOLD: u8 = 16;

/// The bounding box `(x, y, width, height)` of the pixels whose alpha is above `threshold`, or
/// `None` when there are none.
pub fn subject_bbox(alpha: &GrayImage, threshold: u8) -> Option<(u32, u32, u32, u32)> {
    let width = alpha.width() as usize;
    if width == 0 {
        return None;
    }
    let mut bounds: Option<(usize, usize, usize, usize)> = None;
    for (y, row) in alpha.as_raw().chunks_exact(width).enumerate() {
        let Some(first) = row.iter().position(|&a| a > threshold) else {
            continue;
        };
        let last = row.iter().rposition(|&a| a > threshold).unwrap_or(first);
        bounds = Some(match bounds {
            None => (first, y, last, y),
            Some((left, top, right, _)) => (left.min(first), top, right.max(last), y),
        });
    }
    bounds.map(|(left, top, right, bottom)| {
        (
            left as u32,
            top as u32,
            (right - left + 1) as u32,
            (bottom - top + 1) as u32,
        )
    })
}

/// Grows `bbox` by `margin` on every side, clamped to a `width`×`height` image.
pub fn expand_bbox(
    (x, y, w, h): (u32, u32, u32, u32),
    margin: u32,
    width: u32,
    height: u32,
) -> (u32, u32, u32, u32) {
    let left = x.saturating_sub(margin);
    let top = y.saturating_sub(margin);
    let right = x.saturating_add(w).saturating_add(margin).min(width);
    let bottom = y.saturating_add(h).saturating_add(margin).min(height);
    (left, top, right - left, bottom - top)
}

/// `foreground` with straight `alpha` over `color` ("over" operator): RGB for an opaque
/// colour, RGBA otherwise.
pub fn over(foreground: &RgbImage, alpha: &GrayImage, color: [u8; 4]) -> DynamicImage {
    let [cr, cg, cb, ca] = color.map(f32::from);
    let background_alpha = ca / 255.0;
    let mixed = |x: u32, y: u32| {
        let a = f32::from(alpha.get_pixel(x, y)[0]) / 255.0;
        let fg = foreground.get_pixel(x, y).0.map(f32::from);
        let out_alpha = a + background_alpha * (1.0 - a);
        let behind = background_alpha * (1.0 - a);
        let mix = |f: f32, c: f32| {
            if out_alpha <= 0.0 {
                0
            } else {
                ((f * a + c * behind) / out_alpha).round().clamp(0.0, 255.0) as u8
            }
        };
        (
            [mix(fg[0], cr), mix(fg[1], cg), mix(fg[2], cb)],
            (out_alpha * 255.0).round() as u8,
        )
    };
    if color[3] == 255 {
        DynamicImage::ImageRgb8(RgbImage::from_fn(alpha.width(), alpha.height(), |x, y| {
            Rgb(mixed(x, y).0)
        }))
    } else {
        DynamicImage::ImageRgba8(RgbaImage::from_fn(alpha.width(), alpha.height(), |x, y| {
            let ([r, g, b], a) = mixed(x, y);
            Rgba([r, g, b, a])
        }))
    }
}

#[cfg(test)]
mod tests {
    use image::Luma;

    use super::*;

    #[test]
    fn subject_bbox_covers_pixels_above_the_threshold() {
        let mut alpha = GrayImage::new(20, 10);
        alpha.put_pixel(3, 2, Luma([200]));
        alpha.put_pixel(15, 7, Luma([17]));
        alpha.put_pixel(18, 9, Luma([16])); // at the threshold: not subject
        assert_eq!(subject_bbox(&alpha, 16), Some((3, 2, 13, 6)));
        assert_eq!(subject_bbox(&alpha, 200), None);
        assert_eq!(subject_bbox(&GrayImage::new(5, 5), 0), None);
        assert_eq!(subject_bbox(&GrayImage::new(0, 0), 0), None);
    }

    #[test]
    fn crop_keeps_margin_within_image() {
        assert_eq!(expand_bbox((10, 10, 5, 5), 3, 100, 100), (7, 7, 11, 11));
        assert_eq!(expand_bbox((2, 1, 5, 5), 10, 100, 100), (0, 0, 17, 16));
        assert_eq!(expand_bbox((90, 95, 10, 5), 20, 100, 100), (70, 75, 30, 25));
        assert_eq!(
            expand_bbox((0, 0, 100, 100), u32::MAX, 100, 100),
            (0, 0, 100, 100)
        );
    }
}
