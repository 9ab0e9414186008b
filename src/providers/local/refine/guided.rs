//! The guided filter of He, Sun and Tang (ECCV 2010, TPAMI 2013) with a colour guide.
//!
//! Every window mean is a box filter streamed row by row, so the cost is O(N) whatever the
//! radius and the memory is a few planes. Large images use the "fast guided filter" (He and
//! Sun, 2015): the linear coefficients are computed on a subsampled pair and applied to the
//! full-resolution guide, which keeps the edges of the full-resolution image.

use image::{GrayImage, RgbImage};

use super::matting::{MattingOptions, Region, Trimap};
use super::planes::{
    INVERSE_255, Size, block_average_bytes, sample_position, unit_rgb, unit_to_u8,
};

/// Longest side at which the coefficients are computed; beyond it the pair is subsampled.
const WORKING_SIDE: usize = 1024;

/// Edge-preserving smoothing of `input` steered by the colours of `guide`.
///
/// Within every `(2 radius + 1)²` window the output is an affine function of the guide's
/// colour, so a soft or misplaced mask edge snaps to the colour edges of the image (hair, fur)
/// while a region where the mask is flat stays flat. `eps` regularises the fit in units of
/// squared intensity in [0, 1]: small values (1e-4) follow fine detail, large ones (1e-1)
/// blur like a box filter.
///
/// # Panics
/// If `guide` and `input` differ in size.
pub fn guided_filter(guide: &RgbImage, input: &GrayImage, radius: u32, eps: f32) -> GrayImage {
    assert_eq!(
        guide.dimensions(),
        input.dimensions(),
        "guide and input must have the same size"
    );
    let (width, height) = guide.dimensions();
    if width == 0 || height == 0 {
        return input.clone();
    }
    let size = Size::new(width, height);
    let factor = size.factor_to_fit(WORKING_SIDE);
    let bytes = if factor == 1 {
        filter_exact(guide.as_raw(), input.as_raw(), size, radius as usize, eps)
    } else {
        filter_subsampled(guide.as_raw(), input.as_raw(), size, factor, radius, eps)
    };
    GrayImage::from_raw(width, height, bytes).expect("buffer matches the image size")
}

/// The default edge refinement of a segmentation mask: a guided filter sized to the image,
/// confined to the band where the mask is unsure.
///
/// The guided filter alone also lowers alpha inside the subject wherever the subject's colour
/// resembles the background (a white highlight in hair over a white wall). Here pixels that the
/// mask puts confidently inside (above 240) or outside (below 10), at least `radius` pixels from
/// its edge, keep a clean 255 or 0, and only the band around the edge takes the filtered value.
///
/// # Panics
/// If `image` and `mask` differ in size.
pub fn refine_edges(image: &RgbImage, mask: &GrayImage) -> GrayImage {
    let (width, height) = image.dimensions();
    // About 8 pixels at 512: the width of the blur of a mask predicted at 320×320.
    let radius = (width.max(height) as f32 / 64.0).round().clamp(2.0, 64.0) as u32;
    let filtered = guided_filter(image, mask, radius, REFINE_EPS);
    let band = Trimap::from_mask(
        mask,
        Size::new(width, height),
        &MattingOptions {
            foreground_threshold: 240,
            background_threshold: 10,
            erode_size: radius,
        },
    );
    let bytes = band
        .0
        .iter()
        .zip(filtered.as_raw())
        .map(|(region, &value)| match region {
            Region::Foreground => 255,
            Region::Background => 0,
            Region::Unknown => value,
        })
        .collect();
    GrayImage::from_raw(width, height, bytes).expect("buffer matches the image size")
}

/// Regularisation of [`refine_edges`]: follows strands of hair without copying texture.
const REFINE_EPS: f32 = 1e-3;

/// The guided filter at full resolution, reading the 8-bit planes directly.
fn filter_exact(rgb: &[u8], input: &[u8], size: Size, radius: usize, eps: f32) -> Vec<u8> {
    let sample = |pixel: usize| {
        (
            unit_rgb(&rgb[3 * pixel..3 * pixel + 3]),
            f32::from(input[pixel]) * INVERSE_255,
        )
    };
    let mut output = vec![0u8; size.len()];
    mean_coefficients(size, radius, eps, sample, |y, row| {
        let start = y * size.width;
        let colours = rgb[3 * start..3 * (start + size.width)].chunks_exact(3);
        for ((out, colour), &[a_r, a_g, a_b, offset]) in output[start..start + size.width]
            .iter_mut()
            .zip(colours)
            .zip(row)
        {
            let [r, g, b] = unit_rgb(colour);
            *out = unit_to_u8(a_r * r + a_g * g + a_b * b + offset);
        }
    });
    output
}

