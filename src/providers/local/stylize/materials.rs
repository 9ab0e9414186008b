//! Material regions (skin, hair, a jacket): the photo flattened by edge-preserving smoothing,
//! clustered in Oklab, clusters of one hue family grouped, regions cleaned of specks.

use super::oklab::{Lab, LabImage};
use super::painted::trust;
use super::plane::Plane;
use super::quantize::{Weights, group_materials, quantize};
use super::regions::{absorb_enclosed, majority_filter, merge_small};
use super::shading::mean_colours;
use super::silhouette::Silhouette;
use super::smooth::{SmoothParams, smooth};

/// The material of every pixel and each material's representative colour.
#[derive(Debug, Clone)]
pub struct Materials {
    pub labels: Vec<u8>,
    pub palette: Vec<Lab>,
}

impl Materials {
    pub fn count(&self) -> usize {
        self.palette.len()
    }

    /// Whether the border between two materials is a real change of material (a different
    /// hue, or a jump in lightness) rather than shading, and so deserves an ink line.
    pub fn is_material_border(&self, p: u8, q: u8) -> bool {
        let (p, q) = (self.palette[usize::from(p)], self.palette[usize::from(q)]);
        (p[1] - q[1]).hypot(p[2] - q[2]) > 0.05 || (p[0] - q[0]).abs() > 0.3
    }
}

/// The photo at two levels of abstraction.
#[derive(Debug, Clone)]
pub struct Flattened {
    /// Lightly smoothed: photographic noise gone, features (eyes, mouth) kept; lines come
    /// from here.
    pub detail: LabImage,
    /// Strongly smoothed: texture gone, regions nearly flat; colours come from here.
    pub flat: LabImage,
    /// Where the photo shows the subject's own colour (see [`trust`]).
    pub trust: Plane,
}

/// Smooths the subject in two passes: `detail` on the photo (its halo refilled from the
/// interior), then `flat` on the result, guided by it.
pub fn flatten(
    source: &LabImage,
    silhouette: &Silhouette,
    detail: SmoothParams,
    flat: SmoothParams,
) -> Flattened {
    let trust = trust(silhouette);
    let detail = smooth(source, Some(&trust), detail);
    let flat = smooth(&detail, None, flat);
    Flattened {
        detail,
        flat,
        trust,
    }
}

/// How materials are found.
#[derive(Debug, Clone, Copy)]
pub struct MaterialParams {
    /// Colour clusters before grouping.
    pub clusters: usize,
    /// Weights of the (L, a, b) axes when clustering: below 1 on L, shading matters less than
    /// colour; above 1 on a, skin (reddened by blood) parts from hair or wood of the same
    /// lightness and yellowness.
    pub axis_weights: Weights,
    /// Clusters whose chroma vectors are this close (and lightness within
    /// `lightness_step`) are one material in different light.
    pub hue_step: f32,
    pub lightness_step: f32,
}

pub fn find_materials(
    flattened: &Flattened,
    silhouette: &Silhouette,
    params: MaterialParams,
) -> Materials {
    let flat = &flattened.flat;
    let clusters = quantize(
        flat,
        Some(&flattened.trust),
        params.clusters,
        params.axis_weights,
    );
    let (material_of, count) =
        group_materials(&clusters.palette, params.hue_step, params.lightness_step);
    let labels: Vec<u8> = clusters
        .labels
        .iter()
        .map(|&c| material_of[usize::from(c)])
        .collect();
    let labels = clean_regions(&labels, count, flat.width, flat.height, silhouette, 16.0);
    let palette = mean_colours(&labels, count, flat, &flattened.trust);
    // A patch of one material inside another of a close hue is the other in different light
    // (a highlight in hair that matched skin), not a material of its own.
    let inside: Vec<bool> = silhouette.distance.data.iter().map(|&d| d < 0.0).collect();
    let labels = absorb_enclosed(&labels, &inside, flat.width, flat.height, 0.25, |p, q| {
        let (p, q) = (palette[usize::from(p)], palette[usize::from(q)]);
        (p[1] - q[1]).hypot(p[2] - q[2]) < 0.06 && (p[0] - q[0]).abs() < 0.35
    });
    let palette = mean_colours(&labels, count, flat, &flattened.trust);
    Materials { labels, palette }
}

/// A majority filter, then regions smaller than a `min_side`² square (at the reference
/// subject size) merged into their neighbours.
pub fn clean_regions(
    labels: &[u8],
    count: usize,
    width: usize,
    height: usize,
    silhouette: &Silhouette,
    min_side: f32,
) -> Vec<u8> {
    let radius = silhouette.px(2.0).round().max(1.0) as usize;
    let labels = majority_filter(labels, width, height, radius, count);
    let min_area = silhouette.px(min_side).powi(2).round() as usize;
    merge_small(&labels, width, height, min_area)
}
