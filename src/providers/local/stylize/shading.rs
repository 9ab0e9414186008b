//! Cel shading: each material's lightness split into tones, as an illustrator paints a base
//! colour, a shadow and a highlight instead of a continuous photographic gradient.

use super::oklab::{Lab, LabImage};
use super::plane::Plane;

const BINS: usize = 256;

/// The distribution of shade (lightness, 0..1) over one material's trusted pixels.
#[derive(Debug, Clone)]
pub struct ShadeHistogram {
    counts: Vec<u32>,
    total: u64,
}

impl ShadeHistogram {
    fn new() -> Self {
        ShadeHistogram {
            counts: vec![0; BINS],
            total: 0,
        }
    }

    fn add(&mut self, shade: f32) {
        let bin = (shade.clamp(0.0, 1.0) * (BINS - 1) as f32).round() as usize;
        self.counts[bin] += 1;
        self.total += 1;
    }

    fn value(bin: usize) -> f32 {
        bin as f32 / (BINS - 1) as f32
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The shade below which a share `q` of the pixels lie.
    pub fn quantile(&self, q: f32) -> f32 {
        let target = (q.clamp(0.0, 1.0) as f64 * self.total as f64).ceil() as u64;
        let mut seen = 0;
        for (bin, &count) in self.counts.iter().enumerate() {
            seen += u64::from(count);
            if seen >= target.max(1) {
                return Self::value(bin);
            }
        }
        1.0
    }

    /// Otsu's threshold: the split maximising between-class variance, as
    /// (threshold, mean below, mean above, share below); `None` for fewer than two levels.
    pub fn otsu(&self) -> Option<(f32, f32, f32, f32)> {
        if self.total == 0 {
            return None;
        }
        let total = self.total as f64;
        let sum_all: f64 = self
            .counts
            .iter()
            .enumerate()
            .map(|(bin, &c)| f64::from(c) * f64::from(Self::value(bin)))
            .sum();
        let (mut weight_low, mut sum_low) = (0.0f64, 0.0f64);
        let mut best: Option<(f64, usize, f64, f64, f64)> = None;
        for (bin, &count) in self.counts.iter().enumerate().take(BINS - 1) {
            weight_low += f64::from(count);
            sum_low += f64::from(count) * f64::from(Self::value(bin));
            let weight_high = total - weight_low;
            if weight_low == 0.0 || weight_high == 0.0 {
                continue;
            }
            let mean_low = sum_low / weight_low;
            let mean_high = (sum_all - sum_low) / weight_high;
            let between = weight_low * weight_high * (mean_low - mean_high).powi(2);
            if best.is_none_or(|b| between > b.0) {
                best = Some((between, bin, mean_low, mean_high, weight_low / total));
            }
        }
        best.map(|(_, bin, low, high, share)| {
            let threshold = 0.5 * (Self::value(bin) + Self::value(bin + 1));
            (threshold, low as f32, high as f32, share as f32)
        })
    }
}

/// One shade histogram per material label (labels below `count`), over pixels whose
/// `confidence` exceeds one half.
pub fn histograms(
    labels: &[u8],
    count: usize,
    shade: &Plane,
    confidence: &Plane,
) -> Vec<ShadeHistogram> {
    let mut histograms = vec![ShadeHistogram::new(); count];
    for ((&label, &s), &c) in labels.iter().zip(&shade.data).zip(&confidence.data) {
        if c > 0.5 {
            histograms[usize::from(label)].add(s);
        }
    }
    histograms
}

/// Splits every material into a lit and a shadow tone where its shade is clearly bimodal
/// (means at least `min_gap` apart, each side at least `min_share` of it). Returns labels
/// `2·material + tone` (tone 1 = shadow).
pub fn split_two_tones(
    materials: &[u8],
    count: usize,
    shade: &Plane,
    confidence: &Plane,
    min_gap: f32,
    min_share: f32,
) -> Vec<u8> {
    let thresholds: Vec<Option<f32>> = histograms(materials, count, shade, confidence)
        .iter()
        .map(|h| {
            h.otsu().and_then(|(threshold, low, high, share)| {
                (high - low >= min_gap && (min_share..=1.0 - min_share).contains(&share))
                    .then_some(threshold)
            })
        })
        .collect();
    materials
        .iter()
        .zip(&shade.data)
        .map(|(&m, &s)| {
            let shadow = thresholds[usize::from(m)].is_some_and(|t| s < t);
            2 * m + u8::from(shadow)
        })
        .collect()
}

/// Splits every material into three tones at quantiles of its shade: shadow below
/// `shadow_quantile`, highlight above `light_quantile`, base between; materials whose shade
/// varies less than `min_spread` between the two stay base. Returns labels
/// `3·material + tone` with tone 0 = shadow, 1 = base, 2 = highlight.
pub fn split_three_tones(
    materials: &[u8],
    count: usize,
    shade: &Plane,
    confidence: &Plane,
    shadow_quantile: f32,
    light_quantile: f32,
    min_spread: f32,
) -> Vec<u8> {
    let bands: Vec<Option<(f32, f32)>> = histograms(materials, count, shade, confidence)
        .iter()
        .map(|h| {
            let shadow = h.quantile(shadow_quantile);
            let light = h.quantile(light_quantile);
            (!h.is_empty() && light - shadow >= min_spread).then_some((shadow, light))
        })
        .collect();
    materials
        .iter()
        .zip(&shade.data)
        .map(|(&m, &s)| {
            let tone = match bands[usize::from(m)] {
                Some((shadow, _)) if s < shadow => 0,
                Some((_, light)) if s > light => 2,
                Some(_) | None => 1,
            };
            3 * m + tone
        })
        .collect()
}

/// The mean colour of each label's trusted pixels (all its pixels if none is trusted; grey
/// for a label with no pixel at all).
pub fn mean_colours(labels: &[u8], count: usize, image: &LabImage, confidence: &Plane) -> Vec<Lab> {
    let mut trusted = vec![[0.0f64; 4]; count];
    let mut all = vec![[0.0f64; 4]; count];
    for ((&label, colour), &c) in labels.iter().zip(&image.data).zip(&confidence.data) {
        let label = usize::from(label);
        for sums in [
            Some(&mut all[label]),
            (c > 0.5).then_some(&mut trusted[label]),
        ]
        .into_iter()
        .flatten()
        {
            for k in 0..3 {
                sums[k] += f64::from(colour[k]);
            }
            sums[3] += 1.0;
        }
    }
    trusted
        .iter()
        .zip(&all)
        .map(|(t, a)| {
            let sums = if t[3] > 0.0 { t } else { a };
            if sums[3] > 0.0 {
                [0, 1, 2].map(|k| (sums[k] / sums[3]) as f32)
            } else {
                [0.5, 0.0, 0.0]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_splits_a_bimodal_material() {
        let (w, h) = (40, 10);
        let shade = Plane::from_fn(w, h, |x, _| if x < 15 { 0.3 } else { 0.7 });
        let confidence = Plane::filled(w, h, 1.0);
        let labels = split_two_tones(&vec![0; w * h], 1, &shade, &confidence, 0.1, 0.05);
        assert_eq!(labels[0], 1, "dark side is the shadow tone");
        assert_eq!(labels[30], 0);
    }

    #[test]
    fn a_flat_material_keeps_one_tone() {
        let shade = Plane::filled(10, 10, 0.5);
        let confidence = Plane::filled(10, 10, 1.0);
        let labels = split_two_tones(&[0; 100], 1, &shade, &confidence, 0.1, 0.05);
        assert!(labels.iter().all(|&l| l == 0));
    }

    #[test]
    fn three_tones_split_at_the_quantiles() {
        let (w, h) = (100, 2);
        let shade = Plane::from_fn(w, h, |x, _| 0.3 + 0.5 * x as f32 / 100.0);
        let confidence = Plane::filled(w, h, 1.0);
        let labels = split_three_tones(&vec![1; w * h], 2, &shade, &confidence, 0.3, 0.9, 0.05);
        assert_eq!(labels[5], 3, "shadow of material 1");
        assert_eq!(labels[50], 4, "base");
        assert_eq!(labels[98], 5, "highlight");
    }

    #[test]
    fn quantiles_follow_the_distribution() {
        let mut h = ShadeHistogram::new();
        for i in 0..=100 {
            h.add(i as f32 / 100.0);
        }
        assert!((h.quantile(0.5) - 0.5).abs() < 0.02);
        assert!(h.quantile(0.0) < 0.02);
    }
}