/// The fast guided filter: coefficients from the pair block-averaged by `factor`, applied to
/// the full-resolution guide.
fn filter_subsampled(
    rgb: &[u8],
    input: &[u8],
    size: Size,
    factor: usize,
    radius: u32,
    eps: f32,
) -> Vec<u8> {
    let small = size.shrunk(factor);
    let small_guide = block_average_bytes::<3>(rgb, size, factor);
    let small_input = block_average_bytes::<1>(input, size, factor);
    let small_radius = (radius as f32 / factor as f32).round() as usize;
    let mut coefficients = vec![[0.0f32; 4]; small.len()];
    mean_coefficients(
        small,
        small_radius,
        eps,
        |pixel| (small_guide[pixel], small_input[pixel][0]),
        |y, row| coefficients[y * small.width..(y + 1) * small.width].copy_from_slice(row),
    );
    apply_upsampled(rgb, size, &coefficients, small)
}

/// Streams the window-averaged affine coefficients `[a_r, a_g, a_b, b]` of every pixel, row by
/// row, to `emit`; `sample(pixel)` gives the guide colour and the input value in [0, 1].
fn mean_coefficients(
    size: Size,
    radius: usize,
    eps: f32,
    sample: impl Fn(usize) -> ([f32; 3], f32),
    mut emit: impl FnMut(usize, &[[f32; 4]]),
) {
    let width = size.width;
    let eps = eps.max(0.0);
    let mut coefficients = vec![[0.0f32; 4]; size.len()];
    // Window means of I, p, I·p and the upper triangle of I·Iᵀ.
    stream_box_means::<13>(
        size,
        radius,
        |pixel| {
            let ([r, g, b], p) = sample(pixel);
            [
                r,
                g,
                b,
                p,
                r * p,
                g * p,
                b * p,
                r * r,
                r * g,
                r * b,
                g * g,
                g * b,
                b * b,
            ]
        },
        |y, means| {
            let start = y * width;
            for (out, m) in coefficients[start..start + width].iter_mut().zip(means) {
                *out = affine_fit(m, eps);
            }
        },
    );
    stream_box_means::<4>(size, radius, |pixel| coefficients[pixel], &mut emit);
}

/// Least-squares `p ≈ a·I + b` over one window from its moments, with ridge `eps` on `a`.
///
/// `f32` is enough here: the covariances are differences of means of values in [0, 1], and
/// `eps` (at least 1e-6 in practice) keeps the 3×3 system well away from singular.
fn affine_fit(m: &[f32; 13], eps: f32) -> [f32; 4] {
    let [mr, mg, mb, mp, rp, gp, bp, rr, rg, rb, gg, gb, bb] = *m;
    let cov = [rp - mr * mp, gp - mg * mp, bp - mb * mp];
    // Symmetric covariance of the guide plus eps on the diagonal.
    let s00 = rr - mr * mr + eps;
    let s01 = rg - mr * mg;
    let s02 = rb - mr * mb;
    let s11 = gg - mg * mg + eps;
    let s12 = gb - mg * mb;
    let s22 = bb - mb * mb + eps;
    let i00 = s11 * s22 - s12 * s12;
    let i01 = s02 * s12 - s01 * s22;
    let i02 = s01 * s12 - s02 * s11;
    let i11 = s00 * s22 - s02 * s02;
    let i12 = s01 * s02 - s00 * s12;
    let i22 = s00 * s11 - s01 * s01;
    let det = s00 * i00 + s01 * i01 + s02 * i02;
    // A flat guide with eps = 0 is singular: the best fit is then the window mean.
    let inverse_det = if det > f32::MIN_POSITIVE {
        1.0 / det
    } else {
        0.0
    };
    let a_r = (i00 * cov[0] + i01 * cov[1] + i02 * cov[2]) * inverse_det;
    let a_g = (i01 * cov[0] + i11 * cov[1] + i12 * cov[2]) * inverse_det;
    let a_b = (i02 * cov[0] + i12 * cov[1] + i22 * cov[2]) * inverse_det;
    let b = mp - a_r * mr - a_g * mg - a_b * mb;
    [a_r, a_g, a_b, b]
}

/// Applies coefficients computed at `small` size to the full-resolution guide, interpolating
/// them bilinearly (pixel centres aligned).
fn apply_upsampled(rgb: &[u8], size: Size, coefficients: &[[f32; 4]], small: Size) -> Vec<u8> {
    let columns: Vec<(usize, usize, f32)> = (0..size.width)
        .map(|x| sample_position(x, size.width, small.width))
        .collect();
    let mut output = vec![0u8; size.len()];
    for (y, out_row) in output.chunks_exact_mut(size.width).enumerate() {
        let (y0, y1, fy) = sample_position(y, size.height, small.height);
        let row0 = &coefficients[y0 * small.width..(y0 + 1) * small.width];
        let row1 = &coefficients[y1 * small.width..(y1 + 1) * small.width];
        let colours = rgb[3 * y * size.width..3 * (y + 1) * size.width].chunks_exact(3);
        for ((out, colour), &(x0, x1, fx)) in out_row.iter_mut().zip(colours).zip(&columns) {
            let mut c = [0.0f32; 4];
            for (k, value) in c.iter_mut().enumerate() {
                let top = row0[x0][k] + (row0[x1][k] - row0[x0][k]) * fx;
                let bottom = row1[x0][k] + (row1[x1][k] - row1[x0][k]) * fx;
                *value = top + (bottom - top) * fy;
            }
            let [r, g, b] = unit_rgb(colour);
            *out = unit_to_u8(c[0] * r + c[1] * g + c[2] * b + c[3]);
        }
    }
    output
}

