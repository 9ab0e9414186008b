//! Small features (eyes, brows, nostrils, lips, teeth, a glint) kept as filled accents.
//!
//! Cleaning tone regions into shapes a colourist would fill also erases what makes a face a
//! face: an iris or a brow is smaller than any region worth keeping, so it is swallowed by
//! the skin around it. The edge-preserving smoothed photo still has them; where it departs
//! clearly from the tone its pixel was painted, over more than a speck, the mark is put back
//! as a solid accent — features stay legible without bringing texture back.

use super::components::drop_small;
use super::ink::smoothstep;
use super::plane::Plane;

/// How accents are found.
#[derive(Debug, Clone, Copy)]
pub struct AccentParams {
    /// Lightness difference (Oklab L) below the region's own tone at which a pixel starts to
    /// be a dark accent…
    pub dark: f32,
    /// …above it, a light one (higher: glints on folds are not features, teeth are)…
    pub light: f32,
    /// …and the further difference over which it becomes fully one.
    pub softness: f32,
    /// Accents with fewer solid pixels than this are texture, not features.
    pub min_area: usize,
}

/// Coverage (0..1) of dark and of light accents.
#[derive(Debug, Clone)]
pub struct Accents {
    pub dark: Plane,
    pub light: Plane,
}

/// Accents where `lightness` (smoothed enough to have lost texture, not features) departs
/// from `painted`, the lightness of the flat tone each pixel was given. Measuring against the
/// pixel's own region, not a blurred neighbourhood, leaves no halo along region borders.
pub fn accents(lightness: &Plane, painted: &Plane, params: AccentParams) -> Accents {
    let softness = params.softness.max(1e-4);
    let side = |sign: f32, threshold: f32| {
        let raw = Plane::from_fn(lightness.width, lightness.height, |x, y| {
            let contrast = sign * (lightness.at(x, y) - painted.at(x, y));
            smoothstep(threshold, threshold + softness, contrast)
        });
        keep_features(&raw, params.min_area)
    };
    Accents {
        dark: side(-1.0, params.dark),
        light: side(1.0, params.light),
    }
}

/// Drops accents whose solid part is smaller than `min_area` pixels.
fn keep_features(coverage: &Plane, min_area: usize) -> Plane {
    let (width, height) = (coverage.width, coverage.height);
    let solid: Vec<bool> = coverage.data.iter().map(|&v| v >= 0.5).collect();
    let kept = drop_small(&solid, width, height, min_area.max(1));
    // The soft fringe of a kept accent stays with it; a fringe alone is dropped.
    let near = Plane {
        width,
        height,
        data: kept.iter().map(|&k| if k { 1.0 } else { 0.0 }).collect(),
    }
    .box_blur(1);
    Plane {
        width,
        height,
        data: coverage
            .data
            .iter()
            .zip(&near.data)
            .map(|(&v, &n)| if n > 0.0 { v } else { 0.0 })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> AccentParams {
        AccentParams {
            dark: 0.08,
            light: 0.08,
            softness: 0.05,
            min_area: 6,
        }
    }

    /// A skin-light plane (its flat tone 0.8) with a disc of `radius` at (32, 32).
    fn with_dot(radius: f32, inside: f32) -> Plane {
        Plane::from_fn(64, 64, |x, y| {
            let d = (x as f32 - 32.0).hypot(y as f32 - 32.0);
            if d < radius { inside } else { 0.8 }
        })
    }

    #[test]
    fn a_dark_mark_becomes_a_dark_accent() {
        let accents = accents(&with_dot(3.0, 0.35), &Plane::filled(64, 64, 0.8), params());
        assert_eq!(accents.dark.at(32, 32), 1.0);
        assert_eq!(accents.dark.at(5, 5), 0.0);
        assert_eq!(accents.light.at(32, 32), 0.0);
    }

    #[test]
    fn a_light_mark_becomes_a_light_accent() {
        let accents = accents(&with_dot(3.0, 1.0), &Plane::filled(64, 64, 0.8), params());
        assert_eq!(accents.light.at(32, 32), 1.0);
        assert_eq!(accents.dark.at(32, 32), 0.0);
    }

    #[test]
    fn a_region_painted_its_own_tone_has_no_accent() {
        // A shadow side painted as a shadow tone is shading, however dark.
        let photo = Plane::from_fn(96, 96, |x, _| if x < 48 { 0.3 } else { 0.8 });
        let accents = accents(&photo, &photo, params());
        assert!(accents.dark.data.iter().all(|&v| v == 0.0));
        assert!(accents.light.data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn specks_and_faint_marks_are_dropped() {
        let flat = Plane::filled(64, 64, 0.8);
        let speck = accents(&with_dot(0.9, 0.1), &flat, params());
        assert!(speck.dark.data.iter().all(|&v| v == 0.0));
        let faint = accents(&with_dot(3.0, 0.75), &flat, params());
        assert!(faint.dark.data.iter().all(|&v| v == 0.0));
    }
}
