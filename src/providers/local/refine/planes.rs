//! Float planes shared by the refinements: sizes, 8-bit conversions, block averaging and
//! bilinear resampling.

use image::RgbImage;

/// Width and height of a plane, as indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Size {
    pub width: usize,
    pub height: usize,
}

impl Size {
    pub fn new(width: u32, height: u32) -> Self {
        Size {
            width: width as usize,
            height: height as usize,
        }
    }

    pub fn len(self) -> usize {
        self.width * self.height
    }

    /// The size after block-averaging by `factor` (partial blocks count).
    pub fn shrunk(self, factor: usize) -> Size {
        Size {
            width: self.width.div_ceil(factor),
            height: self.height.div_ceil(factor),
        }
    }

    /// The smallest integer factor that brings the longest side within `side`.
    pub fn factor_to_fit(self, side: usize) -> usize {
        self.width.max(self.height).div_ceil(side).max(1)
    }
}

/// A colour image as `[r, g, b]` in [0, 1], one entry per pixel.
pub(super) struct GuidePixels(pub Vec<[f32; 3]>);

impl GuidePixels {
    pub fn from_rgb(image: &RgbImage) -> Self {
        GuidePixels(image.as_raw().chunks_exact(3).map(unit_rgb).collect())
    }
}

pub(super) const INVERSE_255: f32 = 1.0 / 255.0;

pub(super) fn unit_rgb(pixel: &[u8]) -> [f32; 3] {
    [
        f32::from(pixel[0]) * INVERSE_255,
        f32::from(pixel[1]) * INVERSE_255,
        f32::from(pixel[2]) * INVERSE_255,
    ]
}

pub(super) fn unit_to_u8(value: f32) -> u8 {
    // Saturating float-to-int conversion; NaN becomes 0.
    (value * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

/// The two neighbouring samples at the small scale and the weight of the second.
pub(super) fn sample_position(index: usize, full: usize, small: usize) -> (usize, usize, f32) {
    let scale = small as f32 / full as f32;
    let position = ((index as f32 + 0.5) * scale - 0.5).clamp(0.0, (small - 1) as f32);
    let first = position.floor() as usize;
    let second = (first + 1).min(small - 1);
    (first, second, position - first as f32)
}

/// Block average by an integer `factor` of 8-bit pixels with `C` channels, scaled to [0, 1].
pub(super) fn block_average_bytes<const C: usize>(
    data: &[u8],
    size: Size,
    factor: usize,
) -> Vec<[f32; C]> {
    let small = size.shrunk(factor);
    let mut sums = vec![[0u32; C]; small.len()];
    for (y, row) in data.chunks_exact(size.width * C).enumerate() {
        let small_row = &mut sums[(y / factor) * small.width..(y / factor + 1) * small.width];
        for (x, pixel) in row.chunks_exact(C).enumerate() {
            let sum = &mut small_row[x / factor];
            for k in 0..C {
                sum[k] += u32::from(pixel[k]);
            }
        }
    }
    let (last_width, last_height) = (
        size.width - (small.width - 1) * factor,
        size.height - (small.height - 1) * factor,
    );
    sums.iter()
        .enumerate()
        .map(|(index, sum)| {
            let (x, y) = (index % small.width, index / small.width);
            let w = if x + 1 == small.width {
                last_width
            } else {
                factor
            };
            let h = if y + 1 == small.height {
                last_height
            } else {
                factor
            };
            let scale = INVERSE_255 / (w * h) as f32;
            sum.map(|v| v as f32 * scale)
        })
        .collect()
}

/// Block average by an integer `factor` (partial blocks at the right and bottom edges).
pub(super) fn downsample<T: Planar>(
    values: &[T],
    size: Size,
    small: Size,
    factor: usize,
) -> Vec<T> {
    let mut sums = vec![T::ZERO; small.len()];
    let mut counts = vec![0u32; small.len()];
    for y in 0..size.height {
        let small_row = (y / factor) * small.width;
        for x in 0..size.width {
            let index = small_row + x / factor;
            sums[index] = sums[index].add(values[y * size.width + x]);
            counts[index] += 1;
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(sum, &count)| sum.scale(1.0 / count as f32))
        .collect()
}

/// A pixel value made of `f32` channels.
pub(super) trait Planar: Copy {
    const ZERO: Self;
    fn add(self, other: Self) -> Self;
    fn scale(self, factor: f32) -> Self;
}

impl Planar for f32 {
    const ZERO: Self = 0.0;
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn scale(self, factor: f32) -> Self {
        self * factor
    }
}

impl<const C: usize> Planar for [f32; C] {
    const ZERO: Self = [0.0; C];
    fn add(self, other: Self) -> Self {
        std::array::from_fn(|k| self[k] + other[k])
    }
    fn scale(self, factor: f32) -> Self {
        self.map(|v| v * factor)
    }
}

/// Bilinear upsampling with pixel centres aligned.
pub(super) fn upsample(values: &[f32], small: Size, size: Size) -> Vec<f32> {
    let columns: Vec<(usize, usize, f32)> = (0..size.width)
        .map(|x| sample_position(x, size.width, small.width))
        .collect();
    let mut out = Vec::with_capacity(size.len());
    for y in 0..size.height {
        let (y0, y1, fy) = sample_position(y, size.height, small.height);
        let row0 = &values[y0 * small.width..(y0 + 1) * small.width];
        let row1 = &values[y1 * small.width..(y1 + 1) * small.width];
        out.extend(columns.iter().map(|&(x0, x1, fx)| {
            let top = row0[x0] + (row0[x1] - row0[x0]) * fx;
            let bottom = row1[x0] + (row1[x1] - row1[x0]) * fx;
            top + (bottom - top) * fy
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_average_counts_partial_blocks() {
        // 5×3 RGB averaged by 2: blocks of 4, 2 (right column), 2 (bottom row) and 1 pixels.
        let data: Vec<u8> = (0..15u8).flat_map(|i| [i * 10, 255, 0]).collect();
        let small = block_average_bytes::<3>(&data, Size::new(5, 3), 2);
        let expect = |values: &[u8]| {
            values.iter().map(|&v| f32::from(v)).sum::<f32>() / values.len() as f32 / 255.0
        };
        assert_eq!(small.len(), 3 * 2);
        assert!((small[0][0] - expect(&[0, 10, 50, 60])).abs() < 1e-6);
        assert!((small[2][0] - expect(&[40, 90])).abs() < 1e-6);
        assert!((small[3][0] - expect(&[100, 110])).abs() < 1e-6);
        assert!((small[5][0] - expect(&[140])).abs() < 1e-6);
        assert!(
            small
                .iter()
                .all(|p| (p[1] - 1.0).abs() < 1e-6 && p[2] == 0.0)
        );
    }
}