/// Means of `C` planes over `(2 radius + 1)²` windows clipped to the image.
///
/// `sample(index)` gives the `C` values of a pixel (it is called twice per pixel: when its row
/// enters the window and when it leaves, so nothing but one row of sums is stored), and
/// `emit(y, means)` receives the output rows in order.
pub(super) fn stream_box_means<const C: usize>(
    size: Size,
    radius: usize,
    sample: impl Fn(usize) -> [f32; C],
    mut emit: impl FnMut(usize, &[[f32; C]]),
) {
    let Size { width, height } = size;
    if width == 0 || height == 0 {
        return;
    }
    let mut column_sums = vec![[0.0f32; C]; width];
    let mut means = vec![[0.0f32; C]; width];
    let inverse_column_counts: Vec<f32> = (0..width)
        .map(|x| 1.0 / ((x + radius).min(width - 1) - x.saturating_sub(radius) + 1) as f32)
        .collect();

    for y in 0..=radius.min(height - 1) {
        for (x, sum) in column_sums.iter_mut().enumerate() {
            let value = sample(y * width + x);
            for k in 0..C {
                sum[k] += value[k];
            }
        }
    }
    for y in 0..height {
        let entering = (y > 0 && y + radius < height).then_some(y + radius);
        let leaving = (y > radius).then(|| y - radius - 1);
        match (entering, leaving) {
            (Some(entering), Some(leaving)) => {
                for (x, sum) in column_sums.iter_mut().enumerate() {
                    let add = sample(entering * width + x);
                    let remove = sample(leaving * width + x);
                    for k in 0..C {
                        sum[k] += add[k] - remove[k];
                    }
                }
            }
            (Some(entering), None) => {
                for (x, sum) in column_sums.iter_mut().enumerate() {
                    let add = sample(entering * width + x);
                    for k in 0..C {
                        sum[k] += add[k];
                    }
                }
            }
            (None, Some(leaving)) => {
                for (x, sum) in column_sums.iter_mut().enumerate() {
                    let remove = sample(leaving * width + x);
                    for k in 0..C {
                        sum[k] -= remove[k];
                    }
                }
            }
            (None, None) => {}
        }
        let rows_in = (y + radius).min(height - 1) - y.saturating_sub(radius) + 1;
        horizontal_means(
            &column_sums,
            &mut means,
            radius,
            &inverse_column_counts,
            1.0 / rows_in as f32,
        );
        emit(y, &means);
    }
}

/// Sliding-window means along one row of column sums.
fn horizontal_means<const C: usize>(
    column_sums: &[[f32; C]],
    means: &mut [[f32; C]],
    radius: usize,
    inverse_column_counts: &[f32],
    inverse_rows_in: f32,
) {
    let width = column_sums.len();
    let mut window = [0.0f32; C];
    for sum in &column_sums[..=radius.min(width - 1)] {
        for k in 0..C {
            window[k] += sum[k];
        }
    }
    for x in 0..width {
        if x > 0 {
            if x + radius < width {
                let entering = &column_sums[x + radius];
                for k in 0..C {
                    window[k] += entering[k];
                }
            }
            if x > radius {
                let leaving = &column_sums[x - radius - 1];
                for k in 0..C {
                    window[k] -= leaving[k];
                }
            }
        }
        let scale = inverse_column_counts[x] * inverse_rows_in;
        means[x] = window.map(|v| v * scale);
    }
}

#[cfg(test)]
mod tests {
    use image::{Luma, Rgb};

    use super::*;

