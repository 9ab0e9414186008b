//! `default`: the house style — a clean, friendly cel-shaded character illustration.
//!
//! Distinct from `cartoon` (black ink, two tones taken from the photo): materials are found
//! as a character illustrator sees them (skin, hair and fabric of one lightness kept apart by
//! hue and texture, see [`character_materials`]); each is painted in three crisp bands
//! (shadow, base, highlight) whose colours are picked from the material's colour in Oklab —
//! shadows deeper and rosier, highlights lighter and softer, the palette a little richer
//! than life; the features the bands swallowed (irises, brows, nostrils, teeth) come back as
//! solid accents on smooth materials; lines are a deep shade of the colour they border.

use super::artwork::Artwork;
use super::features::{AccentParams, accents};
use super::ink::{DetailLines, border_lines, detail_lines};
use super::materials::{clean_regions, flatten};
use super::oklab::{Lab, LabImage, chroma, fit_gamut, mix, scale_chroma};
use super::outline::{combine, silhouette_stroke};
use super::painted::Painted;
use super::plane::Plane;
use super::shading::{mean_colours, split_three_tones};
use super::silhouette::Silhouette;
use super::smooth::SmoothParams;
use super::texture::{character_materials, smoothness};

pub fn paint(source: &LabImage, silhouette: &Silhouette) -> Painted {
    let px = |v: f32| silhouette.px(v);
    let flattened = flatten(
        source,
        silhouette,
        SmoothParams {
            sigma_space: px(4.0),
            sigma_range: 0.08,
            iterations: 3,
        },
        SmoothParams {
            sigma_space: px(20.0),
            sigma_range: 0.1,
            iterations: 3,
        },
    );
    let (materials, grain) = character_materials(source, &flattened, silhouette);
    let (width, height) = (source.width, source.height);
    let shade = flattened.flat.lightness().gaussian_blur(px(8.0));
    let count = materials.count();
    let tones = split_three_tones(
        &materials.labels,
        count,
        &shade,
        &flattened.trust,
        0.3,
        0.92,
        0.04,
    );
    let tones = clean_regions(&tones, 3 * count, width, height, silhouette, 15.0);
    let palette: Vec<Lab> = (0..3 * count)
        .map(|t| tone_colour(materials.palette[t / 3], t % 3))
        .collect();
    // The photo's own lightness of each tone region, to tell a feature from its region.
    let tone_means = mean_colours(&tones, 3 * count, &flattened.flat, &flattened.trust);
    let painted = Plane {
        width,
        height,
        data: tones
            .iter()
            .map(|&t| tone_means[usize::from(t)][0])
            .collect(),
    };
    let marks = accents(
        &flattened.flat.lightness(),
        &painted,
        AccentParams {
            dark: 0.065,
            light: 0.1,
            softness: 0.05,
            min_area: px(2.5).powi(2).round() as usize,
        },
    );
    // Accents belong on smooth materials (a face); on hair or fur they would be flecks.
    let smoothness = smoothness(&materials.labels, count, &grain, &flattened.trust);
    let data = tones
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let base = palette[usize::from(t)];
            let keep = smoothness[usize::from(t) / 3];
            let dark = mix(base, dark_accent(base), keep * marks.dark.data[i]);
            mix(dark, light_accent(base), keep * marks.light.data[i])
        })
        .collect();
    let colour = LabImage {
        width,
        height,
        data,
    };
    Painted {
        // Just enough blur to anti-alias the bands; the composite keeps them crisp.
        colour: colour.gaussian_blur(0.6),
        detail: flattened.detail.lightness(),
        materials: Some(materials),
    }
}

/// A colourist's tones for a material: darks lifted and chroma enriched (a dull colour is
/// given a clear hue, a grey stays grey); the shadow deeper and rosier, not browner (light
/// scattered through skin, fabric or hair comes back warm), the highlight lighter and softer.
fn tone_colour(material: Lab, tone: usize) -> Lab {
    let c = chroma(material);
    let richer = if c < 0.015 {
        1.0
    } else {
        (c * 1.25).max((c * 1.8).min(0.095)) / c
    };
    let [l, a, b] = scale_chroma(material, richer);
    // Mid-tones lifted more than the ends: friendlier, without greying the blacks.
    let l = 0.06 + 0.94 * l.max(0.0).powf(0.85);
    let grey = c < 0.015;
    fit_gamut(match tone {
        0 if grey => [l - 0.12, a, b - 0.01],
        0 => [l - 0.1, a * 1.2 + 0.015, b * 0.95],
        2 => [l + 0.08, a * 0.85, b * 0.85],
        _ => [l, a, b],
    })
}

/// An iris, a brow, a nostril: a deep shade of the colour around it.
fn dark_accent([l, a, b]: Lab) -> Lab {
    fit_gamut([l * 0.45, a * 0.9, b * 0.9])
}

/// Teeth, the white of an eye, a glint: toward white, a hint of the colour kept.
fn light_accent([l, a, b]: Lab) -> Lab {
    [l + (0.97 - l) * 0.7, a * 0.3, b * 0.3]
}

/// A deep shade of the colour the line borders, as a colourist's "coloured line art".
fn line_colour([l, a, b]: Lab) -> Lab {
    [(l * 0.4).min(0.3), a * 0.8, b * 0.8]
}

pub fn artwork(painted: &Painted, silhouette: &Silhouette) -> Artwork {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (painted.colour.width, painted.colour.height);
    let mut layers = vec![detail_lines(
        &painted.detail,
        DetailLines {
            sigma: px(0.9),
            threshold: 0.008,
            softness: 0.013,
            min_area: px(6.0).powi(2).round() as usize,
        },
    )];
    if let Some(materials) = &painted.materials {
        layers.push(border_lines(
            &materials.labels,
            width,
            height,
            px(1.6),
            |p, q| materials.is_material_border(p, q),
        ));
    }
    let mut ink = combine(&layers.iter().collect::<Vec<_>>());
    // Interior lines fade out before the silhouette stroke, which draws the outline itself.
    for (v, d) in ink.data.iter_mut().zip(&silhouette.distance.data) {
        *v *= (-d / 2.0).clamp(0.0, 1.0);
    }
    let stroke = silhouette_stroke(silhouette, px(2.2), px(1.5));
    Artwork {
        paint: painted.colour.clone(),
        paint_edge: silhouette.distance.map(|d| d - px(1.5)),
        edge_softness: 1.0,
        lines: combine(&[&ink, &stroke]),
        line_colour,
        crisp_lines: true,
        crisp_paint: true,
    }
}
