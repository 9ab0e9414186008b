//! Remove watermark: find overlaid text with the text detector (or take the caller's mask),
//! narrow each detected region down to the strokes of its letters, grow that a little, and fill
//! it by patch synthesis from the rest of the image.
//!
//! The detector outlines whole words; most of such a box is the photo seen between the
//! letters. Filling the whole box throws that away and leaves a smeared band where the text
//! crosses an edge, so inside each region the letters are told from the photo by a
//! morphological top-hat (the letters are thinner than the box is tall, and brighter — or
//! darker — than what is around them), thresholded by Otsu's method. A region where that does
//! not look like lettering is removed whole.

use image::{DynamicImage, GrayImage, RgbImage};

use crate::config::InpaintSettings;
use crate::domain::params::RemoveWatermarkParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::{Error, Result};
use crate::media;
use crate::providers::Output;
use crate::providers::local::inpaint;
use crate::providers::local::text_detect::{self, TextDetector};

/// Mask pixels at or above this grey level are removed.
const MASK_LEVEL: u8 = 128;

/// Pixels the letter strokes are grown by (their anti-aliased rim).
const STROKE_GROW: usize = 1;

/// Top-hat values below this never count as a stroke (flat photo inside the box).
const MIN_STROKE_CONTRAST: f32 = 12.0;

/// A region is taken to be lettering when its strokes cover this share of it.
const STROKE_SHARE: std::ops::RangeInclusive<f32> = 0.03..=0.7;

pub fn remove_watermark(
    detector: &TextDetector,
    source: &SourceImage,
    params: &RemoveWatermarkParams,
    settings: &InpaintSettings,
    limits: &ImageLimits,
) -> Result<Output> {
    let (_, decoded) = media::decode(&source.bytes, limits)?;
    let rgb = decoded.to_rgb8();
    let (w, h) = rgb.dimensions();
    let mut notes = Vec::new();
    let (hole, found) = match &params.mask {
        Some(mask) => (
            caller_mask(mask, w, h, limits)?,
            "the given mask".to_owned(),
        ),
        None => {
            let detection = detector.detect(&rgb)?;
            let grown = text_detect::dilate(
                &detection.mask,
                w as usize,
                h as usize,
                settings.grow_px as usize,
            );
            let grown = strokes(&rgb, &grown);
            let what = format!(
                "{} text region(s) found by {}",
                detection.regions,
                text_detect::MODEL
            );
            (grown, what)
        }
    };
    let area = hole.iter().filter(|&&m| m).count();
    if area == 0 {
        notes.push(match params.mask {
            Some(_) => "the mask is empty: the image is returned unchanged".to_owned(),
            None => "no text or logo was found: the image is returned unchanged".to_owned(),
        });
        return Ok(Output {
            images: vec![unchanged(source, &decoded, params)?],
            notes,
            task: None,
        });
    }
    let budget = inpaint::InpaintBudget {
        max_hole_pixels: settings.max_hole_pixels,
        search_pixels: settings.search_pixels,
        iterations: settings.iterations,
    };
    let mut filled = inpaint::inpaint(&rgb, &hole, &budget)?;
    let see_through = unblend(&rgb, &mut filled, &hole);
    // Transparency is kept as it was; only colour is synthesised.
    let result = match decoded.color().has_alpha() {
        true => {
            let mut rgba = decoded.to_rgba8();
            for (out, px) in rgba.pixels_mut().zip(filled.pixels()) {
                out.0[..3].copy_from_slice(&px.0);
            }
            DynamicImage::ImageRgba8(rgba)
        }
        false => DynamicImage::ImageRgb8(filled),
    };
    notes.push(format!(
        "removed {area} pixels ({found}), filled by exemplar-based patch synthesis from the \
         rest of the image"
    ));
    if let Some(alpha) = see_through {
        notes.push(format!(
            "the overlay was semi-transparent (opacity {:.0}%): the photo under it was \
             recovered by un-blending, with the fill as the guide",
            alpha * 100.0
        ));
    }
    if params.prompt != RemoveWatermarkParams::DEFAULT_PROMPT {
        notes.push("prompt was not used: the local provider does not take instructions".into());
    }
    Ok(Output {
        images: vec![encode(&result, source.format, params)?],
        notes,
        task: None,
    })
}

/// The caller's mask as one flag per pixel; it must have the image's size.
fn caller_mask(bytes: &[u8], w: u32, h: u32, limits: &ImageLimits) -> Result<Vec<bool>> {
    let (_, mask) = media::decode(bytes, limits).map_err(|e| e.or_field("mask"))?;
    if (mask.width(), mask.height()) != (w, h) {
        return Err(Error::invalid(
            "mask",
            format!(
                "the mask is {}x{} but the image is {w}x{h}; they must be the same size",
                mask.width(),
                mask.height()
            ),
        ));
    }
    let grey: GrayImage = mask.to_luma8();
    Ok(grey.as_raw().iter().map(|&v| v >= MASK_LEVEL).collect())
}

