//! Character stylisation presets (seed 000): default, cartoon, watercolor.

use image::{GrayImage, RgbImage, RgbaImage};

use crate::error::{Error, Result};

use artwork::render;
use frame::Frame;
use oklab::LabImage;
use silhouette::Silhouette;

pub use crate::domain::params::StylePreset;

/// An operator-installed style model (an ONNX image-to-image network, say).
pub trait StyleModel: Send + Sync {
    fn name(&self) -> &str;
    /// The painting of `image`; its errors name the model, so callers pass them on as they are.
    fn apply(&self, image: &RgbImage) -> Result<RgbImage>;
}

pub fn stylize(image: &RgbImage, alpha: &GrayImage, preset: StylePreset) -> Result<RgbaImage> {
    stylize_with(image, alpha, preset, None)
}

pub fn stylize_with(
    image: &RgbImage,
    alpha: &GrayImage,
    preset: StylePreset,
    model: Option<&dyn StyleModel>,
) -> Result<RgbaImage> {
    if image.dimensions() != alpha.dimensions() {
        return Err(Error::internal(format!(
            "mask is {}x{} but the image is {}x{}",
            alpha.width(),
            alpha.height(),
            image.width(),
            image.height()
        )));
    }
    if image.width() == 0 || image.height() == 0 {
        return Err(Error::invalid("photo", "the photo is empty"));
    }
    let no_subject = || Error::invalid("photo", "no subject found in the photo: the mask is empty");
    let frame = Frame::around(alpha).ok_or_else(no_subject)?;
    let work_image = frame.image(image)?;
    let silhouette = Silhouette::from_alpha(&frame.mask(alpha)?).ok_or_else(no_subject)?;
    let painted = match model {
        Some(model) => painted::from_model(model, &work_image, &silhouette)?,
        None => {
            let source = LabImage::from_rgb(&work_image);
            match preset {
                StylePreset::Default => house::paint(&source, &silhouette),
                StylePreset::Cartoon => cartoon::paint(&source, &silhouette),
                StylePreset::Watercolor => watercolor::paint(&source, &silhouette),
            }
        }
    };
    let artwork = match preset {
        StylePreset::Default => house::artwork(&painted, &silhouette),
        StylePreset::Cartoon => cartoon::artwork(&painted, &silhouette),
        StylePreset::Watercolor => watercolor::artwork(&painted, &silhouette),
    };
    Ok(render(&artwork, &frame, image.width(), image.height()))
}

mod artwork;
mod cartoon;
mod components;
mod distance;
mod features;
mod frame;
mod house;
mod ink;
mod materials;
mod noise;
mod oklab;
mod outline;
mod painted;
mod paper;
mod parallel;
mod pigment;
mod plane;
mod quantize;
mod regions;
mod shading;
mod silhouette;
mod smooth;
mod texture;
mod watercolor;

#[cfg(test)]
mod gallery;
