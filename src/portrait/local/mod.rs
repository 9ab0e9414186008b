//! The local portrait backend, so the workflow runs with no configuration. "Training" curates
//! the photo set and stores the usable photos, best first, as the user model; "generation"
//! renders the best photos with the create-character stylisation and paints the style's
//! background behind them. The segmentation and stylisation run through the engine's
//! operations, so they share its admission lanes with every other local request.

mod backdrop;
pub mod curate;
mod features;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use image::{DynamicImage, imageops};

use crate::config::{Delivery, PortraitSettings};
use crate::domain::params::{
    CreateCharacterParams, CutoutMode, EdgeRefinement, OutputSpec, RemoveBackgroundParams,
    StylePreset,
};
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, ImageSource};
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::media;
use crate::media::cancel::run_blocking;
use crate::portrait::backend::{
    GenerationInput, Heartbeat, PortraitBackend, RemoteRef, TrainingInput, UserModelHandle,
};
use curate::{Measured, Rules};

/// Curated photos are kept fitted inside this (create-character's working size).
const KEPT_SIDE: u32 = CreateCharacterParams::WORKING_SIZE;

pub struct LocalBackend {
    engine: Arc<Engine>,
    limits: ImageLimits,
    rules: Rules,
}

fn lease_lost() -> Error {
    Error::new(
        ErrorCode::Cancelled,
        "the task was taken over by another worker",
    )
}

impl LocalBackend {
    pub fn new(engine: Arc<Engine>, limits: ImageLimits, settings: &PortraitSettings) -> Self {
        LocalBackend {
            engine,
            limits,
            rules: Rules {
                min_side: settings.min_photo_side,
                min_sharpness: settings.min_sharpness,
                duplicate_distance: settings.duplicate_distance,
                max_subject_distance: settings.max_subject_distance,
                min_usable: settings.min_usable_photos,
            },
        }
    }

    /// Decodes, measures and segments one photo; what is wrong with the photo itself becomes
    /// [`Measured::Unreadable`], a failure of the service an error.
    async fn measure(&self, bytes: Bytes) -> Result<(Measured, Option<image::RgbImage>)> {
        let limits = self.limits;
        let decoded = {
            let bytes = bytes.clone();
            run_blocking(limits.job_budget(), move || {
                let rgb = media::decode(&bytes, &limits)?.1.to_rgb8();
                let kept = fit_inside(&rgb, KEPT_SIDE);
                Ok((rgb.width(), rgb.height(), features::fit(&kept), kept))
            })
            .await
        };
        let (width, height, measured_rgb, kept) = match decoded {
            Ok(parts) => parts,
            Err(e) if e.code.is_client_error() => {
                return Ok((Measured::Unreadable(e.message), None));
            }
            Err(e) => return Err(e),
        };
        let params = RemoveBackgroundParams {
            mode: CutoutMode::Mask,
            refine: EdgeRefinement::None,
            output: OutputSpec {
                format: Some(ImageFormat::Png),
                ..OutputSpec::default()
            },
            ..RemoveBackgroundParams::default()
        };
        let mask = match self
            .engine
            .remove_background(
                ImageSource::Bytes(bytes),
                "img_set",
                params,
                Some(Delivery::Inline),
            )
            .await
        {
            Ok(mut outcome) if !outcome.images.is_empty() => outcome.images.remove(0).image.bytes,
            Ok(_) => return Err(Error::internal("segmentation returned no mask")),
            Err(e) if e.code == ErrorCode::InvalidArgument => {
                return Ok((Measured::Unreadable(e.message), None));
            }
            Err(e) => return Err(e),
        };
        let features = run_blocking(limits.job_budget(), move || {
            let mask = media::decode(&mask, &limits)?.1.to_luma8();
            Ok(features::measure(&measured_rgb, &mask))
        })
        .await?;
        Ok((
            Measured::Photo {
                width,
                height,
                features,
            },
            Some(kept),
        ))
    }

    async fn render(
        &self,
        key: &str,
        preset: StylePreset,
        backdrop: crate::portrait::styles::Backdrop,
        index: usize,
        mirrored: bool,
    ) -> Result<EncodedImage> {
        let limits = self.limits;
        let mut photo = self.engine.blobs().get_live(key).await?;
        if mirrored {
            photo = run_blocking(limits.job_budget(), move || {
                let image = media::decode(&photo, &limits)?.1;
                media::encode(&image.fliph(), ImageFormat::Jpeg, 92)
            })
            .await?;
        }
        let params = CreateCharacterParams {
            preset,
            output: OutputSpec {
                format: Some(ImageFormat::Png),
                ..OutputSpec::default()
            },
        };
        let character = self
            .engine
            .create_character(
                ImageSource::Bytes(photo),
                "photo",
                params,
                Some(Delivery::Inline),
            )
            .await?
            .image
            .image
            .bytes;
        // Each portrait of a task gets its own background variation.
        let seed = (index as f32 * 0.37).fract();
        run_blocking(limits.job_budget(), move || {
            let subject = media::decode(&character, &limits)?.1.to_rgba8();
            let portrait =
                DynamicImage::ImageRgba8(backdrop::compose(&subject, backdrop, seed)).to_rgb8();
            let (width, height) = portrait.dimensions();
            Ok(EncodedImage {
                bytes: media::encode(&DynamicImage::ImageRgb8(portrait), ImageFormat::Jpeg, 92)?,
                format: ImageFormat::Jpeg,
                width,
                height,
            })
        })
        .await
    }
}

