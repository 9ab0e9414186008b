//! Colour quantisation by k-means in Oklab, seeded deterministically (k-means++ driven by a
//! fixed-seed generator), so the same photo always gets the same palette.

use super::oklab::{Lab, LabImage};
use super::parallel::rows_from_fn;
use super::plane::Plane;

/// At most this many pixels train the clusters; assignment then covers every pixel.
const MAX_SAMPLES: usize = 24_000;
const MAX_ITERATIONS: usize = 24;
const SEED: u64 = 0x1f0a_c0de_5eed_2024;

/// Per-axis weights on (L, a, b) when measuring colour distance.
pub type Weights = [f32; 3];

/// A palette and, for every pixel, the index of its colour.
#[derive(Debug, Clone)]
pub struct Quantized {
    pub palette: Vec<Lab>,
    pub labels: Vec<u8>,
}

/// Clusters the pixels of `image` trusted by `confidence` (> 0.5) into at most `k` ≤ 255
/// colours and labels every pixel with its nearest colour.
pub fn quantize(
    image: &LabImage,
    confidence: Option<&Plane>,
    k: usize,
    weights: Weights,
) -> Quantized {
    let samples = sample(image, confidence);
    let palette = kmeans(&samples, k.clamp(1, 255), weights);
    let labels = assign(image, &palette, weights);
    Quantized { palette, labels }
}

/// Up to [`MAX_SAMPLES`] trusted pixels on a regular stride; every pixel if none is trusted.
fn sample(image: &LabImage, confidence: Option<&Plane>) -> Vec<Lab> {
    let trusted = |i: usize| confidence.is_none_or(|c| c.data[i] > 0.5);
    let count = (0..image.data.len()).filter(|&i| trusted(i)).count();
    let use_all = count == 0;
    let stride = if use_all { image.data.len() } else { count }
        .div_ceil(MAX_SAMPLES)
        .max(1);
    (0..image.data.len())
        .filter(|&i| use_all || trusted(i))
        .step_by(stride)
        .map(|i| image.data[i])
        .collect()
}

fn distance(p: Lab, q: Lab, w: Weights) -> f32 {
    w[0] * (p[0] - q[0]).powi(2) + w[1] * (p[1] - q[1]).powi(2) + w[2] * (p[2] - q[2]).powi(2)
}

