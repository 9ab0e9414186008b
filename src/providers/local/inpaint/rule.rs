//! Which known patches a hole patch may copy from, at one pyramid level.
//!
//! Watermark removal may copy from anywhere in the image. Outpainting may not: a border patch
//! copies only from a band of the photo along the edge it lies beyond, and only from near
//! where it stands along that edge, so the border continues the edge (table, background)
//! instead of repeating the subject in the middle of the photo.

use super::Sources;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Top,
    Bottom,
    Left,
    Right,
}

/// [`Sources`] scaled to one level of the pyramid.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    Anywhere,
    NearEdge {
        /// The photo at this level: `x0..x1` by `y0..y1`.
        x0: isize,
        y0: isize,
        x1: isize,
        y1: isize,
        /// Source centres lie fewer than `band` pixels inside the edge.
        band: isize,
        /// ... and at most `reach` pixels along the edge from the target's projection on it.
        reach: isize,
    },
}

impl Rule {
    /// The rule at pyramid level `shift` (the image halved `shift` times). A coarse pixel is
    /// known only when its four parents all are, so the photo shrinks inwards.
    pub fn at_level(sources: &Sources, shift: u32) -> Rule {
        match *sources {
            Sources::Anywhere => Rule::Anywhere,
            Sources::NearEdge {
                x0,
                y0,
                x1,
                y1,
                band,
                reach,
            } => {
                let s = 1i64 << shift;
                let up = |v: u32| i64::from(v).div_euclid(s) + i64::from(i64::from(v) % s != 0);
                let down = |v: u32| i64::from(v) / s;
                Rule::NearEdge {
                    x0: up(x0) as isize,
                    y0: up(y0) as isize,
                    x1: down(x1) as isize,
                    y1: down(y1) as isize,
                    band: (i64::from(band) / s) as isize,
                    reach: (i64::from(reach) / s).max(2) as isize,
                }
            }
        }
    }

    /// Whether `band` leaves at least `rows` rows of patch centres inside the photo.
    pub fn band_rows(&self, radius: usize) -> Option<isize> {
        match *self {
            Rule::Anywhere => None,
            Rule::NearEdge { band, .. } => Some(band - radius as isize),
        }
    }

    /// The edges a target at `(x, y)` continues: the one or two it lies beyond, or for a
    /// target inside the photo the nearest.
    fn sides(x0: isize, y0: isize, x1: isize, y1: isize, x: isize, y: isize) -> [Option<Side>; 2] {
        let beyond_x = if x < x0 {
            Some(Side::Left)
        } else if x >= x1 {
            Some(Side::Right)
        } else {
            None
        };
        let beyond_y = if y < y0 {
            Some(Side::Top)
        } else if y >= y1 {
            Some(Side::Bottom)
        } else {
            None
        };
        if beyond_x.is_some() || beyond_y.is_some() {
            return [beyond_x, beyond_y];
        }
        let nearest = [
            (y - y0, Side::Top),
            (y1 - 1 - y, Side::Bottom),
            (x - x0, Side::Left),
            (x1 - 1 - x, Side::Right),
        ]
        .into_iter()
        .min_by_key(|&(d, _)| d)
        .map(|(_, side)| side);
        [nearest, None]
    }

    /// Whether a target centred at `t` may copy the patch centred at `s`.
    #[inline]
    pub fn allows(&self, t: (usize, usize), s: (usize, usize)) -> bool {
        match *self {
            Rule::Anywhere => true,
            Rule::NearEdge {
                x0,
                y0,
                x1,
                y1,
                band,
                reach,
            } => {
                let (tx, ty) = (t.0 as isize, t.1 as isize);
                let (sx, sy) = (s.0 as isize, s.1 as isize);
                Self::sides(x0, y0, x1, y1, tx, ty)
                    .into_iter()
                    .flatten()
                    .any(|side| {
                        let (lo, hi) = Self::window(x0, y0, x1, y1, band, reach, side, tx, ty);
                        sx >= lo.0 && sx < hi.0 && sy >= lo.1 && sy < hi.1
                    })
            }
        }
    }

