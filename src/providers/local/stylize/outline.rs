//! Ink layers: the stroke that follows the silhouette, and combining layers of ink.

use super::plane::Plane;
use super::silhouette::{Silhouette, coverage_at};

/// Coverage of a stroke along the silhouette, from `inner` pixels inside the outline to
/// `outer` pixels outside it.
pub fn silhouette_stroke(silhouette: &Silhouette, inner: f32, outer: f32) -> Plane {
    silhouette
        .distance
        .map(|d| coverage_at(d - outer).min(1.0 - coverage_at(d + inner)))
}

/// The element-wise maximum of ink layers.
pub fn combine(layers: &[&Plane]) -> Plane {
    let first = layers[0];
    Plane {
        width: first.width,
        height: first.height,
        data: (0..first.len())
            .map(|i| layers.iter().map(|l| l.data[i]).fold(0.0, f32::max))
            .collect(),
    }
}
