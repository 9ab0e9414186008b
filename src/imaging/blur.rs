//! Gaussian blur by cascaded box filters: the radii both the compositor and the stylisation
//! use, so that a given sigma blurs the same everywhere.

/// Radii of three successive box blurs whose combined variance is `sigma`² (the construction
/// browsers use for CSS blur).
pub fn box_radii(sigma: f32) -> [usize; 3] {
    const PASSES: f32 = 3.0;
    let ideal = (12.0 * sigma * sigma / PASSES + 1.0).sqrt();
    let mut lower = ideal.floor() as i64;
    if lower % 2 == 0 {
        lower -= 1;
    }
    let lower_f = lower as f32;
    let lower_count = ((12.0 * sigma * sigma
        - PASSES * lower_f * lower_f
        - 4.0 * PASSES * lower_f
        - 3.0 * PASSES)
        / (-4.0 * lower_f - 4.0))
        .round() as i64;
    let radius = |width: i64| ((width.max(1) - 1) / 2) as usize;
    std::array::from_fn(|i| {
        if (i as i64) < lower_count {
            radius(lower)
        } else {
            radius(lower + 2)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::box_radii;

    /// Three boxes of radius r have variance 3 * ((2r+1)^2 - 1) / 12 in total.
    fn variance(radii: [usize; 3]) -> f32 {
        radii
            .iter()
            .map(|&r| ((2 * r + 1).pow(2) - 1) as f32 / 12.0)
            .sum()
    }

    #[test]
    fn cascade_variance_matches_sigma_squared() {
        // Whole-pixel radii cannot hit small sigmas exactly; the error shrinks as sigma grows.
        for (sigma, tolerance) in [
            (1.0f32, 0.2),
            (2.5, 0.08),
            (4.0, 0.08),
            (10.0, 0.03),
            (33.3, 0.01),
        ] {
            let got = variance(box_radii(sigma)).sqrt();
            assert!(
                (got - sigma).abs() / sigma < tolerance,
                "sigma {sigma}: {got}"
            );
        }
    }
}
