//! Exemplar-based hole filling: multi-scale PatchMatch with patch voting (Wexler, Shechtman and
//! Irani, "Space-Time Completion of Video", 2007; Barnes et al., "PatchMatch", 2009).
//!
//! Every hole pixel ends up as a weighted vote of pixels copied from known patches of the same
//! image, so texture (wood grain, noise, edges) continues into the hole instead of being smeared
//! as a blur or a diffusion would. The patch distance counts the luminance gradient beside the
//! colour, so an edge is continued by an edge running the same way.
//!
//! The search runs coarse to fine, halving only while the hole is thicker than a patch (thin
//! text strokes are filled at full resolution). The coarsest level is filled ring by ring from
//! the hole's edge inwards (onion peel), each pixel from the patch that best matches what is
//! already known around it; then every level searches (PatchMatch) and votes a few rounds, and
//! hands its matches to the next finer level. Levels whose hole is larger than
//! [`InpaintBudget::search_pixels`] reuse the coarser level's matches without searching again,
//! which bounds the work on big canvases (expand).
//!
//! [`Sources`] limits where a patch may copy from: anywhere, or for outpainting only from a
//! band of the photo along the edge being grown, near the target's place along that edge.

mod patchmatch;
mod pyramid;
mod rule;

use image::RgbImage;

use crate::error::{Error, Result};

pub use patchmatch::PATCH_RADIUS;

/// How much work one fill may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InpaintBudget {
    /// Larger holes are refused before any work starts.
    pub max_hole_pixels: u64,
    /// Pyramid levels with more hole pixels than this copy the coarser level's matches instead
    /// of searching (bounded time on large canvases; the texture is still copied at full
    /// resolution).
    pub search_pixels: u64,
    /// Search-and-vote rounds per pyramid level.
    pub iterations: u32,
}

impl Default for InpaintBudget {
    fn default() -> Self {
        InpaintBudget {
            max_hole_pixels: 8_000_000,
            search_pixels: 150_000,
            iterations: 4,
        }
    }
}

/// Where hole patches may copy from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Any patch of the image free of the hole.
    Anywhere,
    /// Outpainting: the photo is `x0..x1` by `y0..y1` on the canvas. A border patch copies only
    /// from patches centred fewer than `band` pixels inside the edge it lies beyond (either
    /// edge at a corner), and at most `reach` pixels along that edge from where it stands.
    NearEdge {
        x0: u32,
        y0: u32,
        x1: u32,
        y1: u32,
        band: u32,
        reach: u32,
    },
}

/// A filled image and where each pixel's patch was copied from.
pub struct Filled {
    pub image: RgbImage,
    /// Per pixel, the centre (`y * width + x`) of the patch the final match of the patch
    /// centred there copies; `u32::MAX` for pixels whose patch does not touch the hole.
    pub matches: Vec<u32>,
}

/// Fills the pixels where `hole` is true from the rest of `image`. `hole` is row-major, one
/// entry per pixel. Known pixels are returned unchanged. Blocking and CPU-heavy.
pub fn inpaint(image: &RgbImage, hole: &[bool], budget: &InpaintBudget) -> Result<RgbImage> {
    inpaint_from(image, hole, budget, &Sources::Anywhere).map(|filled| filled.image)
}

