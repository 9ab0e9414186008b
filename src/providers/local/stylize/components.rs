//! Connected components of a raster, by flood fill with an explicit stack.

/// Marks pixels that belong to no component.
pub const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    Four,
    Eight,
}

/// Component ids per pixel (or [`NONE`]) and the area of each component.
#[derive(Debug, Clone)]
pub struct Components {
    pub ids: Vec<u32>,
    pub areas: Vec<usize>,
}

impl Components {
    /// The id of the largest component, if any.
    pub fn largest(&self) -> Option<u32> {
        (0..self.areas.len() as u32).max_by_key(|&id| (self.areas[id as usize], u32::MAX - id))
    }
}

/// Components of pixels sharing the same `key`; pixels whose key is `None` belong to none.
pub fn label<K: PartialEq + Copy>(
    width: usize,
    height: usize,
    connectivity: Connectivity,
    key: impl Fn(usize) -> Option<K>,
) -> Components {
    let mut ids = vec![NONE; width * height];
    let mut areas = Vec::new();
    let mut stack = Vec::new();
    for start in 0..width * height {
        if ids[start] != NONE {
            continue;
        }
        let Some(k) = key(start) else { continue };
        let id = areas.len() as u32;
        let mut area = 0;
        ids[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            area += 1;
            let (x, y) = ((i % width) as isize, (i / width) as isize);
            for (dx, dy) in neighbours(connectivity) {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                    continue;
                }
                let n = ny as usize * width + nx as usize;
                if ids[n] == NONE && key(n) == Some(k) {
                    ids[n] = id;
                    stack.push(n);
                }
            }
        }
        areas.push(area);
    }
    Components { ids, areas }
}

/// Components of the true pixels of `mask`.
pub fn label_mask(
    mask: &[bool],
    width: usize,
    height: usize,
    connectivity: Connectivity,
) -> Components {
    label(width, height, connectivity, |i| mask[i].then_some(()))
}

fn neighbours(connectivity: Connectivity) -> &'static [(isize, isize)] {
    const FOUR: [(isize, isize); 4] = [(1, 0), (-1, 0), (0, 1), (0, -1)];
    const EIGHT: [(isize, isize); 8] = [
        (1, 0),
        (-1, 0),
        (0, 1),
        (0, -1),
        (1, 1),
        (1, -1),
        (-1, 1),
        (-1, -1),
    ];
    match connectivity {
        Connectivity::Four => &FOUR,
        Connectivity::Eight => &EIGHT,
    }
}

/// Keeps only the true pixels of `mask` in components of at least `min_area` pixels.
pub fn drop_small(mask: &[bool], width: usize, height: usize, min_area: usize) -> Vec<bool> {
    let components = label_mask(mask, width, height, Connectivity::Eight);
    components
        .ids
        .iter()
        .map(|&id| id != NONE && components.areas[id as usize] >= min_area)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_pixels_join_only_with_eight_connectivity() {
        let mask = [true, false, false, true];
        assert_eq!(label_mask(&mask, 2, 2, Connectivity::Four).areas.len(), 2);
        assert_eq!(label_mask(&mask, 2, 2, Connectivity::Eight).areas, vec![2]);
    }

    #[test]
    fn drop_small_removes_specks_and_keeps_blobs() {
        let (w, h) = (10, 10);
        let mask: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                (x < 4 && y < 4) || (x == 8 && y == 8)
            })
            .collect();
        let kept = drop_small(&mask, w, h, 3);
        assert_eq!(kept.iter().filter(|&&v| v).count(), 16);
        assert!(!kept[8 * w + 8]);
    }
}
