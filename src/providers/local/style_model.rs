//! Operator-installed ONNX style models (`[models.style]`): an image-to-image generator paints
//! the character in place of a preset's built-in stylisation; the outline, cut-out and
//! framing stay the engine's.

use std::path::{Path, PathBuf};

use image::RgbImage;
use ort::value::TensorRef;

use super::stylize::StyleModel;
use crate::config::{ModelSettings, PixelRange, StyleModelSettings, TensorLayout};
use crate::domain::params::StylePreset;
use crate::error::{Error, ErrorCode, Result};
use crate::imaging::resample;
use crate::providers::local::models::runtime::{Runtime, Slot};

/// The style models configured per preset. Cheap: nothing is loaded before the first use.
#[derive(Debug, Clone)]
pub struct StyleModels {
    runtime: Runtime,
    dir: PathBuf,
    settings: StyleModelSettings,
}

impl StyleModels {
    pub fn new(runtime: Runtime, settings: &ModelSettings) -> Self {
        StyleModels {
            runtime,
            dir: settings.dir.clone(),
            settings: settings.style.clone(),
        }
    }

    /// The model that paints `preset`, if the operator installed one. A configured file that
    /// is missing is an error rather than a silent fallback: the operator asked for it.
    pub fn for_preset(&self, preset: StylePreset) -> Result<Option<OnnxStyleModel>> {
        let (key, file) = match preset {
            StylePreset::Default => ("default", &self.settings.default),
            StylePreset::Cartoon => ("cartoon", &self.settings.cartoon),
            StylePreset::Watercolor => ("watercolor", &self.settings.watercolor),
        };
        let file = file.trim();
        if file.is_empty() {
            return Ok(None);
        }
        let path = self.dir.join(file);
        if !path.is_file() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "style model {} (models.style.{key}) is not installed",
                    path.display()
                ),
            ));
        }
        Ok(Some(OnnxStyleModel {
            runtime: self.runtime.clone(),
            name: file_name(&path),
            path,
            settings: self.settings.clone(),
        }))
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// One image-to-image ONNX generator: RGB in, RGB out, same layout and range both ways.
#[derive(Debug, Clone)]
pub struct OnnxStyleModel {
    runtime: Runtime,
    path: PathBuf,
    name: String,
    settings: StyleModelSettings,
}

impl StyleModel for OnnxStyleModel {
    fn name(&self) -> &str {
        &self.name
    }

    /// Blocking: runs the model once an inference permit is free.
    fn apply(&self, image: &RgbImage) -> Result<RgbImage> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err(Error::invalid("photo", "the photo is empty"));
        }
        let (model_w, model_h) = model_size(
            width,
            height,
            self.settings.max_side,
            self.settings.side_multiple,
        );
        let input = resample::resize::<3>(
            image.as_raw(),
            width as usize,
            height as usize,
            model_w as usize,
            model_h as usize,
        );
        let (painted, out_w, out_h) = self.runtime.with_session(&self.path, |slot| {
            self.infer(slot, &input, model_w as usize, model_h as usize)
        })?;
        let back = if (out_w, out_h) == (width as usize, height as usize) {
            painted
        } else {
            resample::resize::<3>(&painted, out_w, out_h, width as usize, height as usize)
        };
        RgbImage::from_raw(width, height, back)
            .ok_or_else(|| Error::internal("style model buffer does not match the image size"))
    }
}

impl OnnxStyleModel {
    fn infer(
        &self,
        slot: &mut Slot,
        rgb: &[u8],
        width: usize,
        height: usize,
    ) -> Result<(Vec<u8>, usize, usize)> {
        let Slot { session, input } = slot;
        let range = self.settings.range;
        let layout = self.settings.layout;
        let plane = width * height;
        input.clear();
        input.resize(3 * plane, 0.0);
        for (i, pixel) in rgb.chunks_exact(3).enumerate() {
            for (c, &value) in pixel.iter().enumerate() {
                let index = match layout {
                    TensorLayout::Nchw => c * plane + i,
                    TensorLayout::Nhwc => 3 * i + c,
                };
                input[index] = to_unit(value, range);
            }
        }
        let failed =
            |e: ort::Error| Error::internal(format!("style model {} failed: {e}", self.name));
        let shape = match layout {
            TensorLayout::Nchw => [1usize, 3, height, width],
            TensorLayout::Nhwc => [1usize, height, width, 3],
        };
        let tensor = TensorRef::from_array_view((shape, &input[..])).map_err(failed)?;
        let outputs = session.run(ort::inputs![tensor]).map_err(failed)?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
        let (out_h, out_w) = match (layout, &**shape) {
            (TensorLayout::Nchw, [1, 3, h, w]) | (TensorLayout::Nhwc, [1, h, w, 3])
                if *h > 0 && *w > 0 =>
            {
                (*h as usize, *w as usize)
            }
            _ => {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "style model {} returned a {shape:?} tensor; models.style.layout = {} \
                         expects {}",
                        self.name,
                        layout_name(layout),
                        match layout {
                            TensorLayout::Nchw => "1x3xHxW",
                            TensorLayout::Nhwc => "1xHxWx3",
                        }
                    ),
                ));
            }
        };
        let out_plane = out_w * out_h;
        let mut bytes = vec![0u8; 3 * out_plane];
        for (i, pixel) in bytes.chunks_exact_mut(3).enumerate() {
            for (c, out) in pixel.iter_mut().enumerate() {
                let index = match layout {
                    TensorLayout::Nchw => c * out_plane + i,
                    TensorLayout::Nhwc => 3 * i + c,
                };
                *out = from_unit(data[index], range);
            }
        }
        Ok((bytes, out_w, out_h))
    }
}

