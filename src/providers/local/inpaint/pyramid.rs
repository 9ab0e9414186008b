//! The coarse-to-fine driver: halve the image until the hole is about a patch thick, fill the
//! coarsest level ring by ring from the hole's edge, then carry the matches up one level at a
//! time, searching and voting again at each.

use super::patchmatch::{Field, PATCH_RADIUS, rings};
use super::rule::Rule;
use super::{InpaintBudget, Sources};
use crate::error::Result;
use crate::media::cancel::checkpoint;

/// Levels stop halving once their shorter side would drop below this.
const MIN_LEVEL_SIDE: usize = 24;

/// Propagation/search passes per search-and-vote round.
const PASSES_PER_ROUND: u32 = 2;

/// Below this many rows of patch centres in an outpainting band, a level is not made.
const MIN_BAND_ROWS: isize = 3;

/// One level: colours as floats, their luminance gradient, and which pixels are (still) to be
/// filled.
pub struct Level {
    pub w: usize,
    pub h: usize,
    pub px: Vec<[f32; 3]>,
    pub grad: Vec<[f32; 2]>,
    pub hole: Vec<bool>,
    /// Times the full image was halved to make this level.
    pub shift: u32,
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
        let mut level = Level {
            w,
            h,
            px,
            grad: Vec::new(),
            hole,
            shift: self.shift + 1,
        };
        level.update_gradients();
        level
    }

    fn new(px: Vec<[f32; 3]>, hole: Vec<bool>, w: usize, h: usize) -> Level {
        let mut level = Level {
            w,
            h,
            px,
            grad: Vec::new(),
            hole,
            shift: 0,
        };
        level.update_gradients();
        level
    }

    /// Central differences of luminance (one-sided at the image border).
    pub fn update_gradients(&mut self) {
        let (w, h) = (self.w, self.h);
        let luma = |p: [f32; 3]| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        self.grad.resize(w * h, [0.0; 2]);
        for y in 0..h {
            for x in 0..w {
                let (xl, xr) = (x.saturating_sub(1), (x + 1).min(w - 1));
                let (yu, yd) = (y.saturating_sub(1), (y + 1).min(h - 1));
                let gx = (luma(self.px[y * w + xr]) - luma(self.px[y * w + xl]))
                    / (xr - xl).max(1) as f32;
                let gy = (luma(self.px[yd * w + x]) - luma(self.px[yu * w + x]))
                    / (yd - yu).max(1) as f32;
                self.grad[y * w + x] = [gx, gy];
            }
        }
    }

    /// How many rings the hole peels into: its largest distance to a known pixel.
    fn thickness(&self) -> usize {
        rings(&self.hole, self.w, self.h).len()
    }

    fn hole_pixels(&self) -> u64 {
        self.hole.iter().filter(|&&m| m).count() as u64
    }
}

/// Fills the hole of a full-resolution image; returns every pixel and, per pixel, the centre
/// of the patch the final level copied there (`u32::MAX` where nothing was copied).
pub fn fill(
    px: Vec<[f32; 3]>,
    hole: Vec<bool>,
    w: usize,
    h: usize,
    budget: &InpaintBudget,
    sources: &Sources,
) -> Result<(Vec<[f32; 3]>, Vec<u32>)> {
    let mut levels = vec![Level::new(px, hole, w, h)];
    loop {
        let last = levels.last().expect("at least the full level");
        if last.w.min(last.h) / 2 < MIN_LEVEL_SIDE {
            break;
        }
        // Coarse to fine until the hole is about a patch thick: a thin hole (text strokes)
        // is filled at full resolution from its immediate surroundings.
        if last.thickness() <= 2 * PATCH_RADIUS {
            break;
        }
        // An outpainting band must keep a few rows of whole patches.
        let coarser = Rule::at_level(sources, last.shift + 1);
        if coarser
            .band_rows(PATCH_RADIUS)
            .is_some_and(|rows| rows < MIN_BAND_ROWS)
        {
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
        let rule = Rule::at_level(sources, level.shift);
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
                field.onion_fill(&mut level, &rule, &mut rng);
            }
            Some((coarse, cw, ch)) => {
                field.upsample_from(coarse, *cw, *ch, &level, &rule, &mut rng);
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
                field.search(&level, &rule, PASSES_PER_ROUND, &mut rng);
                field.vote(&mut level, false);
            }
        }
        if levels.is_empty() {
            let matches = field
                .nnf
                .iter()
                .zip(&field.is_target)
                .map(|(&m, &t)| if t { m } else { u32::MAX })
                .collect();
            return Ok((level.px, matches));
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
