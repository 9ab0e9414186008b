//! Telling materials apart by texture where colour cannot.
//!
//! Skin turned away from the light takes on the dull yellow-brown of hair in the same light:
//! in colour alone the two are one material, and the face's shadow side gets painted as hair.
//! Hair, fur and woven fabric have fine lightness texture (strands, weave); skin is smooth.
//! Pixels that are smooth yet were given a textured material, and join up with a smooth
//! material of nearly the same hue, are given that material instead; textured materials of
//! one hue are one material in two lights. [`character_materials`] puts it together.

use super::components::{Connectivity, label};
use super::ink::smoothstep;
use super::materials::{Flattened, MaterialParams, Materials, find_materials};
use super::oklab::{Lab, LabImage, chroma};
use super::plane::Plane;
use super::shading::mean_colours;
use super::silhouette::Silhouette;

/// Local texture: the mean absolute difference between `lightness` and a `fine` blur of it,
/// averaged over a `window`.
pub fn texture(lightness: &Plane, fine: f32, window: f32) -> Plane {
    let blurred = lightness.gaussian_blur(fine);
    Plane {
        width: lightness.width,
        height: lightness.height,
        data: lightness
            .data
            .iter()
            .zip(&blurred.data)
            .map(|(v, b)| (v - b).abs())
            .collect(),
    }
    .gaussian_blur(window)
}

/// The median texture of each material's trusted pixels (the median, as the outline of a
/// smooth region is textured); `None` for a material without any.
pub fn material_texture(
    labels: &[u8],
    count: usize,
    texture: &Plane,
    trust: &Plane,
) -> Vec<Option<f32>> {
    let mut values = vec![Vec::new(); count];
    for ((&l, &t), &c) in labels.iter().zip(&texture.data).zip(&trust.data) {
        if c > 0.5 {
            values[usize::from(l)].push(t);
        }
    }
    values
        .iter_mut()
        .map(|v| {
            if v.is_empty() {
                return None;
            }
            let middle = v.len() / 2;
            Some(*v.select_nth_unstable_by(middle, f32::total_cmp).1)
        })
        .collect()
}

/// The labels with every smooth patch of a textured material that touches a smoother
/// material of close hue (chroma vectors within `hue_reach`) relabelled to it. A pixel is
/// smooth when its texture is nearer the smoother material's median than its own
/// material's; `median` is [`material_texture`]'s.
pub fn split_by_texture(
    labels: &[u8],
    palette: &[Lab],
    texture: &Plane,
    median: &[Option<f32>],
    hue_reach: f32,
) -> Vec<u8> {
    let (width, height) = (texture.width, texture.height);
    let count = palette.len();
    // For each material, the smoother coloured material nearest in hue, if close, and the
    // texture below which a pixel belongs with it.
    let target: Vec<Option<(u8, f32)>> = (0..count)
        .map(|m| {
            let own = median[m]?;
            let hue_gap =
                |s: usize| (palette[m][1] - palette[s][1]).hypot(palette[m][2] - palette[s][2]);
            let smoother = (0..count)
                .filter(|&s| s != m && chroma(palette[s]) > 0.02 && hue_gap(s) < hue_reach)
                .filter_map(|s| median[s].filter(|&t| t < own).map(|t| (s, t)))
                .min_by(|p, q| hue_gap(p.0).total_cmp(&hue_gap(q.0)))?;
            Some((smoother.0 as u8, 0.5 * (own + smoother.1)))
        })
        .collect();
    let candidate = |i: usize| {
        target[usize::from(labels[i])]
            .filter(|&(_, below)| texture.data[i] < below)
            .map(|(to, _)| to)
    };
    let patches = label(width, height, Connectivity::Four, candidate);
    let mut joins = vec![false; patches.areas.len()];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let Some(to) = candidate(i) else { continue };
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < width).then(|| i + 1),
                (y > 0).then(|| i - width),
                (y + 1 < height).then(|| i + width),
            ];
            if neighbours.into_iter().flatten().any(|n| labels[n] == to) {
                joins[patches.ids[i] as usize] = true;
            }
        }
    }
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| match candidate(i) {
            Some(to) if joins[patches.ids[i] as usize] => to,
            Some(_) | None => l,
        })
        .collect()
}

/// Materials that are all textured and of one hue (chroma vectors within `max_angle`
/// radians) merged: the lit and the shaded side of a head of hair are one material in two
/// lights, their lightness left to shading, even when a darker side's chroma is closer to
/// skin's. Returns the new label of every material and the number of materials.
pub fn merge_textured(
    palette: &[Lab],
    texture: &[Option<f32>],
    textured: f32,
    max_angle: f32,
) -> (Vec<u8>, usize) {
    let hue = |m: usize| palette[m][2].atan2(palette[m][1]);
    let eligible = |m: usize| texture[m].is_some_and(|t| t > textured) && chroma(palette[m]) > 0.02;
    let mut group: Vec<usize> = (0..palette.len()).collect();
    for m in 0..palette.len() {
        for n in 0..m {
            let gap = (hue(m) - hue(n)).abs();
            let gap = gap.min(std::f32::consts::TAU - gap);
            if eligible(m) && eligible(n) && gap < max_angle {
                let (from, to) = (group[m].max(group[n]), group[m].min(group[n]));
                for g in group.iter_mut().filter(|g| **g == from) {
                    *g = to;
                }
            }
        }
    }
    let mut roots: Vec<usize> = group.clone();
    roots.sort_unstable();
    roots.dedup();
    let relabel = group
        .iter()
        .map(|g| roots.binary_search(g).expect("a root") as u8)
        .collect();
    (relabel, roots.len())
}

/// Median texture above which a material is hair, fur or the like (at the work size, on the
/// photo's lightness with [`grain`]'s scales).
const TEXTURED: f32 = 0.018;

