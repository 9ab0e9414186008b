//! Single-channel f32 planes and the separable blurs the compositor is built from.
//!
//! Every blur extends the edge pixels outward, so a blurred plane keeps its mean near a border
//! instead of fading to black. Work is single-threaded on purpose: the local provider already
//! runs one job per core, so splitting one composite across threads would only oversubscribe.

use std::sync::{Mutex, PoisonError};

use crate::imaging::blur;

/// One channel of an image, row-major, values nominally in 0..=1.
#[derive(Debug, PartialEq)]
pub(super) struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        let mut data = recycled(width * height);
        data.resize(width * height, value);
        Plane {
            width,
            height,
            data,
        }
    }

    pub fn zeros(width: usize, height: usize) -> Self {
        Self::filled(width, height, 0.0)
    }

    #[cfg(test)]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// A new plane of the same size, `f` applied to each value.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Plane {
        let mut data = recycled(self.data.len());
        data.extend(self.data.iter().map(|&v| f(v)));
        Plane {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// A new plane of the same size, `f` applied to each pair of values.
    pub fn zip_map(&self, other: &Plane, f: impl Fn(f32, f32) -> f32) -> Plane {
        debug_assert_eq!((self.width, self.height), (other.width, other.height));
        let mut data = recycled(self.data.len());
        data.extend(self.data.iter().zip(&other.data).map(|(&a, &b)| f(a, b)));
        Plane {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// The `width` × `height` rectangle whose top left corner is (`x0`, `y0`).
    pub fn crop(&self, x0: usize, y0: usize, width: usize, height: usize) -> Plane {
        let mut data = recycled(width * height);
        for y in y0..y0 + height {
            data.extend_from_slice(&self.data[y * self.width + x0..y * self.width + x0 + width]);
        }
        Plane {
            width,
            height,
            data,
        }
    }

    fn row(&self, y: isize) -> &[f32] {
        let y = y.clamp(0, self.height as isize - 1) as usize;
        &self.data[y * self.width..(y + 1) * self.width]
    }
}

impl Clone for Plane {
    fn clone(&self) -> Self {
        let mut data = recycled(self.data.len());
        data.extend_from_slice(&self.data);
        Plane {
            width: self.width,
            height: self.height,
            data,
        }
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.data);
        let bytes = buffer.capacity() * size_of::<f32>();
        if buffer.capacity() < POOLED_MIN_LEN {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.bytes + bytes <= POOL_BYTES {
            pool.bytes += bytes;
            pool.free.push(buffer);
        }
    }
}

/// Buffers smaller than this (in values) are left to the allocator, which serves them fast.
const POOLED_MIN_LEN: usize = 16 * 1024;
/// Most memory the pool keeps for reuse: the working set of a composite of about a
/// megapixel.
const POOL_BYTES: usize = 64 << 20;

/// Buffers of dropped planes, kept for new ones. A composite goes through a few hundred
/// image-sized planes; taking fresh memory from the system for each costs a page fault per
/// 4 KiB, which measured as a third of the run time at 512 × 512.
struct Pool {
    free: Vec<Vec<f32>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    bytes: 0,
});

/// An empty buffer with room for `len` values: a pooled one if one fits without wasting
/// more than three quarters of it, otherwise a new one.
fn recycled(len: usize) -> Vec<f32> {
    if len >= POOLED_MIN_LEN {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        let best = pool
            .free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len && b.capacity() / 4 <= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(best) = best {
            let mut buffer = pool.free.swap_remove(best);
            pool.bytes -= buffer.capacity() * size_of::<f32>();
            buffer.clear();
            return buffer;
        }
    }
    Vec::with_capacity(len)
}

/// The mean over a (2·radius+1)² square around each pixel.
pub(super) fn box_blur(plane: &Plane, radius: usize) -> Plane {
    if radius == 0 || plane.data.is_empty() {
        return plane.clone();
    }
    box_columns(&box_rows(plane, radius), radius)
}

/// A Gaussian blur of standard deviation `sigma` pixels.
pub(super) fn gaussian_blur(plane: &Plane, sigma: f32) -> Plane {
    gaussian_blur_xy(plane, sigma, sigma)
}

/// A Gaussian blur with its own standard deviation along each axis. Small sigmas (a feathered
/// edge) get an exact kernel; larger ones (shadows, light wrap) three box passes of the same
/// variance, whose cost does not grow with the radius.
pub(super) fn gaussian_blur_xy(plane: &Plane, sigma_x: f32, sigma_y: f32) -> Plane {
    if plane.data.is_empty() {
        return plane.clone();
    }
    let rows = match blur_kind(sigma_x) {
        BlurKind::None => plane.clone(),
        BlurKind::Kernel(kernel) => convolve_rows(plane, &kernel),
        BlurKind::Boxes(radii) => radii
            .into_iter()
            .fold(plane.clone(), |p, r| box_rows(&p, r)),
    };
    match blur_kind(sigma_y) {
        BlurKind::None => rows,
        BlurKind::Kernel(kernel) => convolve_columns(&rows, &kernel),
        BlurKind::Boxes(radii) => radii.into_iter().fold(rows, |p, r| box_columns(&p, r)),
    }
}

enum BlurKind {
    None,
    Kernel(Vec<f32>),
    Boxes([usize; 3]),
}

fn blur_kind(sigma: f32) -> BlurKind {
    if sigma.is_nan() || sigma < 0.3 {
        BlurKind::None
    } else if sigma <= 3.0 {
        BlurKind::Kernel(gaussian_kernel(sigma))
    } else {
        BlurKind::Boxes(blur::box_radii(sigma))
    }
}

/// A blur wide enough that its result is smooth anyway, computed on a half-size plane and
/// interpolated back: a quarter of the work. `blur` runs at half size, so it takes half the
/// radius or sigma.
pub(super) fn at_half_size(plane: &Plane, blur: impl Fn(&Plane) -> Plane) -> Plane {
    if plane.width < 4 || plane.height < 4 {
        return blur(plane);
    }
    upsample(&blur(&downsample(plane)), plane.width, plane.height)
}

/// A Gaussian blur of `sigma`, at half size when `sigma` is large enough not to tell.
pub(super) fn smooth_blur(plane: &Plane, sigma: f32) -> Plane {
    if sigma < 4.0 {
        return gaussian_blur(plane, sigma);
    }
    at_half_size(plane, |half| gaussian_blur(half, sigma / 2.0))
}

/// Each pixel the mean of a 2 × 2 block; an odd last row or column repeats itself.
fn downsample(plane: &Plane) -> Plane {
    let (width, height) = (plane.width.div_ceil(2), plane.height.div_ceil(2));
    let last = plane.width - 1;
    let mut out = Plane::zeros(width, height);
    for (y, dst) in out.data.chunks_mut(width).enumerate() {
        let (top, bottom) = (plane.row(2 * y as isize), plane.row(2 * y as isize + 1));
        for (x, value) in dst.iter_mut().enumerate() {
            let (left, right) = (2 * x, (2 * x + 1).min(last));
            *value = 0.25 * (top[left] + top[right] + bottom[left] + bottom[right]);
        }
    }
    out
}

/// `plane` stretched to `width` × `height` by bilinear interpolation, pixel centres aligned.
fn upsample(plane: &Plane, width: usize, height: usize) -> Plane {
    let taps = |target: usize, source: usize| -> Vec<(usize, usize, f32)> {
        let scale = source as f32 / target as f32;
        (0..target)
            .map(|i| {
                let s = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (source - 1) as f32);
                let lower = s as usize;
                (lower, (lower + 1).min(source - 1), s - lower as f32)
            })
            .collect()
    };
    let columns = taps(width, plane.width);
    let mut wide = Plane::zeros(width, plane.height);
    for (dst, src) in wide
        .data
        .chunks_mut(width)
        .zip(plane.data.chunks(plane.width))
    {
        for (value, &(left, right, t)) in dst.iter_mut().zip(&columns) {
            *value = src[left] + (src[right] - src[left]) * t;
        }
    }
    let mut out = Plane::zeros(width, height);
    for (dst, &(top, bottom, t)) in out.data.chunks_mut(width).zip(&taps(height, plane.height)) {
        let (upper, lower) = (wide.row(top as isize), wide.row(bottom as isize));
        for ((value, &a), &b) in dst.iter_mut().zip(upper).zip(lower) {
            *value = a + (b - a) * t;
        }
    }
    out
}

