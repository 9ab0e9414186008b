//! Multilevel foreground estimation (Germer, Uelwer, Conrad and Harmeling, 2020), a port of
//! pymatting's `estimate_foreground_ml` with its defaults, which rembg uses for its
//! de-contaminated cut-outs.
//!
//! Every pixel is modelled as `I = α F + (1 - α) B` with `F` and `B` smooth where α is smooth.
//! Starting from the mean foreground and background colours at 1×1, the estimate is refined on
//! a pyramid of nearest-neighbour resamplings up to full resolution with a few Gauss-Seidel
//! sweeps per level, so the cost is a small multiple of the pixel count. Up to 1024 pixels on
//! a side the result is pymatting's within rounding; larger images take a cheaper last step
//! (see [`estimate_subsampled`]) that stays within a few grey levels of it.

use image::{GrayImage, RgbImage};

use super::planes::{
    GuidePixels, Size, block_average_bytes, sample_position, unit_rgb, unit_to_u8,
};

const REGULARIZATION: f32 = 1e-5;
const GRADIENT_WEIGHT: f32 = 1.0;
/// Sweeps on levels up to `SMALL_SIZE` pixels on a side, and on the larger ones.
const SMALL_ITERATIONS: usize = 10;
const BIG_ITERATIONS: usize = 2;
const SMALL_SIZE: usize = 32;
/// Longest side estimated with the full pyramid; larger images finish with sweeps at full
/// resolution from an estimate at this size.
const WORKING_SIDE: usize = 1024;
/// Sweeps of the last level (pymatting's `n_big_iterations`).
const FULL_RESOLUTION_SWEEPS: usize = BIG_ITERATIONS;

/// The foreground colour of each pixel, freed of the background mixed into soft edges, so a
/// cut-out's hair keeps its own colour instead of a fringe of the old background.
///
/// Where alpha is 255 the pixel is its own foreground and is returned unchanged. Where alpha is
/// 0 the colour is an extrapolation of the nearby foreground (useful when the result is resized
/// without premultiplying).
///
/// # Panics
/// If `image` and `alpha` differ in size.
pub fn estimate_foreground(image: &RgbImage, alpha: &GrayImage) -> RgbImage {
    assert_eq!(
        image.dimensions(),
        alpha.dimensions(),
        "image and alpha must have the same size"
    );
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return image.clone();
    }
    let size = Size::new(width, height);
    let bytes = match size.factor_to_fit(WORKING_SIDE) {
        1 => estimate_full(image, alpha, size),
        factor => estimate_subsampled(image, alpha, size, factor),
    };
    RgbImage::from_raw(width, height, bytes).expect("buffer matches the image size")
}

fn estimate_full(image: &RgbImage, alpha: &GrayImage, size: Size) -> Vec<u8> {
    let colours = GuidePixels::from_rgb(image);
    let coverage: Vec<f32> = alpha
        .as_raw()
        .iter()
        .map(|&a| f32::from(a) / 255.0)
        .collect();
    let level = multilevel(&colours.0, &coverage, size.width, size.height);
    let mut bytes = Vec::with_capacity(image.as_raw().len());
    for ((original, estimate), &a) in image
        .as_raw()
        .chunks_exact(3)
        .zip(&level.foreground)
        .zip(alpha.as_raw())
    {
        if a == 255 {
            bytes.extend_from_slice(original);
        } else {
            bytes.extend(estimate.map(unit_to_u8));
        }
    }
    bytes
}

