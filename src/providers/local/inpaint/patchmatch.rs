//! One pyramid level of the fill: the nearest-neighbour field (for every patch touching the
//! hole, the best fully known patch elsewhere), PatchMatch's propagation and random search to
//! improve it, and the vote that turns matches back into pixels.

use super::pyramid::Level;

/// Patches are `2 * PATCH_RADIUS + 1` pixels square.
pub const PATCH_RADIUS: usize = 3;

/// Matches of the patches around the hole.
pub struct Field {
    /// Centres of patches that overlap the hole, in scanline order.
    pub targets: Vec<u32>,
    pub is_target: Vec<bool>,
    /// Source centre per pixel (meaningful at targets only).
    pub nnf: Vec<u32>,
    /// Mean squared colour distance of each target's match.
    pub dist: Vec<f32>,
    /// Whether a patch centred here lies inside the image and holds no hole pixel.
    pub valid: Vec<bool>,
    /// Every valid centre, for random initialisation.
    pub sources: Vec<u32>,
}

impl Field {
    /// The targets and sources of `level`, with no matches yet. `None` when no known patch is
    /// left to copy from.
    pub fn new(level: &Level) -> Option<Field> {
        let (w, h) = (level.w, level.h);
        let r = PATCH_RADIUS;
        let counts = integral(&level.hole, w, h);
        let holes_in = |x0: usize, y0: usize, x1: usize, y1: usize| -> u32 {
            // Inclusive box, clamped to the image.
            let (x1, y1) = ((x1 + 1).min(w), (y1 + 1).min(h));
            let at = |x: usize, y: usize| counts[y * (w + 1) + x];
            at(x1, y1) + at(x0, y0) - at(x0, y1) - at(x1, y0)
        };
        let mut valid = vec![false; w * h];
        let mut sources = Vec::new();
        let mut is_target = vec![false; w * h];
        let mut targets = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                let inside = x >= r && y >= r && x + r < w && y + r < h;
                if inside && holes_in(x - r, y - r, x + r, y + r) == 0 {
                    valid[i] = true;
                    sources.push(i as u32);
                }
                if holes_in(x.saturating_sub(r), y.saturating_sub(r), x + r, y + r) > 0 {
                    is_target[i] = true;
                    targets.push(i as u32);
                }
            }
        }
        if sources.is_empty() {
            return None;
        }
        Some(Field {
            targets,
            is_target,
            nnf: vec![0; w * h],
            dist: vec![0.0; w * h],
            valid,
            sources,
        })
    }

    /// Random matches for every target.
    pub fn randomise(&mut self, level: &Level, rng: &mut fastrand::Rng) {
        for &t in &self.targets {
            let t = t as usize;
            self.nnf[t] = self.sources[rng.usize(..self.sources.len())];
            self.dist[t] = distance(level, t, self.nnf[t] as usize, f32::INFINITY);
        }
    }

    /// Matches of a level half this size, scaled up (each 2x2 block keeps the coarse offset).
    pub fn upsample_from(
        &mut self,
        coarse: &Field,
        coarse_w: usize,
        coarse_h: usize,
        w: usize,
        rng: &mut fastrand::Rng,
    ) {
        for &t in &self.targets {
            let t = t as usize;
            let (x, y) = (t % w, t / w);
            let (cx, cy) = ((x / 2).min(coarse_w - 1), (y / 2).min(coarse_h - 1));
            let ci = cy * coarse_w + cx;
            let mut chosen = None;
            if coarse.is_target[ci] {
                let q = coarse.nnf[ci] as usize;
                let (qx, qy) = (q % coarse_w, q / coarse_w);
                for (ox, oy) in [(x % 2, y % 2), (0, 0)] {
                    let candidate = (2 * qy + oy) * w + 2 * qx + ox;
                    if candidate < self.valid.len() && self.valid[candidate] {
                        chosen = Some(candidate as u32);
                        break;
                    }
                }
            }
            self.nnf[t] = chosen.unwrap_or_else(|| self.sources[rng.usize(..self.sources.len())]);
        }
    }

    /// Distances of the current matches against the current pixels.
    pub fn refresh_distances(&mut self, level: &Level) {
        for &t in &self.targets {
            let t = t as usize;
            self.dist[t] = distance(level, t, self.nnf[t] as usize, f32::INFINITY);
        }
    }

    /// PatchMatch: alternating scanline passes of propagation from the previous neighbours and
    /// a random search around the current best at shrinking radii.
    pub fn search(&mut self, level: &Level, passes: u32, rng: &mut fastrand::Rng) {
        let (w, h) = (level.w, level.h);
        let max_radius = w.max(h) as f32;
        for pass in 0..passes {
            let forward = pass % 2 == 0;
            let count = self.targets.len();
            for k in 0..count {
                let t = self.targets[if forward { k } else { count - 1 - k }] as usize;
                let (x, y) = (t % w, t / w);
                let mut best = self.nnf[t] as usize;
                let mut best_d = self.dist[t];
                // Propagation: the neighbour's match, shifted back by one.
                let neighbours: [Option<(usize, isize)>; 2] = if forward {
                    [
                        (x > 0).then(|| (t - 1, 1)),
                        (y > 0).then(|| (t - w, w as isize)),
                    ]
                } else {
                    [
                        (x + 1 < w).then(|| (t + 1, -1)),
                        (y + 1 < h).then(|| (t + w, -(w as isize))),
                    ]
                };
                for (n, shift) in neighbours.into_iter().flatten() {
                    if !self.is_target[n] {
                        continue;
                    }
                    let candidate = self.nnf[n] as isize + shift;
                    if candidate < 0 || candidate as usize >= self.valid.len() {
                        continue;
                    }
                    let candidate = candidate as usize;
                    if candidate == best || !self.valid[candidate] {
                        continue;
                    }
                    // A shift by one column must not wrap to the next row.
                    if (candidate % w).abs_diff(self.nnf[n] as usize % w) > 1 {
                        continue;
                    }
                    let d = distance(level, t, candidate, best_d);
                    if d < best_d {
                        best = candidate;
                        best_d = d;
                    }
                }
                // Random search.
                let mut radius = max_radius;
                while radius >= 1.0 {
                    let (bx, by) = ((best % w) as f32, (best / w) as f32);
                    let cx = (bx + radius * (rng.f32() * 2.0 - 1.0)).round();
                    let cy = (by + radius * (rng.f32() * 2.0 - 1.0)).round();
                    radius *= 0.5;
                    if cx < 0.0 || cy < 0.0 || cx >= w as f32 || cy >= h as f32 {
                        continue;
                    }
                    let candidate = cy as usize * w + cx as usize;
                    if candidate == best || !self.valid[candidate] {
                        continue;
                    }
                    let d = distance(level, t, candidate, best_d);
                    if d < best_d {
                        best = candidate;
                        best_d = d;
                    }
                }
                self.nnf[t] = best as u32;
                self.dist[t] = best_d;
            }
        }
    }

    /// Every hole pixel becomes the weighted mean of what the patches covering it copy there.
    /// `uniform` ignores match quality (for the first vote of a level, whose distances were
    /// measured against pixels not yet filled).
    pub fn vote(&self, level: &mut Level, uniform: bool) {
        let (w, h) = (level.w, level.h);
        let r = PATCH_RADIUS as isize;
        let sigma2 = if uniform {
            1.0
        } else {
            let mut ds: Vec<f32> = self
                .targets
                .iter()
                .map(|&t| self.dist[t as usize])
                .collect();
            if ds.is_empty() {
                return;
            }
            let k = (ds.len() * 3 / 4).min(ds.len() - 1);
            let (_, q75, _) = ds.select_nth_unstable_by(k, f32::total_cmp);
            q75.max(1.0)
        };
        let mut acc = vec![[0f32; 4]; w * h];
        for &t in &self.targets {
            let t = t as usize;
            let q = self.nnf[t] as usize;
            let weight = if uniform {
                1.0
            } else {
                (-self.dist[t] / (2.0 * sigma2)).exp().max(1e-6)
            };
            let (tx, ty) = ((t % w) as isize, (t / w) as isize);
            for dy in -r..=r {
                let y = ty + dy;
                if y < 0 || y >= h as isize {
                    continue;
                }
                for dx in -r..=r {
                    let x = tx + dx;
                    if x < 0 || x >= w as isize {
                        continue;
                    }
                    let i = y as usize * w + x as usize;
                    if !level.hole[i] {
                        continue;
                    }
                    let s = (q as isize + dy * w as isize + dx) as usize;
                    let src = level.px[s];
                    let cell = &mut acc[i];
                    cell[0] += weight * src[0];
                    cell[1] += weight * src[1];
                    cell[2] += weight * src[2];
                    cell[3] += weight;
                }
            }
        }
        for (i, cell) in acc.iter().enumerate() {
            if level.hole[i] && cell[3] > 0.0 {
                level.px[i] = [cell[0] / cell[3], cell[1] / cell[3], cell[2] / cell[3]];
            }
        }
    }
}

