//! Salient-object / person segmentation with U^2-Net-family models (rembg-compatible).
//!
//! [`Segmenter::mask`] is rembg's `session.predict` for the same model file: Lanczos resize to
//! the model's input (Pillow's arithmetic, bit for bit), division by the largest pixel value,
//! mean/std normalisation, the first output's first channel (through a sigmoid for BiRefNet),
//! min-max normalisation, truncation to 8 bits and a Lanczos resize back to the photo's size.
//! The per-model numbers come from the registry.

use std::path::PathBuf;

use image::{GrayImage, RgbImage};
use ort::value::TensorRef;

use crate::config::ModelSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::imaging::resample;
use crate::providers::local::models::install;
use crate::providers::local::models::registry::{
    self, Activation, Family, ModelSpec, SegmentationParams,
};
use crate::providers::local::models::runtime::{Runtime, Slot};

/// Computes foreground masks. Cheap to create: nothing is loaded before the first mask.
#[derive(Debug, Clone)]
pub struct Segmenter {
    runtime: Runtime,
    dir: PathBuf,
    default_model: String,
}

impl Segmenter {
    pub fn new(settings: &ModelSettings) -> Self {
        Segmenter::with_runtime(Runtime::new(settings))
    }

    /// A segmenter sharing `runtime`'s sessions and inference permits with other model users.
    pub fn with_runtime(runtime: Runtime) -> Self {
        let settings = runtime.settings();
        Segmenter {
            dir: settings.dir.clone(),
            default_model: settings.default_segmentation.clone(),
            runtime,
        }
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> &str {
        &self.default_model
    }

    /// Whether [`Segmenter::mask`] can run `model` (the default when `None`): the model is a
    /// known segmenter, its file is installed and ONNX Runtime loads. The first call may take
    /// a moment while the runtime is located.
    pub fn is_ready(&self, model: Option<&str>) -> bool {
        self.readiness(model).is_ok()
    }

    /// What keeps [`Segmenter::mask`] from running `model`: the model file missing or ONNX
    /// Runtime not loading, which need different fixes.
    pub fn readiness(&self, model: Option<&str>) -> Result<()> {
        self.resolve(model)?;
        self.runtime.library().map(|_| ())
    }

    /// Segmentation models whose files are in the models directory, in registry order.
    pub fn installed_models(&self) -> Vec<String> {
        registry::MODELS
            .iter()
            .filter(|spec| spec.family == Family::SalientSegmentation)
            .filter(|spec| install::is_installed(&self.dir, spec))
            .map(|spec| spec.name.to_owned())
            .collect()
    }

    /// The foreground mask of `image` at its size (255 = subject). Blocking: runs the model on
    /// this thread once an inference permit is free; call it from a blocking pool.
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(model = model.unwrap_or(&self.default_model), width = image.width(), height = image.height())
    )]
    pub fn mask(&self, image: &RgbImage, model: Option<&str>) -> Result<GrayImage> {
        let (spec, params, path) = self.resolve(model)?;
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err(Error::invalid("image", "the image is empty"));
        }
        let side = params.side as usize;
        // Pre- and post-processing run outside the inference permit, so they overlap with
        // other requests' inference.
        let small =
            resample::resize::<3>(image.as_raw(), width as usize, height as usize, side, side);
        let lut = normalisation_table(&small, &params);
        let (mask, mask_w, mask_h) = self
            .runtime
            .with_session(&path, |slot| infer(slot, spec, &params, &small, &lut))?;
        let full = resample::resize::<1>(&mask, mask_w, mask_h, width as usize, height as usize);
        GrayImage::from_raw(width, height, full)
            .ok_or_else(|| Error::internal("mask buffer does not match the image size"))
    }

    fn resolve(
        &self,
        model: Option<&str>,
    ) -> Result<(&'static ModelSpec, SegmentationParams, PathBuf)> {
        let name = model
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.default_model);
        let known = registry::find(name).and_then(|spec| spec.segmentation.map(|p| (spec, p)));
        let Some((spec, params)) = known else {
            let installed = self.installed_models();
            let installed = if installed.is_empty() {
                "none".to_owned()
            } else {
                installed.join(", ")
            };
            return Err(Error::invalid(
                "model",
                format!(
                    "unknown segmentation model `{name}`; installed: {installed}; known: {}",
                    registry::names_of(Family::SalientSegmentation).join(", ")
                ),
            ));
        };
        if !install::is_installed(&self.dir, spec) {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "segmentation model `{name}` is not installed in {}; run `imgforge models fetch {name}`",
                    self.dir.display()
                ),
            )
            .with_field("model"));
        }
        let path = install::file_path(&self.dir, spec.main_file());
        Ok((spec, params, path))
    }
}

