//! Remove background: segment, refine the edge, render the requested output.

use crate::domain::params::RemoveBackgroundParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::Result;
use crate::media;
use crate::providers::local::Segmenter;
use crate::providers::local::cutout::{self, CutoutOptions};

pub fn remove_background(
    segmenter: &Segmenter,
    source: &SourceImage,
    params: &RemoveBackgroundParams,
    limits: &ImageLimits,
) -> Result<EncodedImage> {
    let (_, decoded) = media::decode(&source.bytes, limits)?;
    let rgb = decoded.to_rgb8();
    let mask = segmenter.mask(&rgb, params.model.as_deref())?;
    let options = CutoutOptions {
        kind: params.mode,
        crop_to_subject: params.crop_to_subject,
        crop_margin: params.crop_margin,
        refinement: params.refine,
    };
    let rendered = cutout::render(&rgb, &mask, &options)?;
    let format = params.output.format.unwrap_or(ImageFormat::Png);
    Ok(EncodedImage {
        bytes: media::encode(&rendered, format, params.output.quality)?,
        format,
        width: rendered.width(),
        height: rendered.height(),
    })
}