/// The photo's fine texture at the work size: lightness against a one-pixel blur, averaged
/// over a few pixels of the reference subject size.
fn grain(source: &LabImage, silhouette: &Silhouette) -> Plane {
    texture(&source.lightness(), 1.0, silhouette.px(3.0))
}

/// Materials as a character illustrator sees them, and the photo's [`grain`]: found by
/// colour with the red–green axis weighted up (blood reddens skin, not hair or wood of the
/// same lightness and yellowness) and lightness weighted down (left to shading), then
/// corrected by texture: smooth patches given a textured material go to the smooth material
/// of close hue they join (the face's shadow side back to skin), and textured materials of
/// one hue merge (the lit and the shaded side of the hair).
pub fn character_materials(
    source: &LabImage,
    flattened: &Flattened,
    silhouette: &Silhouette,
) -> (Materials, Plane) {
    let by_colour = find_materials(
        flattened,
        silhouette,
        MaterialParams {
            clusters: 18,
            axis_weights: [0.15, 2.0, 1.0],
            hue_step: 0.02,
            lightness_step: 0.3,
        },
    );
    let grain = grain(source, silhouette);
    let count = by_colour.count();
    let trust = &flattened.trust;
    let labels = split_by_texture(
        &by_colour.labels,
        &by_colour.palette,
        &grain,
        &material_texture(&by_colour.labels, count, &grain, trust),
        0.035,
    );
    let (merged, count) = merge_textured(
        &by_colour.palette,
        &material_texture(&labels, count, &grain, trust),
        TEXTURED,
        0.25,
    );
    let labels: Vec<u8> = labels.iter().map(|&l| merged[usize::from(l)]).collect();
    let materials = Materials {
        palette: mean_colours(&labels, count, &flattened.flat, trust),
        labels,
    };
    (materials, grain)
}

/// How smooth each material is, 1 (skin, a painted wall) to 0 (hair, fur): where facial
/// accents belong; on a textured material they would be flecks.
pub fn smoothness(labels: &[u8], count: usize, grain: &Plane, trust: &Plane) -> Vec<f32> {
    material_texture(labels, count, grain, trust)
        .iter()
        .map(|t| 1.0 - smoothstep(0.016, 0.022, t.unwrap_or(1.0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texture_is_high_on_stripes_and_low_on_a_gradient() {
        let stripes = Plane::from_fn(40, 40, |x, _| if x % 4 < 2 { 0.3 } else { 0.6 });
        let gradient = Plane::from_fn(40, 40, |x, _| 0.3 + 0.01 * x as f32);
        assert!(texture(&stripes, 1.0, 2.0).at(20, 20) > 0.05);
        assert!(texture(&gradient, 1.0, 2.0).at(20, 20) < 0.005);
    }

    /// Three columns: smooth "skin" (0), textured "hair" (1) of which the middle rows are
    /// smooth, and textured hair again, away from the skin (also 1).
    fn scene() -> (Vec<u8>, Plane) {
        let (w, h) = (30, 20);
        let labels = (0..w * h).map(|i| u8::from(i % w >= 10)).collect();
        let texture = Plane::from_fn(w, h, |x, y| {
            let smooth = x < 10 || ((10..15).contains(&x) && (5..15).contains(&y)) || x >= 25;
            if smooth { 0.002 } else { 0.05 }
        });
        (labels, texture)
    }

    #[test]
    fn a_smooth_patch_touching_skin_of_close_hue_becomes_skin() {
        let (labels, texture) = scene();
        let palette = [[0.7, 0.03, 0.04], [0.5, 0.015, 0.05]];
        let median = [Some(0.002), Some(0.05)];
        let out = split_by_texture(&labels, &palette, &texture, &median, 0.03);
        assert_eq!(out[10 * 30 + 12], 0, "the smooth patch next to skin");
        assert_eq!(out[2 * 30 + 12], 1, "textured hair stays hair");
        assert_eq!(
            out[10 * 30 + 27],
            1,
            "a smooth patch away from skin stays hair"
        );
    }

    #[test]
    fn a_different_hue_is_never_taken_over() {
        let (labels, texture) = scene();
        let palette = [[0.7, 0.03, 0.04], [0.5, -0.05, -0.05]];
        let median = [Some(0.002), Some(0.05)];
        let out = split_by_texture(&labels, &palette, &texture, &median, 0.03);
        assert_eq!(out, labels);
    }

    #[test]
    fn material_texture_is_the_median_of_trusted_pixels() {
        let labels = [0, 0, 0, 1, 1];
        let texture = Plane {
            width: 5,
            height: 1,
            data: vec![0.01, 0.02, 0.9, 0.5, 0.7],
        };
        let trust = Plane {
            width: 5,
            height: 1,
            data: vec![1.0, 1.0, 1.0, 1.0, 0.0],
        };
        let median = material_texture(&labels, 3, &texture, &trust);
        assert_eq!(median, vec![Some(0.02), Some(0.5), None]);
    }

    #[test]
    fn textured_materials_of_one_hue_merge_and_skin_stays_apart() {
        let lit_hair = [0.6, 0.01, 0.06];
        let dark_hair = [0.36, 0.01, 0.03];
        let skin = [0.74, 0.023, 0.038];
        let cloth = [0.5, 0.05, -0.07];
        let texture = [Some(0.03), Some(0.01), Some(0.03), Some(0.03)];
        let (relabel, count) =
            merge_textured(&[lit_hair, skin, dark_hair, cloth], &texture, 0.02, 0.25);
        assert_eq!(count, 3);
        assert_eq!(relabel[0], relabel[2]);
        assert_ne!(relabel[0], relabel[1]);
        assert_ne!(relabel[0], relabel[3]);
    }
}