/// Nothing to remove: the input bytes as they came when no other format was asked for.
fn unchanged(
    source: &SourceImage,
    decoded: &DynamicImage,
    params: &RemoveWatermarkParams,
) -> Result<EncodedImage> {
    let keep = params.output.format.is_none_or(|f| f == source.format);
    if keep && source.format.is_writable() {
        return Ok(EncodedImage {
            bytes: source.bytes.clone(),
            format: source.format,
            width: source.width,
            height: source.height,
        });
    }
    encode(decoded, source.format, params)
}

fn encode(
    image: &DynamicImage,
    input: ImageFormat,
    params: &RemoveWatermarkParams,
) -> Result<EncodedImage> {
    // The input's format unless another was asked for.
    let format = params.output.format.unwrap_or(if input.is_writable() {
        input
    } else {
        ImageFormat::Png
    });
    Ok(EncodedImage {
        bytes: media::encode(image, format, params.output.quality)?,
        format,
        width: image.width(),
        height: image.height(),
    })
}

/// Overlays more opaque than this (or fainter than [`MIN_OPACITY`]) are filled, not
/// un-blended.
const MAX_OPACITY: f32 = 0.85;
const MIN_OPACITY: f32 = 0.15;

/// Share of the stroke interiors whose opacity must agree with the median (within 0.15) for the
/// overlay to count as one uniform semi-transparent layer.
const OPACITY_AGREEMENT: f32 = 0.6;

/// A white (or black) overlay of uniform opacity `a` over the photo `B` shows `a C + (1 - a) B`:
/// the photo is still there, at `1 - a` of its contrast. With the fill `F` as a guide to `B`,
/// each masked pixel's opacity is estimated by projecting `I - F` on `C - F`; when the stroke
/// interiors agree on one opacity, every masked pixel is un-blended with its own estimate
/// (capped at the common one, so anti-aliased rims are handled) and
/// `B = (I - a C) / (1 - a)`. Pixels the estimate puts outside the overlay keep the fill.
/// Returns the opacity when it un-blended.
fn unblend(image: &RgbImage, filled: &mut RgbImage, hole: &[bool]) -> Option<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let px = |img: &RgbImage, i: usize| {
        let p = img.as_raw();
        [
            f32::from(p[3 * i]),
            f32::from(p[3 * i + 1]),
            f32::from(p[3 * i + 2]),
        ]
    };
    // White lettering brightens, black darkens.
    let mut lift = 0f32;
    for (i, _) in hole.iter().enumerate().filter(|&(_, &m)| m) {
        let (a, b) = (px(image, i), px(filled, i));
        lift += (a[0] - b[0]) + (a[1] - b[1]) + (a[2] - b[2]);
    }
    let colour = if lift >= 0.0 { 255.0 } else { 0.0 };
    let opacity = |i: usize| -> Option<f32> {
        let (a, b) = (px(image, i), px(filled, i));
        let (mut num, mut den) = (0f32, 0f32);
        for c in 0..3 {
            num += (a[c] - b[c]) * (colour - b[c]);
            den += (colour - b[c]) * (colour - b[c]);
        }
        // Where the fill is already the overlay's colour the opacity cannot be told.
        (den > 300.0).then(|| num / den)
    };
    let estimates: Vec<Option<f32>> = (0..w * h)
        .map(|i| if hole[i] { opacity(i) } else { None })
        .collect();
    // Stroke interiors: masked pixels whose four neighbours are masked too.
    let mut interior = Vec::new();
    for y in 1..h.saturating_sub(1) {
        for x in 1..w - 1 {
            let i = y * w + x;
            if hole[i] && hole[i - 1] && hole[i + 1] && hole[i - w] && hole[i + w] {
                if let Some(a) = estimates[i] {
                    interior.push(a);
                }
            }
        }
    }
    if interior.len() < 50 {
        return None;
    }
    let k = interior.len() / 2;
    let (_, &mut median, _) = interior.select_nth_unstable_by(k, f32::total_cmp);
    let agree = interior
        .iter()
        .filter(|&&a| (a - median).abs() <= 0.15)
        .count() as f32
        / interior.len() as f32;
    if !(MIN_OPACITY..=MAX_OPACITY).contains(&median) || agree < OPACITY_AGREEMENT {
        return None;
    }
    let out = filled.as_mut();
    let src = image.as_raw();
    for (i, estimate) in estimates.iter().enumerate() {
        let Some(a) = *estimate else { continue };
        if a < 0.5 * median {
            continue;
        }
        let a = a.min(median);
        for c in 0..3 {
            let v = (f32::from(src[3 * i + c]) - a * colour) / (1.0 - a);
            out[3 * i + c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    Some(median)
}

/// Narrows each connected region of `regions` to the strokes of the letters in it (see the
/// module notes); regions that do not look like lettering are kept whole.
pub fn strokes(image: &RgbImage, regions: &[bool]) -> Vec<bool> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let luma: Vec<f32> = image
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let mut out = vec![false; w * h];
    let mut seen = vec![false; w * h];
    for start in 0..w * h {
        if !regions[start] || seen[start] {
            continue;
        }
        // One 8-connected region and its bounding box.
        let mut members = vec![start];
        seen[start] = true;
        let mut k = 0;
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        while k < members.len() {
            let i = members[k];
            k += 1;
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let n = ny * w + nx;
                    if regions[n] && !seen[n] {
                        seen[n] = true;
                        members.push(n);
                    }
                }
            }
        }
        let letters = region_strokes(&luma, w, h, &members, (x0, y0, x1, y1));
        let share = letters.len() as f32 / members.len() as f32;
        if STROKE_SHARE.contains(&share) {
            let mut mask = vec![false; w * h];
            for &i in &letters {
                mask[i] = true;
            }
            let grown = text_detect::dilate(&mask, w, h, STROKE_GROW);
            for &i in &members {
                out[i] |= grown[i];
            }
        } else {
            for &i in &members {
                out[i] = true;
            }
        }
    }
    out
}

