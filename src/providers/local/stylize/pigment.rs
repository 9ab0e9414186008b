//! A pigment model for watercolour: colour as a function of pigment density.
//!
//! After Bousseau et al., "Interactive watercolor rendering with temporal coherence and
//! abstraction" (NPAR 2006): a density above 1 (pigment pooled at a wash's edge, settled in
//! the paper's grain) darkens a colour the way a thicker layer of transparent pigment does,
//! most in the mid-tones, not at all on white paper or in black; below 1 it thins the wash.
//! Applied in Oklab: lightness follows `L − L(1 − L)(d − 1)`, chroma grows with density.

use super::oklab::Lab;

pub fn with_density([l, a, b]: Lab, density: f32) -> Lab {
    let extra = density - 1.0;
    let lightness = (l - l * (1.0 - l) * extra).clamp(0.0, 1.0);
    let chroma = (1.0 + 0.6 * extra).max(0.0);
    [lightness, a * chroma, b * chroma]
}

/// The colour of a wash of `pigment` thinned toward the paper: lighter and a little greyer,
/// as a transparent layer over white.
pub fn thinned([l, a, b]: Lab, amount: f32) -> Lab {
    let lightness = l + (1.0 - l) * amount;
    let chroma = 1.0 - 0.5 * amount;
    [lightness, a * chroma, b * chroma]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_darkens_mid_tones_and_spares_white() {
        let mid = with_density([0.6, 0.05, 0.05], 1.5);
        assert!(mid[0] < 0.6);
        assert!(mid[1] > 0.05);
        let white = with_density([1.0, 0.0, 0.0], 1.5);
        assert_eq!(white[0], 1.0);
        assert_eq!(with_density([0.6, 0.05, 0.05], 1.0), [0.6, 0.05, 0.05]);
    }

    #[test]
    fn thinning_lightens_toward_paper() {
        let thin = thinned([0.4, 0.1, 0.0], 0.5);
        assert!((thin[0] - 0.7).abs() < 1e-6);
        assert!(thin[1] < 0.1);
    }
}