fn box_rows(plane: &Plane, radius: usize) -> Plane {
    /// Rows processed together: each running sum is a chain of dependent additions, so
    /// interleaving independent rows keeps the CPU's adders busy.
    const LANES: usize = 4;
    let width = plane.width;
    let last = width - 1;
    let inv = 1.0 / (2 * radius + 1) as f32;
    let mut out = Plane::zeros(width, plane.height);
    for (dst, src) in out
        .data
        .chunks_mut(width * LANES)
        .zip(plane.data.chunks(width * LANES))
    {
        let sources: Vec<&[f32]> = src.chunks(width).collect();
        let mut targets: Vec<&mut [f32]> = dst.chunks_mut(width).collect();
        // The window of x is [x - r, x + r]; indices outside the row repeat the edge pixel.
        let mut sums: Vec<f32> = sources
            .iter()
            .map(|row| row[0] * radius as f32 + (0..=radius).map(|i| row[i.min(last)]).sum::<f32>())
            .collect();
        for x in 0..width {
            let (incoming, outgoing) = ((x + radius + 1).min(last), x.saturating_sub(radius));
            for ((sum, row), target) in sums.iter_mut().zip(&sources).zip(targets.iter_mut()) {
                target[x] = *sum * inv;
                *sum += row[incoming] - row[outgoing];
            }
        }
    }
    out
}

