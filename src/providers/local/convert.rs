//! Conversion to PNG: every TIFF page, and every GIF frame when asked.

use crate::domain::params::ConvertParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::Result;
use crate::media;

pub fn convert_to_png(
    source: &SourceImage,
    params: &ConvertParams,
    limits: &ImageLimits,
) -> Result<Vec<EncodedImage>> {
    // A multi-page TIFF is a document: every page is converted. A GIF's extra frames are
    // an animation, split only on request (seed 002 `keep_animation`).
    let all = match source.format {
        ImageFormat::Tiff => true,
        ImageFormat::Gif => params.keep_animation,
        ImageFormat::Png
        | ImageFormat::Jpeg
        | ImageFormat::Webp
        | ImageFormat::Bmp
        | ImageFormat::Svg => false,
    };
    let (_, frames) = media::decode_frames(&source.bytes, limits, all)?;
    frames
        .iter()
        .map(|frame| {
            Ok(EncodedImage {
                bytes: media::encode(frame, ImageFormat::Png, 100)?,
                format: ImageFormat::Png,
                width: frame.width(),
                height: frame.height(),
            })
        })
        .collect()
}
