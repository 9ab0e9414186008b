//! `watercolor`: transparent pigment washes on textured paper, with a loose pencil drawing.
//!
//! The subject is flattened and split into materials as for `default` (skin apart from hair);
//! each gets a wash of a thinned, lightened pigment that keeps some of the photo's modelling,
//! and a second glaze of the same pigment over its shadow side. The features the washes
//! swallowed (irises, brows, nostrils) are painted back wet-on-dry in their own colour, and
//! teeth or a glint lifted back to the paper, so the face stays readable. Wash borders are
//! displaced by low-frequency noise so they wander like a brush; in noise-chosen places
//! neighbouring washes bleed into each other (wet-in-wet), elsewhere pigment pools into a
//! darker rim (edge darkening). Uneven density (turbulence), granulation in the paper's grain
//! and the paper's relief follow the pigment model of Bousseau et al. The cut-out edge is an
//! irregular pooled rim, and a light, broken, slightly offset pencil line sketches the
//! contour and the features.

use super::artwork::Artwork;
use super::distance::distance_to;
use super::features::{AccentParams, accents};
use super::ink::{DetailLines, detail_lines, smoothstep};
use super::materials::{Flattened, Materials, clean_regions, flatten};
use super::noise::fbm_plane;
use super::oklab::{Lab, LabImage, mix, scale_chroma};
use super::outline::silhouette_stroke;
use super::painted::Painted;
use super::paper::{PAPER, relief};
use super::parallel::rows_from_fn;
use super::pigment::{thinned, with_density};
use super::plane::Plane;
use super::shading::{mean_colours, split_two_tones};
use super::silhouette::Silhouette;
use super::smooth::SmoothParams;
use super::texture::{character_materials, smoothness};

/// Graphite: a cool dark grey.
const GRAPHITE: Lab = [0.36, -0.002, -0.01];

pub fn paint(source: &LabImage, silhouette: &Silhouette) -> Painted {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (source.width, source.height);
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
    let count = materials.count();
    let shade = flattened.flat.lightness().gaussian_blur(px(4.0));
    // A first wash per material, then a second glaze of the same pigment over its shadow side.
    let layers = split_two_tones(
        &materials.labels,
        count,
        &shade,
        &flattened.trust,
        0.06,
        0.1,
    );
    let layers = clean_regions(&layers, 2 * count, width, height, silhouette, 18.0);
    let features = features(&layers, &materials, &flattened, &grain, silhouette);
    let washes = wander(&layers, width, height, px(4.0), px(28.0));
    let wash = LabImage {
        width,
        height,
        data: washes
            .iter()
            .zip(&shade.data)
            .map(|(&w, &s)| {
                let material = materials.palette[usize::from(w / 2)];
                let [l, a, b] = pigment(material);
                // Some of the photo's modelling survives, softened, as wet blending gives it.
                let modelled = [l + 0.5 * (s - material[0]), a, b];
                let glaze = if w % 2 == 1 { 1.45 } else { 1.0 };
                with_density(modelled, glaze)
            })
            .collect(),
    };
    let soft = wash.gaussian_blur(px(4.0));
    let bleed = fbm_plane(width, height, px(35.0), 3, 0.5, 13).map(|n| smoothstep(0.5, 0.7, n));
    let pooling = pooling(&washes, width, height, px(2.0));
    let turbulence = fbm_plane(width, height, px(45.0), 4, 0.55, 14);
    let data = (0..width * height)
        .map(|i| {
            let b = bleed.data[i];
            let density =
                1.0 + 0.4 * pooling.data[i] * (1.0 - b) + 0.3 * (turbulence.data[i] - 0.5);
            let washed = with_density(mix(wash.data[i], soft.data[i], b), density);
            // Features painted wet-on-dry in their own colour, and lifted back to the paper.
            let painted = mix(washed, features.colour.data[i], features.dark.data[i]);
            mix(painted, PAPER, 0.8 * features.light.data[i])
        })
        .collect();
    Painted {
        colour: LabImage {
            width,
            height,
            data,
        },
        detail: flattened.detail.lightness(),
        materials: None,
    }
}

/// A transparent watercolour pigment for a material's colour: richer, never black, thinned
/// toward the paper (not so far that a pale face vanishes into it).
fn pigment(material: Lab) -> Lab {
    let [l, a, b] = scale_chroma(material, 1.3);
    thinned([0.18 + 0.82 * l, a, b], 0.12)
}

/// The small features the washes swallowed (eyes, brows, nostrils, teeth): where and in what
/// colour to paint them back.
struct Features {
    /// Coverage of dark marks, and their colour: the photo's own, as a denser pigment.
    dark: Plane,
    colour: LabImage,
    /// Coverage of light marks, lifted out of the wash.
    light: Plane,
}

