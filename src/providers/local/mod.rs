//! The in-process engine: no network, no keys; the embedded default provider.

mod change_background;
mod character;
pub mod composite;
mod convert;
pub mod cutout;
pub mod expand;
mod fix;
pub mod inpaint;
mod pool;
pub mod refine;
mod remove_background;
mod remove_watermark;
pub mod resize;
pub mod segment;
pub mod style_model;
pub mod stylize;
pub mod text_detect;
pub mod upscale;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{InpaintSettings, Settings};
use crate::domain::params::{
    ChangeBackgroundParams, ConvertParams, CreateCharacterParams, ExpandParams, FixParams,
    RemoveBackgroundParams, RemoveWatermarkParams, ResizeParams,
};
use crate::domain::{EncodedImage, ImageLimits, Operation, SourceImage};
use crate::error::Result;
use crate::models::runtime::Runtime;
use crate::providers::{Character, Composites, Edited, Provider};

pub use pool::CpuPool;
pub use segment::Segmenter;
pub use style_model::StyleModels;
pub use text_detect::TextDetector;
pub use upscale::Upscaler;

pub struct LocalProvider {
    limits: ImageLimits,
    pool: CpuPool,
    segmenter: Arc<Segmenter>,
    styles: Arc<StyleModels>,
    upscaler: Arc<Upscaler>,
    text: Arc<TextDetector>,
    inpaint: InpaintSettings,
}

impl LocalProvider {
    pub fn new(settings: &Settings) -> Self {
        // One runtime: segmentation and style models share sessions' inference permits.
        let runtime = Runtime::new(&settings.models);
        LocalProvider {
            limits: settings.limits,
            pool: CpuPool::per_core(settings.limits.job_budget()),
            segmenter: Arc::new(Segmenter::with_runtime(runtime.clone())),
            styles: Arc::new(StyleModels::new(runtime.clone(), &settings.models)),
            text: Arc::new(TextDetector::new(
                runtime.clone(),
                settings.inpaint.detect_max_side,
            )),
            upscaler: Arc::new(Upscaler::new(runtime)),
            inpaint: settings.inpaint,
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }

    fn supports(&self, op: Operation) -> bool {
        match op {
            Operation::Resize
            | Operation::ConvertToPng
            | Operation::RemoveBackground
            | Operation::ChangeBackground
            | Operation::CreateCharacter
            | Operation::Fix
            | Operation::Expand
            | Operation::RemoveWatermark => true,
            Operation::ChangeClothes
            | Operation::GenerateCover
            | Operation::CoverOptions
            | Operation::UploadReferenceImage
            | Operation::PortraitUpload
            | Operation::PortraitCreateUserModel
            | Operation::PortraitListStyles
            | Operation::PortraitCreateTask
            | Operation::PortraitQueryTask => false,
        }
    }

    fn unready_reason(&self, op: Operation) -> Option<String> {
        let readiness = match op {
            Operation::RemoveBackground
            | Operation::ChangeBackground
            | Operation::CreateCharacter => self.segmenter.readiness(None),
            Operation::Fix => self.upscaler.readiness(),
            // A caller's mask works without the detector, but most requests need it.
            Operation::RemoveWatermark => self.text.readiness(),
            Operation::Resize
            | Operation::ConvertToPng
            | Operation::ChangeClothes
            | Operation::Expand
            | Operation::GenerateCover
            | Operation::CoverOptions
            | Operation::UploadReferenceImage
            | Operation::PortraitUpload
            | Operation::PortraitCreateUserModel
            | Operation::PortraitListStyles
            | Operation::PortraitCreateTask
            | Operation::PortraitQueryTask => {
                return (!self.supports(op))
                    .then(|| format!("the local engine does not implement {op}"));
            }
        };
        readiness.err().map(|e| e.message)
    }

    fn is_ready(&self, op: Operation) -> bool {
        self.unready_reason(op).is_none()
    }

    async fn resize(&self, image: SourceImage, params: ResizeParams) -> Result<EncodedImage> {
        let limits = self.limits;
        self.pool
            .run(move || resize::resize(&image, &params, &limits))
            .await
    }

    async fn convert_to_png(
        &self,
        image: SourceImage,
        params: ConvertParams,
    ) -> Result<Vec<EncodedImage>> {
        let limits = self.limits;
        self.pool
            .run(move || convert::convert_to_png(&image, &params, &limits))
            .await
    }

    async fn remove_background(
        &self,
        image: SourceImage,
        params: RemoveBackgroundParams,
    ) -> Result<EncodedImage> {
        let limits = self.limits;
        let segmenter = self.segmenter.clone();
        self.pool
            .run(move || remove_background::remove_background(&segmenter, &image, &params, &limits))
            .await
    }

    async fn change_background(
        &self,
        base: SourceImage,
        background: SourceImage,
        params: ChangeBackgroundParams,
    ) -> Result<Composites> {
        let limits = self.limits;
        let segmenter = self.segmenter.clone();
        self.pool
            .run(move || {
                change_background::change_background(
                    &segmenter,
                    &base,
                    &background,
                    &params,
                    &limits,
                )
            })
            .await
    }

    async fn create_character(
        &self,
        photo: SourceImage,
        params: CreateCharacterParams,
    ) -> Result<Character> {
        let limits = self.limits;
        let segmenter = self.segmenter.clone();
        let styles = self.styles.clone();
        self.pool
            .run(move || character::create_character(&segmenter, &styles, &photo, &params, &limits))
            .await
    }

    async fn fix(&self, image: SourceImage, params: FixParams) -> Result<Edited> {
        let limits = self.limits;
        let upscaler = self.upscaler.clone();
        self.pool
            .run(move || fix::fix(&upscaler, &image, &params, &limits))
            .await
    }

    async fn expand(&self, image: SourceImage, params: ExpandParams) -> Result<Edited> {
        let (limits, settings) = (self.limits, self.inpaint);
        self.pool
            .run(move || expand::expand(&image, &params, &settings, &limits))
            .await
    }

    async fn remove_watermark(
        &self,
        image: SourceImage,
        params: RemoveWatermarkParams,
    ) -> Result<Edited> {
        let (limits, settings) = (self.limits, self.inpaint);
        let text = self.text.clone();
        self.pool
            .run(move || {
                remove_watermark::remove_watermark(&text, &image, &params, &settings, &limits)
            })
            .await
    }
}
