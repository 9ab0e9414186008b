//! `default`: the house style — a friendly, clean character illustration.
//!
//! Same flattening and materials as `cartoon`, but painted softer: a brighter, more saturated
//! palette with lifted shadows, three soft tones per material (shadow, base, highlight) with
//! gradual transitions, and medium coloured outlines (a dark shade of the colour they border)
//! instead of black ink; only the clearest detail lines are kept.

use image::RgbaImage;

use super::ink::{DetailLines, border_lines, detail_lines};
use super::materials::{MaterialParams, find_materials, flatten};
use super::oklab::{Lab, LabImage, fit_gamut, scale_chroma};
use super::outline::{combine, cut_out, silhouette_stroke};
use super::painted::Painted;
use super::shading::{SoftTones, soft_tones};
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
    let base: Vec<Lab> = materials.palette.iter().map(|&c| house_colour(c)).collect();
    let shade = flattened.flat.lightness().gaussian_blur(px(5.0));
    let data = soft_tones(
        &materials.labels,
        &base,
        &shade,
        &flattened.trust,
        SoftTones {
            shadow_quantile: 0.3,
            light_quantile: 0.88,
            softness: 0.03,
            shadow_depth: 0.11,
            light_lift: 0.06,
            min_spread: 0.04,
        },
    );
    let colour = LabImage {
        width: source.width,
        height: source.height,
        data,
    };
    Painted {
        colour: colour.gaussian_blur(px(0.8)),
        detail: flattened.detail.lightness(),
        materials: Some(materials),
    }
}

/// Friendly colour: lifted darks, richer chroma.
fn house_colour(lab: Lab) -> Lab {
    let [l, a, b] = scale_chroma(lab, 1.35);
    fit_gamut([0.16 + 0.84 * l, a, b])
}

/// A deep shade of the colour the line borders, as a colourist's "coloured line art".
fn line_colour([l, a, b]: Lab) -> Lab {
    [(l * 0.42).min(0.32), a * 0.8, b * 0.8]
}

pub fn finish(painted: &Painted, silhouette: &Silhouette) -> RgbaImage {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (painted.colour.width, painted.colour.height);
    let mut layers = vec![detail_lines(
        &painted.detail,
        DetailLines {
            sigma: px(0.8),
            threshold: 0.01,
            softness: 0.015,
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
    let ink = combine(&[&ink, &stroke]);
    cut_out(&painted.colour, &ink, line_colour, silhouette, px(1.5))
}
