//! Lanczos resampling that reproduces Pillow's `Image.resize(size, Image.LANCZOS)` on 8-bit
//! images bit for bit.
//!
//! rembg's sessions resize the photo to the model's input with Pillow and resize the mask back
//! with Pillow; using the same arithmetic (Pillow 13's `Resample.c`: support scaled by the
//! reduction factor, bounds rounded, weights normalised then quantised to 22-bit fixed point,
//! two separable passes each rounded and clamped to 8 bits, horizontal first over only the
//! rows the vertical pass reads unless the height shrinks by more than twice what the width
//! does) makes our model input identical to rembg's, so masks agree with rembg's to the last
//! bit the model allows.

use std::f64::consts::PI;

/// Pillow's `PRECISION_BITS` for 8-bit images: 8 bits of result, 2 of headroom for the
/// negative lobes.
const PRECISION_BITS: u32 = 32 - 8 - 2;
const LANCZOS_SUPPORT: f64 = 3.0;

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * PI;
    x.sin() / x
}

fn lanczos(x: f64) -> f64 {
    if (-LANCZOS_SUPPORT..LANCZOS_SUPPORT).contains(&x) {
        sinc(x) * sinc(x / LANCZOS_SUPPORT)
    } else {
        0.0
    }
}

/// Fixed-point weights of one axis: output pixel `i` reads input `start[i]..start[i] + len[i]`
/// with weights `weights[i * window..][..len[i]]`.
struct Kernel {
    window: usize,
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i32>,
}

impl Kernel {
    /// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the whole input range.
    fn new(in_size: usize, out_size: usize) -> Kernel {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = LANCZOS_SUPPORT * filter_scale;
        let window = support.ceil() as usize * 2 + 1;
        let inv_filter_scale = 1.0 / filter_scale;
        let mut start = Vec::with_capacity(out_size);
        let mut len = Vec::with_capacity(out_size);
        let mut weights = vec![0i32; out_size * window];
        let mut row = vec![0f64; window];
        for (out, dst) in weights.chunks_exact_mut(window).enumerate() {
            let center = (out as f64 + 0.5) * scale;
            // C's `(int)` truncates toward zero; negatives clamp to 0 either way.
            let min = ((center - support + 0.5) as i64).max(0) as usize;
            let max = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let n = max.saturating_sub(min);
            let mut sum = 0.0;
            for (x, w) in row[..n].iter_mut().enumerate() {
                *w = lanczos(((x + min) as f64 - center + 0.5) * inv_filter_scale);
                sum += *w;
            }
            for (w, q) in row[..n].iter().zip(dst.iter_mut()) {
                let w = if sum != 0.0 { w / sum } else { *w };
                let scaled = w * f64::from(1u32 << PRECISION_BITS);
                *q = if w < 0.0 {
                    (scaled - 0.5) as i32
                } else {
                    (scaled + 0.5) as i32
                };
            }
            start.push(min);
            len.push(n);
        }
        Kernel {
            window,
            start,
            len,
            weights,
        }
    }

    fn taps(&self, out: usize) -> (usize, &[i32]) {
        let from = out * self.window;
        (self.start[out], &self.weights[from..from + self.len[out]])
    }
}

#[inline(always)]
fn clip8(acc: i32) -> u8 {
    if acc >= (1 << PRECISION_BITS << 8) {
        255
    } else if acc <= 0 {
        0
    } else {
        (acc >> PRECISION_BITS) as u8
    }
}

const ROUNDING: i32 = 1 << (PRECISION_BITS - 1);