fn fit_inside(rgb: &image::RgbImage, side: u32) -> image::RgbImage {
    let (w, h) = rgb.dimensions();
    if w.max(h) <= side {
        return rgb.clone();
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    imageops::resize(rgb, nw, nh, imageops::FilterType::Lanczos3)
}

/// "photo 3 (user_upload/…/x.jpg): too blurred (…)", one per rejection.
fn describe(rejected: &[curate::Rejection], input: &TrainingInput) -> String {
    rejected
        .iter()
        .map(|r| {
            let path = input.photos.get(r.index).map_or("", |p| p.path.as_str());
            format!("photo {} ({path}): {}", r.index + 1, r.reason)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[async_trait]
impl PortraitBackend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn submit_training(&self, input: &TrainingInput) -> Result<RemoteRef> {
        Ok(RemoteRef(format!("local:{}", input.user_id)))
    }

    async fn await_training(
        &self,
        _job: &RemoteRef,
        input: &TrainingInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<UserModelHandle> {
        let mut measured = Vec::with_capacity(input.photos.len());
        let mut kept_pixels = Vec::with_capacity(input.photos.len());
        for photo in &input.photos {
            if !heartbeat.beat().await {
                return Err(lease_lost());
            }
            let bytes = match self.engine.blobs().get_live(&photo.blob_key).await {
                Ok(bytes) => bytes,
                Err(e) if e.code == ErrorCode::NotFound => {
                    measured.push(Measured::Unreadable("the upload has expired".into()));
                    kept_pixels.push(None);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (m, pixels) = self.measure(bytes).await?;
            measured.push(m);
            kept_pixels.push(pixels);
        }
        let selection = run_blocking(self.limits.job_budget(), {
            let (measured, rules) = (measured.clone(), self.rules);
            move || Ok(curate::select(&measured, &rules))
        })
        .await?;
        let rejected = describe(&selection.rejected, input);
        if selection.kept.len() < self.rules.min_usable {
            return Err(Error::invalid(
                "img_set",
                format!(
                    "only {} of {} photos are usable, at least {} are needed: {rejected}",
                    selection.kept.len(),
                    input.photos.len(),
                    self.rules.min_usable
                ),
            ));
        }
        let mut photo_keys = Vec::with_capacity(selection.kept.len());
        for (rank, index) in selection.kept.iter().enumerate() {
            if !heartbeat.beat().await {
                return Err(lease_lost());
            }
            let Some(pixels) = kept_pixels.get_mut(*index).and_then(Option::take) else {
                return Err(Error::internal("a kept photo has no pixels"));
            };
            let bytes = run_blocking(self.limits.job_budget(), move || {
                media::encode(&DynamicImage::ImageRgb8(pixels), ImageFormat::Jpeg, 92)
            })
            .await?;
            // Named by rank: a worker re-running this step overwrites the same keys.
            let key = format!(
                "portraits/{}/{}/photo_{rank:02}.jpg",
                input.tenant, input.user_id
            );
            self.engine.blobs().put(&key, bytes).await?;
            photo_keys.push(key);
        }
        Ok(UserModelHandle {
            photo_keys,
            remote_handle: None,
            note: (!selection.rejected.is_empty())
                .then(|| format!("{} photos dropped: {rejected}", selection.rejected.len())),
        })
    }

    async fn submit_generation(&self, input: &GenerationInput) -> Result<RemoteRef> {
        Ok(RemoteRef(format!("local:{}", input.task_id)))
    }

    async fn await_generation(
        &self,
        _job: &RemoteRef,
        input: &GenerationInput,
        heartbeat: &dyn Heartbeat,
    ) -> Result<Vec<Result<EncodedImage>>> {
        let keys = &input.model.photo_keys;
        if keys.is_empty() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                "the user model has no photos (was it trained by the local backend?)",
            ));
        }
        let preset = input.style.preset()?;
        let mut images = Vec::with_capacity(input.count);
        for index in 0..input.count {
            if !heartbeat.beat().await {
                return Err(lease_lost());
            }
            // Best photos first; past the end of the set, mirrored copies give new poses.
            let key = &keys[index % keys.len()];
            let mirrored = (index / keys.len()) % 2 == 1;
            let image = self
                .render(key, preset, input.style.local.background, index, mirrored)
                .await;
            if let Err(e) = &image {
                tracing::warn!(task_id = %input.task_id, index, error = %e.message, "portrait failed");
            }
            images.push(image);
        }
        Ok(images)
    }
}
