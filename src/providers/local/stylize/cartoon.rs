//! `cartoon`: flat cel-shaded colour regions and bold black ink.
//!
//! Edge-preserving smoothing removes photographic texture; k-means in Oklab finds colour
//! clusters, grouped into materials; each material splits into a lit and a shadow tone (Otsu
//! on its smoothed lightness); a majority filter and speck merging leave regions a colourist
//! would fill. Ink: a bold stroke around the silhouette, even lines between materials, and
//! difference-of-Gaussians detail lines (eyes, mouth, folds) cleaned of specks.

use super::artwork::Artwork;
use super::ink::{DetailLines, border_lines, detail_lines};
use super::materials::{MaterialParams, clean_regions, find_materials, flatten};
use super::oklab::{Lab, LabImage, fit_gamut, scale_chroma};
use super::outline::{combine, silhouette_stroke};
use super::painted::Painted;
use super::shading::{mean_colours, split_two_tones};
use super::silhouette::Silhouette;
use super::smooth::SmoothParams;

pub fn paint(source: &LabImage, silhouette: &Silhouette) -> Painted {
    let px = |v: f32| silhouette.px(v);
    let flattened = flatten(
        source,
        silhouette,
        SmoothParams {
            sigma_space: px(6.0),
            sigma_range: 0.08,
            iterations: 3,
        },
        SmoothParams {
            sigma_space: px(30.0),
            sigma_range: 0.12,
            iterations: 3,
        },
    );
    let materials = find_materials(
        &flattened,
        silhouette,
        MaterialParams {
            clusters: 12,
            axis_weights: [0.5, 1.0, 1.0],
            hue_step: 0.03,
            lightness_step: 0.3,
        },
    );
    let (width, height) = (source.width, source.height);
    let shade = flattened.flat.lightness().gaussian_blur(px(4.0));
    let count = materials.count();
    let tones = split_two_tones(
        &materials.labels,
        count,
        &shade,
        &flattened.trust,
        0.07,
        0.1,
    );
    let tones = clean_regions(&tones, 2 * count, width, height, silhouette, 14.0);
    let palette: Vec<Lab> = mean_colours(&tones, 2 * count, &flattened.flat, &flattened.trust)
        .into_iter()
        .map(cel_colour)
        .collect();
    let colour = LabImage {
        width,
        height,
        data: tones.iter().map(|&t| palette[usize::from(t)]).collect(),
    };
    Painted {
        colour: colour.gaussian_blur(0.6),
        detail: flattened.detail.lightness(),
        materials: Some(materials),
    }
}

/// Cartoon colour: more saturated and a little more contrasted than life.
fn cel_colour(lab: Lab) -> Lab {
    let [l, a, b] = scale_chroma(lab, 1.25);
    fit_gamut([0.5 + (l - 0.5) * 1.08, a, b])
}

/// Near-black, with a hint of the colour it is drawn over.
fn ink_colour([_, a, b]: Lab) -> Lab {
    [0.16, a * 0.2, b * 0.2]
}

pub fn artwork(painted: &Painted, silhouette: &Silhouette) -> Artwork {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (painted.colour.width, painted.colour.height);
    let mut layers = vec![detail_lines(
        &painted.detail,
        DetailLines {
            sigma: px(1.0),
            threshold: 0.006,
            softness: 0.012,
            min_area: px(5.0).powi(2).round() as usize,
        },
    )];
    if let Some(materials) = &painted.materials {
        layers.push(border_lines(
            &materials.labels,
            width,
            height,
            px(2.0),
            |p, q| materials.is_material_border(p, q),
        ));
    }
    let mut ink = combine(&layers.iter().collect::<Vec<_>>());
    // Interior lines fade out before the silhouette stroke, which draws the outline itself.
    for (v, d) in ink.data.iter_mut().zip(&silhouette.distance.data) {
        *v *= (-d / 2.0).clamp(0.0, 1.0);
    }
    let stroke = silhouette_stroke(silhouette, px(2.5), px(2.0));
    Artwork {
        paint: painted.colour.clone(),
        paint_edge: silhouette.distance.map(|d| d - px(2.0)),
        edge_softness: 1.0,
        lines: combine(&[&ink, &stroke]),
        line_colour: ink_colour,
        crisp_lines: true,
        crisp_paint: true,
    }
}