/// Resizes an interleaved 8-bit image of `C` channels (`src.len() == w * h * C`) to
/// `out_w`×`out_h` exactly as Pillow's LANCZOS does.
pub fn resize<const C: usize>(
    src: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<u8> {
    assert_eq!(
        src.len(),
        width * height * C,
        "buffer does not match its size"
    );
    assert!(width > 0 && height > 0 && out_w > 0 && out_h > 0);
    let need_horizontal = out_w != width;
    let need_vertical = out_h != height;
    // Pillow runs the vertical pass first when the height shrinks by more than twice as many
    // pixels as the width does; the order changes the 8-bit rounding between the passes.
    let shrink_h = height as isize - out_h as isize;
    let shrink_w = width as isize - out_w as isize;
    let vertical_first = shrink_h > 0 && shrink_h > 2 * shrink_w;
    let vertical = need_vertical.then(|| Kernel::new(height, out_h));
    let horizontal = need_horizontal.then(|| Kernel::new(width, out_w));
    match (horizontal, vertical) {
        (None, None) => src.to_vec(),
        (Some(h), None) => horizontal_pass::<C>(src, width, 0..height, out_w, &h),
        (None, Some(v)) => vertical_pass::<C>(src, width, 0, out_h, &v),
        (Some(h), Some(v)) if vertical_first => {
            let rows = vertical_pass::<C>(src, width, 0, out_h, &v);
            horizontal_pass::<C>(&rows, width, 0..out_h, out_w, &h)
        }
        (Some(h), Some(v)) => {
            // Only the rows the vertical pass reads.
            let first = v.start[0];
            let last = v.start[out_h - 1] + v.len[out_h - 1];
            let rows = horizontal_pass::<C>(src, width, first..last, out_w, &h);
            vertical_pass::<C>(&rows, out_w, first, out_h, &v)
        }
    }
}

fn horizontal_pass<const C: usize>(
    src: &[u8],
    width: usize,
    rows: std::ops::Range<usize>,
    out_w: usize,
    kernel: &Kernel,
) -> Vec<u8> {
    let mut out = vec![0u8; rows.len() * out_w * C];
    for (y, dst_row) in rows.zip(out.chunks_exact_mut(out_w * C)) {
        let src_row = &src[y * width * C..(y + 1) * width * C];
        for (x, dst) in dst_row.chunks_exact_mut(C).enumerate() {
            let (start, taps) = kernel.taps(x);
            let mut acc = [ROUNDING; C];
            let pixels = &src_row[start * C..(start + taps.len()) * C];
            for (px, &k) in pixels.chunks_exact(C).zip(taps) {
                for c in 0..C {
                    acc[c] += i32::from(px[c]) * k;
                }
            }
            for c in 0..C {
                dst[c] = clip8(acc[c]);
            }
        }
    }
    out
}

fn vertical_pass<const C: usize>(
    rows: &[u8],
    width: usize,
    row_offset: usize,
    out_h: usize,
    kernel: &Kernel,
) -> Vec<u8> {
    let stride = width * C;
    let mut out = vec![0u8; out_h * stride];
    let mut acc = vec![0i32; stride];
    for (y, dst_row) in out.chunks_exact_mut(stride).enumerate() {
        let (start, taps) = kernel.taps(y);
        acc.fill(ROUNDING);
        // Row by row, so the inner loop runs over contiguous memory and vectorises.
        for (i, &k) in taps.iter().enumerate() {
            let from = (start - row_offset + i) * stride;
            for (a, &v) in acc.iter_mut().zip(&rows[from..from + stride]) {
                *a += i32::from(v) * k;
            }
        }
        for (d, &a) in dst_row.iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_a_copy() {
        let src: Vec<u8> = (0..12).collect();
        assert_eq!(resize::<3>(&src, 2, 2, 2, 2), src);
    }

    #[test]
    fn a_flat_image_stays_flat_at_any_size() {
        let src = vec![77u8; 37 * 23];
        for (w, h) in [(5, 3), (37, 50), (100, 7), (1, 1)] {
            let out = resize::<1>(&src, 37, 23, w, h);
            assert_eq!(out.len(), w * h);
            assert!(out.iter().all(|&v| v == 77), "{w}x{h}");
        }
    }

    #[test]
    fn weights_of_each_output_pixel_sum_to_one_in_fixed_point() {
        for (n, m) in [(512, 320), (320, 741), (4000, 320), (7, 3)] {
            let kernel = Kernel::new(n, m);
            for out in 0..m {
                let sum: i32 = kernel.taps(out).1.iter().sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= kernel.window as i32,
                    "{n}->{m}"
                );
            }
        }
    }

    /// Values Pillow 13 produced for this input (`Image.frombytes("L", (6, 1), ...)`
    /// resized with LANCZOS); the ringing at the edges is Lanczos's negative lobes.
    #[test]
    fn matches_pillow_on_a_step_edge() {
        let src = [0u8, 0, 0, 255, 255, 255];
        assert_eq!(resize::<1>(&src, 6, 1, 4, 1), PILLOW_STEP_6_TO_4);
        assert_eq!(resize::<1>(&src, 6, 1, 9, 1), PILLOW_STEP_6_TO_9);
        // The same edge along the other axis, upscaled on both.
        let two_wide: Vec<u8> = PILLOW_STEP_6_TO_9.iter().flat_map(|&v| [v, v]).collect();
        assert_eq!(resize::<1>(&src, 1, 6, 2, 9), two_wide);
    }

    /// A 7x9 image Pillow 13 resized with LANCZOS: to 9x4 it runs the vertical pass first, to
    /// 4x6 the horizontal one; the other order gives different bytes in both cases.
    #[test]
    fn matches_pillow_in_both_pass_orders() {
        let src: Vec<u8> = (0..63u32)
            .map(|i| (((i * 37 + 11) * (i % 5 + 1)) % 256) as u8)
            .collect();
        assert_eq!(resize::<1>(&src, 7, 9, 9, 4), PILLOW_7X9_TO_9X4);
        assert_eq!(resize::<1>(&src, 7, 9, 4, 6), PILLOW_7X9_TO_4X6);
    }

    const PILLOW_7X9_TO_9X4: [u8; 36] = [
        31, 91, 189, 222, 177, 80, 107, 190, 203, 62, 96, 139, 128, 95, 111, 135, 179, 215, 67, 64,
        49, 43, 60, 71, 93, 179, 250, 115, 111, 135, 176, 197, 199, 148, 128, 154,
    ];
    const PILLOW_7X9_TO_4X6: [u8; 24] = [
        72, 222, 89, 164, 95, 157, 140, 206, 87, 118, 104, 178, 68, 40, 48, 196, 68, 85, 139, 194,
        134, 208, 194, 106,
    ];
    const PILLOW_STEP_6_TO_4: [u8; 4] = [0, 10, 245, 255];
    const PILLOW_STEP_6_TO_9: [u8; 9] = [0, 6, 0, 0, 128, 255, 255, 249, 255];
}
