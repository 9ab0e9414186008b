//! Cleaning a label map into flat regions a painter would draw: a majority filter straightens
//! ragged borders, then specks too small to paint are merged into their dominant neighbour.

use super::components::{Connectivity, label};
use super::parallel::rows_from_fn;

/// Replaces every label by the most frequent one in the (2·radius+1)² window around it
/// (keeping it on ties). Labels must be below `count`.
pub fn majority_filter(
    labels: &[u8],
    width: usize,
    height: usize,
    radius: usize,
    count: usize,
) -> Vec<u8> {
    if radius == 0 || labels.is_empty() {
        return labels.to_vec();
    }
    let r = radius as isize;
    let at = |x: isize, y: isize| {
        let x = x.clamp(0, width as isize - 1) as usize;
        let y = y.clamp(0, height as isize - 1) as usize;
        usize::from(labels[y * width + x])
    };
    rows_from_fn(width, height, |y, row| {
        let y = y as isize;
        let mut histogram = vec![0u16; count];
        for dy in -r..=r {
            for dx in -r..=r {
                histogram[at(dx, y + dy)] += 1;
            }
        }
        for (x, out) in row.iter_mut().enumerate() {
            let x = x as isize;
            let own = at(x, y);
            let mut best = own;
            for (candidate, &votes) in histogram.iter().enumerate() {
                if votes > histogram[best] {
                    best = candidate;
                }
            }
            *out = best as u8;
            for dy in -r..=r {
                histogram[at(x - r, y + dy)] -= 1;
                histogram[at(x + r + 1, y + dy)] += 1;
            }
        }
    })
}

/// Merges every 4-connected region smaller than `min_area` into the neighbouring label it
/// shares the longest border with, repeating while anything changes (at most a few rounds).
pub fn merge_small(labels: &[u8], width: usize, height: usize, min_area: usize) -> Vec<u8> {
    let mut labels = labels.to_vec();
    for _ in 0..4 {
        let regions = label(width, height, Connectivity::Four, |i| Some(labels[i]));
        let small = |id: u32| regions.areas[id as usize] < min_area;
        // (small region, label across its border), one entry per border pixel pair.
        let mut borders: Vec<(u32, u8)> = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let i = y * width + x;
                let here = regions.ids[i];
                let mut visit = |n: usize| {
                    let there = regions.ids[n];
                    if there != here {
                        if small(here) {
                            borders.push((here, labels[n]));
                        }
                        if small(there) {
                            borders.push((there, labels[i]));
                        }
                    }
                };
                if x + 1 < width {
                    visit(i + 1);
                }
                if y + 1 < height {
                    visit(i + width);
                }
            }
        }
        if borders.is_empty() {
            break;
        }
        borders.sort_unstable();
        let mut target: Vec<Option<u8>> = vec![None; regions.areas.len()];
        let mut start = 0;
        while start < borders.len() {
            let region = borders[start].0;
            let mut best = (0, borders[start].1);
            let mut i = start;
            while i < borders.len() && borders[i].0 == region {
                let run_label = borders[i].1;
                let run_start = i;
                while i < borders.len() && borders[i] == (region, run_label) {
                    i += 1;
                }
                if i - run_start > best.0 {
                    best = (i - run_start, run_label);
                }
            }
            target[region as usize] = Some(best.1);
            start = i;
        }
        for (value, &id) in labels.iter_mut().zip(&regions.ids) {
            if let Some(new) = target[id as usize] {
                *value = new;
            }
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_filter_removes_isolated_pixels() {
        let (w, h) = (9, 9);
        let mut labels = vec![0u8; w * h];
        labels[4 * w + 4] = 1;
        let out = majority_filter(&labels, w, h, 1, 2);
        assert!(out.iter().all(|&l| l == 0));
    }

    #[test]
    fn small_regions_merge_into_their_surroundings() {
        let (w, h) = (20, 10);
        let mut labels: Vec<u8> = (0..w * h).map(|i| u8::from(i % w >= 10)).collect();
        labels[5 * w + 3] = 2;
        labels[5 * w + 4] = 2;
        let out = merge_small(&labels, w, h, 5);
        assert_eq!(out[5 * w + 3], 0);
        assert_eq!(out[5 * w + 15], 1);
        assert_eq!(out.iter().filter(|&&l| l == 1).count(), 100);
    }
}