/// Large images: the pyramid up to a copy block-averaged by `factor`, then the last level's
/// Gauss-Seidel sweeps at full resolution from the bilinearly upsampled estimate. The sweeps
/// are pipelined row by row (sweep `s` runs `s` rows behind the first), so only a few rows of
/// state are alive: the full pyramid would hold four float planes, a gigabyte at 12 megapixels.
/// Pixels settled at alpha 0 or 255 inside a flat neighbourhood keep their starting values,
/// which is what the sweep would give them up to the 1e-5 regulariser.
fn estimate_subsampled(image: &RgbImage, alpha: &GrayImage, size: Size, factor: usize) -> Vec<u8> {
    let small = size.shrunk(factor);
    let colours = block_average_bytes::<3>(image.as_raw(), size, factor);
    let coverage: Vec<f32> = block_average_bytes::<1>(alpha.as_raw(), size, factor)
        .iter()
        .map(|a| a[0])
        .collect();
    let level = multilevel(&colours, &coverage, small.width, small.height);
    let columns: Vec<(usize, usize, f32)> = (0..size.width)
        .map(|x| sample_position(x, size.width, small.width))
        .collect();
    let bilinear = |plane: &[[f32; 3]], x: usize, (y0, y1, fy): (usize, usize, f32)| {
        let (x0, x1, fx) = columns[x];
        let (p00, p01) = (plane[y0 * small.width + x0], plane[y0 * small.width + x1]);
        let (p10, p11) = (plane[y1 * small.width + x0], plane[y1 * small.width + x1]);
        std::array::from_fn(|k| {
            let top = p00[k] + (p01[k] - p00[k]) * fx;
            let bottom = p10[k] + (p11[k] - p10[k]) * fx;
            top + (bottom - top) * fy
        })
    };

    let (width, height) = (size.width, size.height);
    let rgb = image.as_raw();
    let raw_alpha = alpha.as_raw();
    let colour = |index: usize| unit_rgb(&rgb[3 * index..3 * index + 3]);
    let coverage_at = |index: usize| f32::from(raw_alpha[index]) / 255.0;
    let settled = |x: usize, y: usize| {
        let a = raw_alpha[y * width + x];
        (a == 0 || a == 255)
            && [
                (x.saturating_sub(1), y),
                ((x + 1).min(width - 1), y),
                (x, y.saturating_sub(1)),
                (x, (y + 1).min(height - 1)),
            ]
            .iter()
            .all(|&(nx, ny)| raw_alpha[ny * width + nx] == a)
    };

    // rows[s][y % 3]: the state (F, B) of row y after `s` sweeps.
    let mut rows: Vec<[Vec<State>; 3]> = (0..=FULL_RESOLUTION_SWEEPS)
        .map(|_| std::array::from_fn(|_| vec![([0.0; 3], [0.0; 3]); width]))
        .collect();
    let mut bytes = vec![0u8; 3 * size.len()];
    for step in 0..height + FULL_RESOLUTION_SWEEPS {
        for sweep in 0..=FULL_RESOLUTION_SWEEPS {
            let Some(y) = step.checked_sub(sweep).filter(|&y| y < height) else {
                continue;
            };
            let row = y * width;
            if sweep == 0 {
                let position = sample_position(y, height, small.height);
                for (x, state) in rows[0][y % 3].iter_mut().enumerate() {
                    let foreground = bilinear(&level.foreground, x, position);
                    let background = bilinear(&level.background, x, position);
                    *state = match raw_alpha[row + x] {
                        255 => (colour(row + x), background),
                        0 => (foreground, colour(row + x)),
                        _ => (foreground, background),
                    };
                }
                continue;
            }
            let (done, pending) = rows.split_at_mut(sweep);
            let previous = &done[sweep - 1];
            let (above, current) = row_pair(&mut pending[0], (y + 2) % 3, y % 3);
            let same = &previous[y % 3];
            let below = if y + 1 < height {
                &previous[(y + 1) % 3]
            } else {
                same
            };
            for x in 0..width {
                if settled(x, y) {
                    current[x] = same[x];
                    continue;
                }
                let left = if x > 0 {
                    (row + x - 1, current[x - 1])
                } else {
                    (row + x, same[x])
                };
                let right = if x + 1 < width {
                    (row + x + 1, same[x + 1])
                } else {
                    (row + x, same[x])
                };
                let up = if y > 0 {
                    (row + x - width, above[x])
                } else {
                    (row + x, same[x])
                };
                let down = if y + 1 < height {
                    (row + x + width, below[x])
                } else {
                    (row + x, same[x])
                };
                current[x] = unmix(
                    coverage_at(row + x),
                    colour(row + x),
                    [left, right, up, down].map(|(index, (f, b))| (coverage_at(index), f, b)),
                );
            }
            if sweep == FULL_RESOLUTION_SWEEPS {
                let out = &mut bytes[3 * row..3 * (row + width)];
                for ((pixel, &(foreground, _)), x) in
                    out.chunks_exact_mut(3).zip(&*current).zip(0..)
                {
                    if raw_alpha[row + x] == 255 {
                        pixel.copy_from_slice(&rgb[3 * (row + x)..3 * (row + x) + 3]);
                    } else {
                        pixel.copy_from_slice(&foreground.map(unit_to_u8));
                    }
                }
            }
        }
    }
    bytes
}

/// Foreground and background estimates of one pixel.
type State = ([f32; 3], [f32; 3]);