fn features(
    layers: &[u8],
    materials: &Materials,
    flattened: &Flattened,
    grain: &Plane,
    silhouette: &Silhouette,
) -> Features {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (flattened.flat.width, flattened.flat.height);
    let count = materials.count();
    let means = mean_colours(layers, 2 * count, &flattened.flat, &flattened.trust);
    let painted = Plane {
        width,
        height,
        data: layers.iter().map(|&t| means[usize::from(t)][0]).collect(),
    };
    let marks = accents(
        &flattened.flat.lightness(),
        &painted,
        AccentParams {
            dark: 0.07,
            light: 0.13,
            softness: 0.05,
            min_area: px(2.5).powi(2).round() as usize,
        },
    );
    let smooth = smoothness(&materials.labels, count, grain, &flattened.trust);
    // Soft-edged, as a brush tip leaves them.
    let weighted = |plane: &Plane, strength: f32| {
        Plane::from_fn(width, height, |x, y| {
            let i = y * width + x;
            strength * smooth[usize::from(materials.labels[i])] * plane.data[i]
        })
        .gaussian_blur(px(0.6))
    };
    Features {
        dark: weighted(&marks.dark, 0.85),
        colour: LabImage {
            width,
            height,
            data: flattened
                .flat
                .data
                .iter()
                .map(|&c| with_density(pigment(c), 1.3))
                .collect(),
        },
        light: weighted(&marks.light, 1.0),
    }
}

/// The labels read through a smooth random displacement of up to `amplitude` pixels, so
/// borders wander like a brush instead of following the photo exactly.
fn wander(labels: &[u8], width: usize, height: usize, amplitude: f32, feature: f32) -> Vec<u8> {
    let dx = fbm_plane(width, height, feature, 3, 0.5, 11);
    let dy = fbm_plane(width, height, feature, 3, 0.5, 12);
    rows_from_fn(width, height, |y, row| {
        for (x, out) in row.iter_mut().enumerate() {
            let i = y * width + x;
            let sx = x as f32 + (dx.data[i] - 0.5) * 2.0 * amplitude;
            let sy = y as f32 + (dy.data[i] - 0.5) * 2.0 * amplitude;
            let sx = sx.round().clamp(0.0, (width - 1) as f32) as usize;
            let sy = sy.round().clamp(0.0, (height - 1) as f32) as usize;
            *out = labels[sy * width + sx];
        }
    })
}

/// How much pigment pooled at each pixel: 1 on a wash border, decaying inward over `reach`.
fn pooling(labels: &[u8], width: usize, height: usize, reach: f32) -> Plane {
    let border: Vec<bool> = (0..width * height)
        .map(|i| {
            let (x, y) = (i % width, i / width);
            (x + 1 < width && labels[i + 1] != labels[i])
                || (x > 0 && labels[i - 1] != labels[i])
                || (y + 1 < height && labels[i + width] != labels[i])
                || (y > 0 && labels[i - width] != labels[i])
        })
        .collect();
    let distance = distance_to(&border, width, height);
    Plane {
        width,
        height,
        data: distance.iter().map(|&d| (-d / reach).exp()).collect(),
    }
}

pub fn artwork(painted: &Painted, silhouette: &Silhouette) -> Artwork {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (painted.colour.width, painted.colour.height);
    // The paint's own edge wanders around the silhouette; the pencil contour does not.
    let wobble = fbm_plane(width, height, px(20.0), 3, 0.5, 21);
    let paint_edge = Plane::from_fn(width, height, |x, y| {
        let i = y * width + x;
        silhouette.distance.data[i] + (wobble.data[i] - 0.5) * px(7.0)
    });
    let paper = relief(width, height, px(1.6));
    let paint = (0..width * height)
        .map(|i| {
            let colour = painted.colour.data[i];
            let grain = paper.data[i];
            // Pigment pools in a rim where the wash dried against dry paper, and settles into
            // the paper's valleys, darker pigments more.
            let rim = (-(-paint_edge.data[i]).max(0.0) / px(2.0)).exp();
            let density = 1.0 + 0.5 * rim + 0.45 * (0.5 - grain) * (1.0 - colour[0] * 0.7);
            let [l, a, b] = with_density(colour, density);
            [l * (0.97 + 0.06 * grain), a, b]
        })
        .collect();
    Artwork {
        paint: LabImage {
            width,
            height,
            data: paint,
        },
        paint_edge,
        edge_softness: 1.5,
        lines: pencil(painted, silhouette),
        line_colour: |_| GRAPHITE,
        crisp_lines: false,
        crisp_paint: false,
    }
}

/// A loose pencil layer: thin detail lines and the contour, displaced a little and broken
/// where the pencil lifted. Coverage, already including the pencil's light pressure.
fn pencil(painted: &Painted, silhouette: &Silhouette) -> Plane {
    let px = |v: f32| silhouette.px(v);
    let (width, height) = (painted.colour.width, painted.colour.height);
    let lines = detail_lines(
        &painted.detail,
        DetailLines {
            sigma: px(0.7),
            threshold: 0.008,
            softness: 0.015,
            min_area: px(4.0).powi(2).round() as usize,
        },
    );
    let contour = silhouette_stroke(silhouette, px(0.6), px(0.6));
    let jitter_x = fbm_plane(width, height, px(14.0), 2, 0.5, 31);
    let jitter_y = fbm_plane(width, height, px(14.0), 2, 0.5, 32);
    let pressure = fbm_plane(width, height, px(10.0), 3, 0.5, 33);
    let amplitude = px(1.5);
    Plane::from_fn(width, height, |x, y| {
        let i = y * width + x;
        let sx = x as f32 + (jitter_x.data[i] - 0.5) * 2.0 * amplitude;
        let sy = y as f32 + (jitter_y.data[i] - 0.5) * 2.0 * amplitude;
        let inside = (-silhouette.distance.data[i] / 2.0).clamp(0.0, 1.0);
        let line = 0.75 * lines.sample(sx, sy) * inside;
        let outline = 0.5 * contour.sample(sx, sy);
        line.max(outline) * smoothstep(0.2, 0.45, pressure.data[i])
    })
}
