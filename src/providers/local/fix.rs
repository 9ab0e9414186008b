//! Fix (seed 002 `/fix`) on the local engine: Real-ESRGAN super-resolution.
//!
//! `upscale_factor` picks the network: 2 and 4 run the model's x2/x4 graph directly; 1 and 3
//! (and 2 on `realesrgan-x4plus`, which has only an x4 graph) run the next larger graph and
//! resample its result down with Lanczos3, so even factor 1 gets the model's restoration.
//! Alpha is not given to the model (trained on photos, it would spend as long again on a
//! channel that is mostly flat); it is enlarged with Lanczos3, which keeps its edges sharp.
//! Every size is checked before any model runs.

use image::{DynamicImage, GenericImageView, GrayImage, RgbaImage};

use crate::domain::params::FixParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::imaging::resize::resize_to;
use crate::media;
use crate::providers::Output;
use crate::providers::local::upscale::Upscaler;

/// Said in every reply: the seed's prompt steers DashScope's model, not this one.
pub const PROMPT_NOTE: &str =
    "local super-resolution (Real-ESRGAN) takes no prompt; the prompt was ignored";

pub fn fix(
    upscaler: &Upscaler,
    source: &SourceImage,
    params: &FixParams,
    limits: &ImageLimits,
) -> Result<Output> {
    let factor = params.upscale_factor;
    let (width, height) = (source.width, source.height);
    check_sizes(upscaler, width, height, factor, limits)?;
    // The network is looked up (and a missing model reported) before the photo is decoded.
    let network = upscaler.network(factor)?;
    let (format, decoded) = media::decode(&source.bytes, limits)?;
    let (width, height) = decoded.dimensions();
    check_sizes(upscaler, width, height, factor, limits)?;
    let rgb = decoded.to_rgb8();
    let enlarged = upscaler.upscale(&rgb, network)?;
    let (out_w, out_h) = (width * factor, height * factor);
    let has_alpha = decoded.color().has_alpha();
    let result = if has_alpha {
        let alpha = DynamicImage::ImageLuma8(alpha_of(&decoded));
        let alpha = resize_to(&alpha, out_w, out_h)?.to_luma8();
        let color = resize_to(&DynamicImage::ImageRgb8(enlarged), out_w, out_h)?.to_rgb8();
        let mut rgba = RgbaImage::new(out_w, out_h);
        for ((out, c), a) in rgba.pixels_mut().zip(color.pixels()).zip(alpha.pixels()) {
            *out = image::Rgba([c[0], c[1], c[2], a[0]]);
        }
        DynamicImage::ImageRgba8(rgba)
    } else {
        resize_to(&DynamicImage::ImageRgb8(enlarged), out_w, out_h)?
    };
    // The input's format when it can carry the result, else PNG.
    let format = params.output.format.unwrap_or(match format {
        ImageFormat::Jpeg | ImageFormat::Webp if !has_alpha => format,
        ImageFormat::Png
        | ImageFormat::Jpeg
        | ImageFormat::Webp
        | ImageFormat::Gif
        | ImageFormat::Bmp
        | ImageFormat::Tiff
        | ImageFormat::Svg => ImageFormat::Png,
    });
    let bytes = media::encode(&result, format, params.output.quality)?;
    let mut notes = vec![
        format!(
            "upscaled x{factor} on the local engine with {} (x{} network)",
            network.spec.name, network.scale
        ),
        PROMPT_NOTE.to_owned(),
    ];
    if has_alpha {
        notes.push("alpha was enlarged with Lanczos3, not by the model".to_owned());
    }
    Ok(Output {
        images: vec![EncodedImage {
            bytes,
            format,
            width: out_w,
            height: out_h,
        }],
        notes,
        task: None,
    })
}

/// The alpha channel of `image`, narrowed to 8 bits.
fn alpha_of(image: &DynamicImage) -> GrayImage {
    let rgba = image.to_rgba8();
    GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        image::Luma([rgba.get_pixel(x, y).0[3]])
    })
}

/// Refuses, before any work, an input above `max_input_pixels` or a result above the image
/// limits.
pub fn check_sizes(
    upscaler: &Upscaler,
    width: u32,
    height: u32,
    factor: u32,
    limits: &ImageLimits,
) -> Result<()> {
    let max_input = upscaler.settings().max_input_pixels;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_input {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "image is {width}x{height} ({pixels} pixels); local fix takes at most {max_input} \
                 pixels (models.super_resolution.max_input_pixels)"
            ),
        )
        .with_field("image"));
    }
    let (out_w, out_h) = (
        u64::from(width) * u64::from(factor),
        u64::from(height) * u64::from(factor),
    );
    if out_w > u64::from(limits.max_width)
        || out_h > u64::from(limits.max_height)
        || out_w * out_h > limits.max_pixels
    {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "upscale_factor {factor} turns {width}x{height} into {out_w}x{out_h} ({} pixels); \
                 the limit is {}x{} and {} pixels (limits.max_width, max_height, max_pixels)",
                out_w * out_h,
                limits.max_width,
                limits.max_height,
                limits.max_pixels
            ),
        )
        .with_field("upscale_factor"));
    }
    Ok(())
}
