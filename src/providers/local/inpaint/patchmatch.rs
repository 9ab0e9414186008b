//! One pyramid level of the fill: the nearest-neighbour field (for every patch touching the
//! hole, the best fully known patch elsewhere), PatchMatch's propagation and random search to
//! improve it, and the vote that turns matches back into pixels.

use super::pyramid::Level;
use super::rule::Rule;

/// Patches are `2 * PATCH_RADIUS + 1` pixels square.
pub const PATCH_RADIUS: usize = 3;

/// Weight of the luminance gradient against colour in the patch distance.
pub const GRADIENT_WEIGHT: f32 = 1.0;

/// Random candidates tried for each pixel of the first (ring by ring) fill.
const ONION_SAMPLES: usize = 24;

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

    fn xy(&self, i: usize, w: usize) -> (usize, usize) {
        let _ = self;
        (i % w, i / w)
    }

    /// Whether target `t` may copy the patch centred at `c`.
    #[inline]
    fn allowed(&self, rule: &Rule, w: usize, t: usize, c: usize) -> bool {
        self.valid[c] && rule.allows(self.xy(t, w), self.xy(c, w))
    }

    /// A random source the rule allows for target `t`.
    fn random_source(&self, rule: &Rule, level: &Level, t: usize, rng: &mut fastrand::Rng) -> u32 {
        let (w, h) = (level.w, level.h);
        if matches!(rule, Rule::Anywhere) {
            return self.sources[rng.usize(..self.sources.len())];
        }
        for _ in 0..24 {
            if let Some((x, y)) = rule.sample(self.xy(t, w), w, h, rng) {
                let c = y * w + x;
                if self.valid[c] {
                    return c as u32;
                }
            }
        }
        // A narrow window: look through every source (rare).
        let allowed: Vec<u32> = self
            .sources
            .iter()
            .copied()
            .filter(|&c| rule.allows(self.xy(t, w), self.xy(c as usize, w)))
            .collect();
        if allowed.is_empty() {
            self.sources[rng.usize(..self.sources.len())]
        } else {
            allowed[rng.usize(..allowed.len())]
        }
    }

    /// The first fill of the coarsest level, peeled from the hole's edge inwards one ring at
    /// a time: each hole pixel takes the centre of the allowed patch that best matches what
    /// is already known around it (the photo and the rings before), so structure runs on
    /// from the edge rather than being averaged. Also sets that patch as its match.
    pub fn onion_fill(&mut self, level: &mut Level, rule: &Rule, rng: &mut fastrand::Rng) {
        let (w, h) = (level.w, level.h);
        let mut known: Vec<bool> = level.hole.iter().map(|&m| !m).collect();
        let mut matched = vec![false; w * h];
        let rings = rings(&level.hole, w, h);
        let radius = rule.search_radius(w, h);
        for ring in rings {
            for &p in &ring {
                let p = p as usize;
                let (x, y) = (p % w, p / w);
                let mut best = usize::MAX;
                let mut best_d = f32::INFINITY;
                let consider = |c: usize, best: &mut usize, best_d: &mut f32| {
                    if c == *best || !self.allowed(rule, w, p, c) {
                        return;
                    }
                    let d = masked_distance(level, &known, p, c, *best_d);
                    if d < *best_d {
                        *best = c;
                        *best_d = d;
                    }
                };
                // Coherence: what the matched neighbours copy, shifted to here.
                for ny in y.saturating_sub(1)..(y + 2).min(h) {
                    for nx in x.saturating_sub(1)..(x + 2).min(w) {
                        let n = ny * w + nx;
                        if !matched[n] {
                            continue;
                        }
                        let (qx, qy) = (
                            (self.nnf[n] as usize % w) as isize,
                            (self.nnf[n] as usize / w) as isize,
                        );
                        let (cx, cy) =
                            (qx + x as isize - nx as isize, qy + y as isize - ny as isize);
                        if cx >= 0 && cy >= 0 && (cx as usize) < w && (cy as usize) < h {
                            consider(cy as usize * w + cx as usize, &mut best, &mut best_d);
                        }
                    }
                }
                for _ in 0..ONION_SAMPLES {
                    let c = self.random_source(rule, level, p, rng) as usize;
                    consider(c, &mut best, &mut best_d);
                }
                if best == usize::MAX {
                    best = self.random_source(rule, level, p, rng) as usize;
                }
                let mut r = radius;
                while r >= 1.0 {
                    let (bx, by) = ((best % w) as f32, (best / w) as f32);
                    let cx = (bx + r * (rng.f32() * 2.0 - 1.0)).round();
                    let cy = (by + r * (rng.f32() * 2.0 - 1.0)).round();
                    r *= 0.5;
                    if cx < 0.0 || cy < 0.0 || cx >= w as f32 || cy >= h as f32 {
                        continue;
                    }
                    consider(cy as usize * w + cx as usize, &mut best, &mut best_d);
                }
                level.px[p] = level.px[best];
                known[p] = true;
                matched[p] = true;
                self.nnf[p] = best as u32;
            }
        }
        level.update_gradients();
        // Targets centred on known pixels next to the hole start from a random match.
        for k in 0..self.targets.len() {
            let t = self.targets[k] as usize;
            if !matched[t] {
                self.nnf[t] = self.random_source(rule, level, t, rng);
            }
        }
        self.refresh_distances(level);
    }

    /// Matches of a level half this size, scaled up (each 2x2 block keeps the coarse offset).
    pub fn upsample_from(
        &mut self,
        coarse: &Field,
        coarse_w: usize,
        coarse_h: usize,
        level: &Level,
        rule: &Rule,
        rng: &mut fastrand::Rng,
    ) {
        let w = level.w;
        for k in 0..self.targets.len() {
            let t = self.targets[k] as usize;
            let (x, y) = (t % w, t / w);
            let (cx, cy) = ((x / 2).min(coarse_w - 1), (y / 2).min(coarse_h - 1));
            let ci = cy * coarse_w + cx;
            let mut chosen = None;
            if coarse.is_target[ci] {
                let q = coarse.nnf[ci] as usize;
                let (qx, qy) = (q % coarse_w, q / coarse_w);
                for (ox, oy) in [(x % 2, y % 2), (0, 0), (1, 1), (1, 0), (0, 1)] {
                    let candidate = (2 * qy + oy) * w + 2 * qx + ox;
                    if candidate < self.valid.len() && self.allowed(rule, w, t, candidate) {
                        chosen = Some(candidate as u32);
                        break;
                    }
                }
            }
            self.nnf[t] = chosen.unwrap_or_else(|| self.random_source(rule, level, t, rng));
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
    pub fn search(&mut self, level: &Level, rule: &Rule, passes: u32, rng: &mut fastrand::Rng) {
        let (w, h) = (level.w, level.h);
        let max_radius = rule.search_radius(w, h);
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
                    // A shift by one column must not wrap to the next row.
                    if (candidate % w).abs_diff(self.nnf[n] as usize % w) > 1 {
                        continue;
                    }
                    if candidate == best || !self.allowed(rule, w, t, candidate) {
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
                    if candidate == best || !self.allowed(rule, w, t, candidate) {
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
        level.update_gradients();
    }
}

/// Mean squared difference between the patch at target `t` (clipped to the image) and the
/// patch at source `s` (always inside): colour plus [`GRADIENT_WEIGHT`] times the luminance
/// gradient, so an edge only matches an edge running the same way. Stops early once above
/// `bound`.
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
            let ti = (trow as isize + tx + dx) as usize;
            let si = (srow as isize + dx) as usize;
            let (a, b) = (level.px[ti], level.px[si]);
            let (d0, d1, d2) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
            let (ga, gb) = (level.grad[ti], level.grad[si]);
            let (g0, g1) = (ga[0] - gb[0], ga[1] - gb[1]);
            sum += d0 * d0 + d1 * d1 + d2 * d2 + GRADIENT_WEIGHT * (g0 * g0 + g1 * g1);
        }
        if sum > limit {
            return f32::INFINITY;
        }
    }
    sum / count
}

