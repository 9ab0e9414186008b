//! The coarse-to-fine driver: halve the image until the hole is small, fill the coarsest level
//! from a rough guess, then carry the matches up one level at a time.

use super::InpaintBudget;
use super::patchmatch::{Field, PATCH_RADIUS};
use crate::error::Result;
use crate::media::cancel::checkpoint;

/// Levels stop halving once their shorter side would drop below this.
const MIN_LEVEL_SIDE: usize = 24;

/// Propagation/search passes per search-and-vote round.
const PASSES_PER_ROUND: u32 = 2;

/// One level: colours as floats, and which pixels are (still) to be filled.
pub struct Level {
    pub w: usize,
    pub h: usize,
    pub px: Vec<[f32; 3]>,
    pub hole: Vec<bool>,
}

impl Level {
    /// Half the size: a pixel is a hole if any of its four parents is, so the hole never
    /// shrinks and coarse known pixels are averages of known pixels only.
    fn halve(&self) -> Level {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut px = vec![[0f32; 3]; w * h];
        let mut hole = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                let parents = [
                    (2 * y) * self.w + 2 * x,
                    (2 * y) * self.w + 2 * x + 1,
                    (2 * y + 1) * self.w + 2 * x,
                    (2 * y + 1) * self.w + 2 * x + 1,
                ];
                let i = y * w + x;
                hole[i] = parents.iter().any(|&p| self.hole[p]);
                let mut sum = [0f32; 3];
                for &p in &parents {
                    for (total, v) in sum.iter_mut().zip(self.px[p]) {
                        *total += v;
                    }
                }
                px[i] = [sum[0] / 4.0, sum[1] / 4.0, sum[2] / 4.0];
            }
        }
        Level { w, h, px, hole }
    }

    fn hole_pixels(&self) -> u64 {
        self.hole.iter().filter(|&&m| m).count() as u64
    }

    /// A rough first guess for the coarsest level: peel the hole from its edge inwards, each
    /// pixel the mean of its already known 8-neighbours.
    fn onion_fill(&mut self) {
        let (w, h) = (self.w, self.h);
        let mut known: Vec<bool> = self.hole.iter().map(|&m| !m).collect();
        loop {
            let mut next = Vec::new();
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    if known[i] {
                        continue;
                    }
                    let mut sum = [0f32; 3];
                    let mut n = 0f32;
                    for ny in y.saturating_sub(1)..(y + 2).min(h) {
                        for nx in x.saturating_sub(1)..(x + 2).min(w) {
                            let j = ny * w + nx;
                            if known[j] {
                                for (total, v) in sum.iter_mut().zip(self.px[j]) {
                                    *total += v;
                                }
                                n += 1.0;
                            }
                        }
                    }
                    if n > 0.0 {
                        next.push((i, [sum[0] / n, sum[1] / n, sum[2] / n]));
                    }
                }
            }
            if next.is_empty() {
                return;
            }
            for (i, value) in next {
                self.px[i] = value;
                known[i] = true;
            }
        }
    }
}

/// Fills the hole of a full-resolution image; returns every pixel.
pub fn fill(
    px: Vec<[f32; 3]>,
    hole: Vec<bool>,
    w: usize,
    h: usize,
    budget: &InpaintBudget,
) -> Result<Vec<[f32; 3]>> {
    let mut levels = vec![Level { w, h, px, hole }];
    loop {
        let last = levels.last().expect("at least the full level");
        if last.w.min(last.h) / 2 < MIN_LEVEL_SIDE {
            break;
        }
        let next = last.halve();
        // A level with nothing left to copy from cannot be filled: stop above it.
        if Field::new(&next).is_none() {
            break;
        }
        levels.push(next);
    }
    let mut rng = fastrand::Rng::with_seed(0x1a2b_3c4d);
    let mut previous: Option<(Field, usize, usize)> = None;
    while let Some(mut level) = levels.pop() {
        checkpoint()?;
        let Some(mut field) = Field::new(&level) else {
            return Err(crate::error::Error::invalid(
                "mask",
                format!(
                    "no {side}x{side} patch of the image is free of the mask: nothing is left \
                     to fill it from",
                    side = 2 * PATCH_RADIUS + 1
                ),
            ));
        };
        let searching = level.hole_pixels() <= budget.search_pixels;
        match &previous {
            None => {
                level.onion_fill();
                field.randomise(&level, &mut rng);
            }
            Some((coarse, cw, ch)) => {
                field.upsample_from(coarse, *cw, *ch, level.w, &mut rng);
                field.vote(&mut level, true);
            }
        }
        if searching {
            let rounds = if previous.is_none() {
                budget.iterations * 2
            } else {
                budget.iterations
            };
            for _ in 0..rounds {
                checkpoint()?;
                field.refresh_distances(&level);
                field.search(&level, PASSES_PER_ROUND, &mut rng);
                field.vote(&mut level, false);
            }
        }
        if levels.is_empty() {
            return Ok(level.px);
        }
        // Finer levels keep their own known pixels; only the hole carries the coarse result,
        // through the matches.
        let (lw, lh) = (level.w, level.h);
        previous = Some((field, lw, lh));
    }
    Err(crate::error::Error::internal(
        "the fill ended without reaching full resolution",
    ))
}