    /// A guide with a vertical colour edge at `edge_x`: dark orange left, light blue right.
    fn step_guide(width: u32, height: u32, edge_x: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, _| {
            if x < edge_x {
                Rgb([90, 40, 20])
            } else {
                Rgb([170, 200, 235])
            }
        })
    }

    #[test]
    fn box_means_match_a_direct_sum() {
        let size = Size::new(7, 5);
        let value = |x: usize, y: usize| (x * 3 + y * 5 % 7) as f32;
        let mut got = vec![0.0f32; size.len()];
        stream_box_means::<1>(
            size,
            2,
            |pixel| [value(pixel % 7, pixel / 7)],
            |y, means| {
                for (x, m) in means.iter().enumerate() {
                    got[y * 7 + x] = m[0];
                }
            },
        );
        for y in 0..5usize {
            for x in 0..7usize {
                let (mut sum, mut count) = (0.0, 0.0);
                for wy in y.saturating_sub(2)..=(y + 2).min(4) {
                    for wx in x.saturating_sub(2)..=(x + 2).min(6) {
                        sum += value(wx, wy);
                        count += 1.0;
                    }
                }
                assert!((got[y * 7 + x] - sum / count).abs() < 1e-4, "at {x},{y}");
            }
        }
    }

    /// A soft mask edge: a linear ramp from 0 at `start` to 255 at `end`.
    fn ramp_mask(width: u32, height: u32, start: f32, end: f32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, _| {
            Luma([((x as f32 - start) / (end - start) * 255.0).clamp(0.0, 255.0) as u8])
        })
    }

    fn at(image: &GrayImage, x: u32, y: u32) -> i32 {
        i32::from(image.get_pixel(x, y)[0])
    }

    #[test]
    fn guided_filter_snaps_alpha_to_guide_edges() {
        // The mask ramps over 12 pixels (21 levels per pixel); the image's edge is at x = 32.
        let guide = step_guide(64, 24, 32);
        let mask = ramp_mask(64, 24, 26.0, 38.0);
        let refined = guided_filter(&guide, &mask, 8, 1e-4);
        for y in 0..24 {
            let rise = at(&refined, 44, y) - at(&refined, 20, y);
            let step = at(&refined, 32, y) - at(&refined, 31, y);
            assert!(at(&refined, 20, y) < 16 && at(&refined, 44, y) > 235);
            // Most of the transition now happens in the one pixel across the guide's edge.
            assert!(step * 10 > rise * 6, "step {step} of {rise} at row {y}");
            assert!(step > 5 * 22, "step {step} at row {y}");
        }
    }

    #[test]
    fn guided_filter_keeps_a_flat_mask_flat() {
        // A busy guide must not print its texture into a constant mask.
        let guide = RgbImage::from_fn(80, 60, |x, y| {
            Rgb([
                (x * 37 % 256) as u8,
                (y * 91 % 256) as u8,
                ((x ^ y) * 13 % 256) as u8,
            ])
        });
        let mask = GrayImage::from_pixel(80, 60, Luma([200]));
        let refined = guided_filter(&guide, &mask, 6, 1e-3);
        assert!(refined.pixels().all(|p| p[0].abs_diff(200) <= 1));
    }

    #[test]
    fn guided_filter_with_large_eps_smooths_like_a_double_box_filter() {
        // With eps far above the guide's variance, a = 0 and the output is the window mean of
        // the window means of the mask.
        let guide = step_guide(40, 10, 20);
        let mask = GrayImage::from_fn(40, 10, |x, _| Luma([if x < 25 { 0 } else { 255 }]));
        let refined = guided_filter(&guide, &mask, 3, 1e6);
        let box_mean = |values: &dyn Fn(i32) -> f32, x: i32| {
            let window = (x - 3).max(0)..=(x + 3).min(39);
            let count = window.clone().count() as f32;
            window.map(values).sum::<f32>() / count
        };
        let mask_value = |x: i32| if x < 25 { 0.0 } else { 255.0 };
        for x in 0..40 {
            let expected = box_mean(&|c| box_mean(&mask_value, c), x);
            let got = f32::from(refined.get_pixel(x as u32, 5)[0]);
            assert!((got - expected).abs() <= 1.0, "at {x}: {got} vs {expected}");
        }
    }

    #[test]
    fn guided_filter_subsamples_large_images_and_still_follows_edges() {
        // 2100 pixels wide: coefficients at a third of the resolution, edge at full resolution.
        let guide = step_guide(2100, 40, 1000);
        let mask = ramp_mask(2100, 40, 982.0, 1018.0);
        let refined = guided_filter(&guide, &mask, 24, 1e-4);
        let rise = at(&refined, 1024, 20) - at(&refined, 976, 20);
        let step = at(&refined, 1000, 20) - at(&refined, 999, 20);
        assert!(step * 10 > rise * 5, "step {step} of {rise}");
        assert_eq!(at(&refined, 10, 20), 0);
        assert_eq!(at(&refined, 2090, 20), 255);
    }

    #[test]
    fn guided_filter_handles_one_pixel_images() {
        let guide = RgbImage::from_pixel(1, 1, Rgb([10, 20, 30]));
        let mask = GrayImage::from_pixel(1, 1, Luma([77]));
        assert_eq!(guided_filter(&guide, &mask, 5, 1e-3).get_pixel(0, 0)[0], 77);
    }
}