/// The pixels of one region whose top-hat (white when the region is lighter than its
/// surroundings, black when darker) is above an Otsu threshold.
fn region_strokes(
    luma: &[f32],
    w: usize,
    h: usize,
    members: &[usize],
    (x0, y0, x1, y1): (usize, usize, usize, usize),
) -> Vec<usize> {
    // The structuring element is wider than a stroke: about half the region's height.
    let side = (y1 - y0 + 1).min(x1 - x0 + 1);
    let radius = (side / 4).clamp(2, 15);
    // Work on the box plus a margin so the filters see past the region's edge.
    let m = 2 * radius;
    let (bx0, by0) = (x0.saturating_sub(m), y0.saturating_sub(m));
    let (bx1, by1) = ((x1 + m).min(w - 1), (y1 + m).min(h - 1));
    let (bw, bh) = (bx1 - bx0 + 1, by1 - by0 + 1);
    let mut patch = vec![0f32; bw * bh];
    for y in 0..bh {
        for x in 0..bw {
            patch[y * bw + x] = luma[(by0 + y) * w + bx0 + x];
        }
    }
    let opened = filter(
        &filter(&patch, bw, bh, radius, f32::min),
        bw,
        bh,
        radius,
        f32::max,
    );
    let closed = filter(
        &filter(&patch, bw, bh, radius, f32::max),
        bw,
        bh,
        radius,
        f32::min,
    );
    let local = |i: usize| (i % w - bx0) + (i / w - by0) * bw;
    // Light lettering makes the region lighter than the photo around it, dark lettering
    // darker.
    let mut inside = vec![false; bw * bh];
    let (mut sum_in, mut n_in) = (0f32, 0f32);
    for &i in members {
        let j = local(i);
        inside[j] = true;
        sum_in += patch[j];
        n_in += 1.0;
    }
    let (mut sum_out, mut n_out) = (0f32, 0f32);
    for (j, &v) in patch.iter().enumerate() {
        if !inside[j] {
            sum_out += v;
            n_out += 1.0;
        }
    }
    let bright = n_out == 0.0 || sum_in / n_in >= sum_out / n_out;
    let values: Vec<f32> = members
        .iter()
        .map(|&i| {
            let j = local(i);
            if bright {
                patch[j] - opened[j]
            } else {
                closed[j] - patch[j]
            }
        })
        .collect();
    let threshold = otsu(&values).max(MIN_STROKE_CONTRAST);
    members
        .iter()
        .zip(&values)
        .filter(|&(_, &v)| v > threshold)
        .map(|(&i, _)| i)
        .collect()
}

/// A square min or max filter of `radius`, separable.
fn filter(src: &[f32], w: usize, h: usize, radius: usize, pick: fn(f32, f32) -> f32) -> Vec<f32> {
    let mut rows = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(radius), (x + radius).min(w - 1));
            rows[y * w + x] = src[y * w + a..=y * w + b]
                .iter()
                .copied()
                .reduce(pick)
                .unwrap_or(0.0);
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(radius), (y + radius).min(h - 1));
        for x in 0..w {
            out[y * w + x] = (a..=b)
                .map(|yy| rows[yy * w + x])
                .reduce(pick)
                .unwrap_or(0.0);
        }
    }
    out
}