/// A row to read and a different row to write among three.
fn row_pair(rows: &mut [Vec<State>; 3], read: usize, write: usize) -> (&[State], &mut [State]) {
    debug_assert_ne!(read, write);
    let [first, second, third] = rows;
    match (read, write) {
        (0, 1) => (first, second),
        (0, 2) => (first, third),
        (1, 0) => (second, first),
        (1, 2) => (second, third),
        (2, 0) => (third, first),
        _ => (third, second),
    }
}

/// Solves one pixel's 2×2 system for `F` and `B`: the compositing equation weighted by alpha,
/// plus a pull toward each neighbour's estimate that is stronger where alpha changes.
fn unmix(
    a0: f32,
    colour: [f32; 3],
    neighbours: [(f32, [f32; 3], [f32; 3]); 4],
) -> ([f32; 3], [f32; 3]) {
    let a1 = 1.0 - a0;
    let mut a00 = a0 * a0;
    let a01 = a0 * a1;
    let mut a11 = a1 * a1;
    let mut b0 = colour.map(|c| a0 * c);
    let mut b1 = colour.map(|c| a1 * c);
    for (alpha, foreground, background) in neighbours {
        let weight = REGULARIZATION + GRADIENT_WEIGHT * (a0 - alpha).abs();
        a00 += weight;
        a11 += weight;
        for k in 0..3 {
            b0[k] += weight * foreground[k];
            b1[k] += weight * background[k];
        }
    }
    let inverse_det = 1.0 / (a00 * a11 - a01 * a01);
    let (m00, m01, m11) = (inverse_det * a11, -inverse_det * a01, inverse_det * a00);
    (
        std::array::from_fn(|k| (m00 * b0[k] + m01 * b1[k]).clamp(0.0, 1.0)),
        std::array::from_fn(|k| (m01 * b0[k] + m11 * b1[k]).clamp(0.0, 1.0)),
    )
}

/// A level of the pyramid: foreground and background estimates per pixel.
struct Level {
    width: usize,
    height: usize,
    foreground: Vec<[f32; 3]>,
    background: Vec<[f32; 3]>,
}

fn multilevel(image: &[[f32; 3]], alpha: &[f32], width: usize, height: usize) -> Level {
    let (mut fg_sum, mut fg_count) = ([0.0f64; 3], 0.0f64);
    let (mut bg_sum, mut bg_count) = ([0.0f64; 3], 0.0f64);
    for (colour, &a) in image.iter().zip(alpha) {
        if a > 0.9 {
            fg_count += 1.0;
            for k in 0..3 {
                fg_sum[k] += f64::from(colour[k]);
            }
        }
        if a < 0.1 {
            bg_count += 1.0;
            for k in 0..3 {
                bg_sum[k] += f64::from(colour[k]);
            }
        }
    }
    let fg_mean = fg_sum.map(|s| (s / (fg_count + 1e-5)) as f32);
    let bg_mean = bg_sum.map(|s| (s / (bg_count + 1e-5)) as f32);
    let mut level = Level {
        width: 1,
        height: 1,
        foreground: vec![fg_mean],
        background: vec![bg_mean],
    };

    let longest = width.max(height);
    let levels = (longest as f64).log2().ceil().max(1.0) as i32;
    for index in 0..=levels {
        let exponent = f64::from(index) / f64::from(levels);
        let w = ((width as f64).powf(exponent).round() as usize).max(1);
        let h = ((height as f64).powf(exponent).round() as usize).max(1);
        let level_image = resize_nearest(image, width, height, w, h);
        let level_alpha = resize_nearest(alpha, width, height, w, h);
        level = Level {
            width: w,
            height: h,
            foreground: resize_nearest(&level.foreground, level.width, level.height, w, h),
            background: resize_nearest(&level.background, level.width, level.height, w, h),
        };
        let sweeps = if w <= SMALL_SIZE && h <= SMALL_SIZE {
            SMALL_ITERATIONS
        } else {
            BIG_ITERATIONS
        };
        for _ in 0..sweeps {
            sweep(&mut level, &level_image, &level_alpha);
        }
    }
    level
}

