//! Character stylisation presets (seed 000): default, cartoon, watercolor.

use image::{GrayImage, RgbImage, RgbaImage};

use crate::error::{Error, Result};

use oklab::LabImage;
use silhouette::Silhouette;

/// The looks a user can ask for with `style_preset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StylePreset {
    Default,
    Cartoon,
    Watercolor,
}

impl StylePreset {
    pub const ALL: [StylePreset; 3] = [
        StylePreset::Default,
        StylePreset::Cartoon,
        StylePreset::Watercolor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StylePreset::Default => "default",
            StylePreset::Cartoon => "cartoon",
            StylePreset::Watercolor => "watercolor",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|preset| preset.name() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "style_preset",
                    format!(
                        "style_preset must be one of default, cartoon, watercolor; got {text:?}"
                    ),
                )
            })
    }
}

/// An operator-installed style model (an ONNX image-to-image network, say).
pub trait StyleModel: Send + Sync {
    fn name(&self) -> &str;
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
    let silhouette = Silhouette::from_alpha(alpha).ok_or_else(|| {
        Error::invalid("photo", "no subject found in the photo: the mask is empty")
    })?;
    let painted = match model {
        Some(model) => painted::from_model(model, image, &silhouette)?,
        None => {
            let source = LabImage::from_rgb(image);
            match preset {
                StylePreset::Default => house::paint(&source, &silhouette),
                StylePreset::Cartoon => cartoon::paint(&source, &silhouette),
                StylePreset::Watercolor => cartoon::paint(&source, &silhouette),
            }
        }
    };
    Ok(match preset {
        StylePreset::Default => house::finish(&painted, &silhouette),
        StylePreset::Cartoon => cartoon::finish(&painted, &silhouette),
        StylePreset::Watercolor => cartoon::finish(&painted, &silhouette),
    })
}

mod cartoon;
mod components;
mod distance;
mod house;
mod ink;
mod materials;
mod noise;
mod oklab;
mod outline;
mod painted;
mod parallel;
mod plane;
mod quantize;
mod regions;
mod shading;
mod silhouette;
mod smooth;

#[cfg(test)]
mod gallery;