    /// The box (inclusive low, exclusive high) of source centres one side allows.
    #[allow(clippy::too_many_arguments)]
    fn window(
        x0: isize,
        y0: isize,
        x1: isize,
        y1: isize,
        band: isize,
        reach: isize,
        side: Side,
        tx: isize,
        ty: isize,
    ) -> ((isize, isize), (isize, isize)) {
        let ax = tx.clamp(x0, x1 - 1);
        let ay = ty.clamp(y0, y1 - 1);
        match side {
            Side::Top => ((ax - reach, y0), (ax + reach + 1, y0 + band)),
            Side::Bottom => ((ax - reach, y1 - band), (ax + reach + 1, y1)),
            Side::Left => ((x0, ay - reach), (x0 + band, ay + reach + 1)),
            Side::Right => ((x1 - band, ay - reach), (x1, ay + reach + 1)),
        }
    }

    /// A random source centre the rule allows for target `t`, inside `w`x`h` (not checked
    /// against the hole). `None` for [`Rule::Anywhere`]: draw from all sources instead.
    pub fn sample(
        &self,
        t: (usize, usize),
        w: usize,
        h: usize,
        rng: &mut fastrand::Rng,
    ) -> Option<(usize, usize)> {
        match *self {
            Rule::Anywhere => None,
            Rule::NearEdge {
                x0,
                y0,
                x1,
                y1,
                band,
                reach,
            } => {
                let (tx, ty) = (t.0 as isize, t.1 as isize);
                let sides = Self::sides(x0, y0, x1, y1, tx, ty);
                let side = match sides {
                    [Some(a), Some(b)] => {
                        if rng.bool() {
                            a
                        } else {
                            b
                        }
                    }
                    [Some(a), None] | [None, Some(a)] => a,
                    [None, None] => return None,
                };
                let (lo, hi) = Self::window(x0, y0, x1, y1, band, reach, side, tx, ty);
                let (lx, ly) = (lo.0.max(0), lo.1.max(0));
                let (hx, hy) = (hi.0.min(w as isize), hi.1.min(h as isize));
                if lx >= hx || ly >= hy {
                    return None;
                }
                Some((rng.isize(lx..hx) as usize, rng.isize(ly..hy) as usize))
            }
        }
    }

    /// How far the random search first looks around a match.
    pub fn search_radius(&self, w: usize, h: usize) -> f32 {
        match *self {
            Rule::Anywhere => w.max(h) as f32,
            Rule::NearEdge { band, reach, .. } => (2 * band.max(reach)) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> Rule {
        Rule::at_level(
            &Sources::NearEdge {
                x0: 20,
                y0: 10,
                x1: 120,
                y1: 70,
                band: 12,
                reach: 15,
            },
            0,
        )
    }

    #[test]
    fn a_border_patch_copies_only_from_the_band_of_its_own_edge_near_it() {
        let rule = edge();
        // Above the photo at x = 60: the top band near x = 60.
        assert!(rule.allows((60, 3), (62, 15)));
        assert!(!rule.allows((60, 3), (62, 40)), "the middle of the photo");
        assert!(!rule.allows((60, 3), (100, 15)), "too far along the edge");
        assert!(
            !rule.allows((60, 3), (25, 40)),
            "the left band is not its edge"
        );
        // The top-left corner may take from either band near the corner.
        assert!(rule.allows((5, 2), (22, 12)));
        assert!(rule.allows((5, 2), (25, 20)));
        assert!(!rule.allows((5, 2), (60, 40)));
        // Every sample is allowed.
        let mut rng = fastrand::Rng::with_seed(3);
        for t in [(60, 3), (5, 2), (130, 40), (70, 75), (21, 30)] {
            for _ in 0..200 {
                let s = rule.sample(t, 140, 80, &mut rng).unwrap();
                assert!(rule.allows(t, s), "{t:?} <- {s:?}");
            }
        }
    }

    #[test]
    fn the_photo_shrinks_inwards_at_coarser_levels() {
        let Rule::NearEdge {
            x0,
            y0,
            x1,
            y1,
            band,
            ..
        } = Rule::at_level(
            &Sources::NearEdge {
                x0: 21,
                y0: 10,
                x1: 121,
                y1: 70,
                band: 12,
                reach: 15,
            },
            1,
        )
        else {
            panic!("not an edge rule");
        };
        assert_eq!((x0, y0, x1, y1, band), (11, 5, 60, 35, 6));
    }
}
