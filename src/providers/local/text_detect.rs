//! Finds overlaid text (watermarks, captions, logos with lettering) with the PP-OCRv4 DB
//! detector, and turns its probability map into a pixel mask of the image.
//!
//! Post-processing follows PaddleOCR's `DBPostProcess`: threshold the map, take each connected
//! region, drop regions whose mean probability is below the box threshold, then "unclip" the
//! region (the model predicts text shrunk towards its centre line) by
//! `area * unclip_ratio / perimeter` of its bounding box. Regions are grown as pixel sets
//! rather than as boxes, which keeps the mask tight around slanted text.

use std::path::PathBuf;

use image::RgbImage;
use ort::value::TensorRef;

use crate::error::{Error, ErrorCode, Result};
use crate::imaging::resample;
use crate::providers::local::models::runtime::{Runtime, Slot};
use crate::providers::local::models::{install, registry};

/// The registry name of the detector.
pub const MODEL: &str = "ch_PP-OCRv4_det";

/// Probability above which a map pixel counts as text.
const THRESHOLD: f32 = 0.3;
/// Mean probability a region needs to be kept.
const BOX_THRESHOLD: f32 = 0.5;
/// How far a region is grown back: `area * ratio / perimeter` of its box.
const UNCLIP_RATIO: f32 = 1.5;
/// Regions smaller than this (in map pixels) are noise.
const MIN_REGION_PIXELS: usize = 6;
/// The model's input sides must be multiples of this.
const SIDE_MULTIPLE: usize = 32;
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// What the detector found.
#[derive(Debug, Clone)]
pub struct Detection {
    /// One entry per image pixel, row-major; true where text was found.
    pub mask: Vec<bool>,
    /// Text regions found.
    pub regions: usize,
}

/// Runs the text detector. Cheap to create: nothing is loaded before the first detection.
#[derive(Debug, Clone)]
pub struct TextDetector {
    runtime: Runtime,
    dir: PathBuf,
    /// Longer side of the model input; larger images are shrunk to it.
    max_side: u32,
}

impl TextDetector {
    pub fn new(runtime: Runtime, max_side: u32) -> Self {
        TextDetector {
            dir: runtime.settings().dir.clone(),
            runtime,
            max_side: max_side.max(SIDE_MULTIPLE as u32),
        }
    }

    /// Whether the model is installed and ONNX Runtime loads.
    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// What keeps detection from running: the model file missing or ONNX Runtime not
    /// loading.
    pub fn readiness(&self) -> Result<()> {
        self.model_path()?;
        self.runtime.library().map(|_| ())
    }

    fn model_path(&self) -> Result<PathBuf> {
        let spec = registry::find(MODEL)
            .ok_or_else(|| Error::internal(format!("{MODEL} is missing from the registry")))?;
        if !install::is_installed(&self.dir, spec) {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "the text detection model `{MODEL}` is not installed in {}; run \
                     `imgforge models fetch {MODEL}`, or send a mask of the area to remove",
                    self.dir.display()
                ),
            ));
        }
        Ok(install::file_path(&self.dir, spec.main_file()))
    }

    /// Text regions of `image`, as a mask at the image's size. Blocking.
    #[tracing::instrument(level = "debug", skip_all, fields(width = image.width(), height = image.height()))]
    pub fn detect(&self, image: &RgbImage) -> Result<Detection> {
        let path = self.model_path()?;
        let (width, height) = (image.width() as usize, image.height() as usize);
        let (in_w, in_h) = input_size(width, height, self.max_side as usize);
        let small = resample::resize::<3>(image.as_raw(), width, height, in_w, in_h);
        let (map, map_w, map_h) = self
            .runtime
            .with_session(&path, |slot| infer(slot, &small, in_w, in_h))?;
        let (regions, small_mask) = regions(&map, map_w, map_h);
        let mask = scale_mask(&small_mask, map_w, map_h, width, height);
        Ok(Detection { mask, regions })
    }
}

/// Model input size: the longer side at most `max_side`, both sides rounded to multiples of 32.
fn input_size(width: usize, height: usize, max_side: usize) -> (usize, usize) {
    let scale = (max_side as f64 / width.max(height) as f64).min(1.0);
    let round = |v: usize| {
        let scaled = (v as f64 * scale / SIDE_MULTIPLE as f64).round() as usize;
        scaled.max(1) * SIDE_MULTIPLE
    };
    (round(width), round(height))
}

