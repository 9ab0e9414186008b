//! Change background, composite mode: the subject of one photo on another photo.

use crate::domain::params::ChangeBackgroundParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::Result;
use crate::media;
use crate::providers::Output;
use crate::providers::local::Segmenter;
use crate::providers::local::composite::{self, CompositeOptions, Placement};
use crate::providers::local::refine;

pub fn change_background(
    segmenter: &Segmenter,
    base: &SourceImage,
    background: &SourceImage,
    params: &ChangeBackgroundParams,
    limits: &ImageLimits,
) -> Result<Output> {
    let options = CompositeOptions {
        placement: Placement {
            scale: params.placement.scale,
            x: params.placement.x,
            y: params.placement.y,
        },
        shadow: params.shadow,
        feather_px: None,
        harmonize: 0.6,
    };
    composite::validate(&options)?;
    let base_rgb = media::decode(&base.bytes, limits)
        .map_err(|e| e.or_field("base_image"))?
        .1
        .to_rgb8();
    let background_rgb = media::decode(&background.bytes, limits)
        .map_err(|e| e.or_field("ref_image"))?
        .1
        .to_rgb8();
    let mask = segmenter.mask(&base_rgb, None)?;
    // The guided filter lets hair and fur keep the colours of the new background.
    let alpha = refine::refine_edges(&base_rgb, &mask);

    let format = params.output.format.unwrap_or(ImageFormat::Png);
    let mut images = Vec::with_capacity(params.n as usize);
    let mut notes = Vec::new();
    if !params.ref_prompt.trim().is_empty() {
        notes.push(
            "ref_prompt was not used: the local provider composites the subject onto \
             ref_image and does not generate backgrounds"
                .to_owned(),
        );
    }
    for variant in 0..params.n {
        let canvas = composite::composite(&base_rgb, &alpha, &background_rgb, &options, variant)?;
        let canvas = image::DynamicImage::ImageRgb8(canvas);
        images.push(EncodedImage {
            bytes: media::encode(&canvas, format, params.output.quality)?,
            format,
            width: canvas.width(),
            height: canvas.height(),
        });
        if params.n > 1 {
            notes.push(format!(
                "result {}: {}",
                variant + 1,
                composite::describe_variant(variant)
            ));
        }
    }
    Ok(Output {
        images,
        notes,
        task: None,
    })
}
