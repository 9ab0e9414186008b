//! How sharp a picture is: the variance of its 4-neighbour Laplacian, high where edges are
//! crisp. Photo curation (portraits, FaceChain's best ten) ranks and rejects by it.

use image::GrayImage;

/// Variance of the 4-neighbour Laplacian over the interior pixels; 0 for images under 3×3.
pub fn laplacian_variance(grey: &GrayImage) -> f64 {
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let px = |x: usize, y: usize| f64::from(grey.as_raw()[y * w + x]);
    let (mut sum, mut sum2, mut n) = (0.0, 0.0, 0.0);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let l = px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y);
            sum += l;
            sum2 += l * l;
            n += 1.0;
        }
    }
    let mean = sum / n;
    sum2 / n - mean * mean
}

#[cfg(test)]
mod tests {
    use image::Luma;

    use super::*;

    #[test]
    fn a_flat_image_has_none_and_a_checkerboard_much() {
        assert_eq!(
            laplacian_variance(&GrayImage::from_pixel(16, 16, Luma([90]))),
            0.0
        );
        let checks = GrayImage::from_fn(16, 16, |x, y| {
            Luma([if (x + y) % 2 == 0 { 0 } else { 255 }])
        });
        assert!(laplacian_variance(&checks) > 1e5);
        assert_eq!(laplacian_variance(&GrayImage::new(2, 2)), 0.0);
    }
}