fn infer(slot: &mut Slot, small: &[u8], w: usize, h: usize) -> Result<(Vec<f32>, usize, usize)> {
    let plane = w * h;
    let Slot { session, input } = slot;
    input.resize(3 * plane, 0.0);
    // PaddleOCR feeds OpenCV's BGR order with the mean/std listed in RGB order.
    for (i, px) in small.chunks_exact(3).enumerate() {
        for (c, &value) in [px[2], px[1], px[0]].iter().enumerate() {
            input[c * plane + i] = (f32::from(value) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    let failed = |e: ort::Error| Error::internal(format!("model {MODEL} failed: {e}"));
    let tensor = TensorRef::from_array_view(([1usize, 3, h, w], &input[..])).map_err(failed)?;
    let outputs = session.run(ort::inputs![tensor]).map_err(failed)?;
    let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
    match **shape {
        [_, _, oh, ow] if oh > 0 && ow > 0 => {
            let (oh, ow) = (oh as usize, ow as usize);
            Ok((data[..oh * ow].to_vec(), ow, oh))
        }
        _ => Err(Error::internal(format!(
            "model {MODEL} returned a {shape:?} tensor; expected 1x1xHxW"
        ))),
    }
}

/// DB post-processing on the probability map: kept, unclipped regions as a map-sized mask.
fn regions(map: &[f32], w: usize, h: usize) -> (usize, Vec<bool>) {
    let text: Vec<bool> = map.iter().map(|&p| p > THRESHOLD).collect();
    let mut label = vec![0u32; w * h];
    let mut out = vec![false; w * h];
    let mut kept = 0;
    let mut next = 0u32;
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !text[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        let mut members = Vec::new();
        label[start] = next;
        stack.push(start);
        while let Some(i) = stack.pop() {
            members.push(i);
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if text[j] && label[j] == 0 {
                        label[j] = next;
                        stack.push(j);
                    }
                }
            }
        }
        if members.len() < MIN_REGION_PIXELS {
            continue;
        }
        let score = members.iter().map(|&i| map[i]).sum::<f32>() / members.len() as f32;
        if score < BOX_THRESHOLD {
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for &i in &members {
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        let distance = (bw * bh * UNCLIP_RATIO / (2.0 * (bw + bh))).ceil() as usize;
        grow_into(&members, w, h, distance, &mut out);
        kept += 1;
    }
    (kept, out)
}

/// Marks every pixel within `distance` (chessboard) of `members` in `out`.
fn grow_into(members: &[usize], w: usize, h: usize, distance: usize, out: &mut [bool]) {
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for &i in members {
        let (x, y) = (i % w, i / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    // Work on the region's box plus the margin only.
    let (bx0, by0) = (x0.saturating_sub(distance), y0.saturating_sub(distance));
    let (bx1, by1) = ((x1 + distance).min(w - 1), (y1 + distance).min(h - 1));
    let (bw, bh) = (bx1 - bx0 + 1, by1 - by0 + 1);
    let mut local = vec![false; bw * bh];
    for &i in members {
        local[(i / w - by0) * bw + (i % w - bx0)] = true;
    }
    let grown = dilate(&local, bw, bh, distance);
    for y in 0..bh {
        for x in 0..bw {
            if grown[y * bw + x] {
                out[(y + by0) * w + x + bx0] = true;
            }
        }
    }
}

/// Square dilation by `radius`, separable (rows then columns), linear in the pixel count.
pub fn dilate(mask: &[bool], w: usize, h: usize, radius: usize) -> Vec<bool> {
    if radius == 0 {
        return mask.to_vec();
    }
    let pass = |src: &[bool], len: usize, stride: usize, lines: usize, step: usize| {
        let mut dst = vec![false; src.len()];
        for line in 0..lines {
            let base = line * step;
            // Distance to the last set pixel seen, forwards then backwards.
            let mut last: Option<usize> = None;
            for k in 0..len {
                let i = base + k * stride;
                if src[i] {
                    last = Some(k);
                }
                if last.is_some_and(|l| k - l <= radius) {
                    dst[i] = true;
                }
            }
            last = None;
            for k in (0..len).rev() {
                let i = base + k * stride;
                if src[i] {
                    last = Some(k);
                }
                if last.is_some_and(|l| l - k <= radius) {
                    dst[i] = true;
                }
            }
        }
        dst
    };
    let rows = pass(mask, w, 1, h, w);
    pass(&rows, h, w, w, 1)
}

/// Nearest-neighbour scaling of a map-sized mask to the image (a pixel is set when the map
/// pixel covering its centre is).
fn scale_mask(mask: &[bool], mw: usize, mh: usize, w: usize, h: usize) -> Vec<bool> {
    let mut out = vec![false; w * h];
    for y in 0..h {
        let my = ((y as f64 + 0.5) * mh as f64 / h as f64) as usize;
        let row = my.min(mh - 1) * mw;
        for x in 0..w {
            let mx = ((x as f64 + 0.5) * mw as f64 / w as f64) as usize;
            out[y * w + x] = mask[row + mx.min(mw - 1)];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sides_are_multiples_of_32_within_the_limit() {
        assert_eq!(input_size(600, 400, 960), (608, 416));
        assert_eq!(input_size(4000, 3000, 960), (960, 736));
        assert_eq!(input_size(10, 10, 960), (32, 32));
    }

    #[test]
    fn a_confident_region_is_kept_and_grown_and_a_faint_one_dropped() {
        let (w, h) = (40, 20);
        let mut map = vec![0f32; w * h];
        // A confident 10x3 line of "text" and a faint blob.
        for y in 8..11 {
            for x in 5..15 {
                map[y * w + x] = 0.9;
            }
            for x in 25..35 {
                map[y * w + x] = 0.35;
            }
        }
        let (kept, mask) = regions(&map, w, h);
        assert_eq!(kept, 1);
        // Unclip distance: 30 * 1.5 / 26 -> 2 pixels around the region.
        assert!(mask[6 * w + 3] && mask[12 * w + 16]);
        assert!(!mask[5 * w + 5] && !mask[9 * w + 18]);
        assert!(!mask[9 * w + 30]);
    }

    #[test]
    fn dilation_is_a_square_of_the_radius() {
        let (w, h) = (9, 9);
        let mut mask = vec![false; w * h];
        mask[4 * w + 4] = true;
        let grown = dilate(&mask, w, h, 2);
        assert_eq!(grown.iter().filter(|&&m| m).count(), 25);
        assert!(grown[2 * w + 2] && grown[6 * w + 6] && !grown[w + 4]);
    }
}
