//! Oklab (Björn Ottosson, 2020), the perceptual colour space the stylisation and the
//! compositor's colour harmonisation work in.
//!
//! `L` is perceived lightness in 0..=1; `a` (green–red) and `b` (blue–yellow) are opponent
//! axes, about ±0.3 for sRGB. Euclidean distance approximates perceived difference, so
//! k-means and smoothing thresholds mean the same everywhere.

use std::sync::OnceLock;

pub type Lab = [f32; 3];

fn srgb_to_linear_table() -> &'static [f32; 256] {
    static TABLE: OnceLock<[f32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0.0; 256];
        for (i, value) in table.iter_mut().enumerate() {
            let c = i as f32 / 255.0;
            *value = if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
        }
        table
    })
}

const LINEAR_STEPS: usize = 4096;

fn linear_to_srgb_table() -> &'static [u8; LINEAR_STEPS + 1] {
    static TABLE: OnceLock<[u8; LINEAR_STEPS + 1]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0; LINEAR_STEPS + 1];
        for (i, value) in table.iter_mut().enumerate() {
            let c = i as f32 / LINEAR_STEPS as f32;
            let encoded = if c <= 0.003_130_8 {
                c * 12.92
            } else {
                1.055 * c.powf(1.0 / 2.4) - 0.055
            };
            *value = (encoded * 255.0).round().clamp(0.0, 255.0) as u8;
        }
        table
    })
}

pub fn srgb8_to_linear(value: u8) -> f32 {
    srgb_to_linear_table()[usize::from(value)]
}

/// Linear light (clamped to 0..=1) to an 8-bit sRGB value.
pub fn linear_to_srgb8(value: f32) -> u8 {
    let index = (value.clamp(0.0, 1.0) * LINEAR_STEPS as f32).round() as usize;
    linear_to_srgb_table()[index]
}

pub fn from_linear([r, g, b]: [f32; 3]) -> Lab {
    let l = (0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_995 * b).cbrt();
    let m = (0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b).cbrt();
    let s = (0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b).cbrt();
    [
        0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
        1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
        0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
    ]
}

/// Oklab to linear RGB, unclamped (out-of-gamut colours go below 0 or above 1).
pub fn to_linear([lightness, a, b]: Lab) -> [f32; 3] {
    let l = (lightness + 0.396_337_78 * a + 0.215_803_76 * b).powi(3);
    let m = (lightness - 0.105_561_346 * a - 0.063_854_17 * b).powi(3);
    let s = (lightness - 0.089_484_18 * a - 1.291_485_5 * b).powi(3);
    [
        4.076_741_7 * l - 3.307_711_6 * m + 0.230_969_94 * s,
        -1.268_438 * l + 2.609_757_4 * m - 0.341_319_38 * s,
        -0.004_196_086_3 * l - 0.703_418_6 * m + 1.707_614_7 * s,
    ]
}

pub fn from_srgb8([r, g, b]: [u8; 3]) -> Lab {
    from_linear([srgb8_to_linear(r), srgb8_to_linear(g), srgb8_to_linear(b)])
}

/// Oklab to 8-bit sRGB, each channel clamped.
pub fn to_srgb8(lab: Lab) -> [u8; 3] {
    to_linear(lab).map(linear_to_srgb8)
}

pub fn chroma([_, a, b]: Lab) -> f32 {
    a.hypot(b)
}

/// The same lightness and hue with the chroma scaled by `factor`.
pub fn scale_chroma([l, a, b]: Lab, factor: f32) -> Lab {
    [l, a * factor, b * factor]
}

/// Pulls an out-of-gamut colour back into sRGB by reducing its chroma (keeping lightness and
/// hue), as a painter would mix toward grey rather than shift the hue.
pub fn fit_gamut(lab: Lab) -> Lab {
    let lightness = lab[0].clamp(0.0, 1.0);
    let lab = [lightness, lab[1], lab[2]];
    let inside = |c: Lab| {
        to_linear(c)
            .iter()
            .all(|v| (-1e-4..=1.0 + 1e-4).contains(v))
    };
    if inside(lab) {
        return lab;
    }
    let (mut low, mut high) = (0.0f32, 1.0f32);
    for _ in 0..12 {
        let mid = 0.5 * (low + high);
        if inside(scale_chroma(lab, mid)) {
            low = mid;
        } else {
            high = mid;
        }
    }
    scale_chroma(lab, low)
}

pub fn distance_squared(p: Lab, q: Lab) -> f32 {
    (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)
}

pub fn mix(p: Lab, q: Lab, t: f32) -> Lab {
    [
        p[0] + (q[0] - p[0]) * t,
        p[1] + (q[1] - p[1]) * t,
        p[2] + (q[2] - p[2]) * t,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_and_black_have_no_chroma() {
        let white = from_srgb8([255, 255, 255]);
        assert!((white[0] - 1.0).abs() < 1e-3 && chroma(white) < 1e-3);
        let black = from_srgb8([0, 0, 0]);
        assert!(black[0].abs() < 1e-3 && chroma(black) < 1e-3);
    }

    #[test]
    fn srgb_round_trips_through_oklab() {
        for rgb in [
            [255, 0, 0],
            [12, 200, 97],
            [3, 4, 5],
            [250, 128, 1],
            [90, 90, 90],
        ] {
            let back = to_srgb8(from_srgb8(rgb));
            for (a, b) in rgb.iter().zip(back) {
                assert!(a.abs_diff(b) <= 1, "{rgb:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn fit_gamut_keeps_lightness_and_lands_inside() {
        let loud = scale_chroma(from_srgb8([250, 120, 20]), 2.5);
        let fitted = fit_gamut(loud);
        assert!((fitted[0] - loud[0]).abs() < 1e-6);
        assert!(chroma(fitted) < chroma(loud));
        assert!(
            to_linear(fitted)
                .iter()
                .all(|v| (-1e-3..=1.001).contains(v))
        );
    }
}