/// One Gauss-Seidel pass: each pixel solves its 2×2 system for `F` and `B` given the current
/// estimates of its four neighbours, weighted more where alpha changes.
fn sweep(level: &mut Level, image: &[[f32; 3]], alpha: &[f32]) {
    let Level {
        width,
        height,
        foreground,
        background,
    } = level;
    let (width, height) = (*width, *height);
    for y in 0..height {
        let up = y.saturating_sub(1) * width;
        let down = (y + 1).min(height - 1) * width;
        let row = y * width;
        for x in 0..width {
            let i = row + x;
            let neighbours = [
                row + x.saturating_sub(1),
                row + (x + 1).min(width - 1),
                up + x,
                down + x,
            ];
            let (f, b) = unmix(
                alpha[i],
                image[i],
                neighbours.map(|n| (alpha[n], foreground[n], background[n])),
            );
            foreground[i] = f;
            background[i] = b;
        }
    }
}

/// Nearest-neighbour resampling with pymatting's index mapping (`x * src / dst`).
fn resize_nearest<T: Copy>(
    source: &[T],
    source_width: usize,
    source_height: usize,
    width: usize,
    height: usize,
) -> Vec<T> {
    if (width, height) == (source_width, source_height) {
        return source.to_vec();
    }
    let columns: Vec<usize> = (0..width)
        .map(|x| (x * source_width / width).min(source_width - 1))
        .collect();
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        let row = (y * source_height / height).min(source_height - 1) * source_width;
        out.extend(columns.iter().map(|&x| source[row + x]));
    }
    out
}

#[cfg(test)]
mod tests {
    use image::{Luma, Rgb};

    use super::*;

    #[test]
    fn estimate_foreground_removes_the_background_from_soft_edges() {
        // A red subject over a green background with a 50 % soft band between them.
        let (fg, bg) = ([220.0f32, 30.0, 30.0], [20.0f32, 200.0, 40.0]);
        let coverage = |x: u32| match x {
            0..20 => 0.0,
            20..24 => 0.5,
            _ => 1.0,
        };
        let image = RgbImage::from_fn(44, 12, |x, _| {
            let a = coverage(x);
            Rgb(std::array::from_fn(|k| {
                (a * fg[k] + (1.0 - a) * bg[k]).round() as u8
            }))
        });
        let alpha = GrayImage::from_fn(44, 12, |x, _| Luma([(coverage(x) * 255.0).round() as u8]));
        let estimate = estimate_foreground(&image, &alpha);
        for x in 20..24 {
            let pixel = estimate.get_pixel(x, 6);
            // The mixed pixel is (120, 115, 35); its foreground is red again.
            assert!(pixel[0] > 180, "red at {x} is {}", pixel[0]);
            assert!(pixel[1] < 70, "green at {x} is {}", pixel[1]);
        }
        assert_eq!(estimate.get_pixel(30, 6), image.get_pixel(30, 6));
    }

    #[test]
    fn estimate_foreground_leaves_opaque_pixels_alone() {
        let image = RgbImage::from_fn(16, 16, |x, y| Rgb([x as u8 * 9, y as u8 * 13, 77]));
        let alpha = GrayImage::from_pixel(16, 16, Luma([255]));
        assert_eq!(estimate_foreground(&image, &alpha), image);
    }

    #[test]
    fn estimate_foreground_of_a_large_image_still_unmixes_soft_edges() {
        // 1100 pixels wide: the pyramid stops at half resolution and the last sweeps run on
        // the full image.
        let (fg, bg) = ([40.0f32, 60.0, 210.0], [230.0f32, 220.0, 200.0]);
        let coverage = |x: u32| ((x as f32 - 500.0) / 6.0).clamp(0.0, 1.0);
        let image = RgbImage::from_fn(1100, 20, |x, _| {
            let a = coverage(x);
            Rgb(std::array::from_fn(|k| {
                (a * fg[k] + (1.0 - a) * bg[k]).round() as u8
            }))
        });
        let alpha =
            GrayImage::from_fn(1100, 20, |x, _| Luma([(coverage(x) * 255.0).round() as u8]));
        let estimate = estimate_foreground(&image, &alpha);
        for x in 501..506 {
            let pixel = estimate.get_pixel(x, 10);
            // Blue again, not the pale mix of the input.
            assert!(pixel[2] > 180 && pixel[0] < 90, "{pixel:?} at {x}");
        }
        assert_eq!(estimate.get_pixel(800, 10), image.get_pixel(800, 10));
    }

    #[test]
    fn nearest_resize_follows_pymatting_indexing() {
        let source = [0, 1, 2, 3, 4];
        assert_eq!(resize_nearest(&source, 5, 1, 3, 1), vec![0, 1, 3]);
        assert_eq!(resize_nearest(&source, 5, 1, 1, 1), vec![0]);
    }
}