/// rembg's `(pixel / max(image) - mean) / std` in float64, rounded to float32 once, for each
/// of the 256 values of each channel.
fn normalisation_table(small: &[u8], params: &SegmentationParams) -> [[f32; 256]; 3] {
    let max = f64::from(small.iter().copied().max().unwrap_or(0)).max(1e-6);
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, out) in table.iter_mut().enumerate() {
            *out = ((v as f64 / max - params.mean[c]) / params.std[c]) as f32;
        }
    }
    lut
}

/// Runs the model on the resized photo; returns the 8-bit mask at the model's output size.
fn infer(
    slot: &mut Slot,
    spec: &ModelSpec,
    params: &SegmentationParams,
    small: &[u8],
    lut: &[[f32; 256]; 3],
) -> Result<(Vec<u8>, usize, usize)> {
    let side = params.side as usize;
    let plane = side * side;
    let Slot { session, input } = slot;
    input.resize(3 * plane, 0.0);
    let (r, rest) = input.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in small.chunks_exact(3).enumerate() {
        r[i] = lut[0][usize::from(px[0])];
        g[i] = lut[1][usize::from(px[1])];
        b[i] = lut[2][usize::from(px[2])];
    }
    let failed = |e: ort::Error| Error::internal(format!("model {} failed: {e}", spec.name));
    let tensor =
        TensorRef::from_array_view(([1usize, 3, side, side], &input[..])).map_err(failed)?;
    let outputs = session.run(ort::inputs![tensor]).map_err(failed)?;
    let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
    // output[0][:, 0, :, :] of a batch of one.
    let (out_h, out_w) = match **shape {
        [_, _, h, w] if h > 0 && w > 0 => (h as usize, w as usize),
        _ => {
            return Err(Error::internal(format!(
                "model {} returned a {shape:?} tensor; expected 1x1xHxW",
                spec.name
            )));
        }
    };
    Ok((
        to_mask(&data[..out_h * out_w], params.activation),
        out_w,
        out_h,
    ))
}

