//! Create character (seed 000): segment the person, stylise into a character.

use crate::domain::params::CreateCharacterParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::media;
use crate::providers::Output;
use crate::providers::local::{Segmenter, StyleModels};
use crate::providers::local::{refine, stylize};

/// Below this share of confidently-foreground pixels the photo has no usable subject.
const MIN_SUBJECT_SHARE: f64 = 0.005;

pub fn create_character(
    segmenter: &Segmenter,
    styles: &StyleModels,
    photo: &SourceImage,
    params: &CreateCharacterParams,
    limits: &ImageLimits,
) -> Result<Output> {
    // Before any work: a configured style model that is missing fails the call anyway.
    let model = styles.for_preset(params.preset)?;
    let rgb = media::decode(&photo.bytes, limits)?.1.to_rgb8();
    let mask = segmenter.mask(&rgb, None)?;
    let confident = mask.pixels().filter(|p| p.0[0] >= 128).count();
    if (confident as f64) < MIN_SUBJECT_SHARE * (mask.width() as f64 * mask.height() as f64) {
        return Err(Error::new(
            ErrorCode::InvalidArgument,
            "no person found in the photo: the segmentation found no subject",
        )
        .with_field("photo"));
    }
    let alpha = refine::refine_edges(&rgb, &mask);
    let mut notes = Vec::new();
    if let Some(model) = &model {
        notes.push(format!(
            "painted by the style model {}",
            stylize::StyleModel::name(model)
        ));
    }
    let model = model.as_ref().map(|m| m as &dyn stylize::StyleModel);
    let character =
        image::DynamicImage::ImageRgba8(stylize::stylize_with(&rgb, &alpha, params.preset, model)?);
    // A character keeps its transparent background unless the caller asks for WebP/JPEG.
    let format = params.output.format.unwrap_or(ImageFormat::Png);
    Ok(Output::image(EncodedImage {
        bytes: media::encode(&character, format, params.output.quality)?,
        format,
        width: character.width(),
        height: character.height(),
    })
    .with_notes(notes))
}
