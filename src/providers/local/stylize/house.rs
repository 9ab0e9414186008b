//! `default`: the house style — a friendly, clean character illustration.
//!
//! Same flattening and materials as `cartoon`, but painted softer: a brighter, more saturated
//! palette with lifted shadows; three tones per material (a cool shadow, the base, a light
//! highlight) chosen from the material's colour rather than the photo's, with soft-edged
//! borders; medium coloured outlines (a dark shade of the colour they border) instead of
//! black ink, and finer detail lines.

use super::artwork::Artwork;
use super::ink::{DetailLines, border_lines, detail_lines};
use super::materials::{MaterialParams, clean_regions, find_materials, flatten};
use super::oklab::{Lab, LabImage, chroma, fit_gamut, scale_chroma};
use super::outline::{combine, silhouette_stroke};
use super::painted::Painted;
use super::shading::split_three_tones;
use super::silhouette::Silhouette;
use super::smooth::SmoothParams;

pub fn paint(source: &LabImage, silhouette: &Silhouette) -> Painted {
    let px = |v: f32| silhouette.px(v);
    let flattened = flatten(
        source,
        silhouette,
        SmoothParams {
            sigma_space: px(5.0),
            sigma_range: 0.08,
            iterations: 3,
        },
        SmoothParams {
            sigma_space: px(24.0),
            sigma_range: 0.1,
            iterations: 3,
        },
    );
    let materials = find_materials(
        &flattened,
        silhouette,
        MaterialParams {
            clusters: 10,
            lightness_weight: 0.5,
            hue_step: 0.03,
            lightness_step: 0.3,
        },
    );
    let (width, height) = (source.width, source.height);
    let shade = flattened.flat.lightness().gaussian_blur(px(6.0));
    let count = materials.count();
    let tones = split_three_tones(
        &materials.labels,
        count,
        &shade,
        &flattened.trust,
        0.3,
        0.9,
        0.04,
    );
    let tones = clean_regions(&tones, 3 * count, width, height, silhouette, 16.0);
    // Tones are painted from the material's colour, not the photo's muddy shadows.
    let palette: Vec<Lab> = (0..3 * count)
        .map(|t| tone_colour(materials.palette[t / 3], t % 3))
        .collect();
    let colour = LabImage {
        width,
        height,
        data: tones.iter().map(|&t| palette[usize::from(t)]).collect(),
    };
    Painted {
        colour: colour.gaussian_blur(px(1.2)),
        detail: flattened.detail.lightness(),
        materials: Some(materials),
    }
}

/// Friendly colour: lifted darks and richer chroma (a dull colour is given a clear hue, a
/// grey stays grey); shadows a little cooler and deeper, highlights lighter and softer, as a
/// colourist picks them.
fn tone_colour(material: Lab, tone: usize) -> Lab {
    let c = chroma(material);
    let richer = if c < 0.015 {
        1.0
    } else {
        (c * 1.3).max((c * 2.2).min(0.075)) / c
    };
    let [l, a, b] = scale_chroma(material, richer);
    let l = 0.16 + 0.84 * l;
    fit_gamut(match tone {
        0 => [l - 0.1, a * 1.05, b * 1.05 - 0.008],
        2 => [l + 0.07, a * 0.9, b * 0.9],
        _ => [l, a, b],
    })
}

/// A deep shade of the colour the line borders, as a colourist's "coloured line art".
fn line_colour([l, a, b]: Lab) -> Lab {
    [(l * 0.42).min(0.32), a * 0.8, b * 0.8]
}

pub fn artwork(painted: &Painted, silhouette: &Silhouette) -> Artwork {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (painted.colour.width, painted.colour.height);
    let mut layers = vec![detail_lines(
        &painted.detail,
        DetailLines {
            sigma: px(0.9),
            threshold: 0.007,
            softness: 0.013,
            min_area: px(6.0).powi(2).round() as usize,
        },
    )];
    if let Some(materials) = &painted.materials {
        layers.push(border_lines(
            &materials.labels,
            width,
            height,
            px(1.5),
            |p, q| materials.is_material_border(p, q),
        ));
    }
    let mut ink = combine(&layers.iter().collect::<Vec<_>>());
    for (v, d) in ink.data.iter_mut().zip(&silhouette.distance.data) {
        *v *= (-d / 2.0).clamp(0.0, 1.0);
    }
    let stroke = silhouette_stroke(silhouette, px(1.8), px(1.5));
    Artwork {
        paint: painted.colour.clone(),
        paint_edge: silhouette.distance.map(|d| d - px(1.5)),
        edge_softness: 1.0,
        lines: combine(&[&ink, &stroke]),
        line_colour,
        crisp_lines: true,
        // Soft-edged tones are part of the look; upscaling may soften them further.
        crisp_paint: false,
    }
}
