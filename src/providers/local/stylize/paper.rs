//! Procedural watercolour paper: a cold-press relief of soft bumps and fine tooth, plus the
//! warm white of the sheet. Deterministic: the same size gives the same sheet.

use super::noise::{fbm_plane, value};
use super::oklab::Lab;
use super::plane::Plane;

/// The sheet's colour: a warm off-white.
pub const PAPER: Lab = [0.975, 0.002, 0.012];

/// Paper relief in 0..1 (0.5 on average): `grain` pixels between bumps.
pub fn relief(width: usize, height: usize, grain: f32) -> Plane {
    let bumps = fbm_plane(width, height, grain * 2.5, 3, 0.55, 101);
    let tooth = fbm_plane(width, height, grain * 0.7, 2, 0.5, 202);
    let fibre_scale = 1.0 / (grain * 6.0).max(1.0);
    Plane::from_fn(width, height, |x, y| {
        let i = y * width + x;
        // Long faint fibres: noise stretched along one direction.
        let fibre = value(
            x as f32 * fibre_scale * 0.15,
            y as f32 * fibre_scale * 2.0,
            303,
        );
        let r = 0.55 * bumps.data[i] + 0.3 * tooth.data[i] + 0.15 * fibre;
        (0.5 + (r - 0.5) * 1.8).clamp(0.0, 1.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relief_is_deterministic_and_varied() {
        let a = relief(64, 64, 3.0);
        assert_eq!(a, relief(64, 64, 3.0));
        let mean = a.data.iter().sum::<f32>() / a.len() as f32;
        let spread = a.data.iter().map(|v| (v - mean).abs()).sum::<f32>() / a.len() as f32;
        assert!((0.35..0.65).contains(&mean), "mean {mean}");
        assert!(spread > 0.03, "a flat sheet: spread {spread}");
    }
}