fn layout_name(layout: TensorLayout) -> &'static str {
    match layout {
        TensorLayout::Nchw => "\"nchw\"",
        TensorLayout::Nhwc => "\"nhwc\"",
    }
}

/// The model's input size: the photo scaled down to `max_side` if larger, each side rounded
/// to the nearest positive multiple of `multiple` (aspect ratio kept within rounding).
fn model_size(width: u32, height: u32, max_side: u32, multiple: u32) -> (u32, u32) {
    let longest = width.max(height) as f64;
    let scale = (f64::from(max_side) / longest).min(1.0);
    let round = |side: u32| {
        let scaled = (f64::from(side) * scale / f64::from(multiple)).round() as u32;
        scaled.max(1) * multiple
    };
    (round(width), round(height))
}

fn to_unit(value: u8, range: PixelRange) -> f32 {
    match range {
        PixelRange::MinusOneToOne => f32::from(value) / 127.5 - 1.0,
        PixelRange::ZeroToOne => f32::from(value) / 255.0,
    }
}

fn from_unit(value: f32, range: PixelRange) -> u8 {
    let scaled = match range {
        PixelRange::MinusOneToOne => (value + 1.0) * 127.5,
        PixelRange::ZeroToOne => value * 255.0,
    };
    // NaN (a broken model) becomes 0 rather than a panic.
    scaled.round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/style");

    #[test]
    fn model_size_rounds_to_the_multiple_and_caps_the_longest_side() {
        assert_eq!(model_size(512, 512, 1024, 8), (512, 512));
        assert_eq!(model_size(450, 301, 1024, 8), (448, 304));
        assert_eq!(model_size(2000, 1000, 1000, 32), (992, 512));
        assert_eq!(model_size(3, 2, 1024, 8), (8, 8));
    }

    #[test]
    fn pixel_ranges_round_trip_every_value() {
        for range in [PixelRange::MinusOneToOne, PixelRange::ZeroToOne] {
            for value in 0..=255u8 {
                assert_eq!(from_unit(to_unit(value, range), range), value, "{range:?}");
            }
        }
        assert_eq!(from_unit(f32::NAN, PixelRange::ZeroToOne), 0);
        assert_eq!(from_unit(7.0, PixelRange::MinusOneToOne), 255);
    }

    fn models(layout: TensorLayout, cartoon: &str) -> Option<StyleModels> {
        let mut settings = crate::config::Settings::embedded().models;
        settings.dir = PathBuf::from(FIXTURES);
        settings.style.cartoon = cartoon.to_owned();
        settings.style.layout = layout;
        let runtime = Runtime::new(&settings);
        if let Err(e) = runtime.library() {
            crate::test_support::unavailable(format_args!(
                "ONNX Runtime is unavailable: {}",
                e.message
            ));
            return None;
        }
        Some(StyleModels::new(runtime, &settings))
    }

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 40])
        })
    }

    /// `swap_channels_nchw.onnx` reverses the channel axis of an NCHW tensor: run on an NCHW
    /// layout it turns RGB into BGR, which fails if planes and pixels are mixed up.
    #[test]
    fn an_nchw_model_paints_at_the_photos_size() {
        let Some(models) = models(TensorLayout::Nchw, "swap_channels_nchw.onnx") else {
            return;
        };
        let model = models
            .for_preset(StylePreset::Cartoon)
            .expect("installed")
            .expect("configured");
        let image = gradient(96, 64);
        let painted = model.apply(&image).expect("runs");
        assert_eq!(painted.dimensions(), image.dimensions());
        for (ours, theirs) in painted.pixels().zip(image.pixels()) {
            assert_eq!(ours.0, [theirs.0[2], theirs.0[1], theirs.0[0]]);
        }
        assert!(models.for_preset(StylePreset::Default).unwrap().is_none());
    }

    #[test]
    fn an_nhwc_model_reads_interleaved_pixels() {
        let Some(models) = models(TensorLayout::Nhwc, "swap_channels_nhwc.onnx") else {
            return;
        };
        let model = models.for_preset(StylePreset::Cartoon).unwrap().unwrap();
        let image = gradient(64, 40);
        let painted = model.apply(&image).expect("runs");
        for (ours, theirs) in painted.pixels().zip(image.pixels()) {
            assert_eq!(ours.0, [theirs.0[2], theirs.0[1], theirs.0[0]]);
        }
    }

    #[test]
    fn a_wrong_layout_is_reported_with_the_shape_it_got() {
        let Some(models) = models(TensorLayout::Nhwc, "swap_channels_nchw.onnx") else {
            return;
        };
        let model = models.for_preset(StylePreset::Cartoon).unwrap().unwrap();
        // The NCHW model's channel axis is 1, which NHWC puts at the height (40 here).
        let error = model.apply(&gradient(64, 40)).unwrap_err();
        assert!(
            error.message.contains("swap_channels_nchw.onnx"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_configured_file_that_is_missing_is_named() {
        let mut settings = crate::config::Settings::embedded().models;
        settings.dir = PathBuf::from(FIXTURES);
        settings.style.watercolor = "animegan.onnx".into();
        let models = StyleModels::new(Runtime::new(&settings), &settings);
        let error = models.for_preset(StylePreset::Watercolor).unwrap_err();
        assert_eq!(error.code, ErrorCode::FailedPrecondition);
        assert!(
            error.message.contains("animegan.onnx")
                && error.message.contains("models.style.watercolor"),
            "{}",
            error.message
        );
    }
}