/// Mean squared colour difference over the pixels of the target patch already `known`;
/// infinite when none is.
fn masked_distance(level: &Level, known: &[bool], t: usize, s: usize, bound: f32) -> f32 {
    let (w, h) = (level.w, level.h);
    let r = PATCH_RADIUS as isize;
    let (tx, ty) = ((t % w) as isize, (t / w) as isize);
    let (y0, y1) = ((-r).max(-ty), r.min(h as isize - 1 - ty));
    let (x0, x1) = ((-r).max(-tx), r.min(w as isize - 1 - tx));
    let mut sum = 0f32;
    let mut count = 0f32;
    for dy in y0..=y1 {
        let trow = ((ty + dy) as usize) * w;
        let srow = (s as isize + dy * w as isize) as usize;
        for dx in x0..=x1 {
            let ti = (trow as isize + tx + dx) as usize;
            if !known[ti] {
                continue;
            }
            let a = level.px[ti];
            let b = level.px[(srow as isize + dx) as usize];
            let (d0, d1, d2) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
            sum += d0 * d0 + d1 * d1 + d2 * d2;
            count += 1.0;
        }
    }
    if count == 0.0 {
        return f32::INFINITY;
    }
    let d = sum / count;
    if d > bound { f32::INFINITY } else { d }
}

/// The hole pixels grouped by their (chessboard) distance to the known pixels, nearest first.
pub fn rings(hole: &[bool], w: usize, h: usize) -> Vec<Vec<u32>> {
    let mut depth = vec![u32::MAX; w * h];
    let mut current: Vec<u32> = Vec::new();
    for (i, &m) in hole.iter().enumerate() {
        if !m {
            depth[i] = 0;
        }
    }
    for (i, &m) in hole.iter().enumerate() {
        if m {
            let (x, y) = (i % w, i / w);
            let touches = (y.saturating_sub(1)..(y + 2).min(h))
                .any(|ny| (x.saturating_sub(1)..(x + 2).min(w)).any(|nx| !hole[ny * w + nx]));
            if touches {
                depth[i] = 1;
                current.push(i as u32);
            }
        }
    }
    let mut rings = Vec::new();
    let mut d = 1;
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            let (x, y) = (i as usize % w, i as usize / w);
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let n = ny * w + nx;
                    if depth[n] == u32::MAX {
                        depth[n] = d + 1;
                        next.push(n as u32);
                    }
                }
            }
        }
        next.sort_unstable();
        rings.push(std::mem::replace(&mut current, next));
        d += 1;
    }
    rings
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