/// [`inpaint`] with the patches it may copy from limited by `sources`.
pub fn inpaint_from(
    image: &RgbImage,
    hole: &[bool],
    budget: &InpaintBudget,
    sources: &Sources,
) -> Result<Filled> {
    let (width, height) = image.dimensions();
    let (w, h) = (width as usize, height as usize);
    if hole.len() != w * h {
        return Err(Error::internal("hole mask does not match the image size"));
    }
    let hole_pixels = hole.iter().filter(|&&m| m).count() as u64;
    if hole_pixels == 0 {
        return Ok(Filled {
            image: image.clone(),
            matches: vec![u32::MAX; w * h],
        });
    }
    if hole_pixels > budget.max_hole_pixels {
        return Err(Error::too_large(
            "mask",
            format!(
                "the area to fill is {hole_pixels} pixels, more than inpaint.max_hole_pixels \
                 ({}); use a smaller mask or image",
                budget.max_hole_pixels
            ),
        ));
    }
    let side = 2 * PATCH_RADIUS + 1;
    if w < side || h < side {
        return Err(Error::invalid(
            "image",
            format!("the image must be at least {side}x{side} pixels to be filled from itself"),
        ));
    }
    if hole_pixels as usize == w * h {
        return Err(Error::invalid(
            "mask",
            "the mask covers the whole image: nothing is left to fill it from",
        ));
    }
    let pixels: Vec<[f32; 3]> = image
        .pixels()
        .map(|p| [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])])
        .collect();
    let (filled, matches) = pyramid::fill(pixels, hole.to_vec(), w, h, budget, sources)?;
    let mut out = image.clone();
    for ((px, value), &is_hole) in out.pixels_mut().zip(&filled).zip(hole) {
        if is_hole {
            for c in 0..3 {
                px[c] = value[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(Filled {
        image: out,
        matches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    /// A diagonal stripe texture with noise: easy to continue by copying, impossible to guess
    /// by averaging.
    fn stripes(w: u32, h: u32) -> RgbImage {
        let mut rng = fastrand::Rng::with_seed(7);
        RgbImage::from_fn(w, h, |x, y| {
            let band = ((x + y) / 4) % 2 == 0;
            let base: i32 = if band { 200 } else { 60 };
            let n = rng.i32(-12..=12);
            let v = (base + n).clamp(0, 255) as u8;
            image::Rgb([v, v / 2 + 40, 255 - v])
        })
    }

    fn psnr(a: &RgbImage, b: &RgbImage, region: &[bool]) -> f64 {
        let mut se = 0f64;
        let mut n = 0f64;
        for ((pa, pb), &m) in a.pixels().zip(b.pixels()).zip(region) {
            if m {
                for c in 0..3 {
                    let d = f64::from(pa[c]) - f64::from(pb[c]);
                    se += d * d;
                }
                n += 3.0;
            }
        }
        10.0 * (255.0f64 * 255.0 / (se / n).max(1e-9)).log10()
    }

    fn square_hole(w: u32, h: u32, x0: u32, y0: u32, side: u32) -> Vec<bool> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| x >= x0 && x < x0 + side && y >= y0 && y < y0 + side))
            .collect()
    }

    #[test]
    fn a_hole_in_a_texture_is_filled_better_than_with_its_mean_colour() {
        let truth = stripes(96, 96);
        let hole = square_hole(96, 96, 36, 40, 20);
        let filled = inpaint(&truth, &hole, &InpaintBudget::default()).unwrap();
        // The flat-fill baseline: every hole pixel the mean of the known pixels.
        let mut sum = [0f64; 3];
        let mut n = 0f64;
        for (p, &m) in truth.pixels().zip(&hole) {
            if !m {
                for c in 0..3 {
                    sum[c] += f64::from(p[c]);
                }
                n += 1.0;
            }
        }
        let mut flat = truth.clone();
        for (p, &m) in flat.pixels_mut().zip(&hole) {
            if m {
                for c in 0..3 {
                    p[c] = (sum[c] / n).round() as u8;
                }
            }
        }
        let ours = psnr(&filled, &truth, &hole);
        let baseline = psnr(&flat, &truth, &hole);
        eprintln!("hole psnr: patch synthesis {ours:.2} dB, flat fill {baseline:.2} dB");
        assert!(
            ours > baseline + 6.0,
            "patch synthesis {ours:.2} dB is not 6 dB above the flat fill {baseline:.2} dB"
        );
        // Known pixels are untouched.
        for ((a, b), &m) in filled.pixels().zip(truth.pixels()).zip(&hole) {
            if !m {
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn a_hole_larger_than_the_budget_is_refused_before_work() {
        let image = stripes(40, 40);
        let hole = square_hole(40, 40, 5, 5, 20);
        let budget = InpaintBudget {
            max_hole_pixels: 100,
            ..InpaintBudget::default()
        };
        let err = inpaint(&image, &hole, &budget).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(err.message.contains("inpaint.max_hole_pixels"));
    }

    #[test]
    fn a_fill_past_its_time_budget_stops() {
        let image = stripes(64, 64);
        let hole = square_hole(64, 64, 20, 20, 16);
        let err = crate::media::cancel::run_here(std::time::Duration::ZERO, || {
            inpaint(&image, &hole, &InpaintBudget::default())
        })
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    }

    #[test]
    fn a_mask_covering_everything_is_refused() {
        let image = stripes(20, 20);
        let err = inpaint(&image, &[true; 400], &InpaintBudget::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }
}