/// Otsu's threshold of `values` (0..=255), on a 256-bin histogram.
fn otsu(values: &[f32]) -> f32 {
    let mut hist = [0f64; 256];
    for &v in values {
        hist[v.clamp(0.0, 255.0) as usize] += 1.0;
    }
    let total = values.len() as f64;
    let sum: f64 = hist.iter().enumerate().map(|(i, &c)| i as f64 * c).sum();
    let (mut below, mut below_sum, mut best, mut best_var) = (0f64, 0f64, 0usize, -1f64);
    for (t, &c) in hist.iter().enumerate() {
        below += c;
        below_sum += t as f64 * c;
        let above = total - below;
        if below == 0.0 || above == 0.0 {
            continue;
        }
        let (m0, m1) = (below_sum / below, (sum - below_sum) / above);
        let var = below * above * (m0 - m1) * (m0 - m1);
        if var > best_var {
            best_var = var;
            best = t;
        }
    }
    best as f32 + 0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Sub;

    #[test]
    fn a_text_box_is_narrowed_to_its_letters() {
        // Textured background, a bright 3-px-wide "letter" bar pattern inside a box.
        let (w, h) = (80u32, 40u32);
        let mut rng = fastrand::Rng::with_seed(5);
        let letter = |x: u32, y: u32| (10..30).contains(&y) && (20..60).contains(&x) && x % 8 < 3;
        let image = RgbImage::from_fn(w, h, |x, y| {
            let v = 80 + rng.u8(..30);
            if letter(x, y) {
                image::Rgb([230, 230, 230])
            } else {
                image::Rgb([v, v / 2, v / 3])
            }
        });
        let region: Vec<bool> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (6..34).contains(&y) && (14..66).contains(&x)))
            .collect();
        let mask = strokes(&image, &region);
        let area = mask.iter().filter(|&&m| m).count();
        let boxed = region.iter().filter(|&&m| m).count();
        for y in 0..h {
            for x in 0..w {
                if letter(x, y) {
                    assert!(mask[(y * w + x) as usize], "letter pixel {x},{y} missed");
                }
            }
        }
        assert!(area * 2 < boxed, "{area} of {boxed} box pixels kept");
    }

    #[test]
    fn a_semi_transparent_overlay_is_unblended_and_an_opaque_one_is_not() {
        let (w, h) = (60u32, 40u32);
        let photo = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(60 + x * 2) as u8, (40 + y * 3) as u8, ((x * y) % 90) as u8])
        });
        let hole: Vec<bool> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (10..30).contains(&y) && (10..50).contains(&x)))
            .collect();
        // The fill is a rough guess: the photo with an error of 12 grey levels.
        let guess = RgbImage::from_fn(w, h, |x, y| {
            let p = photo.get_pixel(x, y);
            image::Rgb([p[0].saturating_add(12), p[1], p[2].saturating_sub(12)])
        });
        for (opacity, unblended) in [(0.5f32, true), (1.0, false)] {
            let marked = RgbImage::from_fn(w, h, |x, y| {
                let p = photo.get_pixel(x, y);
                if hole[(y * w + x) as usize] {
                    image::Rgb(
                        p.0.map(|v| (opacity * 255.0 + (1.0 - opacity) * f32::from(v)) as u8),
                    )
                } else {
                    *p
                }
            });
            let mut filled = guess.clone();
            let found = unblend(&marked, &mut filled, &hole);
            assert_eq!(found.is_some(), unblended, "opacity {opacity}: {found:?}");
            let error = |img: &RgbImage| {
                img.pixels()
                    .zip(photo.pixels())
                    .zip(&hole)
                    .filter(|&(_, &m)| m)
                    .map(|((a, b), _)| {
                        (0..3)
                            .map(|c| f32::from(a[c]).sub(f32::from(b[c])).abs())
                            .sum::<f32>()
                    })
                    .sum::<f32>()
            };
            if unblended {
                assert!(
                    error(&filled) < error(&guess) / 3.0,
                    "un-blending did not beat the guess"
                );
            } else {
                assert_eq!(filled, guess, "an opaque overlay keeps the fill");
            }
        }
    }

    #[test]
    fn a_region_without_lettering_is_kept_whole() {
        let image = RgbImage::from_pixel(30, 30, image::Rgb([90, 90, 90]));
        let region: Vec<bool> = (0..900).map(|i| (5..25).contains(&(i % 30))).collect();
        assert_eq!(strokes(&image, &region), region);
    }
}
