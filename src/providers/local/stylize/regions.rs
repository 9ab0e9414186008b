//! Cleaning a label map into flat regions a painter would draw: a majority filter straightens
//! ragged borders, then specks too small to paint are merged into their dominant neighbour.

use super::components::{Connectivity, NONE, label};
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

/// Relabels regions enclosed by a single much larger neighbour of a `similar` label (a
/// highlight in hair that happened to match skin): a region whose border runs at least 90%
/// along one neighbour, that is smaller than `max_share` of it and does not touch the image
/// edge takes the neighbour's label. Only pixels `inside` the subject count.
pub fn absorb_enclosed(
    labels: &[u8],
    inside: &[bool],
    width: usize,
    height: usize,
    max_share: f32,
    similar: impl Fn(u8, u8) -> bool,
) -> Vec<u8> {
    let regions = label(width, height, Connectivity::Four, |i| {
        inside[i].then_some(labels[i])
    });
    let count = regions.areas.len();
    let mut touches_edge = vec![false; count];
    let mut borders: Vec<(u32, u32)> = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let here = regions.ids[i];
            if here == NONE {
                continue;
            }
            if x == 0 || y == 0 || x + 1 == width || y + 1 == height {
                touches_edge[here as usize] = true;
            }
            for n in [
                (x + 1 < width).then_some(i + 1),
                (y + 1 < height).then_some(i + width),
            ]
            .into_iter()
            .flatten()
            {
                let there = regions.ids[n];
                if there != here && there != NONE {
                    borders.push((here, there));
                    borders.push((there, here));
                }
            }
        }
    }
    borders.sort_unstable();
    let mut region_label = vec![0u8; count];
    for (i, &id) in regions.ids.iter().enumerate() {
        if id != NONE {
            region_label[id as usize] = labels[i];
        }
    }
    let mut target: Vec<Option<u8>> = vec![None; count];
    for run in borders.chunk_by(|p, q| p.0 == q.0) {
        let region = run[0].0 as usize;
        if touches_edge[region] {
            continue;
        }
        let Some(neighbour) = run.chunk_by(|p, q| p.1 == q.1).max_by_key(|r| r.len()) else {
            continue;
        };
        let around = neighbour[0].1 as usize;
        let enclosed = neighbour.len() as f32 >= 0.9 * run.len() as f32;
        let small = (regions.areas[region] as f32) < max_share * regions.areas[around] as f32;
        if enclosed && small && similar(region_label[region], region_label[around]) {
            target[region] = Some(region_label[around]);
        }
    }
    labels
        .iter()
        .zip(&regions.ids)
        .map(|(&l, &id)| {
            if id == NONE {
                l
            } else {
                target[id as usize].unwrap_or(l)
            }
        })
        .collect()
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
    fn an_enclosed_similar_island_is_absorbed() {
        let (w, h) = (30, 30);
        let labels: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (10..16).contains(&x) && (10..16).contains(&y) {
                    1
                } else {
                    0
                }
            })
            .collect();
        let inside = vec![true; w * h];
        let absorbed = absorb_enclosed(&labels, &inside, w, h, 0.25, |_, _| true);
        assert!(absorbed.iter().all(|&l| l == 0));
        let kept = absorb_enclosed(&labels, &inside, w, h, 0.25, |_, _| false);
        assert_eq!(kept, labels);
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
