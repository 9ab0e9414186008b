//! The colour layer a preset paints before it is inked and cut out, and the alternative of
//! letting an operator-installed style model paint it.

use image::{DynamicImage, RgbImage};

use super::StyleModel;
use super::materials::Materials;
use super::oklab::LabImage;
use super::plane::Plane;
use super::silhouette::Silhouette;
use super::smooth::{SmoothParams, smooth};
use crate::error::{Error, Result};
use crate::imaging::resize::resize_to;

#[derive(Debug, Clone)]
pub struct Painted {
    pub colour: LabImage,
    /// Smoothed lightness, to draw detail lines (eyes, mouth, folds) from.
    pub detail: Plane,
    /// The material regions, when the painting knows them.
    pub materials: Option<Materials>,
}

/// How far each pixel shows the subject's own colour: 0 in the background and in the band
/// just inside the outline where a segmentation edge mixes in background, 1 deeper in.
pub fn trust(silhouette: &Silhouette) -> Plane {
    let band = silhouette.px(2.5);
    silhouette
        .distance
        .map(|distance| ((-distance - band) / 1.5).clamp(0.0, 1.0))
}

/// The colour layer from a style model; the band along the outline is refilled from the
/// subject's interior as the presets do, so the cut-out shows no background halo.
pub fn from_model(
    model: &dyn StyleModel,
    image: &RgbImage,
    silhouette: &Silhouette,
) -> Result<Painted> {
    let styled = model.apply(image)?;
    if styled.width() == 0 || styled.height() == 0 {
        return Err(Error::internal(format!(
            "style model {} returned an empty image",
            model.name()
        )));
    }
    let styled = if styled.dimensions() == image.dimensions() {
        styled
    } else {
        resize_to(
            &DynamicImage::ImageRgb8(styled),
            image.width(),
            image.height(),
        )?
        .to_rgb8()
    };
    let lab = LabImage::from_rgb(&styled);
    let trust = trust(silhouette);
    let filled = smooth(
        &lab,
        Some(&trust),
        SmoothParams {
            sigma_space: silhouette.px(6.0),
            sigma_range: 0.08,
            iterations: 2,
        },
    );
    let colour = LabImage {
        width: lab.width,
        height: lab.height,
        data: lab
            .data
            .iter()
            .zip(&filled.data)
            .zip(&trust.data)
            .map(|((&own, &fill), &t)| super::oklab::mix(fill, own, t))
            .collect(),
    };
    Ok(Painted {
        detail: filled.lightness(),
        colour,
        materials: None,
    })
}