/// Mean squared colour difference between the patch at target `t` (clipped to the image) and
/// the patch at source `s` (always inside). Stops early once above `bound`.
fn distance(level: &Level, t: usize, s: usize, bound: f32) -> f32 {
    let (w, h) = (level.w, level.h);
    let r = PATCH_RADIUS as isize;
    let (tx, ty) = ((t % w) as isize, (t / w) as isize);
    let (y0, y1) = ((-r).max(-ty), r.min(h as isize - 1 - ty));
    let (x0, x1) = ((-r).max(-tx), r.min(w as isize - 1 - tx));
    let count = ((y1 - y0 + 1) * (x1 - x0 + 1)) as f32;
    let limit = bound * count;
    let mut sum = 0f32;
    for dy in y0..=y1 {
        let trow = ((ty + dy) as usize) * w;
        let srow = (s as isize + dy * w as isize) as usize;
        for dx in x0..=x1 {
            let a = level.px[(trow as isize + tx + dx) as usize];
            let b = level.px[(srow as isize + dx) as usize];
            let (d0, d1, d2) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
            sum += d0 * d0 + d1 * d1 + d2 * d2;
        }
        if sum > limit {
            return f32::INFINITY;
        }
    }
    sum / count
}

/// Summed-area table of `mask` with a zero first row and column.
fn integral(mask: &[bool], w: usize, h: usize) -> Vec<u32> {
    let mut table = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        for x in 0..w {
            row += u32::from(mask[y * w + x]);
            table[(y + 1) * (w + 1) + x + 1] = table[y * (w + 1) + x + 1] + row;
        }
    }
    table
}