/// rembg's post-processing in float32: optional sigmoid, `(p - min) / (max - min)`, `* 255`,
/// truncated to `u8`.
fn to_mask(prediction: &[f32], activation: Activation) -> Vec<u8> {
    let activated: std::borrow::Cow<'_, [f32]> = match activation {
        Activation::Identity => prediction.into(),
        Activation::Sigmoid => prediction
            .iter()
            .map(|&x| 1.0 / (1.0 + (-x).exp()))
            .collect::<Vec<_>>()
            .into(),
    };
    let (min, max) = activated
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let range = max - min;
    if range.is_nan() || range <= 0.0 {
        // A flat prediction: numpy divides 0 by 0 and casts NaN to 0.
        return vec![0; activated.len()];
    }
    activated
        .iter()
        .map(|&p| ((p - min) / range * 255.0) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    fn shared_models() -> std::path::PathBuf {
        crate::test_support::shared_dir().join("models")
    }
    fn testdata() -> std::path::PathBuf {
        crate::test_support::shared_dir().join("testdata")
    }
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rembg");
    const PHOTOS: [&str; 5] = [
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
        "rocket.jpg",
        "motorcycle_left.png",
    ];

    fn settings_with_dir(dir: &Path) -> ModelSettings {
        let mut settings = crate::config::Settings::embedded().models;
        settings.dir = dir.to_path_buf();
        settings
    }

    /// A segmenter over the shared u2netp, or the reason there is none here.
    fn shared_segmenter() -> std::result::Result<Segmenter, String> {
        let models = shared_models();
        if !models.join("u2netp.onnx").is_file() {
            return Err(format!("{} has no u2netp.onnx", models.display()));
        }
        if !testdata().is_dir() {
            return Err(format!("{} is absent", testdata().display()));
        }
        let segmenter = Segmenter::new(&settings_with_dir(&models));
        segmenter.runtime.library().map_err(|e| e.message)?;
        Ok(segmenter)
    }

    /// Intersection over union of the two masks thresholded at 128, and their mean absolute
    /// difference.
    fn compare(ours: &GrayImage, reference: &GrayImage) -> (f64, f64) {
        let (mut inter, mut union, mut abs) = (0u64, 0u64, 0u64);
        for (a, b) in ours.as_raw().iter().zip(reference.as_raw()) {
            let (fa, fb) = (*a >= 128, *b >= 128);
            inter += u64::from(fa && fb);
            union += u64::from(fa || fb);
            abs += u64::from(a.abs_diff(*b));
        }
        let iou = if union == 0 {
            1.0
        } else {
            inter as f64 / union as f64
        };
        (iou, abs as f64 / ours.as_raw().len() as f64)
    }

    #[test]
    fn u2netp_masks_match_rembg_on_the_test_photos() {
        let segmenter = match shared_segmenter() {
            Ok(s) => s,
            Err(reason) => {
                crate::test_support::unavailable(reason);
                return;
            }
        };
        for photo in PHOTOS {
            let rgb = image::open(testdata().join(photo)).unwrap().to_rgb8();
            let stem = photo.rsplit_once('.').unwrap().0;
            let fixture = Path::new(FIXTURES).join(format!("{stem}_u2netp_mask.png"));
            let reference = image::open(&fixture)
                .unwrap_or_else(|e| panic!("{}: {e}", fixture.display()))
                .to_luma8();
            let mut times = Vec::new();
            let mut mask = None;
            for _ in 0..3 {
                let started = Instant::now();
                mask = Some(segmenter.mask(&rgb, Some("u2netp")).unwrap());
                times.push(started.elapsed());
            }
            let mask = mask.unwrap();
            assert_eq!(mask.dimensions(), rgb.dimensions(), "{photo}");
            let (iou, mad) = compare(&mask, &reference);
            times.sort();
            eprintln!(
                "{photo:<20} {}x{}  iou {iou:.5}  mean abs diff {mad:.4}  mask() {:.1} ms (median of 3)",
                rgb.width(),
                rgb.height(),
                times[1].as_secs_f64() * 1e3
            );
            assert!(iou >= 0.98, "{photo}: iou {iou} below 0.98");
            // Bit-identical on the PNGs; JPEG decoders differ by a level here and there.
            assert!(
                mad <= 0.5,
                "{photo}: mean absolute difference {mad} above 0.5"
            );
        }
        let path = shared_models().join("u2netp.onnx");
        assert!(segmenter.runtime.sessions_created(&path) >= 1);
    }

    #[test]
    fn concurrent_masks_share_a_bounded_pool_of_sessions() {
        let segmenter = match shared_segmenter() {
            Ok(s) => s,
            Err(reason) => {
                crate::test_support::unavailable(reason);
                return;
            }
        };
        let rgb = image::open(testdata().join("chelsea.png"))
            .unwrap()
            .to_rgb8();
        let first = segmenter.mask(&rgb, None).unwrap();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| segmenter.mask(&rgb, None).unwrap()))
                .collect();
            for handle in handles {
                assert_eq!(
                    handle.join().unwrap(),
                    first,
                    "deterministic under concurrency"
                );
            }
        });
        let path = shared_models().join("u2netp.onnx");
        let created = segmenter.runtime.sessions_created(&path);
        let limit = segmenter.runtime.settings().concurrency;
        assert!(
            (1..=limit).contains(&created),
            "{created} sessions for concurrency {limit}"
        );
    }

    #[test]
    fn an_unknown_model_is_an_invalid_argument_naming_the_installed_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("u2netp.onnx"), b"placeholder").unwrap();
        let segmenter = Segmenter::new(&settings_with_dir(dir.path()));
        let err = segmenter
            .mask(&RgbImage::new(4, 4), Some("u3net"))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(err.field.as_deref(), Some("model"));
        assert!(
            err.message.contains("installed: u2netp;"),
            "{}",
            err.message
        );
        // A known model of another family is no segmenter either.
        let err = segmenter
            .mask(&RgbImage::new(4, 4), Some("ch_PP-OCRv4_det"))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn a_model_that_is_not_installed_names_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let segmenter = Segmenter::new(&settings_with_dir(dir.path()));
        let err = segmenter
            .mask(&RgbImage::new(4, 4), Some("isnet-general-use"))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(
            err.message
                .contains("imgforge models fetch isnet-general-use"),
            "{}",
            err.message
        );
        assert!(!segmenter.is_ready(None), "u2netp is not installed either");
        assert!(segmenter.installed_models().is_empty());
    }

    #[test]
    fn a_corrupt_model_file_is_a_failed_precondition_pointing_at_verify() {
        if let Err(reason) = shared_segmenter() {
            crate::test_support::unavailable(reason);
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("u2netp.onnx"), b"not a model").unwrap();
        let segmenter = Segmenter::new(&settings_with_dir(dir.path()));
        let err = segmenter.mask(&RgbImage::new(8, 8), None).unwrap_err();
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(
            err.message.contains("imgforge models verify"),
            "{}",
            err.message
        );
        // The failed load gave its place in the pool back.
        let path = dir.path().join("u2netp.onnx");
        assert_eq!(segmenter.runtime.sessions_created(&path), 0);
    }

    #[test]
    fn installed_models_lists_segmenters_present_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "u2net.onnx",
            "birefnet-general-lite.onnx",
            "ch_PP-OCRv4_det_infer.onnx",
        ] {
            std::fs::write(dir.path().join(file), b"placeholder").unwrap();
        }
        let segmenter = Segmenter::new(&settings_with_dir(dir.path()));
        assert_eq!(
            segmenter.installed_models(),
            ["u2net", "birefnet-general-lite"]
        );
    }

    #[test]
    fn post_processing_is_rembgs_min_max_then_truncation() {
        assert_eq!(
            to_mask(&[0.5, 1.0, 0.75, 0.502], Activation::Identity),
            [0, 255, 127, 1]
        );
        assert_eq!(to_mask(&[3.0, 3.0], Activation::Identity), [0, 0]);
        // The sigmoid is monotonic: the extremes still map to 0 and 255.
        assert_eq!(
            to_mask(&[-4.0, 0.0, 4.0], Activation::Sigmoid),
            [0, 127, 255]
        );
    }

    #[test]
    fn normalisation_divides_by_the_brightest_value_first() {
        let params = registry::find("u2netp").unwrap().segmentation.unwrap();
        let lut = normalisation_table(&[0, 100, 200], &params);
        assert_eq!(lut[0][200], ((1.0 - 0.485) / 0.229) as f32);
        assert_eq!(lut[2][0], ((0.0 - 0.406) / 0.225) as f32);
        // An all-black image divides by 1e-6, as rembg does, and stays finite.
        assert!(normalisation_table(&[0, 0, 0], &params)[1][0].is_finite());
    }
}
