//! Ink lines: detail lines from a difference of Gaussians on the smoothed lightness, region
//! borders drawn as strokes of even width, and the speck cleaning that keeps both clean.

use super::components::drop_small;
use super::distance::distance_to;
use super::plane::Plane;

/// How detail lines are found and drawn.
#[derive(Debug, Clone, Copy)]
pub struct DetailLines {
    /// Scale of the inner Gaussian; the outer one is 1.6× wider. Lines are about 2σ wide.
    pub sigma: f32,
    /// The lightness dip (Oklab L) below which a pixel starts to be ink.
    pub threshold: f32,
    /// Over this further dip a pixel goes from no ink to full ink (the anti-aliasing ramp).
    pub softness: f32,
    /// Line fragments with fewer pixels than this are specks, not lines.
    pub min_area: usize,
}

/// Ink coverage (0..1) on the dark side of every lightness edge of `lightness`: a difference
/// of Gaussians, ramped into anti-aliased lines, cleaned of specks.
pub fn detail_lines(lightness: &Plane, params: DetailLines) -> Plane {
    let narrow = lightness.gaussian_blur(params.sigma);
    let wide = lightness.gaussian_blur(params.sigma * 1.6);
    let softness = params.softness.max(1e-4);
    let raw = Plane::from_fn(lightness.width, lightness.height, |x, y| {
        let dip = wide.at(x, y) - narrow.at(x, y);
        smoothstep(params.threshold, params.threshold + softness, dip)
    });
    drop_specks(&raw, params.min_area)
}

/// Keeps only the ink of line fragments of at least `min_area` solid pixels (plus their
/// anti-aliased fringe).
pub fn drop_specks(coverage: &Plane, min_area: usize) -> Plane {
    let (width, height) = (coverage.width, coverage.height);
    let solid: Vec<bool> = coverage.data.iter().map(|&v| v >= 0.5).collect();
    let kept = drop_small(&solid, width, height, min_area.max(1));
    let near_kept = dilate(&kept, width, height);
    Plane {
        width,
        height,
        data: coverage
            .data
            .iter()
            .zip(&near_kept)
            .map(|(&v, &keep)| if keep { v } else { 0.0 })
            .collect(),
    }
}

fn dilate(mask: &[bool], width: usize, height: usize) -> Vec<bool> {
    (0..width * height)
        .map(|i| {
            let (x, y) = (i % width, i / width);
            let (x0, x1) = (x.saturating_sub(1), (x + 1).min(width - 1));
            let (y0, y1) = (y.saturating_sub(1), (y + 1).min(height - 1));
            (y0..=y1).any(|ny| (x0..=x1).any(|nx| mask[ny * width + nx]))
        })
        .collect()
}

/// Strokes of `line_width` pixels along the borders between labels for which `is_border`
/// holds, anti-aliased from the exact distance to the border.
pub fn border_lines(
    labels: &[u8],
    width: usize,
    height: usize,
    line_width: f32,
    is_border: impl Fn(u8, u8) -> bool,
) -> Plane {
    let mut border = vec![false; width * height];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            for n in [
                (x + 1 < width).then_some(i + 1),
                (y + 1 < height).then_some(i + width),
            ]
            .into_iter()
            .flatten()
            {
                if labels[i] != labels[n] && is_border(labels[i], labels[n]) {
                    border[i] = true;
                    border[n] = true;
                }
            }
        }
    }
    let distance = distance_to(&border, width, height);
    // The border runs between the two marked pixels, half a pixel from each centre.
    let half = 0.5 * line_width;
    Plane {
        width,
        height,
        data: distance
            .iter()
            .map(|&d| (half - d).clamp(0.0, 1.0).min(half))
            .collect(),
    }
}

pub fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DetailLines {
        DetailLines {
            sigma: 1.0,
            threshold: 0.01,
            softness: 0.02,
            min_area: 6,
        }
    }

    #[test]
    fn a_dark_square_on_light_gets_ink_at_its_border_only() {
        let lightness = Plane::from_fn(64, 64, |x, y| {
            if (16..48).contains(&x) && (16..48).contains(&y) {
                0.3
            } else {
                0.9
            }
        });
        let ink = detail_lines(&lightness, params());
        assert!(ink.at(17, 32) > 0.8, "border ink {}", ink.at(17, 32));
        assert!(ink.at(32, 32) < 0.01);
        assert!(ink.at(4, 4) < 0.01);
    }

    #[test]
    fn a_flat_plane_has_no_ink() {
        let ink = detail_lines(&Plane::filled(32, 32, 0.5), params());
        assert!(ink.data.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn isolated_specks_are_dropped() {
        let mut coverage = Plane::filled(20, 20, 0.0);
        coverage.data[5 * 20 + 5] = 1.0;
        for x in 2..18 {
            coverage.data[12 * 20 + x] = 1.0;
        }
        let cleaned = drop_specks(&coverage, 4);
        assert_eq!(cleaned.at(5, 5), 0.0);
        assert_eq!(cleaned.at(10, 12), 1.0);
    }

    #[test]
    fn borders_get_lines_of_even_width() {
        let (w, h) = (30, 10);
        let labels: Vec<u8> = (0..w * h).map(|i| u8::from(i % w >= 15)).collect();
        let lines = border_lines(&labels, w, h, 2.0, |_, _| true);
        assert_eq!(lines.at(14, 5), 1.0);
        assert_eq!(lines.at(15, 5), 1.0);
        assert_eq!(lines.at(12, 5), 0.0);
        let none = border_lines(&labels, w, h, 2.0, |_, _| false);
        assert!(none.data.iter().all(|&v| v == 0.0));
    }
}
