//! Deterministic procedural noise: hashed value noise and its fractal sums.
//!
//! The seed is part of the input, never the clock, so the same photo always gets the same
//! paper, the same granulation and the same wobble.

use super::plane::Plane;

/// A 2-D integer hash to 0..1 (a 32-bit avalanche, as in Jarzynski & Olano's PCG family).
pub fn hash(x: i32, y: i32, seed: u32) -> f32 {
    let mut h = (x as u32)
        .wrapping_mul(0x8da6_b343)
        .wrapping_add((y as u32).wrapping_mul(0xd816_3841))
        .wrapping_add(seed.wrapping_mul(0xcb1a_b31f));
    h ^= h >> 16;
    h = h.wrapping_mul(0x7feb_352d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846c_a68b);
    h ^= h >> 16;
    (h >> 8) as f32 / (1u32 << 24) as f32
}

fn smootherstep(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

/// Value noise in 0..1 with features about one unit apart.
pub fn value(x: f32, y: f32, seed: u32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (ix, iy) = (x0 as i32, y0 as i32);
    let (fx, fy) = (smootherstep(x - x0), smootherstep(y - y0));
    let top = hash(ix, iy, seed) + (hash(ix + 1, iy, seed) - hash(ix, iy, seed)) * fx;
    let bottom =
        hash(ix, iy + 1, seed) + (hash(ix + 1, iy + 1, seed) - hash(ix, iy + 1, seed)) * fx;
    top + (bottom - top) * fy
}

/// Fractal value noise in 0..1: `octaves` layers, each twice the frequency and `gain` times
/// the amplitude of the previous.
pub fn fbm(x: f32, y: f32, octaves: u32, gain: f32, seed: u32) -> f32 {
    let (mut sum, mut amplitude, mut norm, mut frequency) = (0.0, 1.0, 0.0, 1.0);
    for octave in 0..octaves {
        sum += amplitude
            * value(
                x * frequency,
                y * frequency,
                seed.wrapping_add(octave * 7919),
            );
        norm += amplitude;
        amplitude *= gain;
        frequency *= 2.0;
    }
    sum / norm
}

/// A plane of fractal noise whose largest features are about `feature` pixels across.
pub fn fbm_plane(
    width: usize,
    height: usize,
    feature: f32,
    octaves: u32,
    gain: f32,
    seed: u32,
) -> Plane {
    let inv = 1.0 / feature.max(1e-3);
    // The finest octave varies over feature / 2^(octaves-1) pixels; sampling it
    // four times per feature and interpolating is indistinguishable, and much cheaper for broad noise.
    let finest = feature / 2f32.powi(octaves.saturating_sub(1) as i32);
    let step = (finest / 4.0).floor().max(1.0) as usize;
    if step == 1 {
        return Plane::from_fn(width, height, |x, y| {
            fbm(x as f32 * inv, y as f32 * inv, octaves, gain, seed)
        });
    }
    let coarse_width = (width - 1) / step + 2;
    let coarse_height = (height - 1) / step + 2;
    let coarse = Plane::from_fn(coarse_width, coarse_height, |x, y| {
        let (x, y) = ((x * step) as f32, (y * step) as f32);
        fbm(x * inv, y * inv, octaves, gain, seed)
    });
    let scale = 1.0 / step as f32;
    Plane::from_fn(width, height, |x, y| {
        coarse.sample(x as f32 * scale, y as f32 * scale)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_in_range() {
        let a = fbm_plane(64, 48, 9.0, 4, 0.5, 7);
        let b = fbm_plane(64, 48, 9.0, 4, 0.5, 7);
        assert_eq!(a, b);
        assert!(a.data.iter().all(|v| (0.0..=1.0).contains(v)));
        let other = fbm_plane(64, 48, 9.0, 4, 0.5, 8);
        assert_ne!(a, other);
    }

    #[test]
    fn coarse_evaluation_matches_direct_evaluation() {
        let plane = fbm_plane(90, 70, 48.0, 2, 0.5, 3);
        for (x, y) in [(0, 0), (17, 33), (89, 69), (45, 12)] {
            let direct = fbm(x as f32 / 48.0, y as f32 / 48.0, 2, 0.5, 3);
            assert!((plane.at(x, y) - direct).abs() < 0.03, "({x},{y})");
        }
    }

    #[test]
    fn hash_is_roughly_uniform() {
        let n = 10_000;
        let mean: f32 = (0..n).map(|i| hash(i, i * 3 + 1, 5)).sum::<f32>() / n as f32;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }
}