pub fn nearest(colour: Lab, palette: &[Lab], weights: Weights) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, &centre) in palette.iter().enumerate() {
        let d = distance(colour, centre, weights);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// The label of every pixel: the index of its nearest palette colour.
pub fn assign(image: &LabImage, palette: &[Lab], weights: Weights) -> Vec<u8> {
    let width = image.width;
    rows_from_fn(width, image.height, |y, row| {
        for (label, &colour) in row.iter_mut().zip(&image.data[y * width..(y + 1) * width]) {
            *label = nearest(colour, palette, weights) as u8;
        }
    })
}

/// Merges palette colours of one hue family (Oklab chroma vectors within `max_hue_step` and
/// lightness within `max_lightness_step`; greys by lightness alone) into one material, so
/// lightness within a material is left to shading. Returns the material of every palette
/// entry and the number of materials.
pub fn group_materials(
    palette: &[Lab],
    max_hue_step: f32,
    max_lightness_step: f32,
) -> (Vec<u8>, usize) {
    const GREY: f32 = 0.035;
    let same = |p: Lab, q: Lab| {
        let lightness = (p[0] - q[0]).abs();
        let (cp, cq) = (p[1].hypot(p[2]), q[1].hypot(q[2]));
        if cp < GREY && cq < GREY {
            return lightness < 0.5 * max_lightness_step;
        }
        let hue_step = (p[1] - q[1]).hypot(p[2] - q[2]);
        hue_step < max_hue_step && lightness < max_lightness_step
    };
    // Complete-linkage grouping: an entry joins a group only if it is the same material as
    // every member, so a chain of small steps (skin → tan → brown hair) never merges.
    let mut groups: Vec<Vec<usize>> = (0..palette.len()).map(|i| vec![i]).collect();
    loop {
        let mut best: Option<(f32, usize, usize)> = None;
        for i in 0..groups.len() {
            for j in i + 1..groups.len() {
                let joinable = groups[i]
                    .iter()
                    .all(|&p| groups[j].iter().all(|&q| same(palette[p], palette[q])));
                if !joinable {
                    continue;
                }
                let gap = groups[i]
                    .iter()
                    .flat_map(|&p| groups[j].iter().map(move |&q| (p, q)))
                    .map(|(p, q)| {
                        (palette[p][1] - palette[q][1]).hypot(palette[p][2] - palette[q][2])
                    })
                    .fold(0.0, f32::max);
                if best.is_none_or(|b| gap < b.0) {
                    best = Some((gap, i, j));
                }
            }
        }
        let Some((_, i, j)) = best else { break };
        let joined = groups.swap_remove(j);
        groups[i].extend(joined);
    }
    groups.sort_by_key(|g| g.iter().copied().min());
    let mut materials = vec![0u8; palette.len()];
    for (m, group) in groups.iter().enumerate() {
        for &entry in group {
            materials[entry] = m as u8;
        }
    }
    (materials, groups.len())
}

/// SplitMix64: tiny, fast and good enough to seed clusters reproducibly.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Lloyd's k-means with k-means++ seeding; returns at most `k` centres (fewer when the samples
/// hold fewer distinct colours).
pub fn kmeans(samples: &[Lab], k: usize, weights: Weights) -> Vec<Lab> {
    if samples.is_empty() {
        return vec![[0.0; 3]];
    }
    let mut rng = SplitMix(SEED);
    let mut centres = vec![samples[(rng.next() % samples.len() as u64) as usize]];
    let mut nearest_d: Vec<f32> = samples
        .iter()
        .map(|&s| distance(s, centres[0], weights))
        .collect();
    while centres.len() < k {
        let total: f64 = nearest_d.iter().map(|&d| f64::from(d)).sum();
        if total <= 1e-12 {
            break;
        }
        let mut target = rng.unit() * total;
        let mut chosen = samples.len() - 1;
        for (i, &d) in nearest_d.iter().enumerate() {
            target -= f64::from(d);
            if target <= 0.0 && d > 0.0 {
                chosen = i;
                break;
            }
        }
        let centre = samples[chosen];
        centres.push(centre);
        for (d, &s) in nearest_d.iter_mut().zip(samples) {
            *d = d.min(distance(s, centre, weights));
        }
    }
    let mut labels = vec![usize::MAX; samples.len()];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        for (label, &s) in labels.iter_mut().zip(samples) {
            let best = nearest(s, &centres, weights);
            changed |= *label != best;
            *label = best;
        }
        if !changed {
            break;
        }
        let mut sums = vec![[0.0f64; 4]; centres.len()];
        for (&label, s) in labels.iter().zip(samples) {
            let sum = &mut sums[label];
            for c in 0..3 {
                sum[c] += f64::from(s[c]);
            }
            sum[3] += 1.0;
        }
        for (centre, sum) in centres.iter_mut().zip(&sums) {
            if sum[3] > 0.0 {
                *centre = [0, 1, 2].map(|c| (sum[c] / sum[3]) as f32);
            }
        }
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient_image() -> LabImage {
        let (width, height) = (64, 48);
        LabImage {
            width,
            height,
            data: (0..width * height)
                .map(|i| {
                    let (x, y) = ((i % width) as f32, (i / width) as f32);
                    [
                        0.2 + 0.6 * x / 64.0,
                        0.2 * (y / 48.0 - 0.5),
                        0.1 * (x / 64.0 - 0.5),
                    ]
                })
                .collect(),
        }
    }

    #[test]
    fn reduces_distinct_colours_to_at_most_k() {
        let image = gradient_image();
        for k in [1, 4, 12] {
            let q = quantize(&image, None, k, [1.0; 3]);
            assert!(q.palette.len() <= k);
            let rgb = LabImage {
                width: image.width,
                height: image.height,
                data: q
                    .labels
                    .iter()
                    .map(|&l| q.palette[usize::from(l)])
                    .collect(),
            }
            .to_rgb();
            let distinct: std::collections::HashSet<_> = rgb.pixels().map(|p| p.0).collect();
            assert!(distinct.len() <= k, "k = {k}: {} colours", distinct.len());
        }
    }

    #[test]
    fn is_deterministic() {
        let image = gradient_image();
        let a = quantize(&image, None, 8, [1.0; 3]);
        let b = quantize(&image, None, 8, [1.0; 3]);
        assert_eq!(a.palette, b.palette);
        assert_eq!(a.labels, b.labels);
    }

    #[test]
    fn a_flat_image_gets_one_colour() {
        let image = LabImage {
            width: 8,
            height: 8,
            data: vec![[0.5, 0.01, 0.02]; 64],
        };
        let q = quantize(&image, None, 8, [1.0; 3]);
        assert_eq!(q.palette.len(), 1);
    }

    #[test]
    fn tones_of_one_hue_group_into_one_material() {
        let orange_lit = [0.72, 0.12, 0.11];
        let orange_dark = [0.55, 0.11, 0.09];
        let white = [0.95, 0.0, 0.0];
        let black = [0.15, 0.0, 0.01];
        let (materials, count) =
            group_materials(&[orange_lit, white, orange_dark, black], 0.04, 0.3);
        assert_eq!(count, 3);
        assert_eq!(materials[0], materials[2]);
        assert_ne!(materials[1], materials[3]);
    }

    #[test]
    fn finds_well_separated_clusters() {
        let colours = [[0.3, 0.1, 0.0], [0.8, -0.1, 0.05], [0.5, 0.0, -0.15]];
        let samples: Vec<Lab> = (0..300)
            .map(|i| {
                let c = colours[i % 3];
                let jitter = (i as f32 * 0.37).sin() * 0.005;
                [c[0] + jitter, c[1], c[2]]
            })
            .collect();
        let centres = kmeans(&samples, 3, [1.0; 3]);
        for c in colours {
            let best = centres[nearest(c, &centres, [1.0; 3])];
            assert!(distance(best, c, [1.0; 3]) < 1e-4);
        }
    }
}