fn box_columns(plane: &Plane, radius: usize) -> Plane {
    let r = radius as isize;
    let inv = 1.0 / (2 * radius + 1) as f32;
    let mut out = Plane::zeros(plane.width, plane.height);
    // One running sum per column, slid down the rows: contiguous and vectorisable.
    let mut sums = vec![0.0f32; plane.width];
    for dy in -r..=r {
        add_assign(&mut sums, plane.row(dy));
    }
    for (y, dst) in out.data.chunks_mut(plane.width).enumerate() {
        let y = y as isize;
        for (value, sum) in dst.iter_mut().zip(&sums) {
            *value = sum * inv;
        }
        let (incoming, outgoing) = (plane.row(y + r + 1), plane.row(y - r));
        for ((sum, add), sub) in sums.iter_mut().zip(incoming).zip(outgoing) {
            *sum += add - sub;
        }
    }
    out
}

fn add_assign(sums: &mut [f32], row: &[f32]) {
    for (sum, value) in sums.iter_mut().zip(row) {
        *sum += value;
    }
}

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

fn convolve_rows(plane: &Plane, kernel: &[f32]) -> Plane {
    let radius = kernel.len() / 2;
    let mut out = Plane::zeros(plane.width, plane.height);
    // Each row is copied with its edge pixels repeated `radius` times on both sides, so the
    // inner loop is a plain dot product over a sliding window.
    let mut padded = vec![0.0f32; plane.width + 2 * radius];
    for (dst, src) in out
        .data
        .chunks_mut(plane.width)
        .zip(plane.data.chunks(plane.width))
    {
        padded[..radius].fill(src[0]);
        padded[radius..radius + src.len()].copy_from_slice(src);
        padded[radius + src.len()..].fill(src[src.len() - 1]);
        for (value, window) in dst.iter_mut().zip(padded.windows(kernel.len())) {
            *value = window.iter().zip(kernel).map(|(a, w)| a * w).sum();
        }
    }
    out
}

fn convolve_columns(plane: &Plane, kernel: &[f32]) -> Plane {
    let radius = (kernel.len() / 2) as isize;
    let mut out = Plane::zeros(plane.width, plane.height);
    for (y, dst) in out.data.chunks_mut(plane.width).enumerate() {
        for (k, weight) in kernel.iter().enumerate() {
            let src = plane.row(y as isize + k as isize - radius);
            for (value, s) in dst.iter_mut().zip(src) {
                *value += weight * s;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impulse(size: usize) -> Plane {
        let mut plane = Plane::zeros(size, size);
        plane.data[size / 2 * size + size / 2] = 1.0;
        plane
    }

    fn variance_along_x(plane: &Plane) -> f32 {
        let centre = (plane.width / 2) as f32;
        let total: f32 = plane.data.iter().sum();
        (0..plane.height)
            .flat_map(|y| (0..plane.width).map(move |x| (x, y)))
            .map(|(x, y)| plane.at(x, y) * (x as f32 - centre).powi(2))
            .sum::<f32>()
            / total
    }

    #[test]
    fn blurs_keep_a_constant_plane_constant() {
        let plane = Plane::filled(17, 9, 0.25);
        for blurred in [
            box_blur(&plane, 4),
            gaussian_blur(&plane, 1.5),
            gaussian_blur(&plane, 7.0),
        ] {
            assert!(blurred.data.iter().all(|v| (v - 0.25).abs() < 1e-5));
        }
    }

    #[test]
    fn gaussian_blur_spreads_an_impulse_by_sigma() {
        for sigma in [1.2f32, 2.5, 6.0, 11.0] {
            let blurred = gaussian_blur(&impulse(101), sigma);
            let total: f32 = blurred.data.iter().sum();
            assert!((total - 1.0).abs() < 1e-3, "mass kept for sigma {sigma}");
            let measured = variance_along_x(&blurred).sqrt();
            assert!(
                (measured - sigma).abs() < 0.1 * sigma + 0.1,
                "{measured} vs {sigma}"
            );
        }
    }

    #[test]
    fn half_size_blur_matches_the_full_one() {
        let ramp = Plane {
            width: 64,
            height: 48,
            data: (0..64 * 48)
                .map(|i| ((i % 64) as f32 / 63.0).powi(2))
                .collect(),
        };
        let (full, half) = (gaussian_blur(&ramp, 8.0), smooth_blur(&ramp, 8.0));
        assert_eq!((half.width, half.height), (64, 48));
        for (a, b) in full.data.iter().zip(&half.data) {
            assert!((a - b).abs() < 0.02, "{a} vs {b}");
        }
        let spread = variance_along_x(&smooth_blur(&impulse(101), 10.0)).sqrt();
        assert!((spread - 10.0).abs() < 1.0, "{spread}");
    }

    #[test]
    fn box_blur_averages_the_window() {
        let mut plane = Plane::zeros(9, 1);
        plane.data[4] = 3.0;
        let blurred = box_blur(&plane, 1);
        assert_eq!(&blurred.data[2..7], &[0.0, 1.0, 1.0, 1.0, 0.0]);
    }
}
