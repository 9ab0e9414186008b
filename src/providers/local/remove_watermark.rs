//! Remove watermark: find overlaid text with the text detector (or take the caller's mask),
//! grow the mask a little, and fill it by patch synthesis from the rest of the image.

use image::{DynamicImage, GrayImage};

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
    let filled = inpaint::inpaint(&rgb, &hole, &budget)?;
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
